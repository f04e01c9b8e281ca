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
ranks there agreed with their final ranks (``rung_agreement``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from hypersearch.core.metrics import curve
from hypersearch.core.spec import EarlyStopping, SearchSpec
from hypersearch.core.trials import Trial, TrialPhase

EARLY_STOPPED = "EarlyStopped"
"""The reason of every stop this module decides (and the phase the shells give the trial)."""


@dataclass(frozen=True, slots=True)
class EarlyStop:
    """A running trial the rule stops, and the sentence saying why."""

    name: str
    message: str


@dataclass(frozen=True, slots=True)
class _Curve:
    """A trial's scores by step, in units to maximise (``-inf``: no finite value yet)."""

    steps: tuple[float, ...]
    scores: tuple[float, ...]

    @property
    def last_step(self) -> float:
        return self.steps[-1]

    def score_at(self, step: float) -> float | None:
        """The score after the reports at steps <= ``step``; None when there is none."""
        at = bisect.bisect_right(self.steps, step)
        return self.scores[at - 1] if at else None

    def first_at_or_after(self, step: float) -> tuple[float, float] | None:
        """(step, score) of the first report at or past ``step``; None when the curve ends
        before."""
        at = bisect.bisect_left(self.steps, step)
        return (self.steps[at], self.scores[at]) if at < len(self.steps) else None


def _curve_of(trial: Trial, spec: SearchSpec) -> _Curve | None:
    """The trial's scores by step (sorted by step, stably), or None when it reported nothing."""
    points = curve(trial.observations, spec.objective.metric)
    if not points:
        return None
    stepped = sorted(
        (
            (float(i + 1) if step is None else float(step), value)
            for i, (step, value) in enumerate(points)
        ),
        key=lambda p: p[0],
    )
    sign = 1.0 if spec.objective.goal == "maximize" else -1.0
    how = spec.objective.aggregation
    steps: list[float] = []
    scores: list[float] = []
    last: float | None = None
    best: float | None = None
    worst: float | None = None
    total, count = 0.0, 0
    for step, value in stepped:
        # A non-finite latest value leaves ``last`` with nothing: a trial ending there has no
        # value (core.metrics.final_value fails it as diverged), so it scores as the worst.
        last = value if math.isfinite(value) else None
        if math.isfinite(value):
            best = value if best is None else max(best, value)
            worst = value if worst is None else min(worst, value)
            total, count = total + value, count + 1
        raw = {"last": last, "max": best, "min": worst, "avg": total / count if count else None}[
            how
        ]
        steps.append(step)
        scores.append(-math.inf if raw is None else sign * raw)
    return _Curve(tuple(steps), tuple(scores))


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
    curves = {t.name: _curve_of(t, spec) for t in trials}
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


def _diverged(rule: EarlyStopping, spec: SearchSpec, own: _Curve) -> str:
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
    own: _Curve,
    *,
    trials: Sequence[Trial],
    curves: dict[str, _Curve | None],
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
    if _extrapolates(rule):
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
    own: _Curve,
    *,
    trials: Sequence[Trial],
    curves: dict[str, _Curve | None],
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
        agreement = rung_agreement(rung, trials, curves)
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

MIN_RANKED = 3
"""Fewest completed trials whose rank correlation is taken as evidence; with fewer, every rung
stops as plain asha does (the search cannot afford to run its first trials to their ends only to
learn whether it may stop them). Three, not five (the first choice): at a 40% budget, 4 trials
at once, the fifth completed trial came after every judgement on crossing's screen seed 0."""


def rung_agreement(
    rung: float, trials: Sequence[Trial], curves: dict[str, _Curve | None]
) -> tuple[float, int] | None:
    """(Spearman's rank correlation, n) between the scores at ``rung`` (the first report at or
    past it, as asha ranks) and the final scores of the n completed trials with finite values at
    both; None below ``MIN_RANKED`` of them or when either side has no spread (nothing learnt).

    The evidence for an adaptive rung: a rung whose ranks have not predicted the final ranks in
    this search (curves that cross) is not trusted to stop anyone, while a rung that has stays as
    asha has it. The completed trials passed every rung
    before, so their spread there is narrower than the population's and the correlation is
    conservative (lower); when it makes a rung stop nobody, more trials complete unselected and
    the sample widens again."""
    pairs: list[tuple[float, float]] = []
    for t in trials:
        c = curves[t.name]
        if t.phase is not TrialPhase.SUCCEEDED or c is None or c.last_step <= rung:
            continue
        at = c.first_at_or_after(rung)
        if at is not None and math.isfinite(at[1]) and math.isfinite(c.scores[-1]):
            pairs.append((at[1], c.scores[-1]))
    if len(pairs) < MIN_RANKED:
        return None
    rho = _spearman([a for a, _ in pairs], [b for _, b in pairs])
    return None if rho is None else (rho, len(pairs))


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the ranks (ties at mean rank); None when either
    side has all values equal."""
    rx, ry = _ranks(xs), _ranks(ys)
    n = len(rx)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def projected_values(spec: SearchSpec, trials: Sequence[Trial]) -> dict[str, float]:
    """What each early-stopped trial would have scored at its end, in units to maximise: its
    score where it stopped plus the median gain the completed (Succeeded) trials made from that
    step to their end. A model over steps learnt from this search's own full curves (no curve
    family assumed): the suggester sees a stopped trial at the fidelity of the completed ones
    instead of its lower-fidelity last value, which is pessimistic for curves still rising.
    A stopped trial with no finite score, or no completed trial that reached its step, is left
    out (the suggester then takes its last value, as without a projection)."""
    if not any(t.phase.value == EARLY_STOPPED for t in trials):
        return {}
    curves = {t.name: _curve_of(t, spec) for t in trials}
    done = [
        c for t in trials if t.phase is TrialPhase.SUCCEEDED and (c := curves[t.name]) is not None
    ]
    out: dict[str, float] = {}
    for trial in trials:
        own = curves[trial.name]
        if trial.phase.value != EARLY_STOPPED or own is None or own.scores[-1] == -math.inf:
            continue
        step = own.last_step
        rule = spec.early_stopping
        if rule is not None and _extrapolates(rule):
            horizon = _horizon(rule, trials, curves)
            fitted = (
                None if horizon is None else extrapolated(_fit_points(rule, own, step), horizon)
            )
            if fitted is not None:
                out[trial.name] = fitted
                continue
        gains = [
            c.scores[-1] - at
            for c in done
            if c.last_step >= step
            and (at := c.score_at(step)) is not None
            and math.isfinite(at)
            and math.isfinite(c.scores[-1])
        ]
        if gains:
            out[trial.name] = own.scores[-1] + median(gains)
    return out


# --- extrapolation --------------------------------------------------------------------------


def _extrapolates(rule: EarlyStopping) -> bool:
    """Whether the rule has ``extrapolate: true``. A setting of the median rule in the manifest;
    the asha guard below works the same and is measured by bench/early_stopping.py through the
    core directly (``hs+asha-x``), but is not offered: the CRD generator writes one "setting of
    that rule only" CEL rule per owner, so a setting of both rules needs a change there."""
    return rule.settings.get("extrapolate") is True


def fit_steps(rule: EarlyStopping, up_to: float) -> list[float]:
    """The steps whose scores the extrapolation fits, up to ``up_to``: 1, then each 1.2 times the
    one before (1, 2, 3, ..., 8, 10, 12, 14, 17, ...), plus the rule's own steps; for asha only
    up to its last rung (it judges no later). A fixed set, so a thinned curve keeps them."""
    if not _extrapolates(rule):
        return []
    if rule.algorithm == "asha":
        up_to = min(up_to, max(rungs(rule), default=0.0))
    at = 1.0
    out: list[float] = []
    while at <= up_to:
        out.append(at)
        at = max(at + 1, float(round(at * MEDIAN_STEP_GROWTH)))
    return out


def _horizon(
    rule: EarlyStopping, trials: Sequence[Trial], curves: dict[str, _Curve | None]
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


def _fit_points(rule: EarlyStopping, own: _Curve, up_to: float) -> list[tuple[float, float]]:
    """(step, score) of the first report at or past each fit step, up to ``up_to``: exactly what a
    curve thinned to ``rule_steps`` still holds."""
    points: dict[float, float] = {}
    for at in fit_steps(rule, up_to):
        found = own.first_at_or_after(at)
        if found is not None and found[0] <= up_to and math.isfinite(found[1]):
            points[found[0]] = found[1]
    return sorted(points.items())


MIN_FIT_POINTS = 3
"""Fewest points a saturating curve (three parameters) is fitted to."""

FIT_RATES = 32
"""How many time constants the fit tries, geometrically spaced."""


def _fits(points: Sequence[tuple[float, float]], horizon: float) -> list[tuple[float, float]]:
    """(squared error, value at ``horizon``) of the least-squares saturating curve
    ``a - b * exp(-step / tau)`` (b >= 0: it only rises) for each ``tau`` of a fixed grid from
    0.5 step to horizon / 3: a training script's length is chosen so that its curve is close to
    its plateau by the end (within 5% of its rise at tau = horizon / 3), which keeps a nearly
    straight early curve from extrapolating to any height."""
    steps = [p[0] for p in points]
    ys = [p[1] for p in points]
    n = len(points)
    mean_y = sum(ys) / n
    low, high = 0.5, max(horizon / 3, 0.5)
    out: list[tuple[float, float]] = []
    for i in range(FIT_RATES):
        tau = low * (high / low) ** (i / (FIT_RATES - 1))
        g = [math.exp(-t / tau) for t in steps]
        mean_g = sum(g) / n
        var_g = sum((x - mean_g) ** 2 for x in g)
        cov = sum((x - mean_g) * (y - mean_y) for x, y in zip(g, ys, strict=True))
        b = max(0.0, -cov / var_g) if var_g > 1e-300 else 0.0
        a = mean_y + b * mean_g
        sse = sum((a - b * x - y) ** 2 for x, y in zip(g, ys, strict=True))
        out.append((sse, a - b * math.exp(-horizon / tau)))
    return out


def extrapolated(
    points: Sequence[tuple[float, float]], horizon: float, slack: float = 0.0
) -> float | None:
    """The value at ``horizon`` of the saturating curve that fits ``points`` best (``_fits``),
    or with ``slack`` > 0 the highest value of the curves whose squared error is within
    ``slack`` of the best (an optimistic bound); None with fewer than three points. Pure
    arithmetic on a fixed grid, so every shell computes the same value."""
    if len(points) < MIN_FIT_POINTS or horizon <= 0:
        return None
    fits = _fits(points, horizon)
    least = min(sse for sse, _ in fits)
    if slack <= 0:
        return next(value for sse, value in fits if sse == least)
    return max(value for sse, value in fits if sse <= least + slack)


def _noise(points: Sequence[tuple[float, float]], horizon: float) -> float | None:
    """The residual variance of the best fit to a curve (None below four points)."""
    if len(points) <= MIN_FIT_POINTS:
        return None
    return min(sse for sse, _ in _fits(points, horizon)) / (len(points) - MIN_FIT_POINTS)


EXTRAPOLATION_SLACK = 4.0
"""How optimistic the guard is: the curves whose squared error is within this many times the
completed curves' residual variance of the best fit also count (0: the best fit alone)."""


def _extrapolation_keeps(
    rule: EarlyStopping,
    own: _Curve,
    step: float,
    trials: Sequence[Trial],
    curves: dict[str, _Curve | None],
) -> bool:
    """With ``extrapolate``: whether a trial the rule would stop at ``step`` continues, because
    its curve fitted up to there reaches the best completed trial's final value at the end."""
    if not _extrapolates(rule):
        return False
    horizon = _horizon(rule, trials, curves)
    incumbent = _incumbent_of(trials, curves)
    if horizon is None or incumbent is None:
        return False
    slack = 0.0
    if EXTRAPOLATION_SLACK > 0:
        noises = [
            v
            for t in trials
            if t.phase is TrialPhase.SUCCEEDED
            and (c := curves[t.name]) is not None
            and (v := _noise(_fit_points(rule, c, c.last_step), horizon)) is not None
        ]
        slack = EXTRAPOLATION_SLACK * median(noises) if noises else 0.0
    value = extrapolated(_fit_points(rule, own, step), horizon, slack)
    return value is not None and value >= incumbent


def _incumbent_of(trials: Sequence[Trial], curves: dict[str, _Curve | None]) -> float | None:
    """The best final score of a completed trial (its curve's last score), None before any."""
    ends = [
        c.scores[-1]
        for t in trials
        if t.phase is TrialPhase.SUCCEEDED and (c := curves[t.name]) is not None
    ]
    finite = [e for e in ends if math.isfinite(e)]
    return max(finite, default=None)


# --- fidelity -------------------------------------------------------------------------------

CURVE_POINTS = 3
"""Most lower-fidelity points of one trial's curve the model sees (besides its last value): a
few points per curve teach the GP how values rise with steps; more make the fit cost grow as
(trials * points)^3 and add points that say little (neighbouring steps of one curve are close)."""


@dataclass(frozen=True, slots=True)
class FidelityView:
    """A finished trial as the multi-fidelity model sees it (values to maximise): its value at
    ``fidelity`` (1 for a completed trial) and a few earlier points of its curve."""

    value: float
    fidelity: float
    curve: tuple[tuple[float, float], ...]


def fidelity(step: float, horizon: float) -> float:
    """A step as a fidelity in [0, 1]: ``log(step) / log(horizon)``, so step 1 is 0 and the full
    training 1. Log-scaled because learning curves change most early (epoch 3 against 6 is a
    larger difference in what the model learns than epoch 23 against 26)."""
    if horizon <= 1.0:
        return 1.0
    return min(max(math.log(max(step, 1.0)) / math.log(horizon), 0.0), 1.0)


def fidelity_views(
    spec: SearchSpec, trials: Sequence[Trial], *, running: bool = False
) -> dict[str, FidelityView]:
    """Each finished trial's observations for a GP over (point, fidelity): a completed trial at
    fidelity 1 with its final value, an early-stopped one at the fidelity of the step it reached
    with its score there; both with up to ``CURVE_POINTS`` earlier scores at the rule's steps
    (the steps a thinned curve keeps, so both shells give the same points). The horizon is
    ``_horizon``'s (asha's maxResource, else the longest completed curve, else the longest
    curve). Empty without ``spec.earlyStopping``. A trial with no finite score where it ended is
    left out (the engine then gives the suggester what it gives without this view). With
    ``running``, running trials are seen as stopped ones are, where their curves are now."""
    rule = spec.early_stopping
    if rule is None:
        return {}
    curves = {t.name: _curve_of(t, spec) for t in trials}
    horizon = _horizon(rule, trials, curves)
    if horizon is None:
        horizon = max((c.last_step for c in curves.values() if c is not None), default=1.0)
    sign = 1.0 if spec.objective.goal == "maximize" else -1.0
    out: dict[str, FidelityView] = {}
    for trial in trials:
        own = curves[trial.name]
        if own is None:
            continue
        if trial.phase is TrialPhase.SUCCEEDED and trial.value is not None:
            value, level = sign * trial.value, 1.0
        elif trial.phase.value == EARLY_STOPPED or (running and trial.phase is TrialPhase.RUNNING):
            value, level = own.scores[-1], fidelity(own.last_step, horizon)
        else:
            continue
        if not math.isfinite(value):
            continue
        out[trial.name] = FidelityView(value, level, _curve_points(rule, own, horizon))
    return out


def _curve_points(
    rule: EarlyStopping, own: _Curve, horizon: float
) -> tuple[tuple[float, float], ...]:
    """(fidelity, score) at up to ``CURVE_POINTS`` of the rule's steps before the curve's last
    one, spread evenly over them (the steps are geometric, so evenly in log steps)."""
    found: dict[float, float] = {}
    for at in rule_steps(rule, own.last_step):
        hit = own.first_at_or_after(at)
        if hit is not None and hit[0] < own.last_step and math.isfinite(hit[1]):
            found[hit[0]] = hit[1]
    steps = sorted(found)
    if len(steps) > CURVE_POINTS:
        picks = {round(i * (len(steps) - 1) / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)}
        steps = [steps[i] for i in sorted(picks)]
    return tuple((fidelity(s, horizon), found[s]) for s in steps)
