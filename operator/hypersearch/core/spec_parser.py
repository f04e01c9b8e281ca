"""The manifest checker: a loaded HyperSearch document -> ``SearchSpec``, every problem collected.

``SpecParser`` walks the document section by section and records each problem with its field
path, the value seen and the fix, instead of stopping at the first; ``core.manifest`` wraps it
(YAML in, ``SpecError`` out). The field readers are ``spec_fields``, the rules of
``spec.parameters`` ``spec_parameter_rules`` and of ``spec.trial`` ``spec_trial_rules``; this module
holds the document's shape, metadata, algorithm, early stopping and objective.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hypersearch.core.params import (
    FloatParam,
    is_number,
)
from hypersearch.core.resource import API_GROUP, API_VERSION, KIND
from hypersearch.core.spec import (
    AGGREGATIONS,
    ALGORITHM_SETTINGS,
    ALGORITHMS,
    DEFAULT_AGGREGATION,
    DEFAULT_GOAL,
    DEFAULT_MAX_FAILED_TRIALS,
    DEFAULT_PARALLELISM,
    DEFAULT_SEED,
    DNS1123_LABEL,
    EARLY_STOPPING_ALGORITHMS,
    EARLY_STOPPING_SETTINGS,
    GOALS,
    MAX_METRIC_LENGTH,
    MAX_NAMESPACE_LENGTH,
    MAX_PARALLELISM,
    MAX_SEARCH_NAME_LENGTH,
    MAX_SEED,
    MAX_TRIALS,
    Algorithm,
    AlgorithmName,
    EarlyStopping,
    Objective,
    SearchSpec,
    SettingRule,
)
from hypersearch.core.spec_fields import MISSING, is_int, pick, show
from hypersearch.core.spec_parameter_rules import ParameterRules
from hypersearch.core.spec_trial_rules import TrialRules

_DNS_RE = re.compile(DNS1123_LABEL)
_SPEC_KEYS = (
    "algorithm",
    "objective",
    "parameters",
    "maxTrials",
    "parallelism",
    "maxFailedTrials",
    "trial",
    "earlyStopping",
)
_OBJECTIVE_KEYS = ("metric", "goal", "aggregation", "target", "unit", "noisy")


class SpecParser(ParameterRules, TrialRules):
    """Walks a manifest once, collecting every problem instead of stopping at the first."""

    def manifest(self, doc: object) -> SearchSpec | None:
        root = self.mapping(doc, "manifest", " with apiVersion, kind, metadata and spec")
        if root is None:
            return None
        expected_version = f"{API_GROUP}/{API_VERSION}"
        if root.get("apiVersion") != expected_version:
            self.fail(
                "apiVersion", f"must be {expected_version}, got {show(root.get('apiVersion'))}"
            )
        if root.get("kind") != KIND:
            self.fail("kind", f"must be {KIND}, got {show(root.get('kind'))}")
        name, namespace = self.metadata(root.get("metadata", MISSING))
        spec = self.mapping(root.get("spec", MISSING), "spec")
        if spec is None:
            return None
        self.known_keys(spec, "spec", _SPEC_KEYS)
        algorithm = self.algorithm(spec.get("algorithm", MISSING))
        objective = self.objective(spec.get("objective", MISSING))
        parameters = self.parameters(spec.get("parameters", MISSING))
        space, units = parameters if parameters is not None else (None, {})
        max_trials = self.integer(
            spec,
            "maxTrials",
            "spec",
            minimum=1,
            maximum=MAX_TRIALS,
            required=True,
            hint=": the most trials to run, e.g. maxTrials: 20",
        )
        parallelism = self.integer(spec, "parallelism", "spec", minimum=1, maximum=MAX_PARALLELISM)
        max_failed = self.integer(spec, "maxFailedTrials", "spec", minimum=0, maximum=MAX_TRIALS)
        trial = self.trial(spec.get("trial", MISSING))
        early_stopping = self.early_stopping(spec.get("earlyStopping"))
        if algorithm is not None and algorithm.name == "grid" and space is not None:
            for i, param in enumerate(space.params):
                if isinstance(param, FloatParam) and param.step is None and param.count is None:
                    self.fail(
                        f"spec.parameters[{i}]",
                        f"({param.name}) needs step or count for the grid algorithm: a float "
                        "range has infinitely many values",
                    )
        if (
            self.problems
            or name is None
            or algorithm is None
            or objective is None
            or space is None
            or trial is None
            or max_trials is None
        ):
            return None
        return SearchSpec(
            name=name,
            algorithm=algorithm,
            objective=objective,
            space=space,
            trial=trial,
            max_trials=max_trials,
            parallelism=DEFAULT_PARALLELISM if parallelism is None else parallelism,
            max_failed_trials=DEFAULT_MAX_FAILED_TRIALS if max_failed is None else max_failed,
            namespace=namespace,
            parameter_units=units,
            early_stopping=early_stopping,
        )

    def metadata(self, value: object) -> tuple[str | None, str | None]:
        meta = self.mapping(value, "metadata", ": metadata.name names the search")
        if meta is None:
            return None, None
        name = self.string(
            meta, "name", "metadata", required=True, max_length=MAX_SEARCH_NAME_LENGTH
        )
        if name is not None and not _DNS_RE.match(name):
            self.fail(
                "metadata.name",
                "must be lowercase letters, digits and '-', starting and ending with a letter or "
                f"digit (it names the trial Pods), got {name!r}",
            )
            name = None
        namespace = self.string(meta, "namespace", "metadata", max_length=MAX_NAMESPACE_LENGTH)
        if namespace is not None and not _DNS_RE.match(namespace):
            self.fail(
                "metadata.namespace",
                f"must be a valid namespace name (lowercase letters, digits, '-'), "
                f"got {namespace!r}",
            )
            namespace = None
        return name, namespace

    def algorithm(self, value: object) -> Algorithm | None:
        path = "spec.algorithm"
        doc = self.mapping(value, path, ": e.g. algorithm: {name: bayesian}")
        if doc is None:
            return None
        self.known_keys(doc, path, ("name", "seed", "settings"))
        name = self.string(
            doc, "name", path, required=True, choices=ALGORITHMS, hint=" (grid, random or bayesian)"
        )
        seed = self.integer(doc, "seed", path, minimum=0, maximum=MAX_SEED)
        if name is None:
            return None
        chosen = pick(name, ALGORITHMS)
        if chosen is None:
            return None
        settings = self.settings(chosen, doc.get("settings"))
        if settings is None:
            return None
        return Algorithm(
            name=chosen,
            seed=DEFAULT_SEED if seed is None else seed,
            settings=settings,
        )

    def settings(self, algorithm: AlgorithmName, value: object) -> dict[str, Any] | None:
        path = "spec.algorithm.settings"
        doc = {} if value is None else self.mapping(value, path)
        if doc is None:
            return None
        rules = {rule.key: rule for rule in ALGORITHM_SETTINGS[algorithm]}
        out: dict[str, Any] = {}
        for key, raw in doc.items():
            rule = rules.get(key)
            if rule is None:
                allowed = ", ".join(rules) or "none"
                self.fail(
                    f"{path}.{key}",
                    f"is not a setting of the {algorithm} algorithm (its settings: {allowed})",
                )
                continue
            checked = self.setting(rule, raw, f"{path}.{key}")
            if checked is not None:
                out[key] = checked
        for rule in rules.values():
            if rule.key not in out and rule.key not in doc and rule.default is not None:
                out[rule.key] = rule.default
        return out

    def setting(self, rule: SettingRule, raw: object, where: str) -> int | float | bool | None:
        if rule.kind == "bool":
            if not isinstance(raw, bool):
                self.fail(where, f"must be true or false, got {show(raw)}")
                return None
            return raw
        if rule.kind == "int" and not is_int(raw):
            self.fail(where, f"must be an integer, got {show(raw)}")
            return None
        if not is_number(raw) or not math.isfinite(raw):
            self.fail(where, f"must be a number, got {show(raw)}")
            return None
        number: float = raw
        low, high = rule.minimum, rule.maximum
        too_low = low is not None and (number <= low if rule.exclusive else number < low)
        too_high = high is not None and (number >= high if rule.exclusive else number > high)
        if too_low or too_high:
            bounds = []
            if low is not None:
                bounds.append(f"{'>' if rule.exclusive else '>='} {low}")
            if high is not None:
                bounds.append(f"{'<' if rule.exclusive else '<='} {high}")
            self.fail(where, f"must be {' and '.join(bounds)}, got {raw}")
            return None
        return int(number) if rule.kind == "int" else float(number)

    def early_stopping(self, value: object) -> EarlyStopping | None:
        """``spec.earlyStopping``: a rule and its settings, flat (absent or null: none)."""
        path = "spec.earlyStopping"
        if value is None:
            return None
        doc = self.mapping(value, path, ": e.g. earlyStopping: {algorithm: median}")
        if doc is None:
            return None
        name = self.string(
            doc,
            "algorithm",
            path,
            required=True,
            choices=EARLY_STOPPING_ALGORITHMS,
            hint=" (median or asha; leave earlyStopping out to run every trial to its end)",
        )
        chosen = pick(name, EARLY_STOPPING_ALGORITHMS)
        if chosen is None:
            return None
        rules = {rule.key: rule for rule in EARLY_STOPPING_SETTINGS[chosen]}
        before = len(self.problems)
        settings: dict[str, Any] = {}
        for key, raw in doc.items():
            if key == "algorithm":
                continue
            rule = rules.get(key)
            if rule is None:
                owners = [
                    other
                    for other, others in EARLY_STOPPING_SETTINGS.items()
                    if any(r.key == key for r in others)
                ]
                owner = f"a setting of {owners[0]}, not of {name}; " if owners else ""
                self.fail(
                    f"{path}.{key}",
                    f"is not a setting of the {name} rule ({owner}its settings: "
                    f"{', '.join(rules)})",
                )
                continue
            checked = self.setting(rule, raw, f"{path}.{key}")
            if checked is not None:
                settings[key] = checked
        if len(self.problems) > before:
            return None
        for rule in rules.values():
            settings.setdefault(rule.key, rule.default)
        if name == "asha" and settings["minResource"] >= settings["maxResource"]:
            self.fail(
                f"{path}.minResource",
                f"must be less than maxResource, got minResource={settings['minResource']}, "
                f"maxResource={settings['maxResource']}: the first rung lies below a full "
                "trial's steps (set maxResource to the epochs your script runs)",
            )
            return None
        return EarlyStopping(chosen, settings)

    def objective(self, value: object) -> Objective | None:
        path = "spec.objective"
        doc = self.mapping(value, path, ": e.g. objective: {metric: val_acc, goal: maximize}")
        if doc is None:
            return None
        self.known_keys(doc, path, _OBJECTIVE_KEYS)
        metric = self.string(
            doc,
            "metric",
            path,
            required=True,
            max_length=MAX_METRIC_LENGTH,
            hint=": the metric name the training code prints, e.g. val_acc",
        )
        goal = self.string(doc, "goal", path, choices=GOALS)
        aggregation = self.string(doc, "aggregation", path, choices=AGGREGATIONS)
        unit = self.unit(doc, path, "%")
        target = doc.get("target")
        if target is not None and (not is_number(target) or not math.isfinite(target)):
            self.fail(f"{path}.target", f"must be a finite number, got {show(target)}")
            return None
        if metric is None or ("goal" in doc and goal is None):
            return None
        if "aggregation" in doc and aggregation is None:
            return None
        if doc.get("unit") is not None and unit is None:
            return None
        noisy = doc.get("noisy", False)
        if not isinstance(noisy, bool):
            self.fail(
                f"{path}.noisy",
                f"must be true or false, got {show(noisy)}: true when the same parameters can "
                "score differently from run to run",
            )
            return None
        return Objective(
            metric=metric,
            goal=pick(goal, GOALS) or DEFAULT_GOAL,
            aggregation=pick(aggregation, AGGREGATIONS) or DEFAULT_AGGREGATION,
            target=None if target is None else float(target),
            unit=unit,
            noisy=noisy,
        )
