"""Log EI and log PI agree with their closed forms, and the Pareto front keeps what it should."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from hypersearch.core.params import FloatParam, IntParam
from hypersearch.core.space import Space
from hypersearch.core.suggest.base import Outcome
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester
from hypersearch.core.suggest.improvement import (
    log_expected_improvement,
    log_probability_of_improvement,
    pareto_front,
)


def test_log_ei_equals_the_closed_form_from_the_body_into_the_far_tail() -> None:
    mean = np.linspace(-6.0, 2.0, 81)
    std = np.full_like(mean, 0.7)
    u = (mean - 0.5) / std
    exact = (mean - 0.5) * norm.cdf(u) + std * norm.pdf(u)
    ours = np.exp(log_expected_improvement(mean, std, 0.5))
    np.testing.assert_allclose(ours, exact, rtol=3e-3)


def test_log_ei_stays_finite_and_ordered_where_plain_ei_underflows() -> None:
    mean = np.array([-60.0, -50.0, -40.0])
    std = np.full(3, 1.0)
    assert np.all(norm.cdf(mean) * mean + norm.pdf(mean) == 0.0)
    ours = log_expected_improvement(mean, std, 0.0)
    assert np.all(np.isfinite(ours)) and np.all(np.diff(ours) > 0)


def test_log_pi_is_the_log_normal_tail() -> None:
    mean, std = np.array([-1.0, 0.0, 2.0]), np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(
        np.exp(log_probability_of_improvement(mean, std, 0.3)), norm.sf(0.3, mean, std)
    )


def test_the_pareto_front_keeps_exactly_the_undominated_rows() -> None:
    scores = np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 0.0], [1.0, 1.0], [2.0, 1.0], [0.5, 2.5]])
    assert sorted(pareto_front(scores).tolist()) == [0, 1, 4, 5]


@pytest.mark.parametrize("acquisition", ["ei", "mace"])
def test_improvement_acquisitions_search_deterministically_and_never_repeat(
    acquisition: str,
) -> None:
    space = Space((FloatParam("x", 0.0, 1.0), IntParam("k", 1, 30)))

    def search() -> list[Outcome]:
        sugg = GPUCBSuggester(5, acquisition=acquisition, horizon=16)  # type: ignore[arg-type]
        rng = np.random.default_rng(5)
        history: list[Outcome] = []
        for _ in range(16):
            (s,) = sugg.suggest(space, history, [], 1, rng)
            x, k = float(s.params["x"]), int(s.params["k"])
            history.append(Outcome(s.params, -((x - 0.7) ** 2) - 0.002 * (k - 20) ** 2))
        return history

    first, second = search(), search()
    assert [o.params for o in first] == [o.params for o in second]
    assert len({space.canonical(o.params) for o in first}) == 16
    best = max(first, key=lambda o: float(o.value or 0.0))
    assert abs(float(best.params["x"]) - 0.7) < 0.1 and abs(int(best.params["k"]) - 20) <= 4
