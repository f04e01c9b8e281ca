"""``:name:`` placeholders in a trial's command line, and the text a value becomes there.

The local runner and the operator's Pod rendering both call ``substitute``; the result is an argv
list handed to the process directly, never to a shell, so values need no quoting.

Stdlib only (the sidecar and the local runner import it without numpy). This module does not
decide which names are declared: the spec validates placeholders against the space.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping

PARAM_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_.-]*"
"""What a parameter name may look like; ``space.NAME_PATTERN`` is built from it."""

UNDECLARED_FIX = "declare it in spec.parameters or correct the placeholder"
"""How the message about an undeclared placeholder ends (the parser's and the CRD's)."""

_PLACEHOLDER_RE = re.compile(rf":({PARAM_NAME_PATTERN}):")


def placeholders_in(text: str) -> set[str]:
    """The names of every ``:name:`` in ``text``."""
    return {match.group(1) for match in _PLACEHOLDER_RE.finditer(text)}


def format_value(value: object) -> str:
    """The command-line text of a parameter value.

    Ints print as ints; floats with ``repr`` (the shortest text that reads back as the same float,
    so no precision is lost: ``1e-05``, ``0.1``); strings as they are. numpy scalars are accepted.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


def substitute_text(text: str, params: Mapping[str, object]) -> str:
    """``text`` with each ``:name:`` of a name in ``params`` replaced; other text left as it is."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return format_value(params[name]) if name in params else match.group(0)

    return _PLACEHOLDER_RE.sub(replace, text)


def substitute(argv: list[str], params: Mapping[str, object]) -> list[str]:
    """A new argv with placeholders replaced: whole elements (``:lr:``) or inside (``--lr=:lr:``).

    Each element stays one element whatever the value holds (spaces, quotes): no shell is involved.
    Placeholders of names not in ``params`` are left untouched.
    """
    return [substitute_text(arg, params) for arg in argv]
