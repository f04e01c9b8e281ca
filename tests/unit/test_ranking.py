"""The one ranking rule: the report and the engine name the same best trial."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from builders import search_spec

from hypersearch.core.engine import best_trial
from hypersearch.core.ranking import best_of, is_better, scored_value
from hypersearch.core.spec import Goal
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.report import payload
from hypersearch.report.model import SearchView

OK, FAILED, RUNNING = TrialPhase.SUCCEEDED, TrialPhase.FAILED, TrialPhase.RUNNING


def trial(index: int, phase: TrialPhase = OK, value: float | None = None) -> Trial:
    return Trial(f"s-{index:04d}", index, {"x": index}, phase, value=value)


CASES: list[tuple[Goal, list[Trial], str | None]] = [
    ("maximize", [trial(0, value=0.5), trial(1, value=0.9), trial(2, value=0.7)], "s-0001"),
    ("minimize", [trial(0, value=0.5), trial(1, value=0.9), trial(2, value=0.7)], "s-0000"),
    ("maximize", [trial(1, value=0.8), trial(0, value=0.8)], "s-0000"),
    ("minimize", [trial(0, value=0.1), trial(1, value=0.1)], "s-0000"),
    ("maximize", [trial(0, FAILED, 0.99), trial(1, value=0.1)], "s-0001"),
    ("maximize", [trial(0, RUNNING, 0.99), trial(1, value=0.1)], "s-0001"),
    ("maximize", [trial(0, value=math.nan), trial(1, value=0.1)], "s-0001"),
    ("minimize", [trial(0, value=-math.inf), trial(1, value=0.1)], "s-0001"),
    ("maximize", [trial(0, FAILED), trial(1, RUNNING)], None),
]
IDS = [
    "highest wins when maximizing",
    "lowest wins when minimizing",
    "the lower index wins a tie whatever the order given",
    "the lower index wins a tie when minimizing",
    "a failed trial is never best",
    "a running trial is never best",
    "a NaN value is never best",
    "an infinite value is never best",
    "no succeeded trial means no best",
]


def by_ranking(goal: Goal, trials: list[Trial]) -> Trial | None:
    return best_of(trials, goal)


def by_engine(goal: Goal, trials: list[Trial]) -> Trial | None:
    return best_trial(search_spec(objective={"metric": "acc", "goal": goal}), trials)


def by_report(goal: Goal, trials: list[Trial]) -> Trial | None:
    view = SearchView(name="s", metric="acc", goal=goal, params=(), trials=tuple(trials))
    return payload.best_trial(view)


@pytest.mark.parametrize("rank", [by_ranking, by_engine, by_report])
@pytest.mark.parametrize(("goal", "trials", "expected"), CASES, ids=IDS)
def test_the_core_the_engine_and_the_report_name_the_same_best_trial(
    rank: Callable[[Goal, list[Trial]], Trial | None],
    goal: Goal,
    trials: list[Trial],
    expected: str | None,
) -> None:
    best = rank(goal, trials)
    assert (best.name if best else None) == expected


@pytest.mark.parametrize(
    ("a", "b", "goal", "better"),
    [
        (0.9, 0.5, "maximize", True),
        (0.5, 0.9, "maximize", False),
        (0.5, 0.9, "minimize", True),
        (0.5, 0.5, "maximize", False),
        (0.5, 0.5, "minimize", False),
    ],
)
def test_is_better_is_strict(a: float, b: float, goal: Goal, better: bool) -> None:
    assert is_better(a, b, goal) is better


@pytest.mark.parametrize(
    ("t", "value"),
    [(trial(0, value=0.5), 0.5), (trial(0, FAILED, 0.5), None), (trial(0, value=math.nan), None)],
)
def test_only_succeeded_finite_values_are_scored(t: Trial, value: float | None) -> None:
    assert scored_value(t) == value
