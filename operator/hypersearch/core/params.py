"""Parameter kinds: what one parameter of a search is, what values it takes, what is wrong with
its definition. Stdlib only (no numpy): sampling and grids are ``core.space``'s.

- ``Value`` is what a trial receives for one parameter: int, float or str. YAML booleans in a
  categorical become the strings ``"true"``/``"false"`` (what a command line would receive).
- ``Params`` maps parameter name -> Value, in the space's declaration order.
- ``IntParam``/``FloatParam``: inclusive ranges, ``scale`` linear or log (log needs min > 0);
  ``step``/``count`` only matter for grid enumeration.
- ``CategoricalParam``: unordered values (strings, or mixed); ``DiscreteParam``: an ordered list of
  numbers (``rate=0.001,0.01,0.1``), which the GP may treat as ordinal.
- ``param_problems`` checks a definition; ``value_problem``/``lookup`` check one value.

No I/O and no knowledge of manifests (that is ``spec``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeGuard

from hypersearch.core.errors import Problem
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

NAME_RE = re.compile(NAME_PATTERN)


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


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or float, never a bool (YAML's true is not 1 here)."""
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
    if not isinstance(param.name, str) or not NAME_RE.match(param.name):
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
        problems.extend(values_problems(param, at))
    return problems


def _range_problems(param: IntParam | FloatParam, at: str) -> list[Problem]:
    problems: list[Problem] = []
    kind = "int" if isinstance(param, IntParam) else "float"
    bounds_ok = True
    for field_name in ("min", "max"):
        value = getattr(param, field_name)
        wrong_type = not is_number(value) or (kind == "int" and not isinstance(value, int))
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
        step_ok = is_number(param.step) and (kind == "float" or isinstance(param.step, int))
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


def values_problems(param: CategoricalParam | DiscreteParam, at: str) -> list[Problem]:
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


def value_problem(param: Param, value: object) -> str | None:
    """Why ``value`` is not a point of ``param`` (None when it is)."""
    if isinstance(param, IntParam):
        if not is_number(value) or not float(value).is_integer():
            return f"must be an integer, got {_fmt(value)}"
        if not param.min <= value <= param.max:
            return f"must be between {param.min} and {param.max}, got {value}"
        return None
    if isinstance(param, FloatParam):
        if not is_number(value) or not math.isfinite(value):
            return f"must be a finite number, got {_fmt(value)}"
        slack = 1e-12 * max(abs(param.min), abs(param.max), 1.0)
        if not param.min - slack <= value <= param.max + slack:
            return f"must be between {param.min} and {param.max}, got {value}"
        return None
    if lookup(param, value) is None:
        allowed = ", ".join(_fmt(v) for v in param.values[:20])
        more = ", ..." if len(param.values) > 20 else ""
        return f"must be one of {allowed}{more}, got {_fmt(value)}"
    return None


def lookup(param: CategoricalParam | DiscreteParam, value: object) -> Value | None:
    """The declared value ``value`` stands for (numbers compared after rounding), or None."""
    if isinstance(value, bool):
        return None
    for declared in param.values:
        if isinstance(declared, str) or isinstance(value, str):
            if type(declared) is type(value) and declared == value:
                return declared
        elif is_number(value) and round_float(float(declared)) == round_float(float(value)):
            return declared
    return None
