"""The HyperSearch spec as frozen dataclasses, with its limits and defaults.

Every shell uses the names and fields below. Manifests become a
``SearchSpec`` through ``core.manifest.parse_manifest`` (and back through
``spec_to_manifest``); this module holds the values and the limits they are checked against. It
is also the single source of the CRD's OpenAPI schema (``kube.schema`` reads it), so defaults and
limits live here once.

Algorithm settings (``spec.algorithm.settings``) are a mapping checked against
``ALGORITHM_SETTINGS``; after parsing, ``Algorithm.settings`` holds every setting that has a
default, so suggesters read ``settings["initialPoints"]`` without defaults of their own:

- ``grid``: none.
- ``random``: ``quasiRandom`` (bool, default false): a scrambled Sobol sequence instead of
  independent uniform draws.
- ``bayesian``: ``initialPoints`` (int >= 1, default 5): random trials before the GP is used;
  ``beta`` (float > 0, optional): a fixed UCB exploration weight (acquisition
  ``mean + sqrt(beta) * std``); unset, the GP-UCB schedule of Srinivas et al. (2010) is used with
  confidence ``delta`` (0 < delta < 1, default 0.1); ``refineLast`` (0 <= float <= 1, default
  0.2): the share of maxTrials, at the end of the budget, that refines the best region rather
  than explores.

Early stopping (``spec.earlyStopping``, absent: none) names a rule, ``median`` or ``asha``, with
its own settings (``EARLY_STOPPING_SETTINGS``), written flat beside ``algorithm``; see
``core.early_stopping`` for what each rule decides.

Additions beyond the contract: the limit/default constants, ``ALGORITHM_SETTINGS``,
``training_index``, ``training_container``, ``training_command`` and ``spec_warnings``.

Units (``spec.objective.unit``, ``spec.parameters[i].unit``) are presentation only: reports write
them next to the metric's and the parameters' names. They live on ``Objective.unit`` and
``SearchSpec.parameter_units``, never in the ``Space``, so nothing that suggests, checks or ranks
trials can see them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.space import Space

AlgorithmName: TypeAlias = Literal["grid", "random", "bayesian"]
EarlyStoppingName: TypeAlias = Literal["median", "asha"]
Goal: TypeAlias = Literal["maximize", "minimize"]
Aggregation: TypeAlias = Literal["last", "min", "max", "avg"]


ALGORITHMS: tuple[AlgorithmName, ...] = ("grid", "random", "bayesian")
EARLY_STOPPING_ALGORITHMS: tuple[EarlyStoppingName, ...] = ("median", "asha")
GOALS: tuple[Goal, ...] = ("maximize", "minimize")
AGGREGATIONS: tuple[Aggregation, ...] = ("last", "min", "max", "avg")
PARAMETER_TYPES = ("int", "float", "categorical", "discrete")

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_SEARCH_NAME_LENGTH = 50
"""Leaves room for the ``-NNNN`` trial suffix and Pod suffixes within 63 characters."""
MAX_NAMESPACE_LENGTH = 63
MAX_PARAMETERS = 64
MAX_TRIALS = 10000
"""Upper bound of maxTrials. Each trial's record is its own object (a HyperSearchTrial), so the
search's objects stay small at any size; trial names keep four digits (``-0000`` to ``-9999``)."""
MAX_PARALLELISM = 500
MAX_METRIC_LENGTH = 253
MAX_SEED = 2**32 - 1
"""Seeds stay well inside the exactly representable JSON integers (the API server reads float64)."""
MAX_TEXT_LENGTH = 253
"""Longest machineType or container name accepted."""
MAX_UNIT_LENGTH = 32
"""Longest unit of the objective or a parameter (it is written on chart axes)."""
MAX_CONTAINERS = 64
"""Most containers the trial Pod template may list."""
MAX_ARGS = 128
"""Most items of a container's command or args (the CRD's maxItems, which bound CEL's cost)."""
MAX_ARG_LENGTH = 2048
"""Longest item of a container's command or args, or env value (the CRD's maxLength)."""
MAX_ENV = 128
"""Most environment variables of a container."""

DEFAULT_SEED = 0
DEFAULT_GOAL: Goal = "maximize"
DEFAULT_AGGREGATION: Aggregation = "last"
DEFAULT_PARALLELISM = 1
DEFAULT_MAX_FAILED_TRIALS = 3


@dataclass(frozen=True, slots=True)
class SettingRule:
    """One algorithm setting: its type, default (None: unset unless given) and bounds."""

    key: str
    kind: Literal["int", "float", "bool"]
    description: str
    default: int | float | bool | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive: bool = False
    """Bounds exclude their end points (0 < delta < 1)."""


ALGORITHM_SETTINGS: Mapping[AlgorithmName, tuple[SettingRule, ...]] = {
    "grid": (),
    "random": (
        SettingRule(
            "quasiRandom",
            "bool",
            "Draw points from a scrambled Sobol sequence instead of independent uniform draws, "
            "which covers the space more evenly when there are few trials.",
            default=False,
        ),
    ),
    "bayesian": (
        SettingRule(
            "initialPoints",
            "int",
            "Trials chosen at random before the Gaussian process is used.",
            default=5,
            minimum=1,
        ),
        SettingRule(
            "beta",
            "float",
            "A fixed UCB exploration weight: the next point maximises mean + sqrt(beta) * std. "
            "Unset: the GP-UCB schedule of Srinivas et al. (2010), which grows with the trials.",
            minimum=0,
            exclusive=True,
        ),
        SettingRule(
            "delta",
            "float",
            "Confidence parameter of the GP-UCB beta schedule; smaller explores more. "
            "Ignored when beta is set.",
            default=0.1,
            minimum=0,
            maximum=1,
            exclusive=True,
        ),
        SettingRule(
            "refineLast",
            "float",
            "Share of maxTrials, at the end of the budget, spent refining the best region instead "
            "of exploring: those trials use a tenth of beta and may be placed next to running "
            "trials. 0 explores to the last trial.",
            default=0.2,
            minimum=0,
            maximum=1,
        ),
    ),
}


EARLY_STOPPING_SETTINGS: Mapping[EarlyStoppingName, tuple[SettingRule, ...]] = {
    "median": (
        SettingRule(
            "gracePeriod",
            "int",
            "Steps (epochs) a trial always runs before the median rule may stop it; the rule "
            "judges at gracePeriod and then at steps 1.2 times apart.",
            default=3,
            minimum=1,
        ),
        SettingRule(
            "minTrials",
            "int",
            "How many completed trials must have reported at a step before a running trial is "
            "compared with their median there.",
            default=3,
            minimum=1,
        ),
        SettingRule(
            "extrapolate",
            "bool",
            "Before stopping a trial, fit a saturating curve to its reports and let it continue "
            "when the curve's value at the end reaches the best completed trial's (for curves "
            "that start slowly and end best).",
            default=False,
        ),
    ),
    "asha": (
        SettingRule(
            "reductionFactor",
            "float",
            "Keep the best 1/reductionFactor of the trials at each rung; the rungs are "
            "minResource * reductionFactor^k steps.",
            default=3,
            minimum=1,
            exclusive=True,
        ),
        SettingRule(
            "minResource",
            "int",
            "Steps (epochs) of the first rung: no trial is stopped before it (ASHA's grace "
            "period).",
            default=3,
            minimum=1,
        ),
        SettingRule(
            "maxResource",
            "int",
            "Steps (epochs) a full trial runs; the last rung is at most maxResource / "
            "reductionFactor (a trial promoted past it runs to its end), and a trial that "
            "reaches maxResource is never stopped.",
            default=100,
            minimum=1,
        ),
    ),
}
"""Settings of each early-stopping rule, all with defaults for a 10-100 epoch training script."""


@dataclass(frozen=True, slots=True)
class EarlyStopping:
    """Which rule stops running trials from their learning curves, and its settings.

    ``settings`` holds every setting of ``algorithm`` (defaults filled in by the parser), keyed as
    in the manifest (``gracePeriod``, ``minTrials``; ``reductionFactor``, ``minResource``,
    ``maxResource``). A report's step is the observation's step (the ``epoch``/``step`` key of the
    report line when present, else its position among the metric's reports).
    """

    algorithm: EarlyStoppingName
    settings: Mapping[str, Any] = field(default_factory=dict)

    def setting(self, key: str) -> Any:
        """A setting's value, its default when the mapping lacks it."""
        if key in self.settings:
            return self.settings[key]
        rule = next(r for r in EARLY_STOPPING_SETTINGS[self.algorithm] if r.key == key)
        return rule.default


@dataclass(frozen=True, slots=True)
class Algorithm:
    """Which suggester, its seed, and its own settings (validated per algorithm)."""

    name: AlgorithmName
    seed: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Objective:
    """The metric to read from trial output, which way is better, and how a curve becomes one value.

    ``target``: the search finishes early once a trial reaches it. ``unit``: how reports label
    the metric's values (e.g. ``%``, ``s``); presentation only. ``noisy``: the same point can
    score differently (a training seed that varies, a noisy evaluation), so the Bayesian search
    may measure a point again; otherwise every value is taken as the point's value, and a point
    is never repeated.
    """

    metric: str
    goal: Goal = "maximize"
    aggregation: Aggregation = "last"
    target: float | None = None
    unit: str | None = None
    noisy: bool = False


WorkloadKind: TypeAlias = Literal["Job", "JobSet"]
JOB_TEMPLATE = "jobTemplate"
JOBSET_TEMPLATE = "jobSetTemplate"


@dataclass(frozen=True, slots=True)
class Reporter:
    """Which Pod of a Job or JobSet trial reports the trial's metrics: the Pod of completion
    index ``pod_index`` in the Job of index ``job_index`` of replicated job ``replicated_job``
    (a JobSet's; None for a Job, and for a JobSet the first replicated job)."""

    replicated_job: str | None = None
    job_index: int = 0
    pod_index: int = 0


@dataclass(frozen=True, slots=True)
class Workload:
    """A trial that runs as a ``batch/v1`` Job or a JobSet rather than one Pod: ``template`` is
    the Job's or JobSet's ``{metadata, spec}`` as the user wrote it; ``reporter`` says which Pod
    reports (its Pod template is ``TrialTemplate.template``)."""

    kind: WorkloadKind
    template: Mapping[str, Any]
    reporter: Reporter = field(default_factory=Reporter)


@dataclass(frozen=True, slots=True)
class TrialTemplate:
    """How to run one trial: a Pod template (its training container's command/args/env carry
    ``:name:`` placeholders), an optional machine type and a timeout.

    For a Job or JobSet trial (``workload``), ``template`` is the Pod template of the Pod that
    reports (so the rules about the training container read one place for every kind);
    ``queue_name`` is the Kueue LocalQueue its workload is labelled with."""

    template: Mapping[str, Any]
    machine_type: str | None = None
    timeout_seconds: float | None = None
    container: str | None = None
    workload: Workload | None = None
    queue_name: str | None = None


def pod_templates(trial: TrialTemplate) -> list[tuple[str, str | None, Mapping[str, Any]]]:
    """Every Pod template of a trial as (field path, replicated job name or None, template):
    the Pod template itself, a Job's ``spec.template``, or each replicated job's."""
    workload = trial.workload
    if workload is None:
        return [("spec.trial.template", None, trial.template)]
    spec: Mapping[str, Any] = workload.template["spec"]
    if workload.kind == "Job":
        return [(f"spec.trial.{JOB_TEMPLATE}.spec.template", None, spec["template"])]
    return [
        (
            f"spec.trial.{JOBSET_TEMPLATE}.spec.replicatedJobs[{i}].template.spec.template",
            str(rjob["name"]),
            rjob["template"]["spec"]["template"],
        )
        for i, rjob in enumerate(spec["replicatedJobs"])
    ]


def reporter_job(trial: TrialTemplate) -> str | None:
    """The replicated job whose Pods report (a JobSet trial's; None otherwise)."""
    workload = trial.workload
    if workload is None or workload.kind != "JobSet":
        return None
    if workload.reporter.replicated_job is not None:
        return workload.reporter.replicated_job
    return str(workload.template["spec"]["replicatedJobs"][0]["name"])


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """A whole, valid HyperSearch spec.

    ``parameter_units``: the declared unit of each parameter that has one, by parameter name
    (int, float and discrete parameters only). Presentation only: kept out of ``space``.
    """

    name: str
    algorithm: Algorithm
    objective: Objective
    space: Space
    trial: TrialTemplate
    max_trials: int
    parallelism: int = 1
    max_failed_trials: int = 3
    namespace: str | None = None
    parameter_units: Mapping[str, str] = field(default_factory=dict)
    early_stopping: EarlyStopping | None = None


def training_index(trial: TrialTemplate) -> int:
    """Which container of the template trains (its command, args and env carry the
    placeholders): the one ``trial.container`` names, else the first. The one home of this rule;
    ``spec_parser`` refuses a name that matches no container, so a parsed template has it."""
    containers: Sequence[Mapping[str, Any]] = trial.template["spec"]["containers"]
    if trial.container is None:
        return 0
    return next(i for i, c in enumerate(containers) if c.get("name") == trial.container)


def training_container(trial: TrialTemplate) -> Mapping[str, Any]:
    """The training container (``training_index``) of a parsed template."""
    container: Mapping[str, Any] = trial.template["spec"]["containers"][training_index(trial)]
    return container


def training_path(trial: TrialTemplate) -> str:
    """The field path of the training container, for messages."""
    wanted = reporter_job(trial)
    base = next(path for path, rjob, _ in pod_templates(trial) if rjob == wanted)
    return f"{base}.spec.containers[{training_index(trial)}]"


def training_command(trial: TrialTemplate, why: str) -> list[str]:
    """The training container's ``command``; SpecError when it has none. Both shells need one
    (the image's entrypoint is unknown to them) and say ``why`` in the message."""
    command = [str(a) for a in training_container(trial).get("command") or []]
    if not command:
        raise SpecError(
            [
                Problem(
                    f"{training_path(trial)}.command",
                    f"is required: {why}; set it to the program to run, e.g. command: "
                    "[python, train.py, --lr, ':lr:']",
                )
            ]
        )
    return command


def spec_warnings(spec: SearchSpec) -> list[Problem]:
    """Things that are valid but probably not meant; shells print them before starting."""
    warnings: list[Problem] = []
    size = spec.space.grid_size()
    if spec.algorithm.name == "grid" and size is not None and size > spec.max_trials:
        warnings.append(
            Problem(
                "spec.maxTrials",
                f"is {spec.max_trials} but the grid has {size} points: only the first "
                f"{spec.max_trials} in grid order run, and the first parameters barely vary "
                "(raise maxTrials, or use random or bayesian)",
            )
        )
    for index, param in enumerate(spec.space.params):
        values = getattr(param, "values", None)
        if values is not None and len(values) == 1:
            warnings.append(
                Problem(
                    f"spec.parameters[{index}]",
                    f"has a single value ({values[0]!r}), so every trial gets it; for a range "
                    "write MIN:MAX (e.g. 0.001:0.1:log), for choices a list a,b,c",
                )
            )
    if spec.parallelism > spec.max_trials:
        warnings.append(
            Problem(
                "spec.parallelism",
                f"is {spec.parallelism}, more than maxTrials={spec.max_trials}; "
                f"at most {spec.max_trials} trials will run at once",
            )
        )
    return warnings
