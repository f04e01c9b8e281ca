"""Saturating learning curves fitted to a few (step, score) points: what ``extrapolate`` asks of
a curve that a rule would stop (could it still reach the best completed value at the end?).

Pure arithmetic on a fixed grid of time constants, so every shell computes the same value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MIN_FIT_POINTS = 3
"""Fewest points a saturating curve (three parameters) is fitted to."""

FIT_RATES = 32
"""How many time constants the fit tries, geometrically spaced."""


def fits(points: Sequence[tuple[float, float]], horizon: float) -> list[tuple[float, float]]:
    """(squared error, value at ``horizon``) of the least-squares saturating curve
    ``a - b * exp(-step / tau)`` (b >= 0: it only rises) for each ``tau`` of a fixed grid from
    0.5 step to horizon / 3: a training script's length is chosen so that its curve is close to
    its plateau by the end (within 5% of its rise at tau = horizon / 3), which keeps a nearly
    straight early curve from extrapolating to any height."""
    steps = [p[0] for p in points]
    ys = [p[1] for p in points]
    n = len(points)
    mean_y = sum(ys) / n
    low, high = 0.5, max(horizon / 3, 0.5)
    out: list[tuple[float, float]] = []
    for i in range(FIT_RATES):
        tau = low * (high / low) ** (i / (FIT_RATES - 1))
        g = [math.exp(-t / tau) for t in steps]
        mean_g = sum(g) / n
        var_g = sum((x - mean_g) ** 2 for x in g)
        cov = sum((x - mean_g) * (y - mean_y) for x, y in zip(g, ys, strict=True))
        b = max(0.0, -cov / var_g) if var_g > 1e-300 else 0.0
        a = mean_y + b * mean_g
        sse = sum((a - b * x - y) ** 2 for x, y in zip(g, ys, strict=True))
        out.append((sse, a - b * math.exp(-horizon / tau)))
    return out


def extrapolated(
    points: Sequence[tuple[float, float]], horizon: float, slack: float = 0.0
) -> float | None:
    """The value at ``horizon`` of the saturating curve that fits ``points`` best (``fits``),
    or with ``slack`` > 0 the highest value of the curves whose squared error is within
    ``slack`` of the best (an optimistic bound); None with fewer than three points. Pure
    arithmetic on a fixed grid, so every shell computes the same value."""
    if len(points) < MIN_FIT_POINTS or horizon <= 0:
        return None
    found = fits(points, horizon)
    least = min(sse for sse, _ in found)
    if slack <= 0:
        return next(value for sse, value in found if sse == least)
    return max(value for sse, value in found if sse <= least + slack)


def noise(points: Sequence[tuple[float, float]], horizon: float) -> float | None:
    """The residual variance of the best fit to a curve (None below four points)."""
    if len(points) <= MIN_FIT_POINTS:
        return None
    return min(sse for sse, _ in fits(points, horizon)) / (len(points) - MIN_FIT_POINTS)
