"""Input warping for the GP: each numeric feature column through a Kumaraswamy CDF.

Why: the Matern kernel is stationary, so it assumes the objective changes as fast near 0 as near
1 of every column. A learning rate or a regularisation strength often matters only over part of
its range even on the right scale; bending the column so that part gets more room lets one length
scale fit it (Snoek, Swersky, Zemel & Adams 2014, "Input warping for Bayesian optimization of
non-stationary functions", with a Beta CDF; HEBO, Cowen-Rivers et al. 2022, with the Kumaraswamy
CDF ``1 - (1 - x^a)^b``, which has a closed form and closed-form derivatives). ``a`` and ``b`` are
fitted with the kernel's other hyperparameters (``likelihood.NegativeLogLikelihood``) under a
log-normal prior centred on the identity (a = b = 1), so a few points keep the column straight.

Pure numpy; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hypersearch.core.suggest.encoding import Array

EDGE = 1e-6
"""Columns are clipped to [EDGE, 1 - EDGE] first: at 0 and 1 the derivatives in log a and
log b have a 0 * log 0 that is 0 in the limit but NaN in floating point."""
SHAPE_BOUNDS = (0.25, 4.0)
"""Bounds on ``a`` and ``b``: from the identity, up to a fourth power's bend either way."""
SHAPE_PRIOR = (0.0, 0.3)
"""Mean and standard deviation of log a and log b: the identity, with a bend of about 1.35 at one
standard deviation (a standard deviation of 0.75 was measured worse: docs/algorithms.md, round
13)."""


def kumaraswamy(x: Array, log_a: float, log_b: float) -> tuple[Array, Array, Array]:
    """The warped column and its derivatives in log a and log b."""
    a, b = math.exp(log_a), math.exp(log_b)
    x = np.clip(x, EDGE, 1.0 - EDGE)
    xa = x**a
    rest = 1.0 - xa  # in (0, 1)
    rest_b = rest**b
    warped = 1.0 - rest_b
    d_log_a = a * b * (rest_b / rest) * xa * np.log(x)
    d_log_b = -b * rest_b * np.log(rest)
    return warped, d_log_a, d_log_b


@dataclass(frozen=True)
class InputWarp:
    """The fitted warp, as ``gp.LiftedKernel``'s lift: ``columns`` bent by shapes ``a``, ``b``."""

    columns: tuple[int, ...]
    log_a: tuple[float, ...]
    log_b: tuple[float, ...]

    def __call__(self, x: Array) -> Array:
        out = np.array(x, dtype=float, copy=True)
        for j, la, lb in zip(self.columns, self.log_a, self.log_b, strict=True):
            out[:, j] = kumaraswamy(out[:, j], la, lb)[0]
        return out
