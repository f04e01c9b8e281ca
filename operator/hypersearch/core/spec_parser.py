"""The manifest checker: a loaded HyperSearch document -> ``SearchSpec``, every problem collected.

``SpecParser`` walks the document section by section and records each problem with its field
path, the value seen and the fix, instead of stopping at the first; ``core.manifest`` wraps it
(YAML in, ``SpecError`` out). A module of its own because the rules are most of the code: the
manifest's loading and writing stay short beside them.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hypersearch.core.errors import Problem
from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    param_problems,
)
from hypersearch.core.placeholders import UNDECLARED_FIX, placeholders_in
from hypersearch.core.resource import API_GROUP, API_VERSION, KIND
from hypersearch.core.space import Space
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
    MAX_ARG_LENGTH,
    MAX_ARGS,
    MAX_CONTAINERS,
    MAX_ENV,
    MAX_METRIC_LENGTH,
    MAX_NAMESPACE_LENGTH,
    MAX_PARALLELISM,
    MAX_PARAMETERS,
    MAX_SEARCH_NAME_LENGTH,
    MAX_SEED,
    MAX_TEXT_LENGTH,
    MAX_TRIALS,
    MAX_UNIT_LENGTH,
    PARAMETER_TYPES,
    Algorithm,
    AlgorithmName,
    EarlyStopping,
    EarlyStoppingName,
    Objective,
    SearchSpec,
    SettingRule,
    TrialTemplate,
)

# --- parsing ------------------------------------------------------------------------------------

_DNS_RE = re.compile(DNS1123_LABEL)
_MISSING = object()
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
_PARAM_KEYS: Mapping[str, tuple[str, ...]] = {
    "int": ("name", "type", "min", "max", "scale", "step", "count", "unit"),
    "float": ("name", "type", "min", "max", "scale", "step", "count", "unit"),
    "categorical": ("name", "type", "values"),
    "discrete": ("name", "type", "values", "unit"),
}
_OBJECTIVE_KEYS = ("metric", "goal", "aggregation", "target", "unit")


def _show(value: object) -> str:
    if isinstance(value, list | tuple) and not value:
        return "an empty list"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class SpecParser:
    """Walks a manifest once, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.declared: tuple[str, ...] | None = None
        """Parameter names as written, set once spec.parameters is a list (placeholder checks)."""

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(self, value: object, path: str, hint: str = "") -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        if value is _MISSING:
            self.fail(path, f"is required{hint}")
        else:
            self.fail(path, f"must be a mapping, got {_show(value)}{hint}")
        return None

    def known_keys(
        self, doc: Mapping[str, Any], path: str, known: Sequence[str], of: str = ""
    ) -> None:
        for key in doc:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            what = f"a field of {of}" if of else "a known field"
            self.fail(f"{path}.{key}", f"is not {what} ({guess}fields: {', '.join(known)})")

    def present(
        self, doc: Mapping[str, Any], key: str, where: str, *, required: bool, hint: str
    ) -> Any:
        """``doc[key]``, or None when it is absent or null (a problem only when ``required``)."""
        value = doc.get(key)
        if value is None and required:
            self.fail(where, f"is required{hint}")
        return value

    def string(
        self,
        doc: Mapping[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        choices: Sequence[str] = (),
        max_length: int = MAX_TEXT_LENGTH,
        hint: str = "",
    ) -> str | None:
        where = f"{path}.{key}"
        value = self.present(doc, key, where, required=required, hint=hint)
        if value is None:
            return None
        if choices and value not in choices:
            self.fail(where, f"must be one of {', '.join(choices)}, got {_show(value)}")
            return None
        if not isinstance(value, str) or not value:
            self.fail(where, f"must be a non-empty string, got {_show(value)}{hint}")
            return None
        if len(value) > max_length:
            self.fail(where, f"must be at most {max_length} characters, got {len(value)}")
            return None
        return value

    def integer(
        self,
        doc: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: int,
        maximum: int | None = None,
        required: bool = False,
        hint: str = "",
    ) -> int | None:
        where = f"{path}.{key}"
        value = self.present(doc, key, where, required=required, hint=hint)
        if value is None:
            return None
        if not _is_int(value):
            self.fail(where, f"must be an integer, got {_show(value)}")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.fail(where, f"must be {bound}, got {value}")
            return None
        return int(value)

    def unit(self, doc: Mapping[str, Any], path: str, example: str) -> str | None:
        """An optional unit: a non-empty string of at most MAX_UNIT_LENGTH characters."""
        where = f"{path}.unit"
        value = doc.get("unit")
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(
                where,
                f"must be a non-empty string (not only spaces), got {_show(value)}: the unit "
                f"reports write next to the name, e.g. unit: {example!r} (quote it in YAML when "
                "it starts with % or looks like a number), or leave unit out",
            )
            return None
        if len(value) > MAX_UNIT_LENGTH:
            self.fail(
                where,
                f"must be at most {MAX_UNIT_LENGTH} characters, got {len(value)} ({value!r}); "
                "use the short symbol, e.g. ms rather than milliseconds",
            )
            return None
        return value

    # --- sections ---------------------------------------------------------------------------

    def manifest(self, doc: object) -> SearchSpec | None:
        root = self.mapping(doc, "manifest", " with apiVersion, kind, metadata and spec")
        if root is None:
            return None
        expected_version = f"{API_GROUP}/{API_VERSION}"
        if root.get("apiVersion") != expected_version:
            self.fail(
                "apiVersion", f"must be {expected_version}, got {_show(root.get('apiVersion'))}"
            )
        if root.get("kind") != KIND:
            self.fail("kind", f"must be {KIND}, got {_show(root.get('kind'))}")
        name, namespace = self.metadata(root.get("metadata", _MISSING))
        spec = self.mapping(root.get("spec", _MISSING), "spec")
        if spec is None:
            return None
        self.known_keys(spec, "spec", _SPEC_KEYS)
        algorithm = self.algorithm(spec.get("algorithm", _MISSING))
        objective = self.objective(spec.get("objective", _MISSING))
        parameters = self.parameters(spec.get("parameters", _MISSING))
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
        trial = self.trial(spec.get("trial", _MISSING))
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
        settings = self.settings(name, doc.get("settings"))  # type: ignore[arg-type]
        if settings is None:
            return None
        return Algorithm(
            name=name,  # type: ignore[arg-type]
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
                self.fail(where, f"must be true or false, got {_show(raw)}")
                return None
            return raw
        if rule.kind == "int" and not _is_int(raw):
            self.fail(where, f"must be an integer, got {_show(raw)}")
            return None
        if not _is_number(raw) or not math.isfinite(raw):  # type: ignore[arg-type]
            self.fail(where, f"must be a number, got {_show(raw)}")
            return None
        number: float = raw  # type: ignore[assignment]
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
        if name is None:
            return None
        rules = {rule.key: rule for rule in EARLY_STOPPING_SETTINGS[name]}  # type: ignore[index]
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
        typed: EarlyStoppingName = name  # type: ignore[assignment]
        return EarlyStopping(typed, settings)

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
        if target is not None and (not _is_number(target) or not math.isfinite(target)):
            self.fail(f"{path}.target", f"must be a finite number, got {_show(target)}")
            return None
        if metric is None or ("goal" in doc and goal is None):
            return None
        if "aggregation" in doc and aggregation is None:
            return None
        if doc.get("unit") is not None and unit is None:
            return None
        return Objective(
            metric=metric,
            goal=goal or DEFAULT_GOAL,  # type: ignore[arg-type]
            aggregation=aggregation or DEFAULT_AGGREGATION,  # type: ignore[arg-type]
            target=None if target is None else float(target),
            unit=unit,
        )

    def parameters(self, value: object) -> tuple[Space, dict[str, str]] | None:
        """The space, and the unit of each parameter that declares one (kept apart: a unit is
        presentation, not part of the space)."""
        path = "spec.parameters"
        if value is _MISSING or value is None:
            self.fail(path, "is required: list the parameters to tune, e.g. [{name: lr, ...}]")
            return None
        if not isinstance(value, list):
            self.fail(path, f"must be a list of parameters, got {_show(value)}")
            return None
        if not value:
            self.fail(path, "must list at least one parameter, got an empty list")
            return None
        if len(value) > MAX_PARAMETERS:
            self.fail(path, f"must hold at most {MAX_PARAMETERS} parameters, got {len(value)}")
            return None
        params: list[Param] = []
        units: dict[str, str] = {}
        first_index: dict[str, int] = {}
        ok = True
        for i, item in enumerate(value):
            parsed = self.parameter(item, f"{path}[{i}]")
            ok = ok and parsed is not None
            param, unit = parsed if parsed is not None else (None, None)
            name = item.get("name") if isinstance(item, Mapping) else None
            if not isinstance(name, str):
                continue
            if name in first_index:
                self.fail(
                    f"{path}[{i}].name",
                    f"duplicates spec.parameters[{first_index[name]}].name "
                    f"({name!r}); give each parameter its own name",
                )
                ok = False
                continue
            first_index[name] = i
            if param is not None:
                params.append(param)
                if unit is not None:
                    units[param.name] = unit
        self.declared = tuple(first_index)
        return (Space(tuple(params)), units) if ok else None

    def parameter(self, value: object, path: str) -> tuple[Param, str | None] | None:
        """One parameter and its unit (None when it declares none)."""
        doc = self.mapping(value, path)
        if doc is None:
            return None
        kind = self.string(
            doc,
            "type",
            path,
            required=True,
            choices=PARAMETER_TYPES,
            hint=" (int, float, categorical or discrete)",
        )
        name = doc.get("name")
        if not isinstance(name, str):
            self.fail(f"{path}.name", f"is required and must be a string, got {_show(name)}")
            return None
        if kind is None:
            return None
        article = "an" if kind == "int" else "a"
        self.known_keys(doc, path, _PARAM_KEYS[kind], f"{article} {kind} parameter")
        before = len(self.problems)
        unit = None if kind == "categorical" else self.unit(doc, path, _UNIT_EXAMPLE[kind])
        param: Param
        if kind in ("int", "float"):
            for key in ("min", "max"):
                if doc.get(key) is None:
                    self.fail(f"{path}.{key}", f"is required for type {kind}")
            if len(self.problems) > before:
                return None
            scale = doc.get("scale", "linear")
            step = doc.get("step")
            if kind == "float":
                param = FloatParam(
                    name,
                    _as_float(doc["min"]),
                    _as_float(doc["max"]),
                    scale,
                    None if step is None else _as_float(step),
                    doc.get("count"),
                )
            else:
                param = IntParam(name, doc["min"], doc["max"], scale, step, doc.get("count"))
        else:
            values = doc.get("values")
            if not isinstance(values, list):
                hint = "is required for type" if values is None else "must be a list for type"
                self.fail(f"{path}.values", f"{hint} {kind}, e.g. values: [0.001, 0.01, 0.1]")
                return None
            if kind == "categorical":
                param = CategoricalParam(name, tuple(_category(v) for v in values))
            else:
                param = DiscreteParam(name, tuple(values))
        self.problems.extend(param_problems(param, path))
        return None if len(self.problems) > before else (param, unit)

    def trial(self, value: object) -> TrialTemplate | None:
        path = "spec.trial"
        doc = self.mapping(value, path, ": trial.template is the Pod template of one trial")
        if doc is None:
            return None
        self.known_keys(doc, path, ("machineType", "timeoutSeconds", "container", "template"))
        machine_type = self.string(doc, "machineType", path)
        container = self.string(doc, "container", path)
        timeout = doc.get("timeoutSeconds")
        if timeout is not None and (
            not _is_number(timeout) or not math.isfinite(timeout) or timeout <= 0
        ):
            self.fail(f"{path}.timeoutSeconds", f"must be a positive number, got {_show(timeout)}")
        before = len(self.problems)
        template = self.mapping(
            doc.get("template", _MISSING),
            f"{path}.template",
            ": a Pod template, e.g. {spec: {containers: [{name: trainer, image: ...}]}}",
        )
        if template is None:
            return None
        chosen = self.containers(template, f"{path}.template", container)
        if chosen is None or len(self.problems) > before:
            return None
        return TrialTemplate(
            template=copy.deepcopy(dict(template)),
            machine_type=machine_type,
            timeout_seconds=None if timeout is None else float(timeout),
            container=container,
        )

    def containers(
        self, template: Mapping[str, Any], path: str, wanted: str | None
    ) -> Mapping[str, Any] | None:
        if "metadata" in template and not isinstance(template["metadata"], Mapping):
            self.fail(f"{path}.metadata", f"must be a mapping, got {_show(template['metadata'])}")
        pod = self.mapping(template.get("spec", _MISSING), f"{path}.spec")
        if pod is None:
            return None
        containers = pod.get("containers")
        where = f"{path}.spec.containers"
        if not isinstance(containers, list) or not containers:
            self.fail(
                where,
                f"must list at least one container, got {_show(containers)} "
                "(e.g. containers: [{name: trainer, image: ..., command: [...]}])",
            )
            return None
        if len(containers) > MAX_CONTAINERS:
            self.fail(
                where, f"must list at most {MAX_CONTAINERS} containers, got {len(containers)}"
            )
            return None
        names: list[str] = []
        for i, item in enumerate(containers):
            if not isinstance(item, Mapping):
                self.fail(f"{where}[{i}]", f"must be a mapping, got {_show(item)}")
                return None
            cname = item.get("name")
            if not isinstance(cname, str) or not cname:
                self.fail(f"{where}[{i}].name", f"must be a non-empty string, got {_show(cname)}")
                return None
            names.append(cname)
            self.text_limits(item, f"{where}[{i}]")
        if wanted is None:
            chosen, index = containers[0], 0
        elif wanted in names:
            index = names.index(wanted)
            chosen = containers[index]
        else:
            self.fail(
                "spec.trial.container",
                f"names no container of the template, got {wanted!r} "
                f"(containers: {', '.join(names)})",
            )
            return None
        if self.declared is not None:
            self.placeholders(chosen, f"{where}[{index}]", self.declared)
        return chosen  # type: ignore[no-any-return]

    def text_limits(self, container: Mapping[str, Any], path: str) -> None:
        """The CRD's bounds on a container's command, args and env (they keep CEL's cost within
        the API server's budget), so ``hyper run`` refuses what ``kubectl apply`` would."""
        for key, most in (("command", MAX_ARGS), ("args", MAX_ARGS), ("env", MAX_ENV)):
            items = container.get(key)
            if not isinstance(items, list):
                continue
            if len(items) > most:
                self.fail(f"{path}.{key}", f"must hold at most {most} items, got {len(items)}")
            for i, item in enumerate(items):
                text = item
                if key == "env":
                    text = item.get("value") if isinstance(item, Mapping) else None
                if isinstance(text, str) and len(text) > MAX_ARG_LENGTH:
                    where = f"{path}.{key}[{i}]" + (".value" if key == "env" else "")
                    self.fail(
                        where,
                        f"must be at most {MAX_ARG_LENGTH} characters, got {len(text)}; put "
                        "a longer script or text in a file (in the image or a mounted ConfigMap)",
                    )

    def placeholders(self, container: Mapping[str, Any], path: str, names: tuple[str, ...]) -> None:
        declared = set(names)
        texts: list[tuple[str, object]] = []
        for key in ("command", "args"):
            items = container.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                self.fail(f"{path}.{key}", f"must be a list of strings, got {_show(items)}")
                continue
            texts.extend((f"{path}.{key}[{i}]", item) for i, item in enumerate(items))
        env = container.get("env")
        if isinstance(env, list):
            for i, item in enumerate(env):
                if isinstance(item, Mapping) and "value" in item:
                    texts.append((f"{path}.env[{i}].value", item["value"]))
        for where, text in texts:
            if not isinstance(text, str):
                self.fail(where, f"must be a string, got {_show(text)} (quote it in YAML)")
                continue
            for unknown in sorted(placeholders_in(text) - declared):
                self.fail(
                    where,
                    f"uses placeholder :{unknown}:, which no parameter declares "
                    f"(parameters: {', '.join(names)}); {UNDECLARED_FIX}",
                )


_UNIT_EXAMPLE: Mapping[str, str] = {"int": "epochs", "float": "s", "discrete": "px"}


def _as_float(value: object) -> Any:
    """Ints become floats for float parameters; anything else is left for param_problems."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _category(value: object) -> Any:
    """YAML booleans in a categorical become the text a command line would receive."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
