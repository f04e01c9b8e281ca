"""Early stopping: which running trials ``spec.earlyStopping``'s rule stops, from their curves.

Pure and deterministic: the answer depends only on the spec and the trials' observations, so a
restarted shell that gathers the same trials stops the same ones. ``engine.decide`` calls
``early_stops`` and puts its answers in the plan; this module must NOT start, count or finish
trials, and must not look at time.

A trial's **curve** is its objective metric's reports, each at its step (the report's
``epoch``/``step`` key when present, else its position among the metric's reports, 1-based).
Its **score at step s** is the objective's aggregation (last, min, max, avg) over the finite
values reported at steps <= s: the value the trial would have if it ended at s. A score with no
finite value behind it (only NaN so far, or with ``last`` a NaN/inf latest report: a diverged
trial) counts as the worst possible; a running trial with such a score at its latest step stops
from ``gracePeriod`` / ``minResource`` on, without references (it could only end without a value).

- ``median`` (the median stopping rule of Golovin et al. 2017, "Google Vizier", section 3.2.2,
  with the objective's aggregation in place of the running average): a running trial is judged at
  the last of the check steps (``median_steps``: ``gracePeriod``, then 1.2 times apart) it
  reached, s: it stops when its score at s is strictly worse than the median of the scores at s
  of the completed (Succeeded) trials whose curves reach s, provided at least ``minTrials`` such
  trials exist. Only completed trials are references, as in the paper: the
  partial curves of the trials running beside it would stop half of every parallel batch, and the
  search would end with almost no trial run to its end (measured: bench/early_stopping.py).
- ``asha`` (asynchronous successive halving, Li et al. 2020, "A System for Massively Parallel
  Hyperparameter Tuning", algorithm 2, in its stopping form): rungs lie at
  ``minResource * reductionFactor**k`` steps while the next rung fits in ``maxResource`` (a
  trial promoted past the last rung runs to its end; one that reached ``maxResource`` is never
  stopped). A running trial is judged at the highest rung its curve has
  reached, by its score at the first step at or past the rung, among the n trials that reached
  that rung and were created before it (lower index; any phase), itself included: it continues
  while its rank is within the best ``floor(n / reductionFactor)``, and stops otherwise. With
  fewer than ``reductionFactor`` such trials nobody is stopped there: there is not yet a top
  1/reductionFactor to be outside of. Nothing waits for a rung to fill (no synchronous bracket):
  each trial is judged as its results arrive. The earlier-created trials stand for "the results
  already recorded at the rung when it got there" (ASHA decides a promotion then, and never takes
  it back): trials train at similar speeds, so they reach a rung in about index order, and unlike
  a clock this order gives every shell, and every restart, the same answer. So the first trial is
  never stopped, and a later, better trial does not stop one that already went on. Ties rank the
  lower index first.

``ADAPTIVE_RUNGS`` (a bench variant, off) has asha stop at a rung only while the completed trials'
ranks there agreed with their final ranks (``rank_agreement``).

Beside it: ``curves`` (a trial's scores by step), ``curve_fit`` (the saturating fits behind
``extrapolate``), ``fidelity`` (what the GP learns from stopped trials).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from hypersearch.core import rank_agreement
from hypersearch.core.curve_fit import extrapolated, noise
from hypersearch.core.curves import Curve, curve_of, incumbent_of
from hypersearch.core.spec import EarlyStopping, SearchSpec
from hypersearch.core.trials import Trial, TrialPhase

EARLY_STOPPED = "EarlyStopped"
"""The reason of every stop this module decides (and the phase the shells give the trial)."""


@dataclass(frozen=True, slots=True)
class EarlyStop:
    """A running trial the rule stops, and the sentence saying why."""

    name: str
    message: str


def _shown(score: float, spec: SearchSpec) -> str:
    """A score back in objective units, for messages."""
    if not math.isfinite(score):
        return "no finite value"
    sign = 1.0 if spec.objective.goal == "maximize" else -1.0
    return f"{sign * score:g}"


def _step_text(step: float) -> str:
    return f"{step:g}"


def early_stops(spec: SearchSpec, trials: Sequence[Trial]) -> list[EarlyStop]:
    """The running trials that ``spec.early_stopping`` stops now, in index order."""
    rule = spec.early_stopping
    if rule is None:
        return []
    curves = {t.name: curve_of(t, spec) for t in trials}
    out: list[EarlyStop] = []
    for trial in sorted(trials, key=lambda t: t.index):
        own = curves[trial.name]
        if trial.phase is not TrialPhase.RUNNING or own is None:
            continue
        message: str | None
        if own.scores[-1] == -math.inf and own.last_step >= _first_judged(rule):
            message = _diverged(rule, spec, own)
        elif rule.algorithm == "median":
            message = _median(rule, spec, trial, own, trials=trials, curves=curves)
        else:
            message = _asha(rule, spec, trial, own, trials=trials, curves=curves)
        if message is not None:
            out.append(EarlyStop(trial.name, message))
    return out


def _first_judged(rule: EarlyStopping) -> float:
    """The first step at which the rule may stop a trial (gracePeriod; the first rung)."""
    key = "gracePeriod" if rule.algorithm == "median" else "minResource"
    return float(rule.setting(key))


def _diverged(rule: EarlyStopping, spec: SearchSpec, own: Curve) -> str:
    """Why a trial whose score is no number (its latest report NaN/inf with aggregation last, or
    no finite report at all) stops: it could only end without a value."""
    return (
        f"{spec.objective.metric} has no finite value at step {_step_text(own.last_step)} "
        f"(NaN/inf: the training diverged), so the trial could only end without a value "
        f"(earlyStopping: {rule.algorithm}, from step {_step_text(_first_judged(rule))})"
    )


def _median(
    rule: EarlyStopping,
    spec: SearchSpec,
    trial: Trial,
    own: Curve,
    *,
    trials: Sequence[Trial],
    curves: dict[str, Curve | None],
) -> str | None:
    grace: int = rule.setting("gracePeriod")
    judged = [s for s in median_steps(rule, own.last_step) if s <= own.last_step]
    if not judged:
        return None
    step = judged[-1]
    score = own.score_at(step)
    if score is None:
        return None
    others: list[float] = []
    for other in trials:
        theirs = curves[other.name]
        if (
            other.phase is not TrialPhase.SUCCEEDED
            or other.name == trial.name
            or theirs is None
            or theirs.last_step < step
        ):
            continue
        at = theirs.score_at(step)
        if at is not None:
            others.append(at)
    needed: int = rule.setting("minTrials")
    if len(others) < needed:
        return None
    middle = median(others)
    if not score < middle:
        return None
    if _extrapolation_keeps(rule, own, step, trials, curves):
        return None
    return (
        f"{spec.objective.metric} {_shown(score, spec)} at step {_step_text(step)} is worse than "
        f"the median {_shown(middle, spec)} of the {len(others)} completed trials at that step "
        f"(earlyStopping: median, gracePeriod {grace}, minTrials {needed})"
    )


MEDIAN_STEP_GROWTH = 1.2
"""How far apart the median rule's check steps lie: each is 1.2 times the one before (at least
one step on), from ``gracePeriod``."""


def median_steps(rule: EarlyStopping, up_to: float) -> list[float]:
    """The steps at which the median rule judges a trial, up to ``up_to``: ``gracePeriod``, then
    each the previous times ``MEDIAN_STEP_GROWTH`` rounded (at least one more). A trial is judged
    at the last of them it reached, by its score there; so the shells need to keep only these
    steps of a curve (the operator's status thins curves) to judge exactly as with every report."""
    at = float(rule.setting("gracePeriod"))
    out: list[float] = []
    while at <= up_to:
        out.append(at)
        at = max(at + 1, float(round(at * MEDIAN_STEP_GROWTH)))
    return out


def rule_steps(rule: EarlyStopping, up_to: float) -> list[float]:
    """The steps whose scores the rule reads (median: its check steps; asha: its rungs), up to
    ``up_to``: what a thinned curve must keep (the first report at or past each)."""
    steps = (
        median_steps(rule, up_to)
        if rule.algorithm == "median"
        else [r for r in rungs(rule) if r <= up_to]
    )
    if extrapolates(rule):
        steps = sorted({*steps, *fit_steps(rule, up_to)})
    return steps


def rungs(rule: EarlyStopping) -> list[float]:
    """ASHA's rungs in steps: ``minResource * reductionFactor**k`` up to the last one whose next
    rung still fits in ``maxResource`` (Li et al.'s top rung is the full training: a trial
    promoted past the last rung runs to its end, rather than being judged again a few steps
    before it, where a stop saves little and loses a finished candidate)."""
    low: float = rule.setting("minResource")
    high: float = rule.setting("maxResource")
    eta: float = rule.setting("reductionFactor")
    out: list[float] = []
    at = float(low)
    while at * eta <= high:
        out.append(at)
        at *= eta
    return out


def _asha(
    rule: EarlyStopping,
    spec: SearchSpec,
    trial: Trial,
    own: Curve,
    *,
    trials: Sequence[Trial],
    curves: dict[str, Curve | None],
) -> str | None:
    reached = [r for r in rungs(rule) if own.last_step >= r]
    if not reached or own.last_step >= rule.setting("maxResource"):
        return None
    rung = reached[-1]
    eta: float = rule.setting("reductionFactor")
    ranked: list[tuple[float, int, str]] = []
    for other in trials:
        theirs = curves[other.name]
        if theirs is None or other.index > trial.index:
            continue
        at = theirs.first_at_or_after(rung)
        if at is not None:
            ranked.append((-at[1], other.index, other.name))
    ranked.sort()
    keep = math.floor(len(ranked) / eta)
    if keep < 1:
        return None
    rank = next(i for i, (_, _, name) in enumerate(ranked) if name == trial.name) + 1
    if rank <= keep:
        return None
    if _extrapolation_keeps(rule, own, rung, trials, curves):
        return None
    trust = ""
    if ADAPTIVE_RUNGS:
        agreement = rank_agreement.rung_agreement(rung, trials, curves)
        if agreement is not None and agreement[0] < RANK_TRUST:
            return None
        if agreement is not None:
            trust = (
                f"; ranks there agree with the final ranks of the {agreement[1]} completed "
                f"trials, rank correlation {agreement[0]:.2f}"
            )
    own_score = -ranked[rank - 1][0]
    cutoff = -ranked[keep - 1][0]
    return (
        f"{spec.objective.metric} {_shown(own_score, spec)} at rung {_step_text(rung)} ranks "
        f"{rank} of the {len(ranked)} trials that reached it before; only the best {keep} "
        f"(1/{eta:g}, down to {_shown(cutoff, spec)}) continue "
        f"(earlyStopping: asha, rungs {', '.join(_step_text(r) for r in rungs(rule))}{trust})"
    )


# --- adaptive rungs ---------------------------------------------------------------------------

ADAPTIVE_RUNGS = False
"""Whether asha stops a trial at a rung only while the rung's ranks have predicted the final
ranks in this search (``rung_agreement``). A bench variant (bench/early_stopping.py, ``-r``),
off: it changed nothing on the real tasks and its gain on crossing did not repeat on the confirm
seeds (docs/benchmarks.md, round 5)."""

RANK_TRUST = 0.5
"""The least rank correlation between a rung's scores and the final values of the completed
trials at which asha still stops there (chosen before measuring: "clearly positive")."""

# --- extrapolation --------------------------------------------------------------------------


def extrapolates(rule: EarlyStopping) -> bool:
    """Whether the rule has ``extrapolate: true``. A setting of the median rule in the manifest;
    the asha guard below works the same and is measured by bench/early_stopping.py through the
    core directly (``hs+asha-x``), but is not offered: the CRD generator writes one "setting of
    that rule only" CEL rule per owner, so a setting of both rules needs a change there."""
    return rule.settings.get("extrapolate") is True


def fit_steps(rule: EarlyStopping, up_to: float) -> list[float]:
    """The steps whose scores the extrapolation fits, up to ``up_to``: 1, then each 1.2 times the
    one before (1, 2, 3, ..., 8, 10, 12, 14, 17, ...), plus the rule's own steps; for asha only
    up to its last rung (it judges no later). A fixed set, so a thinned curve keeps them."""
    if not extrapolates(rule):
        return []
    if rule.algorithm == "asha":
        up_to = min(up_to, max(rungs(rule), default=0.0))
    at = 1.0
    out: list[float] = []
    while at <= up_to:
        out.append(at)
        at = max(at + 1, float(round(at * MEDIAN_STEP_GROWTH)))
    return out


def horizon_of(
    rule: EarlyStopping, trials: Sequence[Trial], curves: dict[str, Curve | None]
) -> float | None:
    """The step a full trial ends at: asha's maxResource; for the median rule the last step of
    the longest completed curve (None before any)."""
    if rule.algorithm == "asha":
        return float(rule.setting("maxResource"))
    ends = [
        c.last_step
        for t in trials
        if t.phase is TrialPhase.SUCCEEDED and (c := curves[t.name]) is not None
    ]
    return max(ends, default=None)


def fit_points(rule: EarlyStopping, own: Curve, up_to: float) -> list[tuple[float, float]]:
    """(step, score) of the first report at or past each fit step, up to ``up_to``: exactly what a
    curve thinned to ``rule_steps`` still holds."""
    points: dict[float, float] = {}
    for at in fit_steps(rule, up_to):
        found = own.first_at_or_after(at)
        if found is not None and found[0] <= up_to and math.isfinite(found[1]):
            points[found[0]] = found[1]
    return sorted(points.items())


EXTRAPOLATION_SLACK = 4.0
"""How optimistic the guard is: the curves whose squared error is within this many times the
completed curves' residual variance of the best fit also count (0: the best fit alone)."""


def _extrapolation_keeps(
    rule: EarlyStopping,
    own: Curve,
    step: float,
    trials: Sequence[Trial],
    curves: dict[str, Curve | None],
) -> bool:
    """With ``extrapolate``: whether a trial the rule would stop at ``step`` continues, because
    its curve fitted up to there reaches the best completed trial's final value at the end."""
    if not extrapolates(rule):
        return False
    horizon = horizon_of(rule, trials, curves)
    incumbent = incumbent_of(trials, curves)
    if horizon is None or incumbent is None:
        return False
    slack = 0.0
    if EXTRAPOLATION_SLACK > 0:
        noises = [
            v
            for t in trials
            if t.phase is TrialPhase.SUCCEEDED
            and (c := curves[t.name]) is not None
            and (v := noise(fit_points(rule, c, c.last_step), horizon)) is not None
        ]
        slack = EXTRAPOLATION_SLACK * median(noises) if noises else 0.0
    value = extrapolated(fit_points(rule, own, step), horizon, slack)
    return value is not None and value >= incumbent
