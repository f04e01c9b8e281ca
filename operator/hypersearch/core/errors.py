"""The one error tree of hypersearch.

Every message a user sees names the field (or file), the value seen and the fix. Shells translate
these into their own vocabulary (exit code 2 for the CLI, kopf's PermanentError for the operator)
only at their boundary.
"""

from __future__ import annotations

from dataclasses import dataclass


class HyperSearchError(Exception):
    """Base of every error hypersearch raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input: where, and what to do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path} {self.message}" if self.path else self.message


class SpecError(HyperSearchError):
    """A manifest or a --param flag is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], source: str | None = None):
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        head = f"{source}: " if source else ""
        lines = [str(p) for p in self.problems] or ["invalid specification"]
        if len(lines) == 1:
            text = head + lines[0]
        else:
            text = head + f"{len(lines)} problems:\n" + "\n".join(f"  - {line}" for line in lines)
        super().__init__(text)
