"""Large searches: the GP conditions on a bounded, deterministic subset holding the best points."""

from __future__ import annotations

import numpy as np
import pytest
from builders import number

from hypersearch.core.params import FloatParam
from hypersearch.core.space import Space
from hypersearch.core.suggest import gp
from hypersearch.core.suggest.base import Outcome
from hypersearch.core.suggest.conditioning import (
    BEST_SHARE,
    OBSERVED_CAP,
    PENDING_CAP,
    observed_subset,
    pending_subset,
)
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester


def _points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 4))
    return x, -np.sum((x - 0.3) ** 2, axis=1)


def test_below_the_cap_every_point_is_kept_and_no_random_number_is_drawn() -> None:
    x, z = _points(OBSERVED_CAP)
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(observed_subset(x, z, rng), np.arange(OBSERVED_CAP))
    assert rng.random() == np.random.default_rng(1).random()


def test_a_large_history_is_cut_to_the_cap_keeping_the_best_points_and_the_incumbent() -> None:
    x, z = _points(3_000)
    keep = observed_subset(x, z, np.random.default_rng(1))
    assert len(keep) == OBSERVED_CAP
    assert len(set(keep.tolist())) == OBSERVED_CAP
    best = np.argsort(-z)[: int(OBSERVED_CAP * BEST_SHARE)]
    assert set(best.tolist()) <= set(keep.tolist())
    assert int(np.argmax(z)) in keep


def test_the_subset_is_the_same_for_the_same_generator_seed() -> None:
    x, z = _points(2_000)
    first = observed_subset(x, z, np.random.default_rng(5))
    again = observed_subset(x, z, np.random.default_rng(5))
    np.testing.assert_array_equal(first, again)


def test_the_pending_points_kept_are_those_with_the_highest_scores() -> None:
    scores = np.arange(300.0)[::-1]
    kept = pending_subset(scores)
    np.testing.assert_array_equal(kept, np.arange(PENDING_CAP))
    np.testing.assert_array_equal(pending_subset(scores[:10]), np.arange(10))


def test_adding_points_by_a_block_update_equals_conditioning_on_all_of_them() -> None:
    x, z = _points(40)
    post = gp.fit(x[:30], z[:30], np.random.default_rng(0))
    grown = gp.condition(post, x[30:], z[30:])
    direct = gp._posterior(post.kernel, post.noise, x, z)
    query = np.random.default_rng(2).uniform(size=(20, 4))
    for got, want in zip(gp.predict(grown, query), gp.predict(direct, query), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gp.mean(grown, query), gp.predict(grown, query)[0])


def test_a_search_of_thousands_of_points_and_hundreds_running_conditions_on_at_most_the_caps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes: list[int] = []
    real_condition = gp.condition

    def condition(post: gp.Posterior, x_new: np.ndarray, y_new: np.ndarray) -> gp.Posterior:
        grown = real_condition(post, x_new, y_new)
        sizes.append(len(grown.x))
        return grown

    monkeypatch.setattr(gp, "condition", condition)
    space = Space(tuple(FloatParam(f"x{i}", 0.0, 1.0) for i in range(3)))
    rng = np.random.default_rng(0)
    points = space.sample(rng, 1_300)
    history = [Outcome(p, -sum((number(v) - 0.5) ** 2 for v in p.values())) for p in points[:1_000]]
    pending = points[1_000:]
    out = GPUCBSuggester(0).suggest(space, history, pending, 3, np.random.default_rng(1))
    keys = {space.canonical(p) for p in points}
    assert len(out) == 3
    assert all(space.canonical(s.params) not in keys for s in out)
    assert all(s.prediction is not None for s in out)
    assert sizes[0] == OBSERVED_CAP + PENDING_CAP  # the running trials, then one per batch point
    assert max(sizes) == OBSERVED_CAP + PENDING_CAP + 2


def test_the_caps_are_settings_of_the_suggester(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real_condition = gp.condition

    def condition(post: gp.Posterior, x_new: np.ndarray, y_new: np.ndarray) -> gp.Posterior:
        sizes.append(len(post.x))
        return real_condition(post, x_new, y_new)

    monkeypatch.setattr(gp, "condition", condition)
    space = Space(tuple(FloatParam(f"x{i}", 0.0, 1.0) for i in range(2)))
    points = space.sample(np.random.default_rng(0), 220)
    history = [Outcome(p, -sum(number(v) for v in p.values())) for p in points[:200]]
    suggester = GPUCBSuggester(0, observed_cap=50, pending_cap=5)
    suggester.suggest(space, history, points[200:], 1, np.random.default_rng(1))
    assert sizes == [50]  # the observed points before the 5 running trials were added
