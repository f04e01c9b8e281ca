"""GP-UCB's own properties: it finds an optimum, respects pending points, records predictions,
keeps unusable values out of the model, and its GP and schedule behave as documented."""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from builders import categorical_param, float_param, int_param, space_of

from hypersearch.core.params import Params
from hypersearch.core.space import Space
from hypersearch.core.suggest import gp
from hypersearch.core.suggest.base import Outcome
from hypersearch.core.suggest.encoding import Encoding
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester, beta
from hypersearch.core.suggest.model import fit_model
from hypersearch.core.suggest.warping import Warp, Warping

LINE = space_of(float_param("x", -2.0, 3.0))


def run(
    suggester: GPUCBSuggester, space: Space, f: Callable[[Params], float], trials: int
) -> list[Outcome]:
    """Sequential search: ask one, tell one."""
    history: list[Outcome] = []
    for t in range(trials):
        (s,) = suggester.suggest(space, history, [], 1, np.random.default_rng(t))
        history.append(Outcome(s.params, f(s.params)))
    return history


def best_of(history: list[Outcome]) -> Outcome:
    return max(history, key=lambda o: -math.inf if o.value is None else o.value)


def test_a_1d_quadratic_is_solved_within_15_trials() -> None:
    history = run(GPUCBSuggester(seed=7), LINE, lambda p: -((float(p["x"]) - 1.0) ** 2), 15)
    best = best_of(history)
    assert abs(float(best.params["x"]) - 1.0) < 0.02


def test_an_integer_optimum_is_found_on_its_plateau() -> None:
    space = space_of(int_param("k", 0, 40))
    history = run(GPUCBSuggester(seed=3), space, lambda p: -abs(int(p["k"]) - 27), 14)
    assert best_of(history).params["k"] == 27


def test_the_first_trials_are_the_quasi_random_design_then_the_gp_predicts() -> None:
    history = run(GPUCBSuggester(seed=7, initial_points=4), LINE, lambda p: float(p["x"]), 4)
    (s,) = GPUCBSuggester(seed=7, initial_points=4).suggest(
        LINE, history, [], 1, np.random.default_rng(0)
    )
    first = GPUCBSuggester(seed=7, initial_points=4).suggest(
        LINE, [], [], 1, np.random.default_rng(0)
    )
    assert first[0].prediction is None
    assert s.prediction is not None
    assert s.prediction.std > 0
    assert s.prediction.ucb > s.prediction.mean


def test_the_prediction_is_in_objective_units() -> None:
    # f(x) = 1000 + 10 x on [-2, 3]: the GP sees warped, standardised values; the prediction
    # at the chosen point must come back near f there.
    f: Callable[[Params], float] = lambda p: 1000.0 + 10.0 * float(p["x"])  # noqa: E731
    history = run(GPUCBSuggester(seed=1, initial_points=8), LINE, f, 8)
    (s,) = GPUCBSuggester(seed=1, initial_points=8).suggest(
        LINE, history, [], 1, np.random.default_rng(0)
    )
    assert s.prediction is not None
    assert s.prediction.mean == pytest.approx(f(s.params), abs=3.0)


def test_a_pending_point_is_not_suggested_again() -> None:
    history = run(GPUCBSuggester(seed=7), LINE, lambda p: -((float(p["x"]) - 1.0) ** 2), 10)
    suggester = GPUCBSuggester(seed=7)
    (alone,) = suggester.suggest(LINE, history, [], 1, np.random.default_rng(0))
    (beside,) = suggester.suggest(LINE, history, [alone.params], 1, np.random.default_rng(0))
    assert abs(float(beside.params["x"]) - float(alone.params["x"])) > 0.05


def test_a_batch_spreads_out_instead_of_piling_onto_one_point() -> None:
    history = run(GPUCBSuggester(seed=7), LINE, lambda p: -((float(p["x"]) - 1.0) ** 2), 7)
    batch = GPUCBSuggester(seed=7).suggest(LINE, history, [], 3, np.random.default_rng(0))
    xs = sorted(float(s.params["x"]) for s in batch)
    assert min(np.diff(xs)) > 0.02


def test_nan_and_inf_values_never_reach_the_gp(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[np.ndarray] = []
    real_fit = gp.fit

    def spy(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, **kw: Any) -> object:
        seen.append(y)
        return real_fit(x, y, rng, **kw)

    monkeypatch.setattr(gp, "fit", spy)
    history = run(GPUCBSuggester(seed=7), LINE, lambda p: float(p["x"]), 6)
    history[1] = Outcome(history[1].params, math.nan)
    history[2] = Outcome(history[2].params, math.inf)
    history[3] = Outcome(history[3].params, None)
    seen.clear()
    GPUCBSuggester(seed=7).suggest(LINE, history, [], 1, np.random.default_rng(0))
    assert len(seen) == 1
    assert len(seen[0]) == 3
    assert np.all(np.isfinite(seen[0]))


def test_a_categorical_optimum_is_found() -> None:
    space = space_of(
        categorical_param("opt", "adam", "sgd", "rmsprop", "adagrad"), float_param("x", 0.0, 1.0)
    )
    bonus = {"adam": 0.0, "sgd": 0.2, "rmsprop": 1.0, "adagrad": 0.1}
    history = run(
        GPUCBSuggester(seed=5),
        space,
        lambda p: bonus[str(p["opt"])] - (float(p["x"]) - 0.5) ** 2,
        14,
    )
    best = best_of(history)
    assert best.params["opt"] == "rmsprop"


@pytest.mark.parametrize("warp", ["yeo-johnson", "rank", "none"])
def test_every_value_warp_fits_and_predicts(warp: Warp) -> None:
    history = run(GPUCBSuggester(seed=2), LINE, lambda p: math.exp(3 * float(p["x"])), 6)
    (s,) = GPUCBSuggester(seed=2, warp=warp).suggest(LINE, history, [], 1, np.random.default_rng(0))
    assert s.prediction is not None
    assert math.isfinite(s.prediction.mean)


def test_equal_values_everywhere_do_not_break_the_fit() -> None:
    history = run(GPUCBSuggester(seed=2), LINE, lambda p: 0.5, 7)
    assert len(history) == 7


def test_beta_grows_with_t_and_dimension() -> None:
    assert beta(10, 2) < beta(100, 2)
    assert beta(10, 2) < beta(10, 6)
    # Brochu et al. eq. 9 with delta 0.1, scaled by 0.05: t=1, d=2 gives 0.1 log(10 pi^2 / 3).
    assert beta(1, 2) == pytest.approx(0.1 * math.log(10 * math.pi**2 / 3))


def test_the_posterior_interpolates_noise_free_data_and_is_unsure_far_away() -> None:
    x = np.array([[0.05], [0.15], [0.3], [0.4], [0.5], [0.6], [0.9], [0.95]])
    y = np.sin(6 * x[:, 0])
    y = (y - y.mean()) / y.std()
    post = gp.fit(x, y, np.random.default_rng(0))
    mean, std = gp.predict(post, x)
    np.testing.assert_allclose(mean, y, atol=0.1)
    far = gp.predict(post, np.array([[0.75]]))[1][0]
    assert far > std.max()


def test_a_hallucinated_mean_shrinks_variance_but_keeps_the_mean() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((8, 2))
    y = x[:, 0] - x[:, 1]
    post = gp.fit(x, (y - y.mean()) / y.std(), rng)
    q = np.array([[0.3, 0.6]])
    mean, std = gp.predict(post, q)
    after = gp.condition(post, q, mean)
    mean2, std2 = gp.predict(after, q)
    assert mean2[0] == pytest.approx(mean[0], abs=1e-6)
    assert std2[0] < 0.5 * std[0]


def test_a_corner_optimum_is_measured_once_then_the_next_best_untried_point_is_asked() -> None:
    """The acquisition peaks at the box's corner (every parameter at its upper bound); once that
    point is measured it must not be suggested again: the space still has untried points."""
    space = space_of(
        int_param("trees", 10, 200), int_param("depth", 2, 30), float_param("features", 0.1, 1.0)
    )

    def f(p: Params) -> float:
        return float(p["trees"]) / 200 + float(p["depth"]) / 30 + float(p["features"])

    history = run(GPUCBSuggester(seed=5), space, f, 30)
    keys = [space.canonical(o.params) for o in history]
    assert len(set(keys)) == len(keys)
    assert space.canonical({"trees": 200, "depth": 30, "features": 1.0}) in keys


def test_a_batch_never_repeats_a_finished_point_at_the_corner() -> None:
    space = space_of(int_param("a", 1, 8), float_param("b", 0.0, 1.0))
    history = run(GPUCBSuggester(seed=2), space, lambda p: float(p["a"]) + float(p["b"]), 12)
    batch = GPUCBSuggester(seed=2).suggest(space, history, [], 6, np.random.default_rng(0))
    finished = {space.canonical(o.params) for o in history}
    asked = [space.canonical(s.params) for s in batch]
    assert len(batch) == 6
    assert len(set(asked)) == 6
    assert not finished & set(asked)


def test_a_noisy_objective_measures_its_best_point_again_once_the_space_is_spent() -> None:
    """Six points, all measured: a deterministic objective has nothing left to ask; declared
    noisy, the search measures a finished point again, the one whose UCB is highest (the best
    value, where a second measurement says most), and never one that is running."""
    space = space_of(int_param("k", 1, 6))
    history = [Outcome({"k": k}, -((k - 4) ** 2) + 0.01 * k) for k in range(1, 7)]
    rng = np.random.default_rng(0)
    assert GPUCBSuggester(seed=1).suggest(space, history, [], 1, rng) == []
    (again,) = GPUCBSuggester(seed=1, noisy=True).suggest(space, history, [], 1, rng)
    assert again.params == {"k": 4}
    running: list[Params] = [{"k": 4}]
    (other,) = GPUCBSuggester(seed=1, noisy=True).suggest(space, history, running, 1, rng)
    assert other.params != {"k": 4}
    assert (
        GPUCBSuggester(seed=1, noisy=True).suggest(
            space, history, [{"k": k} for k in range(1, 7)], 1, rng
        )
        == []
    )


def test_a_noisy_search_of_a_space_smaller_than_its_initial_design_goes_on_by_model() -> None:
    """Three points and 5 initial points: a deterministic search stops after 3 trials (the
    engine's SpaceExhausted); a noisy one spends the rest of its 8 trials, mostly re-measuring
    the best point."""
    space = space_of(int_param("k", 1, 3))

    def f(p: Params) -> float:
        return -((float(p["k"]) - 2) ** 2)

    with pytest.raises(ValueError):  # run() unpacks one suggestion: none is left
        run(GPUCBSuggester(seed=3, horizon=8), space, f, 8)
    history = run(GPUCBSuggester(seed=3, horizon=8, noisy=True), space, f, 8)
    ks = [int(o.params["k"]) for o in history]
    assert sorted(set(ks[:3])) == [1, 2, 3]
    assert ks.count(2) >= 4


def test_a_noisy_objective_may_repeat_a_corner_optimum_a_deterministic_one_never_does() -> None:
    space = space_of(int_param("a", 1, 8), float_param("b", 0.0, 1.0))

    def f(p: Params) -> float:
        return float(p["a"]) + float(p["b"])

    plain = run(GPUCBSuggester(seed=2, horizon=24), space, f, 24)
    noisy = run(GPUCBSuggester(seed=2, horizon=24, noisy=True), space, f, 24)
    corner = space.canonical({"a": 8, "b": 1.0})
    assert [space.canonical(o.params) for o in plain].count(corner) == 1
    assert [space.canonical(o.params) for o in noisy].count(corner) >= 2


LINEAR_MODEL = space_of(
    categorical_param("penalty", "l2", "l1", "elasticnet"),
    categorical_param("loss", "hinge", "log_loss", "modified_huber"),
    float_param("alpha", 1e-6, 1.0, scale="log"),
)


def initial_points(seed: int, count: int) -> list[Params]:
    """The first ``count`` points of a search of LINEAR_MODEL (all of them initial points)."""
    history: list[Outcome] = []
    for t in range(count):
        suggester = GPUCBSuggester(seed, initial_points=count)
        (s,) = suggester.suggest(LINEAR_MODEL, history, [], 1, np.random.default_rng(t))
        history.append(Outcome(s.params, float(t)))
    return [o.params for o in history]


def test_each_category_is_tried_within_the_first_initial_points() -> None:
    """The initial design is balanced over every categorical: a parameter with 3 values shows
    each of them within the first 3 points, whatever the seed."""
    for seed in range(10):
        points = initial_points(seed, 3)
        assert {p["penalty"] for p in points} == {"l2", "l1", "elasticnet"}
        assert {p["loss"] for p in points} == {"hinge", "log_loss", "modified_huber"}


def test_an_untried_category_is_as_close_to_the_tried_ones_as_they_are_to_each_other() -> None:
    """One length scale per one-hot block (a Hamming distance): the fitted kernel's covariance
    between two different categories is the same for every pair, tried or not."""
    rng = np.random.default_rng(0)
    # Columns: a float, then a 3-value category of which only the first two were tried.
    cat = rng.integers(0, 2, 12)
    x = np.column_stack([rng.random(12), np.eye(3)[cat]])
    y = np.where(cat == 0, 1.0, -1.0) + 0.1 * x[:, 0]
    post = gp.fit(x, (y - y.mean()) / y.std(), rng, groups=(0, 1, 1, 1))
    assert post.length_scales.shape == (2,)
    a, b, c = (np.array([[0.5, *np.eye(3)[i]]]) for i in range(3))
    assert post.kernel(a, b) == pytest.approx(post.kernel(a, c))
    assert post.kernel(b, c) == pytest.approx(post.kernel(a, c))


def test_the_grouped_kernel_gradient_matches_finite_differences() -> None:
    kernel = gp.GroupedMatern(np.array([0.3, 0.7]), groups=(0, 1, 1))
    x = np.random.default_rng(1).random((5, 3))
    _, grad = kernel(x, eval_gradient=True)
    theta, step = kernel.theta.copy(), 1e-6
    for j in range(len(theta)):
        bumped = kernel.clone_with_theta(theta + step * np.eye(len(theta))[j])
        numeric = (bumped(x) - kernel(x)) / step
        assert np.allclose(grad[:, :, j], numeric, atol=1e-4)


def test_every_pair_of_categories_is_scored_by_the_acquisition_search() -> None:
    """With few combinations, each of the best continuous positions is tried under every pair
    of categories, so a pair never measured can be chosen (it is not left to random draws)."""
    from hypersearch.core.suggest.categories import category_combos, with_categories
    from hypersearch.core.suggest.encoding import Encoding

    space = space_of(
        categorical_param("penalty", "l2", "l1", "elasticnet"),
        float_param("alpha", 0.0, 1.0),
        categorical_param("loss", "hinge", "log_loss", "modified_huber"),
    )
    enc = Encoding(space)
    combos = category_combos(enc)
    assert combos is not None
    start = enc.encode({"penalty": "l2", "alpha": 0.25, "loss": "hinge"})[None, :]
    variants = [enc.decode(row) for row in with_categories(enc, start, combos)]
    pairs = {(p["penalty"], p["loss"]) for p in variants}
    assert len(pairs) == 9
    assert all(p["alpha"] == pytest.approx(0.25) for p in variants)


def test_the_initial_points_try_untried_pairs_of_categories() -> None:
    """After every value was seen once, the next initial points take pairs not yet measured:
    the first 5 points of a 3 x 3 space hold 5 different pairs, and 9 points hold all 9."""
    for seed in range(5):
        pairs = [(p["penalty"], p["loss"]) for p in initial_points(seed, 9)]
        assert len(set(pairs[:5])) == 5
        assert len(set(pairs)) == 9


def test_gp_ucb_pe_explores_only_where_the_optimum_may_be() -> None:
    """GP-UCB-PE (pending=pe): the exploring points of a batch keep to the region whose upper
    bound reaches the best lower bound (around the peak at 0.5), spread apart, none repeated."""
    history = run(GPUCBSuggester(seed=3), LINE, lambda p: -((float(p["x"]) - 0.5) ** 2), 8)
    batch = GPUCBSuggester(3, pending="pe").suggest(LINE, history, [], 5, np.random.default_rng(0))
    xs = sorted(float(s.params["x"]) for s in batch)
    assert len(xs) == 5
    assert all(-0.2 < x < 1.2 for x in xs)
    assert min(np.diff(xs)) > 0.02


def test_a_prediction_beyond_the_best_value_of_a_skewed_objective_is_finite_and_monotone() -> None:
    # Hartmann-6-like values: most near 0, a few high; Yeo-Johnson's lambda is negative and its
    # inverse is undefined just above the best value seen.
    y = np.random.default_rng(100).exponential(0.3, size=100) ** 2
    warping, z = Warping.fit(y, "yeo-johnson")
    assert warping.kind == "yeo-johnson"
    inside = np.sort(z)[[10, 50, 90]]
    beyond = z.max() + np.array([0.5, 1.0, 2.0, 4.0])
    back = warping.inverse(np.concatenate([inside, beyond]))
    assert np.all(np.isfinite(back))
    assert np.all(np.diff(back) > 0)
    np.testing.assert_allclose(back[:3], np.sort(y)[[10, 50, 90]], rtol=1e-8)


def test_a_stopped_trial_at_a_lower_fidelity_is_not_taken_for_its_final_value() -> None:
    """Every curve rises by 0.4 from fidelity 0 to 1; a trial stopped half way, on par with the
    others there, is predicted near its own full value by the fidelity model, while taking its
    last value as final (the ``last`` policy) condemns its region."""
    space = space_of(float_param("x", 0.0, 1.0))

    def full(x: float) -> float:
        return 1.0 - (x - 0.6) ** 2

    def curve(x: float) -> tuple[tuple[float, float], ...]:
        return ((0.0, full(x) - 0.4), (0.5, full(x) - 0.2))

    done = [Outcome({"x": x}, full(x), 1.0, curve(x)) for x in (0.1, 0.3, 0.5, 0.9, 1.0)]
    at_half = full(0.7) - 0.2
    multi = [*done, Outcome({"x": 0.7}, at_half, 0.5, curve(0.7)[:1])]
    flat = [*(Outcome(o.params, o.value) for o in done), Outcome({"x": 0.7}, at_half)]
    suggester = GPUCBSuggester(seed=3)
    encoding = Encoding(space)
    x = encoding.encode({"x": 0.7})

    def mean_at_x(history: list[Outcome]) -> float:
        rng = np.random.default_rng(0)
        model = fit_model(suggester, encoding, history, [], rng=rng, t=len(history))
        prediction = model.prediction(x, 0.0)
        assert prediction is not None
        return prediction.mean

    with_fidelity, as_final = mean_at_x(multi), mean_at_x(flat)
    assert abs(with_fidelity - full(0.7)) < 0.05
    assert as_final < full(0.7) - 0.1


def test_outcomes_at_fidelity_1_without_curves_give_the_suggestions_of_plain_ones() -> None:
    space = space_of(float_param("x", -2.0, 3.0), float_param("y", 0.0, 1.0))
    plain = [Outcome({"x": 0.3 * i - 2, "y": (i * 0.37) % 1}, math.sin(i)) for i in range(8)]
    explicit = [Outcome(o.params, o.value, 1.0, ()) for o in plain]
    pending: list[Params] = [{"x": 1.0, "y": 0.5}]
    first = GPUCBSuggester(seed=5).suggest(space, plain, pending, 2, np.random.default_rng(1))
    second = GPUCBSuggester(seed=5).suggest(space, explicit, pending, 2, np.random.default_rng(1))
    assert first == second


PIPELINE = space_of(
    categorical_param("model", "linear", "tree", "kernel"),
    categorical_param("scaler", "none", "standard"),
    float_param("a", 0.0, 1.0),
    float_param("b", 0.0, 1.0),
)


def test_the_count_bonus_favours_rarely_tried_categories_and_fades_with_trials() -> None:
    from hypersearch.core.suggest.categories import count_bonus, value_counts
    from hypersearch.core.suggest.encoding import Encoding

    enc = Encoding(PIPELINE)
    tree: Params = {"model": "tree", "scaler": "none", "a": 0.5, "b": 0.5}
    kernel: Params = {"model": "kernel", "scaler": "none", "a": 0.5, "b": 0.5}
    tried = enc.encode_many([tree] * 6 + [kernel])
    counts = value_counts(enc, tried)
    assert counts[enc.categorical_blocks[0][0] : enc.categorical_blocks[0][0] + 3].tolist() == [
        0,
        6,
        1,
    ]
    each_model: list[Params] = [
        {"model": m, "scaler": "none", "a": 0.5, "b": 0.5} for m in ("linear", "tree", "kernel")
    ]
    rows = enc.encode_many(each_model)
    early = count_bonus(enc, counts, 8, 1.0)(rows)
    assert early[0] > early[2] > early[1]  # never tried > tried once > tried six times
    late = count_bonus(enc, counts + 40 * (counts > 0), 50, 1.0)(rows)
    assert late[2] < early[2]


def test_the_combination_bonus_counts_whole_combinations() -> None:
    from hypersearch.core.suggest.categories import combo_bonus
    from hypersearch.core.suggest.encoding import Encoding

    enc = Encoding(PIPELINE)
    kernel_none: Params = {"model": "kernel", "scaler": "none", "a": 0.1, "b": 0.2}
    tree_standard: Params = {"model": "tree", "scaler": "standard", "a": 0.1, "b": 0.2}
    tried = enc.encode_many([kernel_none] * 3 + [tree_standard] * 3)
    candidates: list[Params] = [
        {"model": "kernel", "scaler": "standard", "a": 0.5, "b": 0.5},
        {"model": "kernel", "scaler": "none", "a": 0.5, "b": 0.5},
    ]
    rows = enc.encode_many(candidates)
    bonus = combo_bonus(enc, tried, 7, 1.0)(rows)
    # kernel and standard were each tried three times, but never together.
    assert bonus[0] == pytest.approx(math.sqrt(math.log(7)))
    assert bonus[1] == pytest.approx(math.sqrt(math.log(7) / 4))


def test_the_interleaved_trial_outweighs_the_gp_only_for_the_least_tried_categories() -> None:
    from hypersearch.core.suggest.categories import least_tried_bonus, value_counts
    from hypersearch.core.suggest.encoding import Encoding

    enc = Encoding(PIPELINE)
    tried = enc.encode_many(
        [
            {"model": "linear", "scaler": "standard", "a": 0.1, "b": 0.2},
            {"model": "tree", "scaler": "standard", "a": 0.1, "b": 0.2},
            {"model": "tree", "scaler": "none", "a": 0.1, "b": 0.2},
        ]
    )
    rows = enc.encode_many(
        [
            {"model": "kernel", "scaler": "none", "a": 0.5, "b": 0.5},
            {"model": "kernel", "scaler": "standard", "a": 0.5, "b": 0.5},
            {"model": "linear", "scaler": "none", "a": 0.5, "b": 0.5},
        ]
    )
    assert least_tried_bonus(enc, value_counts(enc, tried))(rows).tolist() == [1e3, 0.0, 0.0]


TRAP = space_of(
    categorical_param("model", "linear", "tree", "kernel"),
    categorical_param("scaler", "none", "standard"),
    *(float_param(k, 0.0, 1.0) for k in "abcd"),
)


def trap(p: Params) -> float:
    """bench/tasks.py's conditional_pipeline, maximised: the model decides which of a, b, c, d
    matter; the best is kernel+standard (-0.15), tree (-0.20) and linear (-0.25) are traps."""
    a, b, c, d = (float(p[k]) for k in "abcd")
    standard = p["scaler"] == "standard"
    if p["model"] == "linear":
        return -(0.35 + 0.5 * (a - 0.2) ** 2 - 0.1 * standard)
    if p["model"] == "kernel":
        return -(0.30 + (a - 0.8) ** 2 + (d - 0.5) ** 2 - 0.15 * standard)
    return -(0.20 + (b - 0.7) ** 2 + (c - 0.3) ** 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_combination_bonus_keeps_every_combination_of_the_trap_in_play(seed: int) -> None:
    """With the count bonus per combination, 21 trials of the trap measure all 6 (model, scaler)
    combinations and no combination takes more than 14 of them (without it, one pair took
    16-17 trials and others had one), with no point asked twice."""
    history = run(GPUCBSuggester(seed, category_bonus=2.0, bonus_per="combo"), TRAP, trap, 21)
    pairs = collections.Counter((o.params["model"], o.params["scaler"]) for o in history)
    assert len(pairs) == 6
    assert max(pairs.values()) <= 14
    assert len({TRAP.canonical(o.params) for o in history}) == 21


def test_the_category_rules_are_deterministic_given_the_seed_and_rng() -> None:
    rules: tuple[dict[str, Any], ...] = (
        {"category_bonus": 2.0, "bonus_per": "combo"},
        {"category_every": 3},
        {"interleave": 3, "split": True},
    )
    for settings in rules:
        first = run(GPUCBSuggester(5, **settings), TRAP, trap, 9)
        again = run(GPUCBSuggester(5, **settings), TRAP, trap, 9)
        assert [o.params for o in first] == [o.params for o in again]


def test_the_category_split_gives_each_category_its_own_copy_of_the_numeric_columns() -> None:
    from hypersearch.core.suggest.categories import CategorySplit
    from hypersearch.core.suggest.encoding import Encoding

    enc = Encoding(PIPELINE)
    split = CategorySplit.of(enc, enc.groups)
    x = enc.encode({"model": "tree", "scaler": "standard", "a": 0.25, "b": 0.75})[None, :]
    lifted = split(x)[0]
    # Original columns, then (a, b) per value: linear, tree, kernel, none, standard.
    assert lifted[: enc.dim].tolist() == x[0].tolist()
    copies = lifted[enc.dim :].reshape(5, 2).tolist()
    assert copies == [[0.5, 0.5], [0.25, 0.75], [0.5, 0.5], [0.5, 0.5], [0.25, 0.75]]
    assert len(split.groups) == len(lifted)
    assert len(set(split.groups[enc.dim :])) == 10  # a length scale per copied column


def test_a_split_gp_keeps_the_acquisition_features_and_interpolates_its_data() -> None:
    from hypersearch.core.suggest.categories import CategorySplit
    from hypersearch.core.suggest.encoding import Encoding

    enc = Encoding(PIPELINE)
    split = CategorySplit.of(enc, enc.groups)
    rng = np.random.default_rng(4)
    points: list[Params] = [
        {"model": m, "scaler": s, "a": float(a), "b": float(b)}
        for m, s, a, b in zip(
            ["linear", "tree", "kernel"] * 4,
            ["none", "standard"] * 6,
            rng.random(12),
            rng.random(12),
            strict=True,
        )
    ]
    x = enc.encode_many(points)
    y = np.array([trap({**p, "c": 0.3, "d": 0.5}) for p in points])
    y = (y - y.mean()) / y.std()
    post = gp.fit(x, y, rng, groups=split.groups, lift=split)
    assert post.x.shape == x.shape
    mu, sd = gp.predict(post, x)
    assert np.allclose(mu, y, atol=0.3)
    assert np.all(sd < 0.5)


def test_an_interleaved_trial_takes_the_rarest_combination_of_categories() -> None:
    """With interleave=3, trials 3, 6, 9, ... after the initial points are uniform points in the
    combination tried least so far: the trap's 6 combinations are all measured by trial 12, none
    of its points repeated."""
    history = run(GPUCBSuggester(2, interleave=3), TRAP, trap, 12)
    counts = collections.Counter((o.params["model"], o.params["scaler"]) for o in history[:8])
    rarest = min(
        counts.get((m, s), 0) for m in ("linear", "tree", "kernel") for s in ("none", "standard")
    )
    ninth = history[8].params
    assert counts.get((ninth["model"], ninth["scaler"]), 0) == rarest
    assert len({(o.params["model"], o.params["scaler"]) for o in history}) == 6
    assert len({TRAP.canonical(o.params) for o in history}) == 12


def test_the_posterior_covariance_has_predicts_variance_on_its_diagonal() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((8, 2))
    post = gp.fit(x, np.sin(3 * x[:, 0]) - x[:, 1], rng)
    xq = rng.random((5, 2))
    cov = gp.covariance(post, xq)
    assert np.allclose(np.diag(cov), gp.predict(post, xq)[1] ** 2, atol=1e-9)
    assert np.allclose(cov, cov.T, atol=1e-9)


def test_thompson_choice_is_deterministic_and_keeps_points_inside_the_drawn_combination() -> None:
    """Same seed and rngs, same search; and the restricted acquisition ranks every point of the
    drawn combination above every point outside it."""
    from hypersearch.core.suggest.categories import combo_index
    from hypersearch.core.suggest.encoding import Encoding
    from hypersearch.core.suggest.thompson import restricted

    settings: dict[str, Any] = {"combo_choice": "thompson", "combo_every": 2}
    first = run(GPUCBSuggester(5, **settings), TRAP, trap, 10)
    again = run(GPUCBSuggester(5, **settings), TRAP, trap, 10)
    assert [o.params for o in first] == [o.params for o in again]
    enc = Encoding(TRAP)
    rows = enc.snap(np.random.default_rng(0).random((60, enc.dim)))
    inside = combo_index(enc, rows) == 4
    scores = restricted(lambda xs: xs[:, -1] * 5.0, enc, 4)(rows)
    assert inside.any() and (~inside).any()
    assert scores[inside].min() > scores[~inside].max()


@pytest.mark.parametrize("seed", [0, 5])
def test_thompson_choice_of_the_combination_finds_the_traps_kernel_basin(seed: int) -> None:
    """21 sequential trials of the trap: on these seeds the default never measures
    kernel+standard (it ends on tree's 0.20), while drawing each model trial's combination by
    Thompson sampling measures all 6 combinations and ends within 0.01 of the optimum 0.15."""

    def kernel_standard(history: list[Outcome]) -> int:
        pairs = collections.Counter((o.params["model"], o.params["scaler"]) for o in history)
        return pairs[("kernel", "standard")]

    default = run(GPUCBSuggester(seed), TRAP, trap, 21)
    thompson = run(GPUCBSuggester(seed, combo_choice="thompson"), TRAP, trap, 21)
    assert kernel_standard(default) == 0
    assert kernel_standard(thompson) >= 3
    assert len({(o.params["model"], o.params["scaler"]) for o in thompson}) == 6
    best = best_of(thompson).value
    assert best is not None and best > -0.16
    assert len({TRAP.canonical(o.params) for o in thompson}) == 21


def test_batch_split_changes_nothing_below_its_running_trials_and_is_split_bonus_above() -> None:
    """``batch_split=5``: with 2 running trials the suggestions are the default's bit for bit;
    with 9 running they are those of split=1 with the per-combination bonus."""
    rng = np.random.default_rng(8)
    history = run(GPUCBSuggester(8), TRAP, trap, 7)
    running = [s.params for s in GPUCBSuggester(9).suggest(TRAP, [], [], 9, rng)]

    def ask(s: GPUCBSuggester, pending: list[Params]) -> list[Params]:
        return [x.params for x in s.suggest(TRAP, history, pending, 1, np.random.default_rng(1))]

    batch = GPUCBSuggester(8, batch_split=5)
    split_bonus = GPUCBSuggester(8, split=True, category_bonus=2.0, bonus_per="combo")
    assert ask(batch, running[:2]) == ask(GPUCBSuggester(8), running[:2])
    assert ask(batch, running) == ask(split_bonus, running)
    assert ask(batch, running) != ask(GPUCBSuggester(8), running)


def test_the_round_11_settings_leave_a_space_without_categoricals_bit_for_bit_unchanged() -> None:
    space = space_of(float_param("x", 0.0, 1.0), int_param("k", 1, 9))

    def f(p: Params) -> float:
        return -((float(p["x"]) - 0.3) ** 2) - abs(int(p["k"]) - 4) / 9

    default = run(GPUCBSuggester(3), space, f, 9)
    for settings in ({"combo_choice": "thompson"}, {"batch_split": 1}):
        assert [o.params for o in run(GPUCBSuggester(3, **settings), space, f, 9)] == [
            o.params for o in default
        ]
        pending = [o.params for o in default[6:]]
        ask = GPUCBSuggester(3, **settings).suggest(
            space, default[:6], pending, 2, np.random.default_rng(0)
        )
        same = GPUCBSuggester(3).suggest(space, default[:6], pending, 2, np.random.default_rng(0))
        assert [s.params for s in ask] == [s.params for s in same]


def test_the_endgame_lowers_beta_only_for_the_last_share_of_the_budget() -> None:
    suggester = GPUCBSuggester(0, horizon=20, endgame=0.2, endgame_beta=0.1)
    # The last 4 of 20 trials (17-20, counted from 1) are chosen with a tenth of beta_t.
    assert [suggester.choice_beta(t, 3) / suggester.beta_t(t, 3) for t in (1, 16, 17, 20)] == (
        pytest.approx([1.0, 1.0, 0.1, 0.1])
    )
    without_budget = GPUCBSuggester(0, endgame=0.2, endgame_beta=0.1)
    assert without_budget.choice_beta(20, 3) == without_budget.beta_t(20, 3)
    # At least one trial is the endgame's, however small the share.
    tiny = GPUCBSuggester(0, horizon=4, endgame=0.01, endgame_beta=0.0)
    assert (tiny.choice_beta(3, 3) > 0, tiny.choice_beta(4, 3)) == (True, 0.0)


def test_the_last_trial_of_the_budget_exploits_where_an_earlier_one_explores() -> None:
    def f(p: Params) -> float:
        return -((float(p["x"]) - 1.0) ** 2)

    history = run(GPUCBSuggester(seed=7, initial_points=3), LINE, f, 4)
    rng = np.random.default_rng(0)
    early = GPUCBSuggester(7, initial_points=3, horizon=20, endgame=0.1, endgame_beta=0.0)
    last = GPUCBSuggester(7, initial_points=3, horizon=5, endgame=0.1, endgame_beta=0.0)
    (explore,) = early.suggest(LINE, history, [], 1, np.random.default_rng(0))
    (exploit,) = last.suggest(LINE, history, [], 1, rng)
    assert explore.prediction is not None and exploit.prediction is not None
    # Trial 5 of 5 is chosen by the posterior mean alone: its bound is its mean, and that mean
    # is at least as high as the one of the point an uncertain bound chose.
    assert exploit.prediction.ucb == pytest.approx(exploit.prediction.mean)
    assert exploit.prediction.mean >= explore.prediction.mean
    assert explore.prediction.ucb > explore.prediction.mean


def test_the_endgame_refines_next_to_a_running_trial_that_earlier_trials_keep_away_from() -> None:
    def f(p: Params) -> float:
        return -((float(p["x"]) - 1.0) ** 2)

    history = run(GPUCBSuggester(seed=7, initial_points=3), LINE, f, 6)
    running: list[Params] = [{"x": 1.0}]  # at the optimum, whose value is not in yet

    def gap(separation: float) -> float:
        suggester = GPUCBSuggester(
            7, horizon=8, endgame=0.25, endgame_beta=0.0, endgame_separation=separation
        )
        (s,) = suggester.suggest(LINE, history, running, 1, np.random.default_rng(0))
        return abs(float(s.params["x"]) - 1.0) / 5.0  # in features: LINE is 5 wide

    assert gap(1.0) >= 0.02  # model.SEPARATION keeps the point off the running one
    assert 0 < gap(0.0) < 0.02  # refining: next to it, never on it


def test_a_point_a_rounding_error_away_from_a_tried_one_counts_as_tried() -> None:
    # f rises to the bound x = 3, which was measured: the exact point is never asked again, and
    # without the gap the endgame's next best candidate is 3 minus a hair, the same trial again.
    history = [Outcome({"x": x}, x) for x in (-2.0, -0.5, 1.0, 2.0, 2.6, 3.0)]

    def gap_to_the_bound(tried_gap: float) -> float:
        suggester = GPUCBSuggester(7, horizon=8, tried_gap=tried_gap)
        (s,) = suggester.suggest(LINE, history, [], 1, np.random.default_rng(0))
        return (3.0 - float(s.params["x"])) / 5.0  # in features: LINE is 5 wide

    assert 0 < gap_to_the_bound(0.0) < 1e-4
    assert gap_to_the_bound(1e-4) >= 1e-4  # gp_ucb.TRIED_GAP, the default
    assert GPUCBSuggester(0).tried_gap == 1e-4
