"""Behaviour of the search space: sampling, grid enumeration, membership and canonical keys."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from builders import (
    categorical_param,
    discrete_param,
    enumerable_spaces,
    float_param,
    int_param,
    mixed_space,
    number,
    space_of,
    spaces,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    param_problems,
)
from hypersearch.core.space import Space, grid_values

# --- sampling -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(space=spaces(), seed=st.integers(0, 2**32 - 1))
def test_samples_are_points_of_the_space_with_python_types(space: Space, seed: int) -> None:
    points = space.sample(np.random.default_rng(seed), 20)
    assert len(points) == 20
    for point in points:
        assert list(point) == list(space.names)
        assert space.contains(point), space.problems(point)
        for param in space.params:
            value = point[param.name]
            if isinstance(param, IntParam):
                assert type(value) is int
            elif isinstance(param, FloatParam):
                assert type(value) is float
            else:
                assert value in param.values


def test_same_seed_gives_same_samples_and_different_seed_differs() -> None:
    space = mixed_space()
    first = space.sample(np.random.default_rng(42), 5)
    assert first == space.sample(np.random.default_rng(42), 5)
    assert first != space.sample(np.random.default_rng(43), 5)


def test_sampling_zero_points_gives_empty_list() -> None:
    assert mixed_space().sample(np.random.default_rng(0), 0) == []


def test_log_float_is_uniform_in_log_space() -> None:
    space = space_of(float_param("lr", 1e-4, 1e-1, "log"))
    values = [number(p["lr"]) for p in space.sample(np.random.default_rng(1), 4000)]
    below_geometric_middle = sum(v < 10**-2.5 for v in values) / len(values)
    # Linear sampling would put ~3% of the points below 10^-2.5; log sampling puts half.
    assert 0.45 < below_geometric_middle < 0.55


def test_log_int_favours_small_values_and_reaches_both_ends() -> None:
    space = space_of(int_param("batch", 1, 1000, "log"))
    values = [number(p["batch"]) for p in space.sample(np.random.default_rng(2), 4000)]
    assert min(values) == 1
    assert max(values) >= 900
    assert 0.45 < sum(v < math.sqrt(1000) for v in values) / len(values) < 0.55


def test_linear_int_reaches_both_ends() -> None:
    space = space_of(int_param("k", 2, 5))
    values = {p["k"] for p in space.sample(np.random.default_rng(3), 200)}
    assert values == {2, 3, 4, 5}


# --- grid ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (int_param("k", 1, 4), (1, 2, 3, 4)),
        (int_param("k", 0, 10, step=3), (0, 3, 6, 9)),
        (int_param("k", 0, 10, count=3), (0, 5, 10)),
        (int_param("k", 1, 100, "log", count=3), (1, 10, 100)),
        (int_param("k", 1, 4, "log", count=10), (1, 2, 3, 4)),
        (float_param("d", 0.0, 1.0, step=0.25), (0.0, 0.25, 0.5, 0.75, 1.0)),
        (float_param("d", 0.0, 1.0, step=0.3), (0.0, 0.3, 0.6, 0.9)),
        (float_param("d", 0.0, 0.3, step=0.1), (0.0, 0.1, 0.2, 0.3)),
        (float_param("d", -1.0, 1.0, count=5), (-1.0, -0.5, 0.0, 0.5, 1.0)),
        (float_param("lr", 1e-4, 1e-1, "log", count=4), (1e-4, 1e-3, 1e-2, 1e-1)),
        (float_param("d", 0.0, 1.0), None),
        (categorical_param("o", "sgd", "adam"), ("sgd", "adam")),
        (discrete_param("r", 0.1, 0.01, 1), (0.1, 0.01, 1)),
    ],
)
def test_grid_values_per_parameter(param: Param, expected: tuple[object, ...] | None) -> None:
    values = grid_values(param)
    assert (None if values is None else tuple(values)) == expected


def test_grid_varies_last_declared_parameter_fastest() -> None:
    space = space_of(int_param("a", 1, 2), categorical_param("b", "x", "y", "z"))
    assert list(space.grid()) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]


@settings(max_examples=60, deadline=None)
@given(space=enumerable_spaces())
def test_grid_yields_each_point_once_and_as_many_as_grid_size(space: Space) -> None:
    points = list(space.grid())
    keys = [space.canonical(p) for p in points]
    assert len(points) == space.grid_size()
    assert len(set(keys)) == len(keys)
    assert all(space.contains(p) for p in points)


def test_grid_size_is_none_and_grid_refuses_when_a_float_range_has_no_step_or_count() -> None:
    space = space_of(int_param("a", 1, 3), float_param("lr", 0.0, 1.0))
    assert space.grid_size() is None
    with pytest.raises(SpecError) as caught:
        list(space.grid())
    assert caught.value.problems == (
        Problem(
            "parameter lr",
            "is a float range without step or count, so a grid cannot enumerate it; "
            "set step or count",
        ),
    )


def test_wide_ranges_enumerate_lazily_and_index_directly() -> None:
    space = space_of(
        int_param("a", 0, 10**9),
        int_param("b", 1, 10**9, step=10),
        float_param("c", 0.0, 1.0, step=1e-9),
    )
    assert space.grid_size() == (10**9 + 1) * 10**8 * (10**9 + 1)
    assert list(itertools.islice(space.grid(), 2)) == [
        {"a": 0, "b": 1, "c": 0.0},
        {"a": 0, "b": 1, "c": 1e-9},
    ]
    assert space.grid_point(10**9 + 2) == {"a": 0, "b": 11, "c": 1e-9}
    size = space.grid_size()
    assert size is not None
    last = size - 1
    assert space.grid_point(last) == {"a": 10**9, "b": 999999991, "c": 1.0}
    with pytest.raises(IndexError, match="grid point -1 of a grid of"):
        space.grid_point(-1)


@settings(max_examples=40, deadline=None)
@given(space=enumerable_spaces())
def test_grid_point_k_is_the_kth_point_of_the_grid(space: Space) -> None:
    points = list(space.grid())
    assert [space.grid_point(k) for k in range(len(points))] == points
    with pytest.raises(IndexError):
        space.grid_point(len(points))


@pytest.mark.parametrize(
    ("space", "finite"),
    [
        (space_of(int_param(), categorical_param(), discrete_param()), True),
        (space_of(int_param("b", 1, 100, "log")), True),
        (space_of(int_param(), float_param()), False),
        (space_of(float_param("d", 0.0, 1.0, step=0.1)), False),
    ],
)
def test_is_finite_only_when_every_parameter_is_discrete(space: Space, finite: bool) -> None:
    assert space.is_finite() is finite


# --- membership and canonical keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "problems"),
    [
        (
            {
                "conv2_filter": 16,
                "batch": 8,
                "dropout": 0.5,
                "lr": 0.01,
                "optimizer": "sgd",
                "rate": 0.5,
            },
            [],
        ),
        (
            {
                "conv2_filter": 15.0,
                "batch": 8.5,
                "dropout": 0.5,
                "lr": 0.01,
                "optimizer": "adam",
                "rate": 1.0,
            },
            [
                Problem("params.conv2_filter", "must be between 16 and 128, got 15.0"),
                Problem("params.batch", "must be an integer, got 8.5"),
            ],
        ),
        (
            {
                "conv2_filter": 16,
                "batch": 8,
                "dropout": "0.5",
                "lr": 1.0,
                "optimizer": "Adam",
                "rate": 0.3,
                "extra": 1,
            },
            [
                Problem("params.dropout", "must be a finite number, got '0.5'"),
                Problem("params.lr", "must be between 0.0001 and 0.1, got 1.0"),
                Problem("params.optimizer", "must be one of 'adam', 'sgd', 'rmsprop', got 'Adam'"),
                Problem("params.rate", "must be one of 1, 0.5, 0.25, got 0.3"),
                Problem(
                    "params.extra",
                    "is not a parameter of this search "
                    "(declared: conv2_filter, batch, dropout, lr, optimizer, rate)",
                ),
            ],
        ),
        (
            {"conv2_filter": True, "batch": 8, "dropout": float("nan"), "lr": 0.01, "rate": 1},
            [
                Problem("params.conv2_filter", "must be an integer, got True"),
                Problem("params.dropout", "must be a finite number, got nan"),
                Problem("params.optimizer", "is missing"),
            ],
        ),
    ],
)
def test_problems_name_each_parameter_and_the_value_seen(
    params: dict[str, object], problems: list[Problem]
) -> None:
    space = mixed_space()
    assert space.problems(params) == problems
    assert space.contains(params) is (problems == [])


def test_validate_params_raises_every_problem() -> None:
    space = space_of(int_param("a", 1, 3), int_param("b", 1, 3))
    with pytest.raises(SpecError) as caught:
        space.validate_params({"a": 0, "b": 4})
    assert [p.path for p in caught.value.problems] == ["params.a", "params.b"]


def test_canonical_treats_json_round_trip_and_float_noise_as_the_same_point() -> None:
    space = space_of(float_param("d", 0.0, 1.0), int_param("k", 1, 5), discrete_param("r", 0.3, 1))
    original = {"d": 0.3, "k": 2, "r": 0.3}
    after_round_trip = {"k": 2.0, "d": 0.1 + 0.2, "r": 0.30000000000000004}
    assert space.canonical(original) == space.canonical(after_round_trip) == (0.3, 2, 0.3)
    assert space.canonical({"d": 1, "k": 2, "r": 1.0}) == (1.0, 2, 1)
    assert space.canonical(original) != space.canonical({"d": 0.3001, "k": 2, "r": 0.3})


def test_normalize_restores_declared_types_and_order() -> None:
    space = space_of(float_param("d", 0.0, 2.0), int_param("k", 1, 5), discrete_param("r", 0.5, 1))
    normal = space.normalize({"r": 1.0, "k": 3.0, "d": 1})
    assert list(normal.items()) == [("d", 1.0), ("k", 3), ("r", 1)]
    assert [type(v) for v in normal.values()] == [float, int, int]


def test_canonical_rejects_points_outside_the_space() -> None:
    with pytest.raises(SpecError, match=r"params.k must be between 1 and 5, got 9"):
        space_of(int_param("k", 1, 5)).canonical({"k": 9})


@settings(max_examples=60, deadline=None)
@given(space=spaces(), seed=st.integers(0, 2**16))
def test_canonical_is_stable_under_normalize_and_hashable(space: Space, seed: int) -> None:
    for point in space.sample(np.random.default_rng(seed), 5):
        key = space.canonical(point)
        assert hash(key) == hash(space.canonical(space.normalize(point)))
        assert key == space.canonical(dict(reversed(list(point.items()))))


def test_get_finds_a_parameter_by_name() -> None:
    space = mixed_space()
    assert space.get("lr") == float_param("lr", 1e-4, 1e-1, "log")
    with pytest.raises(KeyError):
        space.get("nope")


# --- parameter definitions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "problems"),
    [
        (int_param("k", 1, 10), []),
        (
            int_param("k", 5, 1),
            [Problem("p.max", "must be greater than min, got min=5, max=1")],
        ),
        (
            float_param("lr", 0.0, 1.0, "log"),
            [
                Problem(
                    "p.min",
                    "must be greater than 0 on a log scale, got min=0.0 "
                    "(use scale: linear, or a positive min)",
                )
            ],
        ),
        (
            float_param("lr", 1e-3, 1.0, "log", step=0.1),
            [
                Problem(
                    "p.step",
                    "cannot be used with scale: log (a step adds, a log grid multiplies); "
                    "use count for geometrically spaced points",
                )
            ],
        ),
        (
            float_param("d", 0.0, 1.0, step=0.1, count=3),
            [Problem("p.count", "cannot be set together with step; set one of them")],
        ),
        (
            float_param("d", 0.0, 1.0, step=-0.1),
            [Problem("p.step", "must be a positive float, got -0.1")],
        ),
        (
            int_param("k", 0, 9, count=1),
            [
                Problem(
                    "p.count",
                    "must be an integer from 2 (both ends are included) to 10000, got 1",
                )
            ],
        ),
        (
            IntParam("k", 0.5, 3),  # type: ignore[arg-type]  # a float bound, as YAML may give
            [
                Problem(
                    "p.min",
                    "must be an int, got 0.5; round it, or use type: float for fractional values",
                )
            ],
        ),
        (
            FloatParam("d", 0.0, math.inf),
            [Problem("p.max", "must be a finite number, got inf")],
        ),
        (
            int_param("9lives", 1, 2),
            [
                Problem(
                    "p.name",
                    "must start with a letter or '_' and hold only letters, digits, '_', '.' or "
                    "'-' (it becomes the :name: placeholder), got '9lives'",
                )
            ],
        ),
        (
            int_param("k", -(2**53) - 1, 0),
            [
                Problem(
                    "p.min",
                    "must be between -9007199254740992 and 9007199254740992, got -9007199254740993",
                )
            ],
        ),
        (
            int_param("x" * 64, 1, 2),
            [Problem("p.name", "must be at most 63 characters, got 64")],
        ),
        (
            CategoricalParam("o", ()),
            [Problem("p.values", "must hold at least one value, got an empty list")],
        ),
        (
            CategoricalParam("o", ("a", "b", "a")),
            [Problem("p.values[2]", "duplicates values[0] ('a'); list each value once")],
        ),
        (CategoricalParam("o", ("1", 1)), []),
        (
            DiscreteParam("r", (0.1, "x", 0.1, math.nan)),  # type: ignore[arg-type]  # a str, as YAML may give
            [
                Problem(
                    "p.values[1]", "must be a number, got 'x' (use type: categorical for names)"
                ),
                Problem("p.values[2]", "duplicates values[0] (0.1); list each value once"),
                Problem("p.values[3]", "must be finite, got nan"),
            ],
        ),
    ],
)
def test_param_problems_name_the_field_value_and_fix(param: Param, problems: list[Problem]) -> None:
    assert param_problems(param, "p") == problems
