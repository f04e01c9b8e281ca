"""The GP's negative log marginal likelihood and its gradient, in plain numpy.

The kernel is the one ``gp.fit`` fits: ``c * Matern_5/2(x, x'; l per group) + s2 * I`` (plus a
fixed jitter), with ``theta = [log c, log l_1..l_G, log s2]`` as scikit-learn orders a
``ConstantKernel * Matern + WhiteKernel``. The value and gradient are those of scikit-learn's
``GaussianProcessRegressor.log_marginal_likelihood`` (R&W 2006, eq. 5.8-5.9; a unit test checks
them against it), computed here because scikit-learn's kernel objects made each evaluation cost
about 4 ms at 100 points, mostly Python bookkeeping and an (n, n, d) gradient tensor rebuilt on
every call, and the hyperparameter fit takes 40-60 evaluations: 70-85% of a suggestion
(profile in docs/algorithms.md, "Speed"). The squared distances per group do not depend on
``theta``, so they are computed once per fit; an evaluation is then a few (n, n) array
operations, one Cholesky factorisation and one inverse.

Pure numpy/scipy; no I/O.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky
from scipy.linalg.lapack import dpotri

from hypersearch.core.suggest.encoding import Array

SQRT5 = math.sqrt(5.0)


class NegativeLogLikelihood:
    """``f(theta) -> (-log p(y | x, theta), its gradient)`` for fixed (x, y).

    ``groups[j]`` is the length-scale group of column ``j`` (columns of one categorical's one-hot
    block share one; see ``gp.GroupedMatern``); None gives every column its own.
    """

    def __init__(self, x: Array, y: Array, groups: tuple[int, ...] | None, jitter: float) -> None:
        n, d = x.shape
        groups = tuple(range(d)) if groups is None else groups
        member = np.zeros((d, max(groups) + 1))
        member[np.arange(d), list(groups)] = 1.0
        diff = x[:, None, :] - x[None, :, :]
        self.sq = np.ascontiguousarray(((diff * diff) @ member).reshape(n * n, -1))
        """(n * n, G): the squared distance of each pair of rows, per group."""
        self.n = n
        self.y = np.asarray(y, dtype=float)
        self.jitter = jitter
        self.const = 0.5 * n * math.log(2.0 * math.pi)

    def __call__(self, theta: Array, eval_gradient: bool = True) -> tuple[float, Array]:
        c = math.exp(theta[0])
        inv_l2 = np.exp(-2.0 * theta[1:-1])
        s2 = math.exp(theta[-1])
        n = self.n
        r = np.sqrt(5.0 * (self.sq @ inv_l2)).reshape(n, n)  # sqrt(5) * scaled distance
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
        grad[1:-1] = (5.0 / 3.0) * c * inv_l2 * (weight.reshape(-1) @ self.sq)
        grad[-1] = float(np.trace(w)) * s2
        return value, -0.5 * grad
