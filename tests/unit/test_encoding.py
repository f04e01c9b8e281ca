"""The unit-cube encoding: round trips, integer plateaus, log scales, one-hot categories."""

from __future__ import annotations

import math

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

from hypersearch.core.params import Param, Params, Value
from hypersearch.core.suggest.encoding import Encoding


def test_features_have_one_column_per_range_and_one_per_category() -> None:
    # mixed_space: 2 ints, 2 floats, a 3-way categorical, a discrete list -> 4 + 3 + 1 columns.
    assert Encoding(mixed_space()).dim == 8


@pytest.mark.parametrize(
    ("param", "value", "feature"),
    [
        (float_param("x", 0.0, 10.0), 2.5, 0.25),
        (float_param("lr", 1e-4, 1e-0, "log"), 1e-2, 0.5),
        (int_param("k", 0, 3), 0, 0.125),  # widened to [-0.5, 3.5]: cells of width 1/4
        (int_param("k", 0, 3), 3, 0.875),
        (discrete_param("rate", 0.1, 0.001, 0.01), 0.01, 0.5),  # sorted: 0.001, 0.01, 0.1
        (discrete_param("rate", 0.1, 0.001, 0.01), 0.1, 5 / 6),
    ],
)
def test_a_value_encodes_to_its_documented_feature(
    param: Param, value: Value, feature: float
) -> None:
    enc = Encoding(space_of(param))
    assert enc.encode({param.name: value})[0] == pytest.approx(feature)


def test_a_category_is_one_hot() -> None:
    enc = Encoding(space_of(categorical_param("opt", "adam", "sgd", "rmsprop")))
    assert enc.encode({"opt": "sgd"}).tolist() == [0.0, 1.0, 0.0]
    assert enc.decode(np.array([0.2, 0.1, 0.7])) == {"opt": "rmsprop"}


def test_every_point_survives_a_round_trip() -> None:
    space = mixed_space()
    enc = Encoding(space)
    for point in space.sample(np.random.default_rng(3), 50):
        back = enc.decode(enc.encode(point))
        assert space.canonical(back) == space.canonical(point)


def test_decoding_any_vector_gives_a_point_of_the_space() -> None:
    space = mixed_space()
    enc = Encoding(space)
    for x in np.random.default_rng(4).normal(0.5, 1.0, (200, enc.dim)):
        assert space.contains(enc.decode(x))


def test_snap_puts_integers_on_the_centre_of_their_cell() -> None:
    enc = Encoding(space_of(int_param("k", 0, 3)))
    snapped = enc.snap(np.array([[0.0], [0.26], [0.49], [0.51], [1.0]]))
    assert snapped[:, 0].tolist() == pytest.approx([0.125, 0.375, 0.375, 0.625, 0.875])


def test_snap_equals_decode_then_encode() -> None:
    space = mixed_space()
    enc = Encoding(space)
    xs = np.random.default_rng(5).random((100, enc.dim))
    expected = np.stack([enc.encode(enc.decode(x)) for x in xs])
    np.testing.assert_allclose(enc.snap(xs), expected, atol=1e-12)


def test_uniform_features_give_every_log_integer_its_log_width() -> None:
    # scale: log over 1..3 widened to [0.5, 3.5]: P(1) = log(1.5/0.5)/log(7) = 0.5646.
    enc = Encoding(space_of(int_param("k", 1, 3, "log")))
    xs = enc.snap(np.random.default_rng(6).random((20_000, 1)))
    share_of_ones = float(np.mean([enc.decode(x)["k"] == 1 for x in xs]))
    assert share_of_ones == pytest.approx(math.log(3) / math.log(7), abs=0.02)


def test_decoded_values_have_their_parameter_type() -> None:
    enc = Encoding(mixed_space())
    point: Params = enc.decode(np.full(enc.dim, 0.3))
    assert isinstance(point["conv2_filter"], int)
    assert isinstance(point["batch"], int)
    assert isinstance(point["dropout"], float)
    assert point["optimizer"] == "adam"  # ties in a one-hot block go to the first value
