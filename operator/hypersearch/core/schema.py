"""The HyperSearch CRD's OpenAPI v3 schema (spec and status), built from the spec module's limits.

Every default, enum and limit here is read from ``spec``, ``space`` and ``conditions``, so the
API server and ``parse_manifest`` agree. The schema says what OpenAPI can (types, enums, bounds,
list sizes); ``x-kubernetes-validations`` (CEL) says what it cannot (min < max, unique names,
fields a parameter type needs). Lists and strings carry maxItems/maxLength so the CEL cost stays
within the API server's budget. ``parse_manifest`` remains the full check (placeholders, grids),
run by the operator, which reports problems in the InvalidSpec condition.

Status trial entries follow what ``kube.convert`` and the sidecar write: ``curve`` is a list of
``[step, value]`` pairs (``kube.curve``), and ``exitCode``, ``observed``, ``metricMessage`` and
``reportedAt`` are the sidecar's fields.

Pure data: this module builds dicts and writes no files (the operator's tooling writes crds/).
"""

from __future__ import annotations

from typing import Any

from hypersearch.core import conditions, schema_trial, space, spec

MAX_CURVE_POINTS = 100
"""Upper bound of a status curve; the writer keeps fewer (``kube.curve.CURVE_LIMIT``)."""
MAX_MESSAGE_LENGTH = 32768
PHASES = ("Pending", "Running", "Succeeded", "Failed")
TRIAL_PHASES = (*PHASES, "EarlyStopped")
"""A trial's phases: a search's, and EarlyStopped (stopped by spec.earlyStopping's rule)."""
SHORT_NAMES = ["hs"]
CATEGORIES = ["all"]

Schema = dict[str, Any]


def _string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _int(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "description": description, **extra}


def _number(description: str, **extra: Any) -> Schema:
    return {"type": "number", "description": description, **extra}


def _object(description: str, properties: dict[str, Schema], **extra: Any) -> Schema:
    return {"type": "object", "description": description, "properties": properties, **extra}


def _free(description: str) -> Schema:
    """An object whose keys are not known in advance (parameter values, Pod templates)."""
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def _unit(description: str) -> Schema:
    return _string(
        description + " Only for display in reports: it changes nothing in the search.",
        minLength=1,
        maxLength=spec.MAX_UNIT_LENGTH,
        pattern=r"\S",
    )


def _rule(rule: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "message": message, **extra}


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
            _rule(
                f"!has(self.settings) || !has(self.settings.{key}) || self.name in [{allowed}]",
                f"settings.{key} is a setting of the {' and '.join(names)} algorithm only",
                fieldPath=f".settings.{key}",
            )
        )
    return _object(
        "Which search algorithm chooses the trials' parameters, its seed and its settings.",
        {
            "name": _string(
                "grid: every combination in order; random: uniform draws (quasiRandom: Sobol); "
                "bayesian: GP-UCB Bayesian optimisation.",
                enum=list(spec.ALGORITHMS),
            ),
            "seed": _int(
                "Seed of the algorithm's random choices; the same seed and history give the same "
                "suggestions, also after an operator restart.",
                default=spec.DEFAULT_SEED,
                minimum=0,
                maximum=spec.MAX_SEED,
                format="int64",
            ),
            "settings": _object(
                "Settings of the chosen algorithm; each key belongs to one algorithm.",
                settings_properties,
            ),
        },
        required=["name"],
        **{"x-kubernetes-validations": rules},
    )


def _early_stopping() -> Schema:
    properties: dict[str, Schema] = {
        "algorithm": _string(
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
                _rule(
                    f"!has(self.{setting.key}) || self.algorithm == '{name}'",
                    f"{setting.key} is a setting of the {name} rule only",
                    fieldPath=f".{setting.key}",
                )
            )
    rules.append(
        _rule(
            "!has(self.minResource) || self.minResource < "
            "(has(self.maxResource) ? self.maxResource : "
            f"{spec.EarlyStopping('asha').setting('maxResource')})",
            "minResource must be less than maxResource",
            fieldPath=".minResource",
        )
    )
    return _object(
        "Stop running trials whose learning curves are bad (absent: every trial runs to its "
        "end). A report's step is its epoch/step key, else its position. Early-stopped trials "
        "count toward maxTrials, not maxFailedTrials.",
        properties,
        required=["algorithm"],
        **{"x-kubernetes-validations": rules},
    )


def _objective() -> Schema:
    return _object(
        "The metric a trial reports, which way is better, and how its reports become one value.",
        {
            "metric": _string(
                "Name of the metric the training code prints (name=value, a JSON line or Keras "
                "progress, e.g. val_acc). A prefix such as keras/ is ignored, and acc matches "
                "accuracy.",
                minLength=1,
                maxLength=spec.MAX_METRIC_LENGTH,
            ),
            "goal": _string(
                "Whether larger (maximize) or smaller (minimize) values are better.",
                enum=list(spec.GOALS),
                default=spec.DEFAULT_GOAL,
            ),
            "aggregation": _string(
                "How a trial's reports of the metric become its value: the last one, the min, "
                "the max or the average (NaN and infinite values are skipped).",
                enum=list(spec.AGGREGATIONS),
                default=spec.DEFAULT_AGGREGATION,
            ),
            "target": _number(
                "Optional: the search succeeds early once a trial's value reaches this value."
            ),
            "unit": _unit(
                "Optional unit of the metric's values (e.g. %, s, accuracy), written next to the "
                "metric's name on report axes and columns."
            ),
        },
        required=["metric"],
    )


def _parameter() -> Schema:
    any_value = {
        "description": "A value to try: a string or a number (discrete: numbers only).",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return _object(
        "One parameter to tune. int and float need min and max; categorical and discrete need "
        "values.",
        {
            "name": _string(
                "Name of the parameter, used as the :name: placeholder in the trial's command, "
                "args and env.",
                pattern=space.NAME_PATTERN,
                minLength=1,
                maxLength=space.MAX_NAME_LENGTH,
            ),
            "type": _string(
                "int or float: a range from min to max, both included; categorical: unordered "
                "values; discrete: an ordered list of numbers.",
                enum=list(spec.PARAMETER_TYPES),
            ),
            "min": _number("Smallest value of an int or float range (included)."),
            "max": _number("Largest value of an int or float range (included)."),
            "scale": _string(
                "linear: uniform over the range; log: uniform over its logarithm (min must be "
                "> 0), for values spanning orders of magnitude such as learning rates. "
                "Default: linear.",
                # No schema default: the API server would store it on categorical and discrete
                # parameters too, which parse_manifest refuses (they have no scale).
                enum=list(space.SCALES),
            ),
            "step": _number(
                "Grid only: try min, min+step, ... up to max (linear scale only). Default for "
                "int: 1.",
                minimum=0,
                exclusiveMinimum=True,
            ),
            "count": _int(
                "Grid only: try count evenly spaced values from min to max, both included "
                "(geometrically spaced on a log scale).",
                minimum=2,
                maximum=space.MAX_GRID_COUNT,
            ),
            "values": {
                "type": "array",
                "description": "The values to try (categorical and discrete), each once.",
                "minItems": 1,
                "maxItems": space.MAX_VALUES,
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
                _rule(
                    "!(self.type in ['int', 'float']) || (has(self.min) && has(self.max))",
                    "int and float parameters need min and max",
                ),
                _rule(
                    "!(self.type in ['categorical', 'discrete']) || "
                    "!(has(self.min) || has(self.max) || has(self.step) || has(self.count))",
                    "min, max, step and count apply to int and float parameters only",
                ),
                _rule(
                    "!has(self.min) || !has(self.max) || self.min < self.max",
                    "max must be greater than min (swap them if reversed)",
                    messageExpression="'max must be greater than min, got min=%s, max=%s (swap "
                    "them if reversed)'.format([self.min, self.max])",
                    fieldPath=".max",
                ),
                _rule(
                    "!has(self.scale) || self.scale != 'log' || !has(self.min) || self.min > 0.0",
                    "a log scale needs min > 0; use scale: linear, or a positive min",
                    messageExpression="'a log scale needs min > 0, got min=%s; use scale: linear, "
                    "or a positive min'.format([self.min])",
                    fieldPath=".min",
                ),
                _rule(
                    "!(has(self.step) && has(self.count))",
                    "set step or count, not both",
                ),
                _rule(
                    "self.type != 'categorical' || !has(self.unit)",
                    "unit applies to int, float and discrete parameters only",
                    fieldPath=".unit",
                ),
                _rule(
                    "!has(self.step) || !has(self.scale) || self.scale != 'log'",
                    "step cannot be used with scale log; use count for geometric spacing",
                    fieldPath=".step",
                ),
                _rule(
                    "!(self.type in ['categorical', 'discrete']) || !has(self.scale)",
                    "scale applies to int and float parameters only; remove it",
                    fieldPath=".scale",
                ),
                *(_int_bound_rule(bound) for bound in ("min", "max")),
                _rule(
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


_MAX_INT = f"{float(space.MAX_INT_MAGNITUDE)!r}"
"""2^53 as a CEL double literal: int bounds beyond it lose precision in JSON (``space``)."""


def _int_bound_rule(bound: str) -> dict[str, Any]:
    """``min``/``max`` of an int parameter is a whole number within +-2^53, as the parser wants.

    CEL sees every ``number`` as a double; ``int()`` truncates it, so a fraction changes it. The
    range check comes first: ``int()`` of a double beyond int64 is an error, and CEL's ``&&``
    is false when either side is false, errors included.
    """
    field = f"self.{bound}"
    in_range = f"{field} >= -{_MAX_INT} && {field} <= {_MAX_INT}"
    return _rule(
        f"self.type != 'int' || !has({field}) || ({in_range} && double(int({field})) == {field})",
        f"{bound} of an int parameter must be a whole number between "
        f"-{space.MAX_INT_MAGNITUDE} and {space.MAX_INT_MAGNITUDE}; round it, or use type: float",
        messageExpression=f"({in_range}) ? '{bound} of an int parameter must be a whole "
        "number, got %s; round it, or use type: float for fractional values'"
        f".format([{field}]) : '{bound} of an int parameter must be a whole number between "
        f"-{space.MAX_INT_MAGNITUDE} and {space.MAX_INT_MAGNITUDE}, got %s'.format([{field}])",
        fieldPath=f".{bound}",
    )


def _trial_template() -> Schema:
    return _object(
        "How to run one trial.",
        {
            "machineType": _string(
                "Machine type (e.g. K80), mapped by the operator's configuration to GPU count, "
                "node selector and tolerations.",
                minLength=1,
                maxLength=spec.MAX_TEXT_LENGTH,
            ),
            "timeoutSeconds": _number(
                "A trial running longer than this is stopped and counts as failed.",
                minimum=0,
                exclusiveMinimum=True,
            ),
            "container": _string(
                "Name of the training container in the template (default: the first). Its "
                "command, args and env values carry the :name: placeholders.",
                minLength=1,
                maxLength=spec.MAX_TEXT_LENGTH,
            ),
            "template": schema_trial.template(),
        },
        required=["template"],
        **{"x-kubernetes-validations": schema_trial.trial_rules()},
    )


def spec_schema() -> Schema:
    """The schema of ``spec``."""
    return _object(
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
                    _rule(
                        "self.all(p, self.exists_one(q, q.name == p.name))",
                        "parameter names must be unique; rename the repeated one",
                    )
                ],
            },
            "maxTrials": _int(
                "The most trials to run (fewer when a finite space is exhausted).",
                minimum=1,
                maximum=spec.MAX_TRIALS,
            ),
            "parallelism": _int(
                "The most trials running at once.",
                minimum=1,
                maximum=spec.MAX_PARALLELISM,
                default=spec.DEFAULT_PARALLELISM,
            ),
            "maxFailedTrials": _int(
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
                _rule(
                    "self.algorithm.name != 'grid' || "
                    "self.parameters.all(p, p.type != 'float' || has(p.step) || has(p.count))",
                    "the grid algorithm needs step or count on every float parameter",
                    fieldPath=".parameters",
                ),
                *schema_trial.placeholder_rules(),
            ]
        },
    )


def _condition() -> Schema:
    return _object(
        "One condition in the standard Kubernetes shape.",
        {
            "type": _string("Running, Succeeded or Failed.", maxLength=conditions.MAX_TYPE_LENGTH),
            "status": _string("True, False or Unknown.", enum=list(conditions.STATUSES)),
            "reason": _string(
                "Why, in CamelCase (e.g. MaxTrialsReached, TargetReached, InvalidSpec).",
                maxLength=conditions.MAX_REASON_LENGTH,
                pattern=conditions.REASON_PATTERN,
            ),
            "message": _string("Why, for people.", maxLength=conditions.MAX_MESSAGE_LENGTH),
            "lastTransitionTime": _string("When the status last changed.", format="date-time"),
            "observedGeneration": _int(
                "The spec generation the condition was set for.", minimum=0, format="int64"
            ),
        },
        required=["type", "status", "reason", "lastTransitionTime"],
    )


def _trial_entry() -> Schema:
    return _object(
        "One trial. The operator writes its parameters and phase; the trial's metrics sidecar "
        "writes value, curve, exitCode, observed, metricMessage and reportedAt.",
        {
            "name": _string("Name of the trial and of its Pod.", maxLength=spec.MAX_TEXT_LENGTH),
            "index": _int("Position of the trial in the search, from 0.", minimum=0),
            "params": _free("The parameter values of the trial, by parameter name."),
            "phase": _string(
                "Pending, Running, Succeeded, Failed or EarlyStopped.", enum=list(TRIAL_PHASES)
            ),
            "value": _number(
                "The trial's objective value (aggregated over its reports; for an EarlyStopped "
                "trial, over the reports before it was stopped)."
            ),
            "reason": _string(
                "Why the trial failed or was stopped, in CamelCase.",
                maxLength=conditions.MAX_REASON_LENGTH,
            ),
            "message": _string("Why the trial failed, for people.", maxLength=MAX_MESSAGE_LENGTH),
            "startedAt": _string("When the trial started.", format="date-time"),
            "finishedAt": _string("When the trial finished.", format="date-time"),
            "curve": {
                "type": "array",
                "description": "The objective metric over the trial, as [step, value] pairs, "
                "thinned to a bounded number of points (first and last kept, and the steps the "
                "early-stopping rule reads).",
                "maxItems": MAX_CURVE_POINTS,
                "items": {
                    "type": "array",
                    "description": "A [step, value] pair.",
                    "minItems": 2,
                    "maxItems": 2,
                    "items": _number(
                        "The step, then the value (null: NaN or infinite).", nullable=True
                    ),
                },
            },
            "prediction": _object(
                "What the Gaussian process predicted for this trial when it was suggested.",
                {
                    "mean": _number("Predicted objective value."),
                    "std": _number("Predicted standard deviation.", minimum=0),
                    "ucb": _number("Upper confidence bound that chose the trial."),
                },
            ),
            "exitCode": _int("Exit code of the training container, as the sidecar saw it."),
            "observed": _int(
                "How many reports of the objective metric the sidecar has read.", minimum=0
            ),
            "metricMessage": _string(
                "Why the finished trial has no value (written by its metrics sidecar).",
                maxLength=4096,
            ),
            "reportedAt": _string("When the sidecar last reported.", format="date-time"),
        },
        required=["name"],
    )


def status_schema() -> Schema:
    """The schema of ``status`` (written by the operator and the trials' sidecars)."""
    count = "Number of trials {}."
    return _object(
        "Progress and results of the search, written by the operator.",
        {
            "conditions": {
                "type": "array",
                "description": "Running, Succeeded and Failed; use kubectl wait "
                "--for=condition=Succeeded.",
                "maxItems": 16,
                "items": _condition(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "observedGeneration": _int(
                "The spec generation the status describes.", minimum=0, format="int64"
            ),
            "phase": _string("Pending, Running, Succeeded or Failed.", enum=list(PHASES)),
            "message": _string("A one-line summary for people.", maxLength=MAX_MESSAGE_LENGTH),
            "counts": _object(
                "How many trials are in each state.",
                {
                    "trials": _int(count.format("created so far"), minimum=0),
                    "pending": _int(count.format("waiting to run"), minimum=0),
                    "running": _int(count.format("running"), minimum=0),
                    "succeeded": _int(count.format("that reported a value"), minimum=0),
                    "failed": _int(count.format("that failed"), minimum=0),
                    "earlyStopped": _int(
                        count.format("stopped early by spec.earlyStopping"), minimum=0
                    ),
                },
            ),
            "objective": _object(
                "The objective the trials' values are values of: the spec's, until a trial has "
                "a value; from then on the operator refuses a spec with another one "
                "(InvalidSpec) instead of ranking unlike numbers together.",
                {
                    "metric": _string("The metric.", maxLength=spec.MAX_METRIC_LENGTH),
                    "goal": _string("maximize or minimize.", enum=list(spec.GOALS)),
                    "aggregation": _string("last, min, max or avg.", enum=list(spec.AGGREGATIONS)),
                },
            ),
            "best": _object(
                "The best trial so far.",
                {
                    "trial": _string("Name of the best trial.", maxLength=spec.MAX_TEXT_LENGTH),
                    "params": _free("Its parameter values."),
                    "value": _number("Its objective value."),
                },
            ),
            "trials": {
                "type": "array",
                "description": "One entry per trial, keyed by name (the sidecars apply their "
                "own entries with server-side apply).",
                "maxItems": spec.MAX_TRIALS,
                "items": _trial_entry(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            "kopf": _free("Handler progress of the operator framework (kopf); not for users."),
        },
    )


def openapi_schema() -> Schema:
    """The ``openAPIV3Schema`` of the HyperSearch CRD's version."""
    return _object(
        "A hyperparameter search: trials of a training Pod with parameters chosen by grid, "
        "random or Bayesian (GP-UCB) search, scored by a metric the training code prints.",
        {
            "apiVersion": _string("The API version: hypersearch.io/v1alpha1."),
            "kind": _string("HyperSearch."),
            # The API server accepts nothing but the type on metadata, not even a description.
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
        required=["spec"],
        **{
            "x-kubernetes-validations": [
                _rule(
                    f"size(self.metadata.name) <= {spec.MAX_SEARCH_NAME_LENGTH}",
                    f"metadata.name must be at most {spec.MAX_SEARCH_NAME_LENGTH} characters "
                    "(trial Pod names add a suffix)",
                ),
                # The API server allows dots in names (DNS subdomains); the parser does not (DNS
                # labels), since the name is a prefix of the trial Pods' names and labels.
                _rule(
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
        "metadata": {"name": f"{spec.PLURAL}.{spec.API_GROUP}"},
        "spec": {
            "group": spec.API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": spec.KIND,
                "listKind": f"{spec.KIND}List",
                "plural": spec.PLURAL,
                "singular": spec.KIND.lower(),
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": spec.API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }
