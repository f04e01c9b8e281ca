"""Which trial is best: the one rule for ranking trials by the objective's goal.

The engine's plan names the search's best trial; shells that only hold trials (the report over a
cluster status or a journal) rank them with these same functions, so a chart never disagrees with
the plan. The rule: only succeeded trials with a finite value count; the higher value wins when
maximising, the lower when minimising; a tie goes to the lower index.

Pure and stdlib-only. This module must NOT decide anything else about a search (what to start,
when it is done): ``engine.decide`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hypersearch.core.trials import Trial, TrialPhase

if TYPE_CHECKING:
    from hypersearch.core.spec import Goal


def scored_value(trial: Trial) -> float | None:
    """The value a trial competes with: a succeeded trial's finite value, else None."""
    if trial.phase is not TrialPhase.SUCCEEDED or trial.value is None:
        return None
    value = float(trial.value)
    return value if math.isfinite(value) else None


def is_better(a: float, b: float, goal: Goal) -> bool:
    """True when ``a`` strictly beats ``b`` for ``goal`` (equal values do not)."""
    return a > b if goal == "maximize" else a < b


def best_of(trials: Iterable[Trial], goal: Goal) -> Trial | None:
    """The best trial by ``goal`` (see the module docstring), or None when none has a value."""
    best: Trial | None = None
    best_value = 0.0
    for trial in sorted(trials, key=lambda t: t.index):
        value = scored_value(trial)
        if value is not None and (best is None or is_better(value, best_value, goal)):
            best, best_value = trial, value
    return best
