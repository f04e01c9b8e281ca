"""Gaussian-process regression for GP-UCB: a MAP hyperparameter fit, then a posterior we can extend.

The model (Rasmussen & Williams 2006, "Gaussian Processes for Machine Learning", ch. 2 and 5):

    f ~ GP(0, c * Matern_5/2(x, x'; l_1..l_d)),   y = f(x) + e,   e ~ N(0, s2)

on features in the unit cube and standardised targets; with ``groups`` (``GroupedMatern``) the
columns of one categorical parameter's one-hot block share one length scale. ``c``, one length
scale ``l_j`` per dimension and the noise ``s2`` (a WhiteKernel) are set by maximising the log
marginal likelihood (R&W eq. 5.8) plus a log-normal prior on each length scale (a maximum a
posteriori fit, which keeps the estimate sane on the 5 to 20 points a search has), with L-BFGS-B
from scikit-learn's starting point (``restarts`` adds fixed others: a second start did not improve
the benchmark and doubled the time). ``likelihood.NegativeLogLikelihood`` computes the likelihood
and its gradient (the values of scikit-learn's ``GaussianProcessRegressor``, at a third of its
cost); ``map_objective`` adds the prior, and the starts are fixed, so a fit is deterministic.
scikit-learn's kernel classes still evaluate the fitted kernel for the posterior.

The posterior (R&W eq. 2.25-2.26, Algorithm 2.1) is then computed here from the fitted kernel, for
two reasons: the predictive variance must be that of the latent ``f`` (scikit-learn's includes the
WhiteKernel noise), and ``condition`` must add hallucinated observations for pending trials
without refitting hyperparameters. Shapes: ``x`` is (n, d), queries (m, d), results (m,).

This module knows nothing of spaces, parameters or acquisition; it must not do I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize
from sklearn.gaussian_process.kernels import (
    ConstantKernel,
    Hyperparameter,
    Kernel,
    Matern,
)
from threadpoolctl import ThreadpoolController

from hypersearch.core.suggest.encoding import Array
from hypersearch.core.suggest.input_warp import SHAPE_BOUNDS, SHAPE_PRIOR, InputWarp
from hypersearch.core.suggest.likelihood import NegativeLogLikelihood

LENGTH_SCALE_BOUNDS = (0.01, 10.0)
"""On the unit cube: from a hundredth of a range (sharper is noise) to 10 (a flat dimension)."""
LENGTH_SCALE_PRIOR = (math.log(0.5), 1.5)
"""Mean and standard deviation of log(length scale): centred on half the range, broad."""
AMPLITUDE_BOUNDS = (0.05, 20.0)
"""Signal variance ``c`` of standardised targets."""
NOISE_BOUNDS = (1e-6, 0.5)
"""Noise variance relative to standardised targets: near-deterministic up to very noisy."""
JITTER = 1e-8
FIT_CAP = 128
"""Most points the hyperparameters are fitted on; larger histories use a seeded subset (each
likelihood evaluation costs O(n^3)), while the posterior always uses every point (timings in
docs/algorithms.md)."""
MAX_ITER = 200
FTOL = 1e7 * float(np.finfo(float).eps)
"""L-BFGS-B's relative tolerance on the objective: scipy's default (2.2e-9); a looser one
measured worse (docs/algorithms.md)."""


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[object]:
    """Run the enclosed GP work on one BLAS thread.

    Our matrices are at most a few hundred rows, where threads buy nothing; on a busy machine
    (the operator's node, CI with 2 cores) OpenBLAS threads spinning against each other made a
    fit about 20 times slower in our measurement. threadpoolctl ships with scikit-learn.
    """
    limiter: AbstractContextManager[object] = _blas().limit(limits=1, user_api="blas")
    return limiter


class GroupedMatern(Matern):  # type: ignore[misc]
    """Matern with one length scale per *group* of feature columns.

    ``groups[j]`` is the group of column ``j``. A categorical parameter's one-hot block is one
    group, so its columns share a length scale ``l``: two different categories are then
    ``sqrt(2) / l`` apart whichever they are, and equal ones 0, which makes the categorical part of
    the distance a Hamming (overlap) distance, as in Optuna's GPSampler (Matern 5/2 over scaled
    numeric distances plus a Hamming distance per categorical) and the overlap kernel of Ru et al.
    2020 (CoCaBO, "Bayesian optimisation over multiple continuous and categorical inputs"). With a
    length scale per one-hot *column* instead, a category never tried keeps the prior's length
    scale while the tried ones learn theirs, so the model treats the untried one as unrelated to
    everything measured; tied, it is as related as any other category of that parameter.
    Every other column is a group of its own (the plain anisotropic Matern).
    """

    def __init__(
        self,
        length_scale: float | Array = 1.0,
        length_scale_bounds: tuple[float, float] = LENGTH_SCALE_BOUNDS,
        nu: float = 2.5,
        groups: tuple[int, ...] = (0,),
    ) -> None:
        super().__init__(length_scale, length_scale_bounds, nu)
        self.groups = groups

    @property
    def hyperparameter_length_scale(self) -> Hyperparameter:
        size = len(np.atleast_1d(self.length_scale))
        return Hyperparameter("length_scale", "numeric", self.length_scale_bounds, size)

    def _columns(self) -> Matern:
        scales = np.atleast_1d(np.asarray(self.length_scale, dtype=float))[list(self.groups)]
        return Matern(scales, self.length_scale_bounds, self.nu)

    def __call__(
        self,
        X: Array,  # noqa: N803 (scikit-learn's Kernel signature)
        Y: Array | None = None,  # noqa: N803
        eval_gradient: bool = False,
    ) -> Array | tuple[Array, Array]:
        full = self._columns()
        if not eval_gradient:
            gram_only: Array = full(X, Y)
            return gram_only
        gram, grad = full(X, Y, eval_gradient=True)  # grad: d/d log l per column, (n, n, d)
        member = np.zeros((len(self.groups), max(self.groups) + 1))
        member[np.arange(len(self.groups)), list(self.groups)] = 1.0
        return gram, grad @ member  # a group's log length scale moves all its columns' at once

    def diag(self, X: Array) -> Array:  # noqa: N803
        return np.ones(len(X))


class LiftedKernel(Kernel):  # type: ignore[misc]
    """A kernel evaluated on ``lift(x)`` instead of ``x``: the posterior keeps the features the
    acquisition works in, while the covariance sees extra derived columns (``lift`` must be a
    fixed, deterministic map; the GP-UCB use is ``categories.CategorySplit``)."""

    def __init__(self, inner: Kernel, lift: Callable[[Array], Array]) -> None:
        self.inner = inner
        self.lift = lift

    @property
    def k2(self) -> Kernel:
        """The Matern part, as on the plain ``ConstantKernel * Matern`` (for length_scales)."""
        return self.inner.k2

    def __call__(
        self,
        X: Array,  # noqa: N803 (scikit-learn's Kernel signature)
        Y: Array | None = None,  # noqa: N803
        eval_gradient: bool = False,
    ) -> Array:
        gram: Array = self.inner(self.lift(X), None if Y is None else self.lift(Y))
        return gram

    def diag(self, X: Array) -> Array:  # noqa: N803
        out: Array = self.inner.diag(self.lift(X))
        return out

    def is_stationary(self) -> bool:
        return False


@dataclass(frozen=True)
class Posterior:
    """A GP conditioned on points ``x`` with values ``y`` under a fixed kernel.

    ``kernel`` is the latent covariance (amplitude * Matern), ``noise`` the fitted noise variance,
    ``chol`` the lower Cholesky factor of K(x, x) + (noise + jitter) I and ``alpha`` the solution
    of (K + noise I) alpha = y (R&W Algorithm 2.1).
    """

    kernel: Kernel
    noise: float
    x: Array
    y: Array
    chol: Array
    alpha: Array

    @property
    def length_scales(self) -> Array:
        """Fitted length scales: one per feature column, or per group (``GroupedMatern``)."""
        return np.atleast_1d(np.asarray(self.kernel.k2.length_scale, dtype=float))


def _posterior(kernel: Kernel, noise: float, x: Array, y: Array) -> Posterior:
    gram = kernel(x)
    gram[np.diag_indices_from(gram)] += noise + JITTER
    for extra in (0.0, 1e-6, 1e-4):
        try:
            chol = cholesky(gram + extra * np.eye(len(x)), lower=True)
            break
        except np.linalg.LinAlgError:
            continue
    else:  # pragma: no cover - the noise floor keeps the matrix positive definite
        raise np.linalg.LinAlgError("GP covariance is not positive definite")
    alpha = cho_solve((chol, True), y)
    return Posterior(kernel, noise, x, y, chol, alpha)


def map_objective(
    obj_func: Callable[..., tuple[float, Array]], warped: int = 0
) -> Callable[[Array], tuple[float, Array]]:
    """The negative log posterior of ``theta`` and its gradient, for L-BFGS-B.

    ``obj_func(theta, eval_gradient=True)`` is scikit-learn's negative log marginal likelihood
    with its gradient; ``theta`` is [log c, log l_1..l_d, log s2], then ``log a, log b`` of each
    of ``warped`` input-warped columns. The log-normal prior on each length scale adds
    ``z @ z / 2`` with ``z = (log l - mu) / sd``, whose gradient is ``z / sd`` (a hand-written
    gradient: ``tests/unit/test_gp.py`` checks it against finite differences); the warp shapes
    get theirs (``input_warp.SHAPE_PRIOR``) the same way.
    """
    mu, sd = LENGTH_SCALE_PRIOR
    w_mu, w_sd = SHAPE_PRIOR

    def penalised(theta: Array) -> tuple[float, Array]:
        end = len(theta) - 2 * warped
        ls = slice(1, end - 1)
        value, grad = obj_func(theta, eval_gradient=True)
        grad = np.array(grad, dtype=float)
        z = (theta[ls] - mu) / sd
        grad[ls] += z / sd
        shapes = (theta[end:] - w_mu) / w_sd
        grad[end:] += shapes / w_sd
        return float(value) + 0.5 * float(z @ z) + 0.5 * float(shapes @ shapes), grad

    return penalised


def _map_optimizer(
    restarts: int, ftol: float, warped: int = 0
) -> Callable[[Callable[..., tuple[float, Array]], Array, Array], tuple[Array, float]]:
    """The MAP fit: L-BFGS-B on the negative log likelihood plus a length-scale prior.

    ``theta`` is the log-hyperparameter vector in scikit-learn's order [log c, log l_1..l_d,
    log s2] (then the ``warped`` columns' shapes); the log-normal prior on each l_j adds
    ``(log l_j - mu)^2 / (2 sd^2)`` to the negative log likelihood. Starts: scikit-learn's
    initial theta, then shorter and longer length scales.
    """

    def optimize(
        obj_func: Callable[..., tuple[float, Array]], initial_theta: Array, bounds: Array
    ) -> tuple[Array, float]:
        ls = slice(1, len(initial_theta) - 1 - 2 * warped)
        penalised = map_objective(obj_func, warped)

        starts = [np.array(initial_theta, dtype=float)]
        for scale in (0.15, 2.0)[: max(restarts - 1, 0)]:
            start = starts[0].copy()
            start[ls] = math.log(scale)
            starts.append(start)
        best: tuple[Array, float] | None = None
        for start in starts:
            result = minimize(
                penalised,
                np.clip(start, bounds[:, 0], bounds[:, 1]),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": MAX_ITER, "ftol": ftol},
            )
            if np.isfinite(result.fun) and (best is None or result.fun < best[1]):
                best = (np.asarray(result.x, dtype=float), float(result.fun))
        assert best is not None
        return best

    return optimize


def fit(
    x: Array,
    y: Array,
    rng: np.random.Generator,
    restarts: int = 1,
    ftol: float = FTOL,
    *,
    groups: tuple[int, ...] | None = None,
    lift: Callable[[Array], Array] | None = None,
    warped: tuple[int, ...] = (),
) -> Posterior:
    """Fit kernel hyperparameters to (x, y) by MAP and return the posterior on all points.

    ``y`` should be standardised (mean 0, variance 1). ``rng`` only picks the subset when there
    are more than FIT_CAP points. ``groups`` ties length scales (``GroupedMatern``); None gives
    every column its own. ``lift`` (``LiftedKernel``): the kernel sees ``lift(x)``, whose columns
    ``groups`` then describes. ``warped``: columns (each its own group) bent by a Kumaraswamy CDF
    fitted with the rest (``input_warp``; not with ``lift``); the posterior's kernel then sees the
    warped columns.
    """
    if lift is not None and warped:
        raise ValueError("input warping and a lifted kernel do not combine")
    n = len(x)
    d = (lift(x[:1]) if lift is not None else x).shape[1]
    n_groups = d if groups is None else max(groups) + 1
    rows = np.sort(rng.choice(n, FIT_CAP, replace=False)) if n > FIT_CAP else np.arange(n)
    # scikit-learn's starting point and bounds for ConstantKernel(1) * Matern(0.5) + White(1e-2)
    shapes = 2 * len(warped)
    theta0 = np.log(np.array([1.0, *([0.5] * n_groups), 1e-2, *([1.0] * shapes)]))
    bounds = np.log(
        np.array(
            [
                AMPLITUDE_BOUNDS,
                *([LENGTH_SCALE_BOUNDS] * n_groups),
                NOISE_BOUNDS,
                *([SHAPE_BOUNDS] * shapes),
            ]
        )
    )
    fit_x = x[rows] if lift is None else lift(x[rows])
    objective = NegativeLogLikelihood(fit_x, y[rows], groups, JITTER, warped)
    theta, _ = _map_optimizer(restarts, ftol, len(warped))(objective, theta0, bounds)
    noise_at = len(theta) - 1 - shapes
    scales = np.exp(theta[1:noise_at])
    if groups is None or len(set(groups)) == d:
        matern: Matern = Matern(scales, LENGTH_SCALE_BOUNDS, nu=2.5)
    else:
        matern = GroupedMatern(scales, LENGTH_SCALE_BOUNDS, 2.5, groups)
    kernel: Kernel = ConstantKernel(math.exp(theta[0]), AMPLITUDE_BOUNDS) * matern
    if lift is not None:
        kernel = LiftedKernel(kernel, lift)
    if warped:
        tail = theta[noise_at + 1 :]
        bend = InputWarp(warped, tuple(map(float, tail[0::2])), tuple(map(float, tail[1::2])))
        kernel = LiftedKernel(kernel, bend)
    return _posterior(kernel, math.exp(theta[noise_at]), x, y)


def condition(post: Posterior, x_new: Array, y_new: Array) -> Posterior:
    """The posterior with (x_new, y_new) added as observations, hyperparameters unchanged.

    The Cholesky factor is extended by the new rows (a block update, O(n^2 p) for p new points)
    instead of refactorised (O((n + p)^3)): GP-BUCB adds every pending trial and every point of
    a batch this way, and with hundreds of running trials refactorising per point dominated."""
    if len(x_new) == 0:
        return post
    x = np.vstack([post.x, x_new])
    y = np.concatenate([post.y, y_new])
    corner = post.kernel(x_new)
    corner[np.diag_indices_from(corner)] += post.noise + JITTER
    below = solve_triangular(post.chol, post.kernel(post.x, x_new), lower=True).T  # (p, n)
    try:
        tail = cholesky(corner - below @ below.T, lower=True)
    except np.linalg.LinAlgError:  # pragma: no cover - near-duplicate points: refactorise
        return _posterior(post.kernel, post.noise, x, y)
    n, p = len(post.x), len(x_new)
    chol = np.zeros((n + p, n + p))
    chol[:n, :n] = post.chol
    chol[n:, :n] = below
    chol[n:, n:] = tail
    return Posterior(post.kernel, post.noise, x, y, chol, cho_solve((chol, True), y))


def mean(post: Posterior, xq: Array) -> Array:
    """Posterior mean of f at ``xq`` alone (O(n m), where ``predict``'s variance is O(n^2 m))."""
    result: Array = post.kernel(xq, post.x) @ post.alpha
    return result


def predict(post: Posterior, xq: Array) -> tuple[Array, Array]:
    """Posterior mean and standard deviation of the latent f at ``xq`` (R&W eq. 2.25-2.26)."""
    cross = post.kernel(xq, post.x)  # (m, n)
    mu = cross @ post.alpha
    v = solve_triangular(post.chol, cross.T, lower=True)  # (n, m)
    var = post.kernel.diag(xq) - np.einsum("ij,ij->j", v, v)
    return mu, np.sqrt(np.maximum(var, 1e-12))


def covariance(post: Posterior, xq: Array) -> Array:
    """Posterior covariance of the latent f between the rows of ``xq`` (R&W eq. 2.24): what a
    joint sample (Thompson sampling) needs, where ``predict`` gives only the diagonal."""
    v = solve_triangular(post.chol, post.kernel(post.x, xq), lower=True)  # (n, m)
    cov: Array = post.kernel(xq) - v.T @ v
    return cov
