"""The bounded metric curve stored per trial in HyperSearch status.

Pure and stdlib only (the sidecar imports it). Why bounded: status holds one entry per trial, and
the whole object must stay well under etcd's object limit with 1,000 trials of 100 epochs each
(see docs/operator.md, "Status size"), so each curve keeps at most ``CURVE_LIMIT`` points, evenly
spread and always keeping the first and the last, with values rounded to ``DIGITS`` significant
digits. The final aggregated value is stored separately at full precision. Must not do I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, TypeAlias

CURVE_LIMIT: Final = 24
DIGITS: Final = 4

Point: TypeAlias = tuple[int, float]

KEEP_STEPS_LIMIT: Final = 38
"""How many early-stopping steps a curve keeps beside its spread points (two points each, so a
stored curve stays within the CRD's 100 points)."""


def spread_indices(count: int, limit: int = CURVE_LIMIT) -> list[int]:
    """Indices of ``limit`` evenly spread items out of ``count``, first and last included.

    Index k of the kept points is round(k * (count - 1) / (limit - 1)), which is strictly
    increasing when count > limit, so no point is kept twice.
    """
    if limit < 2:
        raise ValueError(f"limit must be at least 2, got {limit}")
    if count <= limit:
        return list(range(count))
    return [round(k * (count - 1) / (limit - 1)) for k in range(limit)]


def round_value(value: float, digits: int = DIGITS) -> float:
    """``value`` to ``digits`` significant digits (non-finite values unchanged)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


def downsample(points: Sequence[Point], limit: int = CURVE_LIMIT) -> list[list[float]]:
    """The stored form of a curve: ``[[step, value], ...]``, bounded and rounded."""
    return [[points[i][0], round_value(points[i][1])] for i in spread_indices(len(points), limit)]


def stored_value(value: float) -> float | None:
    """A value as status stores it: rounded; NaN and infinities as null (JSON has no NaN, and a
    diverged trial's report must still reach the early-stopping rule)."""
    return round_value(value) if math.isfinite(value) else None


def rule_indices(points: Sequence[Point], keep_steps: Sequence[float]) -> set[int]:
    """Indices of the points an early-stopping rule reads at each of ``keep_steps``: the last
    point at or before the step (the score there) and the first at or after it (ASHA's rung)."""
    out: set[int] = set()
    for step in keep_steps[:KEEP_STEPS_LIMIT]:
        before = [i for i, (at, _) in enumerate(points) if at <= step]
        after = [i for i, (at, _) in enumerate(points) if at >= step]
        if before:
            out.add(before[-1])
        if after:
            out.add(after[0])
    return out


def downsample_keeping(
    points: Sequence[Point], keep_steps: Sequence[float] = (), limit: int = CURVE_LIMIT
) -> list[list[float | None]]:
    """``downsample`` plus the points the early-stopping rule reads (``rule_indices``), so the
    operator's rule judges a thinned curve as the local runner judges every report; non-finite
    values stored as null (``stored_value``)."""
    kept = sorted(set(spread_indices(len(points), limit)) | rule_indices(points, keep_steps))
    return [[points[i][0], stored_value(points[i][1])] for i in kept]
