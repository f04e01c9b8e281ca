"""The GP's negative log marginal likelihood and its gradient, in plain numpy.

The kernel is the one ``gp.fit`` fits: ``c * Matern_5/2(x, x'; l per group) + s2 * I`` (plus a
fixed jitter), with ``theta = [log c, log l_1..l_G, log s2]`` as scikit-learn orders a
``ConstantKernel * Matern + WhiteKernel``. The value and gradient are those of scikit-learn's
``GaussianProcessRegressor.log_marginal_likelihood`` (R&W 2006, eq. 5.8-5.9; a unit test checks
them against it), optionally with ``warped`` columns bent by a Kumaraswamy CDF whose shapes are
two more hyperparameters per column (``input_warp``), computed here because scikit-learn's kernel
objects made each evaluation cost about 4 ms at 100 points, mostly Python bookkeeping and an
(n, n, d) gradient tensor rebuilt on every call, and the hyperparameter fit takes 40-60
evaluations: 70-85% of a suggestion (profile in docs/algorithms.md, "Speed"). The squared
distances per group (but warped ones) do not depend on ``theta``, so they are computed once per
fit; an evaluation is then a few (n, n) array operations, one Cholesky factorisation and one
inverse.

Pure numpy/scipy; no I/O.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky
from scipy.linalg.lapack import dpotri

from hypersearch.core.suggest.encoding import Array
from hypersearch.core.suggest.input_warp import kumaraswamy

SQRT5 = math.sqrt(5.0)


class NegativeLogLikelihood:
    """``f(theta) -> (-log p(y | x, theta), its gradient)`` for fixed (x, y).

    ``groups[j]`` is the length-scale group of column ``j`` (columns of one categorical's one-hot
    block share one; see ``gp.GroupedMatern``); None gives every column its own.

    ``warped``: columns (each a group of its own) seen through a Kumaraswamy CDF; ``theta`` then
    ends with ``log a, log b`` for each, after ``log s2``. Their distances depend on ``theta``, so
    they are recomputed per evaluation; the others once.
    """

    def __init__(
        self,
        x: Array,
        y: Array,
        groups: tuple[int, ...] | None,
        jitter: float,
        warped: tuple[int, ...] = (),
    ) -> None:
        n, d = x.shape
        groups = tuple(range(d)) if groups is None else groups
        member = np.zeros((d, max(groups) + 1))
        member[np.arange(d), list(groups)] = 1.0
        self.warped = warped
        self.raw = np.ascontiguousarray(x[:, list(warped)])
        """(n, W): the warped columns before warping."""
        self.warp_groups = [groups[j] for j in warped]
        member[list(warped), :] = 0.0  # their distances are added per evaluation
        diff = x[:, None, :] - x[None, :, :]
        self.sq = np.ascontiguousarray(((diff * diff) @ member).reshape(n * n, -1))
        """(n * n, G): the squared distance of each pair of rows, per group."""
        self.n = n
        self.y = np.asarray(y, dtype=float)
        self.jitter = jitter
        self.const = 0.5 * n * math.log(2.0 * math.pi)

    def __call__(self, theta: Array, eval_gradient: bool = True) -> tuple[float, Array]:
        n, w_count = self.n, len(self.warped)
        c = math.exp(theta[0])
        noise_at = len(theta) - 1 - 2 * w_count
        inv_l2 = np.exp(-2.0 * theta[1:noise_at])
        s2 = math.exp(theta[noise_at])
        sq = self.sq
        bent: list[tuple[Array, Array, Array]] = []
        if w_count:
            sq = sq.copy()
            for k, g in enumerate(self.warp_groups):
                shape = theta[noise_at + 1 + 2 * k : noise_at + 3 + 2 * k]
                column = kumaraswamy(self.raw[:, k], float(shape[0]), float(shape[1]))
                bent.append(column)
                gap = column[0][:, None] - column[0][None, :]
                sq[:, g] = (gap * gap).reshape(-1)
        r = np.sqrt(5.0 * (sq @ inv_l2)).reshape(n, n)  # sqrt(5) * scaled distance
        decay = np.exp(-r)
        matern = (1.0 + r + r * r / 3.0) * decay
        gram = c * matern
        gram[np.diag_indices_from(gram)] += s2 + self.jitter
        try:
            chol = cholesky(gram, lower=True, check_finite=False)
        except LinAlgError:
            return math.inf, np.zeros_like(theta)
        alpha = cho_solve((chol, True), self.y, check_finite=False)
        value = 0.5 * float(self.y @ alpha) + float(np.log(np.diag(chol)).sum()) + self.const
        inverse, info = dpotri(chol, lower=True)  # lower triangle of K^-1 from its factor
        if info:
            return math.inf, np.zeros_like(theta)
        inverse = np.tril(inverse) + np.tril(inverse, -1).T
        w = np.outer(alpha, alpha) - inverse  # d(log p)/dK = w / 2
        grad = np.empty_like(theta)
        grad[0] = float(np.sum(w * matern)) * c
        # d matern / d log l_g = 5/3 * (sq_g / l_g^2) * (1 + r) * exp(-r)   (R&W eq. 4.17)
        weight = w * (1.0 + r) * decay
        grad[1:noise_at] = (5.0 / 3.0) * c * inv_l2 * (weight.reshape(-1) @ sq)
        grad[noise_at] = float(np.trace(w)) * s2
        # A warped column's shape phi moves sq_g(i, k) by 2 (w_i - w_k)(w_i' - w_k'), and
        # d matern / d sq_g = -5/6 (1 + r) exp(-r) / l_g^2; summed over the symmetric pairs:
        # sum_ik weight_ik (w_i - w_k)(w_i' - w_k') = 2 sum_i w_i' (w_i rowsum_i - (weight w)_i).
        if bent:
            rows = weight.sum(axis=1)
            for k, (g, (col, d_a, d_b)) in enumerate(zip(self.warp_groups, bent, strict=True)):
                pull = col * rows - weight @ col
                factor = -(10.0 / 3.0) * c * inv_l2[g]
                grad[noise_at + 1 + 2 * k] = factor * float(d_a @ pull)
                grad[noise_at + 2 + 2 * k] = factor * float(d_b @ pull)
        return value, -0.5 * grad
