"""Parameter kinds and the search space they make up.

Every shell depends on these names and field meanings:

- ``Value`` is what a trial receives for one parameter: int, float or str. YAML booleans in a
  categorical become the strings ``"true"``/``"false"`` (what a command line would receive).
- ``Params`` maps parameter name -> Value, in the space's declaration order.
- ``IntParam``/``FloatParam``: inclusive ranges, ``scale`` linear or log (log needs min > 0);
  ``step``/``count`` only matter for grid enumeration.
- ``CategoricalParam``: unordered values (strings, or mixed); ``DiscreteParam``: an ordered list of
  numbers (``rate=0.001,0.01,0.1``), which the GP may treat as ordinal.
- ``Space``: the ordered tuple of parameters plus behaviour: ``sample(rng, n)``, ``grid()``
  (deterministic order, documented), ``grid_size()``, ``contains(params)``, ``canonical(params)``
  (a hashable key so "already tried" can be checked), ``is_finite()``.
- ``parse_param_flag(text)`` parses the CLI forms ``name=MIN:MAX[:linear|log][:int|float]`` and
  ``name=a,b,c``; raises SpecError naming the flag.

Grid rule (also in docs/spec.md): parameters combine in declaration order with the *last* one
varying fastest. An int range gives ``min, min+step, ...`` up to ``max`` (``step`` defaults to 1,
so every integer) or, with ``count``, ``count`` evenly spaced integers (geometrically spaced on a
log scale, duplicates after rounding dropped). A float range needs ``step`` (``min + k*step`` up to
``max``; linear scale only) or ``count`` (both ends included; geometric spacing on a log scale).
Lists enumerate in the order written.

Besides: ``IntParam.count``, ``Space.validate_params``, ``Space.normalize``, ``Space.get``,
``Space.problems``, ``Space.grid_point`` (random access into the grid order), ``grid_values``,
``param_problems``, ``round_float``, ``NAME_PATTERN`` and the limits.

This module holds no I/O and no knowledge of manifests (that is ``spec``); randomness comes only
from the generator passed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, overload

import numpy as np

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.placeholders import PARAM_NAME_PATTERN

Value: TypeAlias = int | float | str
Params: TypeAlias = dict[str, Value]
Scale: TypeAlias = Literal["linear", "log"]

SCALES: tuple[Scale, ...] = ("linear", "log")
NAME_PATTERN = rf"^{PARAM_NAME_PATTERN}$"
"""Parameter names become ``:name:`` placeholders, so they stay identifier-like."""
MAX_NAME_LENGTH = 63
MAX_VALUES = 1000
"""Most entries one categorical or discrete list may hold (also the CRD's maxItems)."""
MAX_VALUE_LENGTH = 256
"""Longest string a categorical value may be (also the CRD's maxLength)."""
MAX_INT_MAGNITUDE = 2**53
"""Int bounds stay within the integers JSON (and the API server's float64) hold exactly."""
MAX_GRID_COUNT = 10000
"""Most grid values ``count`` may ask for on one parameter."""
SIGNIFICANT_DIGITS = 12
"""Floats that agree to this many significant digits count as the same point."""

_NAME_RE = re.compile(NAME_PATTERN)
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True, slots=True)
class IntParam:
    """An integer range, both ends included; ``step``/``count`` shape only the grid."""

    name: str
    min: int
    max: int
    scale: Scale = "linear"
    step: int | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class FloatParam:
    """A real range, both ends included; a grid needs ``step`` or ``count``."""

    name: str
    min: float
    max: float
    scale: Scale = "linear"
    step: float | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class CategoricalParam:
    """Unordered choices."""

    name: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class DiscreteParam:
    """An ordered list of numbers, e.g. learning rates to try."""

    name: str
    values: tuple[float | int, ...]


Param: TypeAlias = IntParam | FloatParam | CategoricalParam | DiscreteParam


def round_float(value: float) -> float:
    """Round to SIGNIFICANT_DIGITS so grid arithmetic noise (0.1 + 0.2) does not make new points."""
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return 0.0 if rounded == 0 else rounded


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def param_problems(param: Param, path: str = "") -> list[Problem]:
    """Everything wrong with one parameter's definition, with manifest field names.

    ``path`` is the parameter's location (``spec.parameters[2]``); problems are reported on its
    fields (``spec.parameters[2].max``). Used by the manifest parser and by tests that build spaces.
    """
    at = f"{path}." if path else ""
    problems: list[Problem] = []
    if not isinstance(param.name, str) or not _NAME_RE.match(param.name):
        problems.append(
            Problem(
                f"{at}name",
                f"must start with a letter or '_' and hold only letters, digits, '_', '.' or '-' "
                f"(it becomes the :name: placeholder), got {param.name!r}",
            )
        )
    elif len(param.name) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                f"{at}name",
                f"must be at most {MAX_NAME_LENGTH} characters, got {len(param.name)}",
            )
        )
    if isinstance(param, IntParam | FloatParam):
        problems.extend(_range_problems(param, at))
    else:
        problems.extend(_values_problems(param, at))
    return problems


def _range_problems(param: IntParam | FloatParam, at: str) -> list[Problem]:
    problems: list[Problem] = []
    kind = "int" if isinstance(param, IntParam) else "float"
    bounds_ok = True
    for field_name in ("min", "max"):
        value = getattr(param, field_name)
        wrong_type = not _is_number(value) or (kind == "int" and not isinstance(value, int))
        if wrong_type:
            fraction = kind == "int" and isinstance(value, float) and math.isfinite(value)
            fix = "; round it, or use type: float for fractional values" if fraction else ""
            problems.append(
                Problem(
                    f"{at}{field_name}",
                    f"must be a{'n' if kind == 'int' else ''} {kind}, got {_fmt(value)}{fix}",
                )
            )
            bounds_ok = False
        elif not math.isfinite(value):
            problems.append(Problem(f"{at}{field_name}", f"must be a finite number, got {value}"))
            bounds_ok = False
        elif kind == "int" and abs(value) > MAX_INT_MAGNITUDE:
            problems.append(
                Problem(
                    f"{at}{field_name}",
                    f"must be between -{MAX_INT_MAGNITUDE} and {MAX_INT_MAGNITUDE}, got {value}",
                )
            )
            bounds_ok = False
    if bounds_ok and not param.min < param.max:
        problems.append(
            Problem(
                f"{at}max",
                f"must be greater than min, got min={param.min}, max={param.max}",
            )
        )
    if param.scale not in SCALES:
        problems.append(Problem(f"{at}scale", f"must be linear or log, got {_fmt(param.scale)}"))
    elif param.scale == "log" and bounds_ok and param.min <= 0:
        problems.append(
            Problem(
                f"{at}min",
                f"must be greater than 0 on a log scale, got min={param.min} "
                "(use scale: linear, or a positive min)",
            )
        )
    if param.step is not None and param.count is not None:
        problems.append(Problem(f"{at}count", "cannot be set together with step; set one of them"))
    if param.step is not None:
        step_ok = _is_number(param.step) and (kind == "float" or isinstance(param.step, int))
        if not step_ok or not math.isfinite(param.step) or param.step <= 0:
            problems.append(
                Problem(f"{at}step", f"must be a positive {kind}, got {_fmt(param.step)}")
            )
        elif param.scale == "log":
            problems.append(
                Problem(
                    f"{at}step",
                    "cannot be used with scale: log (a step adds, a log grid multiplies); "
                    "use count for geometrically spaced points",
                )
            )
    if param.count is not None and (
        not isinstance(param.count, int)
        or isinstance(param.count, bool)
        or not 2 <= param.count <= MAX_GRID_COUNT
    ):
        problems.append(
            Problem(
                f"{at}count",
                f"must be an integer from 2 (both ends are included) to {MAX_GRID_COUNT}, "
                f"got {_fmt(param.count)}",
            )
        )
    return problems


def _values_problems(param: CategoricalParam | DiscreteParam, at: str) -> list[Problem]:
    problems: list[Problem] = []
    values = param.values
    if len(values) == 0:
        return [Problem(f"{at}values", "must hold at least one value, got an empty list")]
    if len(values) > MAX_VALUES:
        problems.append(
            Problem(f"{at}values", f"must hold at most {MAX_VALUES} values, got {len(values)}")
        )
    seen: dict[object, int] = {}
    for i, value in enumerate(values):
        if isinstance(param, DiscreteParam):
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(
                    Problem(
                        f"{at}values[{i}]",
                        f"must be a number, got {_fmt(value)} (use type: categorical for names)",
                    )
                )
                continue
            if not math.isfinite(value):
                problems.append(Problem(f"{at}values[{i}]", f"must be finite, got {value}"))
                continue
            key: object = round_float(float(value))
        else:
            if not isinstance(value, int | float | str) or isinstance(value, bool):
                problems.append(
                    Problem(f"{at}values[{i}]", f"must be a string or a number, got {_fmt(value)}")
                )
                continue
            if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
                problems.append(
                    Problem(
                        f"{at}values[{i}]",
                        f"must be at most {MAX_VALUE_LENGTH} characters, got {len(value)}",
                    )
                )
            key = (type(value) is str, value)
        if key in seen:
            problems.append(
                Problem(
                    f"{at}values[{i}]",
                    f"duplicates values[{seen[key]}] ({_fmt(value)}); list each value once",
                )
            )
        else:
            seen[key] = i
    return problems


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


def _value_problem(param: Param, value: object) -> str | None:
    """Why ``value`` is not a point of ``param`` (None when it is)."""
    if isinstance(param, IntParam):
        if not _is_number(value) or not float(value).is_integer():  # type: ignore[arg-type]
            return f"must be an integer, got {_fmt(value)}"
        if not param.min <= value <= param.max:  # type: ignore[operator]
            return f"must be between {param.min} and {param.max}, got {value}"
        return None
    if isinstance(param, FloatParam):
        if not _is_number(value) or not math.isfinite(value):  # type: ignore[arg-type]
            return f"must be a finite number, got {_fmt(value)}"
        slack = 1e-12 * max(abs(param.min), abs(param.max), 1.0)
        if not param.min - slack <= value <= param.max + slack:  # type: ignore[operator]
            return f"must be between {param.min} and {param.max}, got {value}"
        return None
    if _lookup(param, value) is None:
        allowed = ", ".join(_fmt(v) for v in param.values[:20])
        more = ", ..." if len(param.values) > 20 else ""
        return f"must be one of {allowed}{more}, got {_fmt(value)}"
    return None


def _lookup(param: CategoricalParam | DiscreteParam, value: object) -> Value | None:
    """The declared value ``value`` stands for (numbers compared after rounding), or None."""
    if isinstance(value, bool):
        return None
    for declared in param.values:
        if isinstance(declared, str) or isinstance(value, str):
            if type(declared) is type(value) and declared == value:
                return declared
        elif _is_number(value) and round_float(float(declared)) == round_float(float(value)):  # type: ignore[arg-type]
            return declared
    return None


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
            why = _value_problem(param, params[param.name])
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
                out[param.name] = int(value)  # type: ignore[call-overload]
            elif isinstance(param, FloatParam):
                out[param.name] = _clip(float(value), param.min, param.max)  # type: ignore[arg-type]
            else:
                declared = _lookup(param, value)
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


def parse_param_flag(text: str) -> Param:
    """Parse ``name=MIN:MAX[:linear|log][:int|float]`` or ``name=a,b,c`` (a CLI ``--param``).

    A range is float unless ``:int`` is given. A list of numbers becomes a DiscreteParam (ints
    stay ints); any other list becomes a CategoricalParam of strings. Raises SpecError whose
    problems name the flag.
    """
    where = f"--param {text}:"
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep:
        raise SpecError(
            [Problem(where, "expected NAME=MIN:MAX[:linear|log][:int|float] or NAME=a,b,c")]
        )
    problems: list[Problem] = []
    if not _NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                where,
                f"NAME must start with a letter or '_' and hold only letters, digits, '_', '.' "
                f"or '-' (at most {MAX_NAME_LENGTH} characters), got {name!r}",
            )
        )
    if ":" in rest:
        param, more = _parse_range_flag(name, rest, where)
    else:
        param, more = _parse_list_flag(name, rest, where)
    problems.extend(more)
    if problems or param is None:
        raise SpecError(problems)
    return param


def _parse_range_flag(name: str, rest: str, where: str) -> tuple[Param | None, list[Problem]]:
    parts = [p.strip() for p in rest.split(":")]
    if len(parts) > 4:
        return None, [
            Problem(where, f"expected MIN:MAX[:linear|log][:int|float], got {len(parts)} fields")
        ]
    lo_text, hi_text, *options = parts
    scale: Scale = "linear"
    kind = "float"
    problems: list[Problem] = []
    seen_scale = seen_kind = False
    for option in options:
        if option in SCALES and not seen_scale:
            scale = "log" if option == "log" else "linear"
            seen_scale = True
        elif option in ("int", "float") and not seen_kind:
            kind = option
            seen_kind = True
        else:
            problems.append(
                Problem(
                    where,
                    f"unexpected {option!r}: after MIN:MAX come at most one scaling (linear or "
                    "log) and one type (int or float)",
                )
            )
    bounds: list[float | int] = []
    for label, raw in (("MIN", lo_text), ("MAX", hi_text)):
        if kind == "int" and _INT_RE.match(raw):
            bounds.append(int(raw))
        elif kind == "float" and _NUMBER_RE.match(raw):
            bounds.append(float(raw))
        else:
            wanted = "an integer (the type is int)" if kind == "int" else "a number"
            problems.append(Problem(where, f"{label} must be {wanted}, got {raw!r}"))
    if problems:
        return None, problems
    lo, hi = bounds
    if not lo < hi:
        problems.append(
            Problem(where, f"MIN must be less than MAX, got MIN={lo_text}, MAX={hi_text}")
        )
    if scale == "log" and lo <= 0:
        problems.append(
            Problem(where, f"log scaling needs MIN > 0, got MIN={lo_text} (use linear, or MIN > 0)")
        )
    if problems:
        return None, problems
    if kind == "int":
        return IntParam(name, int(lo), int(hi), scale), []
    return FloatParam(name, float(lo), float(hi), scale), []


def _parse_list_flag(name: str, rest: str, where: str) -> tuple[Param | None, list[Problem]]:
    items = [item.strip() for item in rest.split(",")]
    if any(item == "" for item in items):
        return None, [Problem(where, "every list item must be non-empty, e.g. rate=0.001,0.01,0.1")]
    param: Param
    if all(_NUMBER_RE.match(item) for item in items):
        numbers = tuple(int(i) if _INT_RE.match(i) else float(i) for i in items)
        param = DiscreteParam(name, numbers)
    else:
        param = CategoricalParam(name, tuple(items))
    problems = [Problem(where, str(p)) for p in _values_problems(param, "")]
    return (None if problems else param), problems
