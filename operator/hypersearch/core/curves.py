"""A trial's learning curve as the early-stopping rules and the multi-fidelity model read it.

A trial's **curve** is its objective metric's reports, each at its step (the report's
``epoch``/``step`` key when present, else its position among the metric's reports, 1-based).
Its **score at step s** is the objective's aggregation (last, min, max, avg) over the finite
values reported at steps <= s, in units to maximise: the value the trial would have if it ended
at s. A score with no finite value behind it (only NaN so far, or with ``last`` a NaN/inf latest
report: a diverged trial) is ``-inf``, the worst possible. Pure.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from hypersearch.core.metrics import curve
from hypersearch.core.spec import SearchSpec
from hypersearch.core.trials import Trial, TrialPhase


@dataclass(frozen=True, slots=True)
class Curve:
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


def curve_of(trial: Trial, spec: SearchSpec) -> Curve | None:
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
    return Curve(tuple(steps), tuple(scores))


def incumbent_of(trials: Sequence[Trial], curves: dict[str, Curve | None]) -> float | None:
    """The best final score of a completed trial (its curve's last score), None before any."""
    ends = [
        c.scores[-1]
        for t in trials
        if t.phase is TrialPhase.SUCCEEDED and (c := curves[t.name]) is not None
    ]
    finite = [e for e in ends if math.isfinite(e)]
    return max(finite, default=None)
