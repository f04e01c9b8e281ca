"""Trials as local processes: start, stream their output, stop their process group, see them exit.

Each trial runs in its own session (so its process group can be signalled as a whole), with stdin
closed and stdout+stderr on one pipe; the runner copies the bytes to the trial's log file and hands
complete lines to the caller. One selector waits on every pipe and on a pidfd per child, so the
caller learns of an exit as soon as it happens (no sleep polling). Where util-linux' ``setpriv``
supports it, each child starts through ``setpriv --pdeathsig KILL`` (which then execs the trial,
same pid): if the runner is killed with -9, its trials die with it. (Not ``preexec_fn``: it forces
a full fork of this large process, about 50 ms per trial instead of under 1 ms.)

This module must NOT parse metrics, touch the journal or decide which trial runs: it only moves
bytes and signals. argv goes to ``execve`` as a list, never through a shell.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

DEFAULT_GRACE_S = 5.0
TAIL_LINES = 20
_READ_SIZE = 65536
_FALLBACK_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class Launch:
    """What to run for one trial. ``env`` is the complete environment of the child."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    log_path: Path


@dataclass(frozen=True, slots=True)
class Output:
    """One line the trial printed, without its newline (``\\r`` redraws kept: the metric parser
    splits them)."""

    name: str
    line: str


@dataclass(frozen=True, slots=True)
class Exited:
    """The trial's process ended. ``returncode`` < 0 means killed by that signal; ``stopped``
    says the runner was asked to stop it."""

    name: str
    returncode: int
    stopped: bool
    at: float
    tail: tuple[str, ...] = ()


Event = Output | Exited


@dataclass(eq=False)
class _Child:
    launch: Launch
    popen: subprocess.Popen[bytes]
    pipe: IO[bytes]
    log: IO[bytes]
    pidfd: int | None
    pending: bytes = b""
    tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=TAIL_LINES)
    )
    stopped: bool = False
    kill_at: float | None = None
    exited: bool = False


NOT_FOUND_FIX = (
    "check the command's first word for a typo, give its full path, or add its folder to PATH"
)


class StartError(Exception):
    """The trial's program could not be started (not found, not executable, bad directory)."""


@functools.cache
def _death_guard() -> tuple[str, ...]:
    """The argv prefix that makes a child die with the runner, or () where none is available."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return ()
    try:
        help_text = subprocess.run(
            [setpriv, "--help"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if "--pdeathsig" not in help_text:
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--")


def _resolve(program: str, env: Mapping[str, str], cwd: Path) -> str | None:
    """The executable ``program`` names (as execvpe would find it), or None."""
    if os.sep in program:
        path = program if os.path.isabs(program) else str(cwd / program)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(program, path=env.get("PATH", os.defpath))


class ProcessRunner:
    """Runs trial processes side by side and reports their output and exits as events."""

    def __init__(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.grace_s = grace_s
        self._selector = selectors.DefaultSelector()
        self._children: dict[str, _Child] = {}
        self._guard = _death_guard()
        self._wakeups: dict[int, Callable[[], None]] = {}

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._children)

    def add_wakeup(self, fd: int, on_ready: Callable[[], None]) -> None:
        """Wake ``poll`` when ``fd`` is readable (a signal's self-pipe) and call ``on_ready``."""
        self._selector.register(fd, selectors.EVENT_READ, ("wakeup", fd))
        self._wakeups[fd] = on_ready

    def start(self, launch: Launch) -> None:
        """Start the trial's process; raises StartError when it cannot be executed."""
        if launch.name in self._children:
            raise ValueError(f"trial {launch.name} is already running")
        launch.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = launch.log_path.open("wb")
        argv = list(launch.argv)
        if self._guard:
            if not launch.cwd.is_dir():
                log.close()
                raise StartError(f"cannot start {argv[0]!r} in {launch.cwd}: no such directory")
            program = _resolve(argv[0], launch.env, launch.cwd)
            if program is None:
                message = (
                    f"cannot start {argv[0]!r} in {launch.cwd}: not found or not executable; "
                    f"{NOT_FOUND_FIX}"
                )
                log.write(f"{message}\n".encode())
                log.close()
                raise StartError(message)
            argv = [*self._guard, program, *argv[1:]]
        try:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=launch.cwd,
                env=dict(launch.env),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as err:
            fix = (
                f"; {NOT_FOUND_FIX}" if isinstance(err, FileNotFoundError | PermissionError) else ""
            )
            message = f"cannot start {launch.argv[0]!r} in {launch.cwd}: {err.strerror or err}{fix}"
            log.write(f"{message}\n".encode())
            log.close()
            raise StartError(message) from err
        assert popen.stdout is not None
        os.set_blocking(popen.stdout.fileno(), False)
        pidfd = _pidfd_open(popen.pid)
        child = _Child(launch=launch, popen=popen, pipe=popen.stdout, log=log, pidfd=pidfd)
        self._children[launch.name] = child
        self._selector.register(popen.stdout, selectors.EVENT_READ, ("pipe", launch.name))
        if pidfd is not None:
            self._selector.register(pidfd, selectors.EVENT_READ, ("exit", launch.name))

    def stop(self, name: str) -> None:
        """Ask the trial's process group to end (SIGTERM); SIGKILL follows after ``grace_s``."""
        child = self._children.get(name)
        if child is None or child.stopped:
            return
        child.stopped = True
        child.kill_at = time.monotonic() + self.grace_s
        _signal_group(child.popen.pid, signal.SIGTERM)

    def kill_all(self) -> None:
        """SIGKILL every running trial's process group now (a second Ctrl-C)."""
        for child in self._children.values():
            child.stopped = True
            child.kill_at = None
            _signal_group(child.popen.pid, signal.SIGKILL)

    def tail(self, name: str) -> list[str]:
        """The last lines the trial printed (for failure messages)."""
        child = self._children.get(name)
        return list(child.tail) if child is not None else []

    def poll(self, timeout: float | None) -> list[Event]:
        """Wait up to ``timeout`` seconds for output or exits and return them, output first."""
        if self._pidfd_missing():
            timeout = _FALLBACK_POLL_S if timeout is None else min(timeout, _FALLBACK_POLL_S)
        deadline = self._next_kill()
        if deadline is not None:
            wait = max(0.0, deadline - time.monotonic())
            timeout = wait if timeout is None else min(timeout, wait)
        events: list[Event] = []
        for key, _ in self._selector.select(timeout):
            kind, ident = key.data
            if kind == "wakeup":
                _drain(key.fd)
                self._wakeups[key.fd]()
            elif kind == "pipe":
                child = self._children.get(ident)
                if child is not None:
                    self._read(child, events)
            elif kind == "exit":
                child = self._children.get(ident)
                if child is not None:
                    child.exited = True
        self._escalate()
        for child in list(self._children.values()):
            if child.exited or (child.pidfd is None and child.popen.poll() is not None):
                events.extend(self._finish(child))
        return events

    def close(self) -> None:
        """Kill whatever still runs (used on the way out of an error) and free the selector."""
        for child in list(self._children.values()):
            _signal_group(child.popen.pid, signal.SIGKILL)
            child.popen.wait()
            self._finish(child)
        self._selector.close()

    # -- internals ------------------------------------------------------------------------------

    def _pidfd_missing(self) -> bool:
        return any(c.pidfd is None for c in self._children.values())

    def _next_kill(self) -> float | None:
        times = [c.kill_at for c in self._children.values() if c.kill_at is not None]
        return min(times) if times else None

    def _escalate(self) -> None:
        now = time.monotonic()
        for child in self._children.values():
            if child.kill_at is not None and now >= child.kill_at:
                child.kill_at = None
                _signal_group(child.popen.pid, signal.SIGKILL)

    def _read(self, child: _Child, events: list[Event]) -> bool:
        """Read what is available; returns False at end of file."""
        try:
            data = os.read(child.pipe.fileno(), _READ_SIZE)
        except BlockingIOError:
            return True
        if not data:
            self._selector.unregister(child.pipe)
            child.pipe.close()
            return False
        child.log.write(data)
        child.log.flush()
        buffered = child.pending + data
        *lines, child.pending = buffered.split(b"\n")
        for raw in lines:
            self._emit(child, raw, events)
        return True

    def _emit(self, child: _Child, raw: bytes, events: list[Event]) -> None:
        line = raw.decode("utf-8", errors="replace")
        child.tail.append(line.rstrip("\r").rsplit("\r", 1)[-1])
        events.append(Output(child.launch.name, line))

    def _finish(self, child: _Child) -> list[Event]:
        events: list[Event] = []
        # Read what is already there; stop at EOF or when nothing more is immediately available
        # (a grandchild may still hold the pipe open).
        while not child.pipe.closed and _readable(child.pipe.fileno()):
            if not self._read(child, events):
                break
        if not child.pipe.closed:
            self._selector.unregister(child.pipe)
            child.pipe.close()
        if child.pending:
            self._emit(child, child.pending, events)
            child.pending = b""
        if child.pidfd is not None:
            self._selector.unregister(child.pidfd)
            os.close(child.pidfd)
        returncode = child.popen.wait()
        child.log.close()
        del self._children[child.launch.name]
        events.append(
            Exited(child.launch.name, returncode, child.stopped, time.time(), tuple(child.tail))
        )
        return events


def _pidfd_open(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


def _readable(fd: int) -> bool:
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        return bool(sel.select(0))


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while os.read(fd, 4096):
            pass


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
