"""Random search, and its quasi-random variant (scrambled Sobol points).

``RandomSuggester`` draws independent uniform points with ``Space.sample`` (log ranges uniform in
log space). ``QuasiRandomSuggester`` walks one scrambled Sobol sequence (scipy.stats.qmc) whose
scramble comes from the search's seed, so trial ``k`` of a search always gets Sobol point ``k``
however the calls are split, which spreads a small budget more evenly than independent draws. Both
never repeat a point of a finite space (failed trials included): they redraw, and when the space
is nearly used up they pick among the points left. This module must not model the objective.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import qmc

from hypersearch.core.params import Params
from hypersearch.core.space import Space
from hypersearch.core.suggest.base import (
    Key,
    Outcome,
    Suggestion,
    all_points,
    finite_size,
    key_of,
    tried_keys,
)
from hypersearch.core.suggest.encoding import Array, Encoding

ENUMERATE_LIMIT = 100_000
"""Largest finite space whose leftover points are listed when redrawing keeps hitting tried ones."""
REDRAWS = 20
"""Rounds of fresh draws before falling back to listing the points left."""


def sobol_points(encoding: Encoding, seed: int, start: int, n: int) -> Array:
    """Rows ``start .. start+n-1`` of the scrambled Sobol sequence of this search, in features.

    The first power of two rows that covers them is drawn in one go, which keeps Sobol's balance
    properties (and scipy's warning about them) out of the way; the cost is negligible at search
    sizes.
    """
    if n <= 0:
        return np.zeros((0, encoding.dim))
    m = max(int(np.ceil(np.log2(start + n))), 0)
    engine = qmc.Sobol(d=max(encoding.dim, 1), scramble=True, seed=np.random.default_rng(seed))
    with warnings.catch_warnings():
        # scipy warns when 2**m exceeds its 2**30 guarantee; searches never get near that.
        warnings.simplefilter("ignore", UserWarning)
        rows = engine.random_base2(m)
    return encoding.snap(rows[start : start + n, : encoding.dim])


def _fill_from_leftovers(
    space: Space, tried: set[Key], n: int, rng: np.random.Generator
) -> list[Params]:
    """Up to ``n`` untried points of a finite space, chosen uniformly among those left."""
    size = finite_size(space)
    if size is None or size > ENUMERATE_LIMIT or size <= len(tried):
        return []
    left = [p for p in all_points(space) if key_of(space, p) not in tried]
    picks = rng.permutation(len(left))[:n]
    return [left[int(i)] for i in picks]


def _take_new(space: Space, points: Sequence[Params], tried: set[Key], n: int) -> list[Params]:
    """The first ``n`` points whose keys are not in ``tried``; adds their keys to ``tried``."""
    out: list[Params] = []
    for point in points:
        if len(out) == n:
            break
        key = key_of(space, point)
        if key is None or key in tried:
            continue
        tried.add(key)
        out.append(point)
    return out


class RandomSuggester:
    """Independent uniform draws; in a finite space, only points not tried yet."""

    def suggest(
        self,
        space: Space,
        history: Sequence[Outcome],
        pending: Sequence[Params],
        n: int,
        rng: np.random.Generator,
    ) -> list[Suggestion]:
        if n <= 0:
            return []
        if not space.is_finite():
            return [Suggestion(p) for p in space.sample(rng, n)]
        tried = tried_keys(space, history, pending)
        chosen: list[Params] = []
        for _ in range(REDRAWS):
            chosen += _take_new(space, space.sample(rng, n - len(chosen)), tried, n - len(chosen))
            if len(chosen) == n:
                break
        else:
            chosen += _fill_from_leftovers(space, tried, n - len(chosen), rng)
        return [Suggestion(p) for p in chosen]


class QuasiRandomSuggester:
    """The search's scrambled Sobol sequence, continued from the number of trials so far."""

    def __init__(self, seed: int) -> None:
        self.seed = seed % 2**64  # any int (a negative seed too) gives a valid scramble

    def suggest(
        self,
        space: Space,
        history: Sequence[Outcome],
        pending: Sequence[Params],
        n: int,
        rng: np.random.Generator,
    ) -> list[Suggestion]:
        if n <= 0:
            return []
        encoding = Encoding(space)
        start = len(history) + len(pending)
        rows = sobol_points(encoding, self.seed, start, n)
        points = [encoding.decode(x) for x in rows]
        if not space.is_finite():
            return [Suggestion(p) for p in points]
        tried = tried_keys(space, history, pending)
        chosen = _take_new(space, points, tried, n)
        if len(chosen) < n:
            # Sobol points that round onto tried ones: top up with uniform untried points.
            extra = RandomSuggester().suggest(
                space, history, [*pending, *chosen], n - len(chosen), rng
            )
            chosen += [s.params for s in extra]
        return [Suggestion(p) for p in chosen]
