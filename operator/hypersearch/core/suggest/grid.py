"""Grid search: every grid point exactly once, in ``Space.grid()`` order.

Stateless: the next points are the first grid points whose canonical key is neither finished
(failed ones included) nor pending. Running out is a normal answer (fewer points, or none), never
an exception; the engine turns "none left and nothing running" into ``SpaceExhausted``. This module
must not sample or reorder: the order is the documented grid order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hypersearch.core.params import Params
from hypersearch.core.space import Space
from hypersearch.core.suggest.base import Outcome, Suggestion, tried_keys


class GridSuggester:
    """Walks the grid in order, skipping points already tried or running."""

    def suggest(
        self,
        space: Space,
        history: Sequence[Outcome],
        pending: Sequence[Params],
        n: int,
        rng: np.random.Generator,
    ) -> list[Suggestion]:
        tried = tried_keys(space, history, pending)
        out: list[Suggestion] = []
        if n <= 0:
            return out
        for point in space.grid():
            key = space.canonical(point)
            if key in tried:
                continue
            tried.add(key)
            out.append(Suggestion(point))
            if len(out) == n:
                break
        return out
