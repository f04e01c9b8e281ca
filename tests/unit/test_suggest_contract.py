"""The contract every suggester keeps, whatever its algorithm (one suite, parametrised)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from builders import (
    categorical_param,
    discrete_param,
    float_param,
    int_param,
    mixed_space,
    space_of,
)

from hypersearch.core.params import CategoricalParam, IntParam, Params
from hypersearch.core.space import Space
from hypersearch.core.spec import Algorithm
from hypersearch.core.suggest import suggester_for
from hypersearch.core.suggest.base import Outcome, Suggester
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester
from hypersearch.core.suggest.grid import GridSuggester
from hypersearch.core.suggest.random import QuasiRandomSuggester, RandomSuggester

Factory = Callable[[], Suggester]

SUGGESTERS: dict[str, Factory] = {
    "grid": GridSuggester,
    "random": RandomSuggester,
    "quasi": lambda: QuasiRandomSuggester(seed=11),
    # initial_points=2 so that small histories already reach the GP.
    "bayesian": lambda: GPUCBSuggester(seed=11, initial_points=2),
    "bayesian-split": lambda: GPUCBSuggester(
        seed=11, initial_points=2, split=True, category_bonus=2.0, bonus_per="combo"
    ),
}
ALL = pytest.mark.parametrize("make", SUGGESTERS.values(), ids=SUGGESTERS.keys())
SAMPLERS = pytest.mark.parametrize(
    "make",
    [SUGGESTERS[k] for k in ("random", "quasi", "bayesian", "bayesian-split")],
    ids=["random", "quasi", "bayesian", "bayesian-split"],
)


def grid_space() -> Space:
    """A mixed space a grid can enumerate: 3 x 2 x 3 x 2 = 36 points."""
    return space_of(
        int_param("units", 1, 3),
        float_param("dropout", 0.1, 0.5, count=2),
        discrete_param("rate", 0.001, 0.01, 0.1),
        categorical_param("optimizer", "adam", "sgd"),
    )


def small_finite_space() -> Space:
    """6 points, no floats: repeats are avoidable and exhaustion comes quickly."""
    return space_of(int_param("units", 1, 3), categorical_param("optimizer", "adam", "sgd"))


def space_for(make: Factory) -> Space:
    return grid_space() if make is SUGGESTERS["grid"] else mixed_space()


def score(params: Params) -> float:
    """A deterministic stand-in objective over any of the test spaces."""
    return -sum((float(v) if not isinstance(v, str) else len(v)) % 7 for v in params.values())


def history_of(space: Space, make: Factory, n: int, seed: int = 0) -> list[Outcome]:
    """``n`` finished trials chosen by the suggester itself, valued by ``score``."""
    out: list[Outcome] = []
    rng = np.random.default_rng(seed)
    suggester = make()
    while len(out) < n:
        got = suggester.suggest(space, out, [], 1, rng)
        if not got:
            break
        out.append(Outcome(got[0].params, score(got[0].params)))
    return out


@ALL
def test_points_are_in_the_space_with_their_types(make: Factory) -> None:
    space = space_for(make)
    history = history_of(space, make, 4)
    got = make().suggest(space, history, [], 3, np.random.default_rng(1))
    assert len(got) == 3
    for suggestion in got:
        assert space.contains(suggestion.params), suggestion.params
        assert list(suggestion.params) == list(space.names)
        for param in space.params:
            value = suggestion.params[param.name]
            if isinstance(param, IntParam):
                assert type(value) is int
            elif isinstance(param, CategoricalParam):
                assert value in param.values


@ALL
def test_the_same_input_gives_the_same_points(make: Factory) -> None:
    space = space_for(make)
    history = history_of(space, make, 4)
    pending = [history[0].params]
    first = make().suggest(space, history[1:], pending, 2, np.random.default_rng(5))
    again = make().suggest(space, history[1:], pending, 2, np.random.default_rng(5))
    assert first == again


@ALL
def test_an_empty_history_gives_points(make: Factory) -> None:
    got = make().suggest(space_for(make), [], [], 2, np.random.default_rng(0))
    assert len(got) == 2


@ALL
def test_asking_for_none_gives_none(make: Factory) -> None:
    assert make().suggest(space_for(make), [], [], 0, np.random.default_rng(0)) == []


@ALL
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None])
def test_unusable_values_in_history_are_survived(make: Factory, bad: float | None) -> None:
    space = space_for(make)
    history = history_of(space, make, 5)
    history[1] = Outcome(history[1].params, bad)
    history[3] = Outcome(history[3].params, bad)
    got = make().suggest(space, history, [], 2, np.random.default_rng(2))
    assert len(got) == 2
    for suggestion in got:
        assert space.contains(suggestion.params)
        p = suggestion.prediction
        assert p is None or all(math.isfinite(v) for v in (p.mean, p.std, p.ucb))


@ALL
def test_a_finite_space_never_repeats_a_tried_or_running_point(make: Factory) -> None:
    space = small_finite_space()
    rng = np.random.default_rng(3)
    history: list[Outcome] = []
    pending: list[Params] = []
    seen: list[tuple[object, ...]] = []
    for step in range(3):
        got = make().suggest(space, history, pending, 2, rng)
        assert len(got) == 2
        seen += [space.canonical(s.params) for s in got]
        # Alternate: one finishes (with a value, or failed without), one keeps running.
        history.append(Outcome(got[0].params, None if step == 1 else score(got[0].params)))
        pending.append(got[1].params)
    assert len(seen) == len(set(seen)) == 6
    assert make().suggest(space, history, pending, 2, rng) == []


@ALL
def test_a_nearly_used_up_space_gives_only_what_is_left(make: Factory) -> None:
    space = small_finite_space()
    points: list[Params] = [
        {"units": u, "optimizer": o} for u in (1, 2, 3) for o in ("adam", "sgd")
    ]
    history = [Outcome(p, score(p)) for p in points[:4]]
    got = make().suggest(space, history, [points[4]], 3, np.random.default_rng(0))
    assert [s.params for s in got] == [points[5]]


@SAMPLERS
def test_log_ranges_are_explored_across_decades(make: Factory) -> None:
    space = space_of(float_param("lr", 1e-6, 1.0, "log"))
    history = history_of(space, make, 3)
    got = make().suggest(space, history, [], 8, np.random.default_rng(9))
    lrs = [float(s.params["lr"]) for s in got] + [float(o.params["lr"]) for o in history]
    assert min(lrs) < 1e-3 < max(lrs)


def test_grid_walks_every_point_once_in_grid_order() -> None:
    space = grid_space()
    rng = np.random.default_rng(0)
    history: list[Outcome] = []
    order: list[Params] = []
    while got := GridSuggester().suggest(space, history, [], 5, rng):
        order += [s.params for s in got]
        history += [Outcome(s.params, 0.0) for s in got]
    assert order == list(space.grid())


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [
        (Algorithm("grid"), GridSuggester),
        (Algorithm("random"), RandomSuggester),
        (Algorithm("random", settings={"quasiRandom": True}), QuasiRandomSuggester),
        (Algorithm("bayesian", seed=3, settings={"initialPoints": 4}), GPUCBSuggester),
    ],
)
def test_the_algorithm_name_and_settings_pick_the_suggester(
    algorithm: Algorithm, kind: type
) -> None:
    assert isinstance(suggester_for(algorithm), kind)


def test_bayesian_settings_reach_the_suggester() -> None:
    settings = {"initialPoints": 4, "beta": 2.5, "delta": 0.2, "refineLast": 0.3}
    got = suggester_for(Algorithm("bayesian", settings=settings), horizon=40)
    assert isinstance(got, GPUCBSuggester)
    assert (got.initial_points, got.fixed_beta, got.delta) == (4, 2.5, 0.2)
    assert (got.horizon, got.endgame) == (40, 0.3)
    # refineLast 0.3 of 40 trials: the last 12 refine.
    assert (got.in_endgame(28), got.in_endgame(29)) == (False, True)
    assert not got.noisy
    noisy = suggester_for(Algorithm("bayesian", settings=settings), noisy=True)
    assert isinstance(noisy, GPUCBSuggester) and noisy.noisy


def test_quasi_random_continues_one_sequence_however_the_calls_are_split() -> None:
    space = mixed_space()
    rng = np.random.default_rng(0)
    at_once = QuasiRandomSuggester(4).suggest(space, [], [], 4, rng)
    first = QuasiRandomSuggester(4).suggest(space, [], [], 2, rng)
    rest = QuasiRandomSuggester(4).suggest(space, [], [s.params for s in first], 2, rng)
    assert [s.params for s in at_once] == [s.params for s in first + rest]
