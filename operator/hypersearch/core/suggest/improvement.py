"""Improvement-based acquisitions and the Pareto choice among several, for GP-UCB's comparisons.

HEBO (Cowen-Rivers et al. 2022, "HEBO: pushing the limits of sample-efficient hyperparameter
optimisation") does not trust one acquisition: it keeps the candidates on the Pareto front of
UCB, expected improvement (EI) and probability of improvement (PI) (its MACE ensemble) and takes
one of them at random. EI and PI are here in log form (Ament et al. 2023, "Unexpected
improvements to expected improvement"): far below the incumbent plain EI underflows to 0 and
every candidate ties. Inputs are the posterior mean and standard deviation of the values (to
maximise) and the incumbent; the model supplies them. Pure numpy/scipy; no I/O.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr, ndtr

from hypersearch.core.suggest.encoding import Array

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_TAIL = -20.0
"""Below this standardised improvement EI uses its asymptotic form phi(u) / u^2 (1 - 3 / u^2
+ 15 / u^4), within 1e-5 there; above it ``u Phi(u) + phi(u)`` loses only log10(u^2) digits to
cancellation."""


def log_expected_improvement(mean: Array, std: Array, best: float) -> Array:
    """log E[max(f - best, 0)] for f ~ N(mean, std^2)."""
    u = (mean - best) / std
    safe = np.maximum(u, _TAIL)
    body = safe * ndtr(safe) + np.exp(-0.5 * safe * safe - _LOG_SQRT_2PI)
    tail_u = np.minimum(u, _TAIL)
    inv = 1.0 / (tail_u * tail_u)
    series = inv * (1.0 - 3.0 * inv + 15.0 * inv * inv)
    tail = -0.5 * tail_u * tail_u - _LOG_SQRT_2PI + np.log(series)
    out: Array = np.where(u > _TAIL, np.log(np.maximum(body, 1e-300)), tail) + np.log(std)
    return out


def log_probability_of_improvement(mean: Array, std: Array, best: float) -> Array:
    """log P(f > best) for f ~ N(mean, std^2)."""
    out: Array = log_ndtr((mean - best) / std)
    return out


def pareto_front(scores: Array) -> Array:
    """Indices of the rows of ``scores`` (candidates x objectives, all maximised) that no other
    row dominates (at least as good in every column, better in one)."""
    keep: list[int] = []
    for i, row in enumerate(scores):
        dominated = np.all(scores >= row, axis=1) & np.any(scores > row, axis=1)
        if not np.any(dominated):
            keep.append(i)
    return np.array(keep, dtype=int)
