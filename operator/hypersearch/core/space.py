"""The search space: parameters in declaration order, with sampling and the grid.

- ``Space``: the ordered tuple of parameters (``core.params``) plus behaviour: ``sample(rng, n)``,
  ``grid()`` (deterministic order, documented), ``grid_size()``, ``contains(params)``,
  ``canonical(params)`` (a hashable key so "already tried" can be checked), ``is_finite()``,
  ``validate_params``, ``normalize``, ``get``, ``problems``, ``grid_point`` (random access into
  the grid order).

Grid rule (also in docs/spec.md): parameters combine in declaration order with the *last* one
varying fastest. An int range gives ``min, min+step, ...`` up to ``max`` (``step`` defaults to 1,
so every integer) or, with ``count``, ``count`` evenly spaced integers (geometrically spaced on a
log scale, duplicates after rounding dropped). A float range needs ``step`` (``min + k*step`` up to
``max``; linear scale only) or ``count`` (both ends included; geometric spacing on a log scale).
Lists enumerate in the order written.

This module holds no I/O and no knowledge of manifests (that is ``spec``); randomness comes only
from the generator passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Params,
    Scale,
    Value,
    is_number,
    lookup,
    round_float,
    value_problem,
)


class _Steps(Sequence[float]):
    """``lo, lo+step, ...`` up to ``hi``, computed on access so a fine step costs no memory."""

    def __init__(self, lo: float, hi: float, step: float) -> None:
        self._lo, self._hi, self._step = lo, hi, step
        self._n = math.floor((hi - lo) / step * (1 + 1e-12) + 1e-9) + 1

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        return _clip(round_float(self._lo + index * self._step), self._lo, self._hi)


def grid_values(param: Param) -> Sequence[Value] | None:
    """The values a grid search tries for one parameter (in order), or None when it cannot
    enumerate them. Ranges come back as lazy sequences, so a wide int range costs no memory."""
    if isinstance(param, CategoricalParam | DiscreteParam):
        return tuple(param.values)
    if isinstance(param, IntParam):
        if param.count is not None:
            raw = _spaced(param.min, param.max, param.count, param.scale)
            return tuple(dict.fromkeys(round(v) for v in raw))
        return range(param.min, param.max + 1, param.step or 1)
    if param.count is not None:
        return tuple(
            _clip(round_float(v), param.min, param.max)
            for v in _spaced(param.min, param.max, param.count, param.scale)
        )
    if param.step is not None:
        return _Steps(param.min, param.max, param.step)
    return None


def _spaced(lo: float, hi: float, count: int, scale: Scale) -> list[float]:
    if scale == "log":
        return [float(v) for v in np.geomspace(lo, hi, count)]
    return [float(v) for v in np.linspace(lo, hi, count)]


def _clip(value: float, lo: float, hi: float) -> float:
    return float(min(max(value, lo), hi))


def _grid_count(param: Param) -> int | None:
    values = grid_values(param)
    return None if values is None else len(values)


def _sample_column(param: Param, rng: np.random.Generator, n: int) -> list[Value]:
    if isinstance(param, CategoricalParam | DiscreteParam):
        picks = rng.integers(0, len(param.values), size=n)
        return [param.values[int(i)] for i in picks]
    if isinstance(param, IntParam):
        if param.scale == "log":
            # Uniform in log space over [min-0.5, max+0.5], then rounded: each integer k gets the
            # log-width of its rounding cell, so small values are favoured as a log scale intends.
            u = rng.uniform(math.log(param.min - 0.5), math.log(param.max + 0.5), size=n)
            return [int(min(max(round(math.exp(x)), param.min), param.max)) for x in u]
        return [int(v) for v in rng.integers(param.min, param.max + 1, size=n)]
    if param.scale == "log":
        u = rng.uniform(math.log(param.min), math.log(param.max), size=n)
        return [_clip(math.exp(x), param.min, param.max) for x in u]
    return [
        _clip(float(v), param.min, param.max) for v in rng.uniform(param.min, param.max, size=n)
    ]


@dataclass(frozen=True, slots=True)
class Space:
    """The parameters of a search, in declaration order."""

    params: tuple[Param, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def get(self, name: str) -> Param:
        """The parameter called ``name``; KeyError if there is none."""
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def sample(self, rng: np.random.Generator, n: int) -> list[Params]:
        """``n`` independent uniform points (log ranges uniform in log space).

        Draws one column per parameter in declaration order, so the same seed gives the same points.
        """
        if n <= 0:
            return []
        columns = [_sample_column(p, rng, n) for p in self.params]
        return [
            {p.name: col[i] for p, col in zip(self.params, columns, strict=True)} for i in range(n)
        ]

    def grid(self) -> Iterator[Params]:
        """Every grid point exactly once, last-declared parameter varying fastest.

        Raises SpecError naming the parameters that cannot be enumerated (a float range needs step
        or count).
        """
        axes = self._grid_axes()
        sizes = [len(axis) for axis in axes]
        if 0 in sizes:
            return
        index = [0] * len(axes)
        while True:
            yield {p.name: axis[i] for p, axis, i in zip(self.params, axes, index, strict=True)}
            k = len(axes) - 1
            while k >= 0:
                index[k] += 1
                if index[k] < sizes[k]:
                    break
                index[k] = 0
                k -= 1
            if k < 0:
                return

    def grid_point(self, k: int) -> Params:
        """The ``k``-th point of ``grid()`` (from 0), without enumerating the ones before it.

        Raises IndexError past the end and SpecError when the space has no grid.
        """
        axes = self._grid_axes()
        size = math.prod(len(axis) for axis in axes)
        if not 0 <= k < size:
            raise IndexError(f"grid point {k} of a grid of {size} points")
        values: list[Value] = []
        for axis in reversed(axes):  # mixed radix, last parameter as the lowest digit
            k, digit = divmod(k, len(axis))
            values.append(axis[digit])
        return dict(zip(self.names, reversed(values), strict=True))

    def _grid_axes(self) -> list[Sequence[Value]]:
        axes = [grid_values(p) for p in self.params]
        missing = [p.name for p, axis in zip(self.params, axes, strict=True) if axis is None]
        if missing:
            raise SpecError(
                [
                    Problem(
                        f"parameter {name}",
                        "is a float range without step or count, so a grid cannot enumerate it; "
                        "set step or count",
                    )
                    for name in missing
                ]
            )
        return [axis for axis in axes if axis is not None]

    def grid_size(self) -> int | None:
        """How many points ``grid()`` yields, or None if some float range lacks step/count."""
        total = 1
        for param in self.params:
            size = _grid_count(param)
            if size is None:
                return None
            total *= size
        return total

    def is_finite(self) -> bool:
        """True when every parameter is discrete (ints, lists), so repeats can be avoided."""
        return all(not isinstance(p, FloatParam) for p in self.params)

    def problems(self, params: Mapping[str, object], path: str = "params") -> list[Problem]:
        """Why ``params`` is not a point of this space: missing, unknown or out-of-range values."""
        found: list[Problem] = []
        for param in self.params:
            if param.name not in params:
                found.append(Problem(f"{path}.{param.name}", "is missing"))
                continue
            why = value_problem(param, params[param.name])
            if why is not None:
                found.append(Problem(f"{path}.{param.name}", why))
        declared = set(self.names)
        for name in params:
            if name not in declared:
                found.append(
                    Problem(
                        f"{path}.{name}",
                        f"is not a parameter of this search (declared: {', '.join(self.names)})",
                    )
                )
        return found

    def contains(self, params: Mapping[str, object]) -> bool:
        """True when ``params`` sets exactly this space's parameters, each to an allowed value."""
        return not self.problems(params)

    def validate_params(self, params: Mapping[str, object]) -> None:
        """Raise SpecError listing every reason ``params`` is not a point of this space."""
        found = self.problems(params)
        if found:
            raise SpecError(found)

    def normalize(self, params: Mapping[str, object]) -> Params:
        """``params`` with each value of its parameter's type and in declaration order.

        JSON round trips through the API server turn 1.0 into 1; this undoes that. Raises SpecError
        when ``params`` is not a point of the space.
        """
        self.validate_params(params)
        out: Params = {}
        for param in self.params:
            value = params[param.name]
            if isinstance(param, IntParam):
                assert is_number(value)  # validated above
                out[param.name] = int(value)
            elif isinstance(param, FloatParam):
                assert is_number(value)
                out[param.name] = _clip(float(value), param.min, param.max)
            else:
                declared = lookup(param, value)
                assert declared is not None  # validated above
                out[param.name] = declared
        return out

    def canonical(self, params: Mapping[str, object]) -> tuple[Value, ...]:
        """A hashable key for ``params``: equal for points that are the same trial.

        Floats are rounded to SIGNIFICANT_DIGITS; ints stay ints; list values map to the declared
        value. Raises SpecError when ``params`` is not a point of the space.
        """
        normal = self.normalize(params)
        return tuple(round_float(v) if isinstance(v, float) else v for v in normal.values())
