"""Manifest <-> SearchSpec: ``parse_manifest`` validates a HyperSearch manifest into a
``SearchSpec``; ``spec_to_manifest`` and ``manifest_yaml`` write one back.

``parse_manifest`` accepts a mapping (an already-loaded YAML document) or YAML text, validates
*everything* (the rules are ``core.spec_parser``) and raises one ``SpecError`` listing every
problem with its field path (``spec.parameters[2].max must be greater than min, got min=5,
max=1``). YAML is read and written here with one rule beyond PyYAML's: ``1e3`` is a number, as
Kubernetes reads it. Reads no files and talks to no cluster: shells pass the text or mapping in.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.params import CategoricalParam, DiscreteParam, IntParam, Param
from hypersearch.core.resource import API_GROUP, API_VERSION, KIND
from hypersearch.core.spec import JOB_TEMPLATE, JOBSET_TEMPLATE, Reporter, SearchSpec
from hypersearch.core.spec_parser import SpecParser

_EXPONENT_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
"""``1e-4``, ``1E3``: numbers to Kubernetes' YAML reader, strings to PyYAML's YAML 1.1 rules."""


def _load_yaml(text: str) -> object:
    """YAML text to data, reading ``1e-4`` as a number as Kubernetes does (PyYAML: a string)."""
    import yaml  # pure parsing; imported here so importing the core stays light

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([Problem("", f"is not valid YAML{where}: {problem}")]) from exc


def parse_manifest(doc: Mapping[str, Any] | str, source: str | None = None) -> SearchSpec:
    """Validate a HyperSearch manifest (mapping or YAML text) into a SearchSpec.

    Raises one SpecError listing every problem found, each with its field path; ``source`` (a
    file name) prefixes the message.
    """
    try:
        data = _load_yaml(doc) if isinstance(doc, str) else doc
    except SpecError as exc:
        raise SpecError(exc.problems, source) from None
    parser = SpecParser()
    spec = parser.manifest(data)
    if parser.problems or spec is None:
        raise SpecError(parser.problems or [Problem("", "invalid specification")], source)
    return spec


# --- back to a manifest --------------------------------------------------------------------------


def _param_to_dict(param: Param, unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(param, CategoricalParam | DiscreteParam):
        kind = "categorical" if isinstance(param, CategoricalParam) else "discrete"
        out = {"name": param.name, "type": kind, "values": list(param.values)}
        if unit is not None:
            out["unit"] = unit
        return out
    out = {
        "name": param.name,
        "type": "int" if isinstance(param, IntParam) else "float",
        "min": param.min,
        "max": param.max,
    }
    if param.scale != "linear":
        out["scale"] = param.scale
    if param.step is not None:
        out["step"] = param.step
    if param.count is not None:
        out["count"] = param.count
    if unit is not None:
        out["unit"] = unit
    return out


def spec_to_manifest(spec: SearchSpec) -> dict[str, Any]:
    """The manifest that parses back to ``spec`` (what ``hyper ... --manifest`` prints)."""
    metadata: dict[str, Any] = {"name": spec.name}
    if spec.namespace is not None:
        metadata["namespace"] = spec.namespace
    algorithm: dict[str, Any] = {"name": spec.algorithm.name, "seed": spec.algorithm.seed}
    if spec.algorithm.settings:
        algorithm["settings"] = dict(spec.algorithm.settings)
    objective: dict[str, Any] = {
        "metric": spec.objective.metric,
        "goal": spec.objective.goal,
        "aggregation": spec.objective.aggregation,
    }
    if spec.objective.target is not None:
        objective["target"] = spec.objective.target
    if spec.objective.unit is not None:
        objective["unit"] = spec.objective.unit
    if spec.objective.noisy:
        objective["noisy"] = True
    trial: dict[str, Any] = {}
    if spec.trial.machine_type is not None:
        trial["machineType"] = spec.trial.machine_type
    if spec.trial.timeout_seconds is not None:
        trial["timeoutSeconds"] = spec.trial.timeout_seconds
    if spec.trial.container is not None:
        trial["container"] = spec.trial.container
    workload = spec.trial.workload
    if workload is None:
        trial["template"] = copy.deepcopy(dict(spec.trial.template))
    else:
        key = JOB_TEMPLATE if workload.kind == "Job" else JOBSET_TEMPLATE
        trial[key] = copy.deepcopy(dict(workload.template))
        if workload.reporter != Reporter():
            reporter = workload.reporter
            trial["reporter"] = {
                **({"replicatedJob": reporter.replicated_job} if reporter.replicated_job else {}),
                "jobIndex": reporter.job_index,
                "podIndex": reporter.pod_index,
            }
    if spec.trial.queue_name is not None:
        trial["queueName"] = spec.trial.queue_name
    body: dict[str, Any] = {
        "algorithm": algorithm,
        "objective": objective,
        "parameters": [
            _param_to_dict(p, spec.parameter_units.get(p.name)) for p in spec.space.params
        ],
        "maxTrials": spec.max_trials,
        "parallelism": spec.parallelism,
        "maxFailedTrials": spec.max_failed_trials,
        "trial": trial,
    }
    if spec.early_stopping is not None:
        body["earlyStopping"] = {
            "algorithm": spec.early_stopping.algorithm,
            **spec.early_stopping.settings,
        }
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": body,
    }


def manifest_yaml(spec: SearchSpec) -> str:
    """``spec_to_manifest`` as YAML text that kubectl and ``parse_manifest`` read back as the same
    values: a string Kubernetes would take for a number (a unit or category such as ``1e3``) is
    quoted, which PyYAML's own rules would leave bare."""
    import yaml  # pure formatting; imported here so importing the core stays light

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
    return yaml.dump(
        spec_to_manifest(spec), Dumper=Dumper, sort_keys=False, default_flow_style=False
    )
