"""The live view of a local search: what started and ended, and a status line with the totals.

On a terminal the status line (done / running / failed, best so far, elapsed) is redrawn in place
and trial events scroll above it; elsewhere (a pipe, a CI log) every event is one plain line, the
totals follow each finished trial, and nothing is redrawn. This module must NOT count trials
itself: the counts come from the engine's plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from hypersearch.core.params import Params
from hypersearch.core.trials import TrialPhase
from hypersearch.local.summary import format_value

_REDRAW_EVERY_S = 0.5


@dataclass(frozen=True, slots=True)
class Totals:
    """What the status line shows."""

    total: int
    done: int
    running: int
    failed: int
    best_name: str | None
    best_value: float | None
    early_stopped: int = 0


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_params(params: Params) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in params.items())


class Progress:
    """Writes progress to ``stream``; ``tty`` chooses between the redrawn line and plain lines."""

    def __init__(
        self,
        stream: TextIO,
        metric: str,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        quiet: bool = False,
    ) -> None:
        self._stream = stream
        self._metric = metric
        self._tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._start = clock()
        self._quiet = quiet
        self._totals: Totals | None = None
        self._line_shown = False
        self._last_draw = -1.0

    def status_line(self) -> str:
        totals = self._totals
        if totals is None:
            return ""
        best = "-"
        if totals.best_value is not None:
            best = f"{format_value(totals.best_value)} ({totals.best_name})"
        stopped = f" {totals.early_stopped} early-stopped," if totals.early_stopped else ""
        return (
            f"[{totals.done}/{totals.total} done, {totals.running} running, {totals.failed} failed,"
            f"{stopped} best {self._metric} {best}, {format_elapsed(self._clock() - self._start)}]"
        )

    def note(self, text: str) -> None:
        """A line of its own (search started, resumed, a warning)."""
        self._print(text)

    def trial_started(self, name: str, params: Params, gpu: str | None) -> None:
        where = f" on GPU {gpu}" if gpu is not None else ""
        self._print(f"{'start':<9} {name}{where}: {format_params(params)}")

    def trial_finished(
        self,
        name: str,
        status: str,
        value: float | None,
        reason: str | None,
        seconds: float,
        *,
        message: str | None = None,
    ) -> None:
        """One line: the value, or the reason and the message's first and last lines (for a
        failed process: what happened and the log's last line; the whole message is printed at
        the end and kept in the journal)."""
        if status == TrialPhase.EARLY_STOPPED:
            shown = f"{self._metric}={format_value(value)}" if value is not None else "no value"
            self._print(f"{'stopped':<9} {name} after {seconds:.1f}s early: {shown}; {message}")
            return
        if value is not None:
            what = f"{self._metric}={format_value(value)}"
        else:
            lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
            said = " ".join(lines[:1] + lines[1:][-1:])
            what = ": ".join(part for part in (reason, said) if part)
        self._print(f"{status.lower():<9} {name} after {seconds:.1f}s: {what}".rstrip())

    def update(self, totals: Totals) -> None:
        """New totals; on a terminal redraw the status line (at most twice a second)."""
        previous, self._totals = self._totals, totals
        if self._quiet:
            return
        if not self._tty:
            changed = previous is None or (previous.done, previous.failed) != (
                totals.done,
                totals.failed,
            )
            if changed and totals.done:
                self._stream.write(self.status_line() + "\n")
                self._stream.flush()
            return
        now = self._clock()
        if now - self._last_draw >= _REDRAW_EVERY_S:
            self._draw()

    def tick(self) -> None:
        """Time passed: keep the elapsed time on a terminal current."""
        if self._tty and not self._quiet and self._clock() - self._last_draw >= _REDRAW_EVERY_S:
            self._draw()

    def close(self) -> None:
        """Leave the terminal clean: the last status line stays, followed by a newline."""
        if self._quiet:
            return
        if self._tty:
            if self._totals is not None:
                self._draw()
            if self._line_shown:
                self._stream.write("\n")
                self._line_shown = False
        self._stream.flush()

    def _draw(self) -> None:
        self._stream.write("\r\x1b[K" + self.status_line())
        self._stream.flush()
        self._line_shown = True
        self._last_draw = self._clock()

    def _print(self, text: str) -> None:
        if self._quiet:
            return
        if self._tty:
            self._stream.write("\r\x1b[K" + text + "\n")
            self._line_shown = False
            if self._totals is not None:
                self._draw()
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
