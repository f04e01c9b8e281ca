"""The manifest parser's field readers: each reads one field, records a problem with the field
path, the value seen and the fix, and returns None instead of raising, so that one pass collects
every problem. ``FieldReader`` is the base of the section rules (``spec_parameter_rules``,
``spec_trial_rules``, ``spec_parser``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard, TypeVar

from hypersearch.core.errors import Problem
from hypersearch.core.spec import MAX_TEXT_LENGTH, MAX_UNIT_LENGTH

MISSING = object()
"""A field that is absent (``None`` is a field written as null)."""


def show(value: object) -> str:
    """A value as a message quotes it (YAML words: true, null, an empty list)."""
    if isinstance(value, list | tuple) and not value:
        return "an empty list"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def is_int(value: object) -> TypeGuard[int]:
    """An int, never a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


Choice = TypeVar("Choice", bound=str)


def pick(value: str | None, choices: tuple[Choice, ...]) -> Choice | None:
    """The element of ``choices`` equal to ``value`` (typed as the choices are: a checked
    ``str`` becomes its ``Literal``), or None."""
    return next((c for c in choices if c == value), None)


class FieldReader:
    """Collects problems; ``declared`` holds the parameter names as written, once
    spec.parameters is a list (the trial rules check placeholders against them)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.declared: tuple[str, ...] | None = None

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(self, value: object, path: str, hint: str = "") -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        if value is MISSING:
            self.fail(path, f"is required{hint}")
        else:
            self.fail(path, f"must be a mapping, got {show(value)}{hint}")
        return None

    def known_keys(
        self, doc: Mapping[str, Any], path: str, known: Sequence[str], of: str = ""
    ) -> None:
        for key in doc:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            what = f"a field of {of}" if of else "a known field"
            self.fail(f"{path}.{key}", f"is not {what} ({guess}fields: {', '.join(known)})")

    def present(
        self, doc: Mapping[str, Any], key: str, where: str, *, required: bool, hint: str
    ) -> Any:
        """``doc[key]``, or None when it is absent or null (a problem only when ``required``)."""
        value = doc.get(key)
        if value is None and required:
            self.fail(where, f"is required{hint}")
        return value

    def string(
        self,
        doc: Mapping[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        choices: Sequence[str] = (),
        max_length: int = MAX_TEXT_LENGTH,
        hint: str = "",
    ) -> str | None:
        where = f"{path}.{key}"
        value = self.present(doc, key, where, required=required, hint=hint)
        if value is None:
            return None
        if choices and value not in choices:
            self.fail(where, f"must be one of {', '.join(choices)}, got {show(value)}")
            return None
        if not isinstance(value, str) or not value:
            self.fail(where, f"must be a non-empty string, got {show(value)}{hint}")
            return None
        if len(value) > max_length:
            self.fail(where, f"must be at most {max_length} characters, got {len(value)}")
            return None
        return value

    def integer(
        self,
        doc: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: int,
        maximum: int | None = None,
        required: bool = False,
        hint: str = "",
    ) -> int | None:
        where = f"{path}.{key}"
        value = self.present(doc, key, where, required=required, hint=hint)
        if value is None:
            return None
        if not is_int(value):
            self.fail(where, f"must be an integer, got {show(value)}")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.fail(where, f"must be {bound}, got {value}")
            return None
        return int(value)

    def unit(self, doc: Mapping[str, Any], path: str, example: str) -> str | None:
        """An optional unit: a non-empty string of at most MAX_UNIT_LENGTH characters."""
        where = f"{path}.unit"
        value = doc.get("unit")
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(
                where,
                f"must be a non-empty string (not only spaces), got {show(value)}: the unit "
                f"reports write next to the name, e.g. unit: {example!r} (quote it in YAML when "
                "it starts with % or looks like a number), or leave unit out",
            )
            return None
        if len(value) > MAX_UNIT_LENGTH:
            self.fail(
                where,
                f"must be at most {MAX_UNIT_LENGTH} characters, got {len(value)} ({value!r}); "
                "use the short symbol, e.g. ms rather than milliseconds",
            )
            return None
        return value
