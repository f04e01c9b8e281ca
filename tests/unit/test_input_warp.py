"""Input warping: the Kumaraswamy bend, which columns it touches, and what it buys a fit."""

from __future__ import annotations

import numpy as np

from hypersearch.core.params import CategoricalParam, FloatParam, IntParam
from hypersearch.core.space import Space
from hypersearch.core.suggest import gp
from hypersearch.core.suggest.base import Outcome
from hypersearch.core.suggest.encoding import Encoding
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester
from hypersearch.core.suggest.input_warp import InputWarp, kumaraswamy


def test_the_warp_is_a_monotone_map_of_the_unit_interval_onto_itself() -> None:
    x = np.linspace(0.0, 1.0, 101)
    for log_a, log_b in [(0.0, 0.0), (1.0, -0.5), (-1.2, 1.3)]:
        w, _, _ = kumaraswamy(x, log_a, log_b)
        assert 0.0 <= w[0] < w[-1] <= 1.0
        assert np.all(np.diff(w) > 0)
    identity, _, _ = kumaraswamy(x, 0.0, 0.0)
    np.testing.assert_allclose(identity, np.clip(x, 1e-6, 1 - 1e-6), atol=1e-12)


def test_only_numeric_columns_are_bent() -> None:
    space = Space(
        (
            FloatParam("lr", 1e-4, 1.0, scale="log"),
            CategoricalParam("opt", ("sgd", "adam", "rmsprop")),
            IntParam("depth", 1, 8),
        )
    )
    enc = Encoding(space)
    assert enc.numeric_columns == (0, 4)
    x = enc.encode_many([{"lr": 0.01, "opt": "adam", "depth": 3}])
    bent = InputWarp((0, 4), (0.8, -0.4), (0.3, 0.2))(x)
    np.testing.assert_array_equal(bent[:, 1:4], x[:, 1:4])
    assert bent[0, 0] != x[0, 0] and bent[0, 4] != x[0, 4]


def _fast_near_zero(x: np.ndarray) -> np.ndarray:
    """Three periods in sqrt(x): fast near 0, slow near 1, so no one length scale fits it, but
    the bend x^0.5 (a Kumaraswamy CDF with a = 0.5, b = 1) makes it stationary."""
    out: np.ndarray = np.sin(6 * np.pi * np.sqrt(x[:, 0]))
    return out


def test_a_warped_fit_learns_the_bend_and_predicts_a_non_stationary_function_better() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(25, 1))
    y = _fast_near_zero(x)
    mean, std = y.mean(), y.std()
    held = np.linspace(0.0, 1.0, 400)[:, None]
    truth = (_fast_near_zero(held) - mean) / std
    errors = {}
    for warped in ((), (0,)):
        post = gp.fit(x, (y - mean) / std, np.random.default_rng(1), warped=warped)
        errors[warped] = float(np.mean((gp.predict(post, held)[0] - truth) ** 2))
    assert errors[(0,)] < 0.2 * errors[()]
    bend = post.kernel.lift
    assert isinstance(bend, InputWarp)
    assert -0.9 < bend.log_a[0] < -0.3  # a near 0.5
    assert abs(bend.log_b[0]) < 0.3


def test_the_suggester_with_input_warping_searches_and_never_repeats() -> None:
    space = Space((FloatParam("x", 0.0, 1.0), IntParam("k", 1, 20)))
    sugg = GPUCBSuggester(3, input_warp=True, horizon=14)
    rng = np.random.default_rng(3)
    history: list[Outcome] = []
    for _ in range(14):
        (s,) = sugg.suggest(space, history, [], 1, rng)
        x, k = float(s.params["x"]), int(s.params["k"])
        history.append(Outcome(s.params, -((x - 0.05) ** 2) - 0.01 * (k - 4) ** 2))
    keys = {space.canonical(o.params) for o in history}
    assert len(keys) == 14
    best = max(history, key=lambda o: float(o.value or 0.0))
    assert abs(float(best.params["x"]) - 0.05) < 0.1 and abs(int(best.params["k"]) - 4) <= 2
