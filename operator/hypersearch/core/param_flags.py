"""The ``--param`` flag syntax of ``hyper grid|random|bayesian``: one flag -> one parameter.

``name=MIN:MAX[:linear|log][:int|float]`` is a range, ``name=a,b,c`` a list; problems are
SpecErrors naming the flag. Pure: text in, ``core.params`` values out.
"""

from __future__ import annotations

import re

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.params import (
    MAX_NAME_LENGTH,
    NAME_RE,
    SCALES,
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Scale,
    values_problems,
)

_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d+$")


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
    if not NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
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
    problems = [Problem(where, str(p)) for p in values_problems(param, "")]
    return (None if problems else param), problems
