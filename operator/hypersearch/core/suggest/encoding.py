"""Points of a space to and from the unit cube the GP works in.

Each parameter becomes one or more feature columns in [0, 1]:

- float range: one column, linear in the value or in its logarithm (``scale: log``);
- int range: one column over the widened range [min - 0.5, max + 0.5] (in log space for
  ``scale: log``), so every integer owns a cell of equal width (equal log-width on a log scale).
  ``snap`` moves a column to the centre of its integer's cell: the GP only ever sees those centres,
  so it models the plateaus the objective really has instead of inventing slopes between integers;
- discrete list (ordered numbers): one column, its values sorted and given equal-width cells;
- categorical: one-hot, one column per value; decoding takes the largest column.

Uniform points of the cube decode to the same distribution ``Space.sample`` draws from, so random
candidates for the acquisition need no other sampler. This module holds no randomness and no model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Params,
    Value,
)
from hypersearch.core.space import Space

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Column:
    """How one parameter maps to feature columns ``start:start+width``."""

    param: Param
    start: int
    width: int
    lo: float = 0.0
    hi: float = 1.0
    log: bool = False
    order: tuple[int, ...] = ()  # discrete: declared indices sorted by value


def _column(param: Param, start: int) -> _Column:
    if isinstance(param, FloatParam):
        log = param.scale == "log"
        lo, hi = (math.log(param.min), math.log(param.max)) if log else (param.min, param.max)
        return _Column(param, start, 1, float(lo), float(hi), log)
    if isinstance(param, IntParam):
        log = param.scale == "log"
        a, b = param.min - 0.5, param.max + 0.5
        lo, hi = (math.log(a), math.log(b)) if log else (a, b)
        return _Column(param, start, 1, float(lo), float(hi), log)
    if isinstance(param, DiscreteParam):
        order = tuple(sorted(range(len(param.values)), key=lambda i: float(param.values[i])))
        return _Column(param, start, 1, order=order)
    return _Column(param, start, len(param.values))


class Encoding:
    """The feature map of one space: ``encode``/``decode`` single points, ``snap`` many at once."""

    def __init__(self, space: Space) -> None:
        self.space = space
        columns: list[_Column] = []
        start = 0
        for param in space.params:
            column = _column(param, start)
            columns.append(column)
            start += column.width
        self._columns = tuple(columns)
        self.dim = start
        mask = np.zeros(start, dtype=bool)
        for c in columns:
            mask[c.start] = isinstance(c.param, FloatParam)
        self.continuous: NDArray[np.bool_] = mask
        """Columns that hold a float range (the ones a gradient-free local search may nudge)."""

    @property
    def categorical_blocks(self) -> tuple[tuple[int, int], ...]:
        """(start, width) of each one-hot block."""
        return tuple(
            (c.start, c.width) for c in self._columns if isinstance(c.param, CategoricalParam)
        )

    @property
    def numeric_columns(self) -> tuple[int, ...]:
        """The columns that are numbers (ranges and discrete lists), not one-hot."""
        return tuple(c.start for c in self._columns if not isinstance(c.param, CategoricalParam))

    @property
    def groups(self) -> tuple[int, ...]:
        """A group number per column: one per parameter (a one-hot block's columns share it)."""
        return tuple(i for i, c in enumerate(self._columns) for _ in range(c.width))

    def encode(self, params: Params) -> Array:
        """Features of one point (shape ``(dim,)``); ``params`` must be a point of the space."""
        x = np.zeros(self.dim)
        for c in self._columns:
            value = params[c.param.name]
            if isinstance(c.param, CategoricalParam):
                x[c.start + _index_of(c.param.values, value)] = 1.0
            elif isinstance(c.param, DiscreteParam):
                rank = c.order.index(_index_of(c.param.values, value))
                x[c.start] = (rank + 0.5) / len(c.order)
            else:
                v = float(value)
                t = math.log(v) if c.log else v
                x[c.start] = (t - c.lo) / (c.hi - c.lo)
        return x

    def encode_many(self, points: Sequence[Params]) -> Array:
        """Features of many points, shape ``(len(points), dim)``."""
        if not points:
            return np.zeros((0, self.dim))
        return np.stack([self.encode(p) for p in points])

    def decode(self, x: Array) -> Params:
        """The point a feature vector stands for (any real vector; clipped to the cube first)."""
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        out: Params = {}
        for c in self._columns:
            param = c.param
            if isinstance(param, CategoricalParam):
                out[param.name] = param.values[int(np.argmax(x[c.start : c.start + c.width]))]
            elif isinstance(param, DiscreteParam):
                rank = min(int(x[c.start] * len(c.order)), len(c.order) - 1)
                out[param.name] = param.values[c.order[rank]]
            else:
                t = c.lo + float(x[c.start]) * (c.hi - c.lo)
                v = math.exp(t) if c.log else t
                if isinstance(param, IntParam):
                    out[param.name] = int(min(max(round(v), param.min), param.max))
                else:
                    out[param.name] = float(min(max(v, param.min), param.max))
        return out

    def snap(self, xs: Array) -> Array:
        """Move each row to the features of the point it decodes to (vectorised decode+encode).

        Rows are clipped to the cube; int columns go to their integer's cell centre, discrete
        columns to their value's cell centre, one-hot blocks to exactly one 1.
        """
        xs = np.clip(np.array(xs, dtype=float, ndmin=2), 0.0, 1.0)
        for c in self._columns:
            param = c.param
            col = c.start
            if isinstance(param, CategoricalParam):
                block = xs[:, col : col + c.width]
                winner = np.argmax(block, axis=1)
                block[:] = 0.0
                block[np.arange(len(xs)), winner] = 1.0
            elif isinstance(param, DiscreteParam):
                k = len(c.order)
                rank = np.minimum(np.floor(xs[:, col] * k), k - 1)
                xs[:, col] = (rank + 0.5) / k
            elif isinstance(param, IntParam):
                t = c.lo + xs[:, col] * (c.hi - c.lo)
                v = np.clip(np.round(np.exp(t) if c.log else t), param.min, param.max)
                t = np.log(v) if c.log else v
                xs[:, col] = (t - c.lo) / (c.hi - c.lo)
        return xs


def _index_of(values: tuple[Value, ...], value: Value) -> int:
    """Position of ``value`` among declared values (numbers compared as numbers)."""
    for i, declared in enumerate(values):
        same_kind = isinstance(declared, str) == isinstance(value, str)
        if same_kind and declared == value:
            return i
    raise ValueError(f"{value!r} is not one of {values!r}")
