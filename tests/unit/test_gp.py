"""The GP's hand-written gradient agrees with the numerical one (as scikit-learn checks its own)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from hypersearch.core.suggest.gp import GroupedMatern, map_objective
from hypersearch.core.suggest.likelihood import NegativeLogLikelihood


def _likelihood(
    x: np.ndarray, y: np.ndarray
) -> tuple[Callable[[np.ndarray, bool], tuple[float, np.ndarray]], np.ndarray]:
    """scikit-learn's negative log marginal likelihood and its gradient, as its optimizer sees."""
    kernel = ConstantKernel(1.0) * Matern(length_scale=np.full(x.shape[1], 0.5), nu=2.5)
    gpr = GaussianProcessRegressor(kernel + WhiteKernel(1e-2), alpha=1e-8, optimizer=None)
    gpr.fit(x, y)

    def obj_func(theta: np.ndarray, eval_gradient: bool = True) -> tuple[float, np.ndarray]:
        lml, grad = gpr.log_marginal_likelihood(theta, eval_gradient=True, clone_kernel=False)
        return -lml, -grad

    return obj_func, gpr.kernel_.theta


@pytest.mark.parametrize("dims", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_map_objectives_gradient_equals_its_finite_difference(dims: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(12, dims))
    y = np.sin(6 * x).sum(axis=1) + 0.1 * rng.normal(size=12)
    y = (y - y.mean()) / y.std()
    obj_func, theta0 = _likelihood(x, y)
    objective = map_objective(obj_func)
    for theta in (theta0, theta0 + rng.normal(scale=0.5, size=theta0.shape)):
        _, analytic = objective(theta)
        numeric = approx_fprime(theta, lambda t: objective(t)[0], 1e-6)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-4)


def test_the_prior_moves_the_objective_by_half_the_squared_z_of_each_length_scale() -> None:
    def flat(theta: np.ndarray, eval_gradient: bool = True) -> tuple[float, np.ndarray]:
        return 0.0, np.zeros_like(theta)

    theta = np.array([0.0, np.log(0.5) + 1.5, np.log(0.5), -3.0])
    value, grad = map_objective(flat)(theta)
    assert value == pytest.approx(0.5)
    np.testing.assert_allclose(grad, [0.0, 1 / 1.5, 0.0, 0.0])


@pytest.mark.parametrize("groups", [None, (0, 1, 1, 1, 2)])
def test_our_likelihood_and_gradient_equal_scikit_learns(groups: tuple[int, ...] | None) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(15, 5))
    y = np.cos(4 * x).sum(axis=1)
    y = (y - y.mean()) / y.std()
    n_scales = 5 if groups is None else 3
    matern = (
        Matern(np.full(5, 0.5), nu=2.5)
        if groups is None
        else GroupedMatern(np.full(3, 0.5), nu=2.5, groups=groups)
    )
    gpr = GaussianProcessRegressor(
        ConstantKernel(1.0) * matern + WhiteKernel(1e-2), alpha=1e-8, optimizer=None
    ).fit(x, y)
    ours = NegativeLogLikelihood(x, y, groups, 1e-8)
    for _ in range(3):
        theta = np.log([1.0, *([0.5] * n_scales), 1e-2]) + rng.normal(scale=0.7, size=n_scales + 2)
        lml, grad = gpr.log_marginal_likelihood(theta, eval_gradient=True)
        value, our_grad = ours(theta)
        assert value == pytest.approx(-lml, rel=1e-10)
        np.testing.assert_allclose(our_grad, -grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_warped_likelihoods_gradient_equals_its_finite_difference(seed: int) -> None:
    """Shapes of three warped columns (two at a bound, where the clip matters) and the rest."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(15, 5))
    x[:3, 0], x[3, 1] = 1.0, 0.0
    y = np.cos(4 * x).sum(axis=1)
    y = (y - y.mean()) / y.std()
    nll = NegativeLogLikelihood(x, y, (0, 1, 2, 2, 3), 1e-8, warped=(0, 1, 4))
    objective = map_objective(nll, warped=3)
    base = np.concatenate([np.log([1.0, 0.5, 0.5, 0.5, 0.5, 1e-2]), np.zeros(6)])
    for _ in range(3):
        theta = base + rng.normal(scale=0.5, size=base.shape)
        _, analytic = objective(theta)
        numeric = approx_fprime(theta, lambda t: objective(t)[0], 1e-6)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-4)


def test_an_identity_warp_leaves_the_likelihood_as_it_was() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(12, 3))
    y = np.sin(5 * x).sum(axis=1)
    theta = np.log([1.0, 0.4, 0.6, 0.8, 1e-2])
    plain, _ = NegativeLogLikelihood(x, y, None, 1e-8)(theta)
    warped, grad = NegativeLogLikelihood(x, y, None, 1e-8, warped=(0, 2))(
        np.concatenate([theta, np.zeros(4)])
    )
    assert warped == pytest.approx(plain, rel=1e-6)
    assert grad.shape == (9,)
