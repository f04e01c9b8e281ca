"""The one interface every suggester implements, and the small helpers they share.

A suggester turns what is known about a search into new points to try. It sees only values to
*maximise* (the engine negates a minimised objective and turns predictions back), finished trials
(``Outcome``: a value, or ``None`` for a failed trial or one without a usable value) and the
points still running (``pending``). It is stateless between calls: everything it decides follows
from its arguments, its settings and the generator it is given, so a restarted process suggests the
same thing. This module must not know about trials' lifecycle, specs or time: that is the engine's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hypersearch.core.errors import SpecError
from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Params,
    Value,
)
from hypersearch.core.space import Space
from hypersearch.core.trials import Prediction


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished trial as a suggester sees it: its point and the value to maximise.

    ``value`` is None (or NaN/inf) when the trial failed or reported nothing usable; such points
    still count as tried, so a finite space never suggests them again.

    ``fidelity`` (in [0, 1], 1 = a full trial) is how far the trial got when ``value`` was
    observed, and ``curve`` holds (fidelity, value) points of its curve before that; a suggester
    that models fidelity (GP-UCB) uses them, the others read ``value`` alone. Trials of a search
    without early stopping are all at fidelity 1 with no curve.
    """

    params: Params
    value: float | None
    fidelity: float = 1.0
    curve: tuple[tuple[float, float], ...] = ()

    @property
    def usable(self) -> bool:
        """True when the value may inform a model (a finite number)."""
        return self.value is not None and math.isfinite(self.value)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One point to try; ``prediction`` is the model's belief there (maximised units), if any."""

    params: Params
    prediction: Prediction | None = None


class Suggester(Protocol):
    """Suggest up to ``n`` new points; fewer (or none) means the space has no more to offer."""

    def suggest(
        self,
        space: Space,
        history: Sequence[Outcome],
        pending: Sequence[Params],
        n: int,
        rng: np.random.Generator,
    ) -> list[Suggestion]: ...


Key = tuple[Value, ...]


def key_of(space: Space, params: Params) -> Key | None:
    """The canonical key of ``params``, or None when it is not a point of ``space``.

    A point outside the space (the spec was edited while the search ran) is ignored rather than
    allowed to break the search.
    """
    try:
        return space.canonical(params)
    except SpecError:
        return None


def tried_keys(space: Space, history: Sequence[Outcome], pending: Iterable[Params]) -> set[Key]:
    """Canonical keys of every point already tried or running, failed ones included."""
    keys = (key_of(space, p) for p in [*(o.params for o in history), *pending])
    return {k for k in keys if k is not None}


def finite_size(space: Space) -> int | None:
    """How many distinct points a finite space holds (every integer of a range), else None."""
    total = 1
    for param in space.params:
        if isinstance(param, FloatParam):
            return None
        if isinstance(param, IntParam):
            total *= param.max - param.min + 1
        elif isinstance(param, CategoricalParam | DiscreteParam):
            total *= len(param.values)
    return total


def all_points(space: Space) -> list[Params]:
    """Every point of a finite space in grid order (last parameter fastest); keep spaces small."""
    axes: list[list[Value]] = []
    for param in space.params:
        if isinstance(param, IntParam):
            axes.append(list(range(param.min, param.max + 1)))
        elif isinstance(param, CategoricalParam | DiscreteParam):
            axes.append(list(param.values))
        else:
            raise ValueError(f"parameter {param.name} is a float range: the space is not finite")
    points: list[Params] = [{}]
    for param, axis in zip(space.params, axes, strict=True):
        points = [{**p, param.name: v} for p in points for v in axis]
    return points
