"""What the GP learns from early-stopped trials: each at its own fidelity (the multi-fidelity
bench variant), or projected to the end (the default). Pure.

``projected_values`` (the default, ``engine.STOPPED_IN_MODEL = "project"``): a stopped trial's
score plus the completed trials' median gain from its step to their end, or its extrapolated
curve with ``extrapolate``. ``fidelity_views``: every finished trial at the fidelity of the step
it reached, with a few earlier points of its curve, for a GP over (point, fidelity).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from hypersearch.core.curve_fit import extrapolated
from hypersearch.core.curves import Curve, curve_of
from hypersearch.core.early_stopping import (
    EARLY_STOPPED,
    extrapolates,
    fit_points,
    horizon_of,
    rule_steps,
)
from hypersearch.core.spec import EarlyStopping, SearchSpec
from hypersearch.core.trials import Trial, TrialPhase


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
    curves = {t.name: curve_of(t, spec) for t in trials}
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
        if rule is not None and extrapolates(rule):
            horizon = horizon_of(rule, trials, curves)
            fitted = None if horizon is None else extrapolated(fit_points(rule, own, step), horizon)
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
    ``horizon_of``'s (asha's maxResource, else the longest completed curve), else the longest
    curve. Empty without ``spec.earlyStopping``. A trial with no finite score where it ended is
    left out (the engine then gives the suggester what it gives without this view). With
    ``running``, running trials are seen as stopped ones are, where their curves are now."""
    rule = spec.early_stopping
    if rule is None:
        return {}
    curves = {t.name: curve_of(t, spec) for t in trials}
    horizon = horizon_of(rule, trials, curves)
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
    rule: EarlyStopping, own: Curve, horizon: float
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
