"""The HyperSearch CRD's OpenAPI v3 schema (spec and status), built from the spec module's limits.

Every default, enum and limit here is read from ``spec``, ``space`` and ``conditions``, so the
API server and ``parse_manifest`` agree. The schema says what OpenAPI can (types, enums, bounds,
list sizes); ``x-kubernetes-validations`` (CEL) says what it cannot (min < max, unique names,
fields a parameter type needs). Lists and strings carry maxItems/maxLength so the CEL cost stays
within the API server's budget. ``parse_manifest`` remains the full check (placeholders, grids),
run by the operator, which reports problems in the InvalidSpec condition.

The status part is ``kube.schema_status``, ``spec.trial``'s ``kube.schema_trial``. Kubernetes
knowledge (OpenAPI, CEL, the API server's cost budget), hence in ``kube``, not the core; only
``kube.crd`` uses it.

Pure data: this module builds dicts and writes no files (the operator's tooling writes crds/).
"""

from __future__ import annotations

from typing import Any

from hypersearch.core import params, resource, spec
from hypersearch.kube import schema_trial
from hypersearch.kube.openapi import Schema, integer, number, obj, rule, string
from hypersearch.kube.schema_status import status_schema

SHORT_NAMES = ["hs"]
CATEGORIES = ["all"]


def _unit(description: str) -> Schema:
    return string(
        description + " Only for display in reports: it changes nothing in the search.",
        minLength=1,
        maxLength=spec.MAX_UNIT_LENGTH,
        pattern=r"\S",
    )


def _algorithm() -> Schema:
    settings_properties: dict[str, Schema] = {}
    rules: list[dict[str, Any]] = []
    owners: dict[str, list[str]] = {}
    for name, setting_rules in spec.ALGORITHM_SETTINGS.items():
        for setting in setting_rules:
            owners.setdefault(setting.key, []).append(name)
            node: Schema = {
                "type": {"int": "integer", "float": "number", "bool": "boolean"}[setting.kind],
                "description": f"({name}) {setting.description}"
                + (
                    f" Default: {str(setting.default).lower()}."
                    if setting.default is not None
                    else ""
                ),
            }
            if setting.minimum is not None:
                node["minimum"] = setting.minimum
                if setting.exclusive:
                    node["exclusiveMinimum"] = True
            if setting.maximum is not None:
                node["maximum"] = setting.maximum
                if setting.exclusive:
                    node["exclusiveMaximum"] = True
            settings_properties[setting.key] = node
    for key, names in owners.items():
        allowed = ", ".join(f"'{n}'" for n in names)
        rules.append(
            rule(
                f"!has(self.settings) || !has(self.settings.{key}) || self.name in [{allowed}]",
                f"settings.{key} is a setting of the {' and '.join(names)} algorithm only",
                fieldPath=f".settings.{key}",
            )
        )
    return obj(
        "Which search algorithm chooses the trials' parameters, its seed and its settings.",
        {
            "name": string(
                "grid: every combination in order; random: uniform draws (quasiRandom: Sobol); "
                "bayesian: GP-UCB Bayesian optimisation.",
                enum=list(spec.ALGORITHMS),
            ),
            "seed": integer(
                "Seed of the algorithm's random choices; the same seed and history give the same "
                "suggestions, also after an operator restart.",
                default=spec.DEFAULT_SEED,
                minimum=0,
                maximum=spec.MAX_SEED,
                format="int64",
            ),
            "settings": obj(
                "Settings of the chosen algorithm; each key belongs to one algorithm.",
                settings_properties,
            ),
        },
        required=["name"],
        **{"x-kubernetes-validations": rules},
    )


def _early_stopping() -> Schema:
    properties: dict[str, Schema] = {
        "algorithm": string(
            "median: stop a trial whose value at a step is worse than the median of the other "
            "trials' values at that step; asha: asynchronous successive halving, keep the best "
            "1/reductionFactor of the trials at each rung.",
            enum=list(spec.EARLY_STOPPING_ALGORITHMS),
        )
    }
    rules: list[dict[str, Any]] = []
    for name, setting_rules in spec.EARLY_STOPPING_SETTINGS.items():
        for setting in setting_rules:
            node: Schema = {
                "type": {"int": "integer", "float": "number", "bool": "boolean"}[setting.kind],
                "description": f"({name}) {setting.description} Default: {setting.default}.",
            }
            if setting.minimum is not None:
                node["minimum"] = setting.minimum
                if setting.exclusive:
                    node["exclusiveMinimum"] = True
            properties[setting.key] = node
            rules.append(
                rule(
                    f"!has(self.{setting.key}) || self.algorithm == '{name}'",
                    f"{setting.key} is a setting of the {name} rule only",
                    fieldPath=f".{setting.key}",
                )
            )
    rules.append(
        rule(
            "!has(self.minResource) || self.minResource < "
            "(has(self.maxResource) ? self.maxResource : "
            f"{spec.EarlyStopping('asha').setting('maxResource')})",
            "minResource must be less than maxResource",
            fieldPath=".minResource",
        )
    )
    return obj(
        "Stop running trials whose learning curves are bad (absent: every trial runs to its "
        "end). A report's step is its epoch/step key, else its position. Early-stopped trials "
        "count toward maxTrials, not maxFailedTrials.",
        properties,
        required=["algorithm"],
        **{"x-kubernetes-validations": rules},
    )


def _objective() -> Schema:
    return obj(
        "The metric a trial reports, which way is better, and how its reports become one value.",
        {
            "metric": string(
                "Name of the metric the training code prints (name=value, a JSON line or Keras "
                "progress, e.g. val_acc). A prefix such as keras/ is ignored, and acc matches "
                "accuracy.",
                minLength=1,
                maxLength=spec.MAX_METRIC_LENGTH,
            ),
            "goal": string(
                "Whether larger (maximize) or smaller (minimize) values are better.",
                enum=list(spec.GOALS),
                default=spec.DEFAULT_GOAL,
            ),
            "aggregation": string(
                "How a trial's reports of the metric become its value: the last one, the min, "
                "the max or the average (NaN and infinite values are skipped).",
                enum=list(spec.AGGREGATIONS),
                default=spec.DEFAULT_AGGREGATION,
            ),
            "target": number(
                "Optional: the search succeeds early once a trial's value reaches this value."
            ),
            "unit": _unit(
                "Optional unit of the metric's values (e.g. %, s, accuracy), written next to the "
                "metric's name on report axes and columns."
            ),
            "noisy": {
                "type": "boolean",
                "default": False,
                "description": "True when the same parameters can score differently from run to "
                "run (e.g. an unseeded training): the bayesian search may then measure a point "
                "again. False: a point is measured once.",
            },
        },
        required=["metric"],
    )


def _parameter() -> Schema:
    any_value = {
        "description": "A value to try: a string or a number (discrete: numbers only).",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return obj(
        "One parameter to tune. int and float need min and max; categorical and discrete need "
        "values.",
        {
            "name": string(
                "Name of the parameter, used as the :name: placeholder in the trial's command, "
                "args and env.",
                pattern=params.NAME_PATTERN,
                minLength=1,
                maxLength=params.MAX_NAME_LENGTH,
            ),
            "type": string(
                "int or float: a range from min to max, both included; categorical: unordered "
                "values; discrete: an ordered list of numbers.",
                enum=list(spec.PARAMETER_TYPES),
            ),
            "min": number("Smallest value of an int or float range (included)."),
            "max": number("Largest value of an int or float range (included)."),
            "scale": string(
                "linear: uniform over the range; log: uniform over its logarithm (min must be "
                "> 0), for values spanning orders of magnitude such as learning rates. "
                "Default: linear.",
                # No schema default: the API server would store it on categorical and discrete
                # parameters too, which parse_manifest refuses (they have no scale).
                enum=list(params.SCALES),
            ),
            "step": number(
                "Grid only: try min, min+step, ... up to max (linear scale only). Default for "
                "int: 1.",
                minimum=0,
                exclusiveMinimum=True,
            ),
            "count": integer(
                "Grid only: try count evenly spaced values from min to max, both included "
                "(geometrically spaced on a log scale).",
                minimum=2,
                maximum=params.MAX_GRID_COUNT,
            ),
            "values": {
                "type": "array",
                "description": "The values to try (categorical and discrete), each once.",
                "minItems": 1,
                "maxItems": params.MAX_VALUES,
                "items": any_value,
            },
            "unit": _unit(
                "Optional unit of an int, float or discrete parameter (e.g. s, px, epochs), "
                "written next to its name on report axes and columns."
            ),
        },
        required=["name", "type"],
        # "categorical and discrete need values" is left to parse_manifest (the operator reports it
        # in the InvalidSpec condition): CEL cannot see ``values``, whose items are untyped
        # (strings or numbers), and an OpenAPI anyOf gives a misleading message ("Unsupported
        # value: categorical"), checked against kube-apiserver 1.33.
        **{
            "x-kubernetes-validations": [
                rule(
                    "!(self.type in ['int', 'float']) || (has(self.min) && has(self.max))",
                    "int and float parameters need min and max",
                ),
                rule(
                    "!(self.type in ['categorical', 'discrete']) || "
                    "!(has(self.min) || has(self.max) || has(self.step) || has(self.count))",
                    "min, max, step and count apply to int and float parameters only",
                ),
                rule(
                    "!has(self.min) || !has(self.max) || self.min < self.max",
                    "max must be greater than min (swap them if reversed)",
                    messageExpression="'max must be greater than min, got min=%s, max=%s (swap "
                    "them if reversed)'.format([self.min, self.max])",
                    fieldPath=".max",
                ),
                rule(
                    "!has(self.scale) || self.scale != 'log' || !has(self.min) || self.min > 0.0",
                    "a log scale needs min > 0; use scale: linear, or a positive min",
                    messageExpression="'a log scale needs min > 0, got min=%s; use scale: linear, "
                    "or a positive min'.format([self.min])",
                    fieldPath=".min",
                ),
                rule(
                    "!(has(self.step) && has(self.count))",
                    "set step or count, not both",
                ),
                rule(
                    "self.type != 'categorical' || !has(self.unit)",
                    "unit applies to int, float and discrete parameters only",
                    fieldPath=".unit",
                ),
                rule(
                    "!has(self.step) || !has(self.scale) || self.scale != 'log'",
                    "step cannot be used with scale log; use count for geometric spacing",
                    fieldPath=".step",
                ),
                rule(
                    "!(self.type in ['categorical', 'discrete']) || !has(self.scale)",
                    "scale applies to int and float parameters only; remove it",
                    fieldPath=".scale",
                ),
                *(_int_bound_rule(bound) for bound in ("min", "max")),
                rule(
                    f"self.type != 'int' || !has(self.step) || self.step > {_MAX_INT} || "
                    "double(int(self.step)) == self.step",
                    "step of an int parameter must be a whole number; round it, or use type: float",
                    messageExpression="'step of an int parameter must be a whole number, got %s; "
                    "round it, or use type: float'.format([self.step])",
                    fieldPath=".step",
                ),
            ]
        },
    )


_MAX_INT = f"{float(params.MAX_INT_MAGNITUDE)!r}"
"""2^53 as a CEL double literal: int bounds beyond it lose precision in JSON (``space``)."""


def _int_bound_rule(bound: str) -> dict[str, Any]:
    """``min``/``max`` of an int parameter is a whole number within +-2^53, as the parser wants.

    CEL sees every ``number`` as a double; ``int()`` truncates it, so a fraction changes it. The
    range check comes first: ``int()`` of a double beyond int64 is an error, and CEL's ``&&``
    is false when either side is false, errors included.
    """
    field = f"self.{bound}"
    in_range = f"{field} >= -{_MAX_INT} && {field} <= {_MAX_INT}"
    return rule(
        f"self.type != 'int' || !has({field}) || ({in_range} && double(int({field})) == {field})",
        f"{bound} of an int parameter must be a whole number between "
        f"-{params.MAX_INT_MAGNITUDE} and {params.MAX_INT_MAGNITUDE}; round it, or use type: float",
        messageExpression=f"({in_range}) ? '{bound} of an int parameter must be a whole "
        "number, got %s; round it, or use type: float for fractional values'"
        f".format([{field}]) : '{bound} of an int parameter must be a whole number between "
        f"-{params.MAX_INT_MAGNITUDE} and {params.MAX_INT_MAGNITUDE}, got %s'.format([{field}])",
        fieldPath=f".{bound}",
    )


def _trial_template() -> Schema:
    return obj(
        "How to run one trial.",
        {
            "machineType": string(
                "Machine type (e.g. K80), mapped by the operator's configuration to GPU count, "
                "node selector and tolerations.",
                minLength=1,
                maxLength=spec.MAX_TEXT_LENGTH,
            ),
            "timeoutSeconds": number(
                "A trial running longer than this is stopped and counts as failed.",
                minimum=0,
                exclusiveMinimum=True,
            ),
            "container": string(
                "Name of the training container in the template (default: the first). Its "
                "command, args and env values carry the :name: placeholders.",
                minLength=1,
                maxLength=spec.MAX_TEXT_LENGTH,
            ),
            "template": schema_trial.template(),
            **schema_trial.workload_fields(),
        },
        **{
            "x-kubernetes-validations": [
                schema_trial.one_workload_rule(),
                *schema_trial.trial_rules(),
            ]
        },
    )


def spec_schema() -> Schema:
    """The schema of ``spec``."""
    return obj(
        "What to search: the algorithm, the objective, the parameters, the budget and the trial "
        "to run.",
        {
            "algorithm": _algorithm(),
            "objective": _objective(),
            "parameters": {
                "type": "array",
                "description": "The parameters to tune, in order (the grid varies the last one "
                "fastest). Names must be unique.",
                "minItems": 1,
                "maxItems": spec.MAX_PARAMETERS,
                "items": _parameter(),
                "x-kubernetes-validations": [
                    rule(
                        "self.all(p, self.exists_one(q, q.name == p.name))",
                        "parameter names must be unique; rename the repeated one",
                    )
                ],
            },
            "maxTrials": integer(
                "The most trials to run (fewer when a finite space is exhausted).",
                minimum=1,
                maximum=spec.MAX_TRIALS,
            ),
            "parallelism": integer(
                "The most trials running at once.",
                minimum=1,
                maximum=spec.MAX_PARALLELISM,
                default=spec.DEFAULT_PARALLELISM,
            ),
            "maxFailedTrials": integer(
                "The search fails once more trials than this have failed.",
                minimum=0,
                maximum=spec.MAX_TRIALS,
                default=spec.DEFAULT_MAX_FAILED_TRIALS,
            ),
            "trial": _trial_template(),
            "earlyStopping": _early_stopping(),
        },
        required=["algorithm", "objective", "parameters", "maxTrials", "trial"],
        **{
            "x-kubernetes-validations": [
                rule(
                    "self.algorithm.name != 'grid' || "
                    "self.parameters.all(p, p.type != 'float' || has(p.step) || has(p.count))",
                    "the grid algorithm needs step or count on every float parameter",
                    fieldPath=".parameters",
                ),
                *schema_trial.placeholder_rules(),
            ]
        },
    )


def openapi_schema() -> Schema:
    """The ``openAPIV3Schema`` of the HyperSearch CRD's version."""
    return obj(
        "A hyperparameter search: trials of a training Pod with parameters chosen by grid, "
        "random or Bayesian (GP-UCB) search, scored by a metric the training code prints.",
        {
            "apiVersion": string("The API version: hypersearch.io/v1alpha1."),
            "kind": string("HyperSearch."),
            # The API server accepts nothing but the type on metadata, not even a description.
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
        required=["spec"],
        **{
            "x-kubernetes-validations": [
                rule(
                    f"size(self.metadata.name) <= {spec.MAX_SEARCH_NAME_LENGTH}",
                    f"metadata.name must be at most {spec.MAX_SEARCH_NAME_LENGTH} characters "
                    "(trial Pod names add a suffix)",
                ),
                # The API server allows dots in names (DNS subdomains); the parser does not (DNS
                # labels), since the name is a prefix of the trial Pods' names and labels.
                rule(
                    "!self.metadata.name.contains('.')",
                    "metadata.name must not contain '.' (it names the trial Pods); use '-' instead",
                ),
            ]
        },
    )


def printer_columns() -> list[dict[str, Any]]:
    """Columns of ``kubectl get hypersearches``."""
    return [
        {"name": "Algorithm", "type": "string", "jsonPath": ".spec.algorithm.name"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Trials", "type": "integer", "jsonPath": ".status.counts.trials"},
        {"name": "Queued", "type": "integer", "jsonPath": ".status.counts.queued"},
        {"name": "Running", "type": "integer", "jsonPath": ".status.counts.running"},
        {"name": "Max", "type": "integer", "jsonPath": ".spec.maxTrials"},
        {"name": "Failed", "type": "integer", "jsonPath": ".status.counts.failed"},
        {"name": "Stopped", "type": "integer", "jsonPath": ".status.counts.earlyStopped"},
        {"name": "Best", "type": "number", "jsonPath": ".status.best.value"},
        {"name": "Metric", "type": "string", "jsonPath": ".spec.objective.metric", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def custom_resource_definition() -> dict[str, Any]:
    """The whole CRD (what crds/ holds): one served and stored version with a status subresource."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.PLURAL}.{resource.API_GROUP}"},
        "spec": {
            "group": resource.API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.KIND,
                "listKind": f"{resource.KIND}List",
                "plural": resource.PLURAL,
                "singular": resource.KIND.lower(),
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": resource.API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }
