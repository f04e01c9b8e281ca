"""A search's state directory: the journal, the trial logs and the lock against a second run.

Layout of ``<state-dir>`` (default ``.hyper/<search-name>/`` in the current directory)::

    lock              flock'ed while a run owns the search
    journal.sqlite    the journal (plus SQLite's -wal/-shm files)
    spec.json         the spec the journal belongs to, for people to read
    logs/<trial>.log  each trial's output (stdout and stderr together)

Opening checks that the journal belongs to the same spec. A changed spec under the same name is
handed, with the stored one and the journal's trials, to the caller's ``accept_edit`` (which
asks the core whether the history still fits it); without one, or when it refuses, the run is
refused unless ``fresh`` asks to start over. This module must NOT run trials or decide anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hypersearch.core.errors import HyperSearchError, SpecError
from hypersearch.local.journal import JOURNAL_FILE, SCHEMA_VERSION, Journal, TrialRecord

STATE_ROOT = ".hyper"
LOCK_FILE = "lock"
SPEC_FILE = "spec.json"
LOG_DIR = "logs"


class StateError(HyperSearchError):
    """The state directory cannot be used as asked; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class AlreadyRunningError(StateError):
    """Another process holds the search's lock."""

    exit_code = 3


class SpecChangedError(StateError):
    """The journal under this name was written for a different spec."""

    exit_code = 2


AcceptEdit = Callable[[Any, list[TrialRecord]], list[str]]
"""``accept_edit(stored_spec_document, records) -> changes``: the edit's changed fields in words,
or SpecError when the trials run so far no longer fit the new spec."""


class SearchNotFoundError(StateError):
    """No search (or more than one) where a read-only command looked; the user must name it."""

    exit_code = 2


def default_state_dir(name: str, cwd: Path | None = None) -> Path:
    """``.hyper/<name>`` under ``cwd`` (the current directory by default)."""
    return (cwd or Path.cwd()) / STATE_ROOT / name


def spec_fingerprint(spec_document: Any) -> str:
    """A stable digest of a spec document (key order does not matter).

    Container images are left out: they are ignored on one machine, so the manifest printed by
    ``--manifest --image X`` resumes the search its flags started instead of counting as changed.
    """
    text = json.dumps(
        _without_images(spec_document), sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _without_images(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            key: _without_images(value)
            for key, value in document.items()
            if not (key == "image" and isinstance(value, str))
        }
    if isinstance(document, list):
        return [_without_images(item) for item in document]
    return document


@dataclass
class OpenState:
    """A state directory owned by this process until ``close``."""

    directory: Path
    journal: Journal
    resumed: bool
    _lock: IO[str]
    changes: tuple[str, ...] = ()
    """What an accepted spec edit changed (``spec.maxTrials: 4 -> 6``), empty otherwise."""

    @property
    def log_dir(self) -> Path:
        return self.directory / LOG_DIR

    def log_path(self, trial: str) -> Path:
        return self.log_dir / f"{trial}.log"

    def close(self) -> None:
        self.journal.close()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def open_state(
    directory: Path,
    name: str,
    spec_document: Any,
    fresh: bool = False,
    accept_edit: AcceptEdit | None = None,
) -> OpenState:
    """Lock ``directory``, then open (or create) its journal for the spec ``spec_document``.

    Raises AlreadyRunningError when another run holds the lock and SpecChangedError when the
    journal was written for another spec that ``accept_edit`` does not accept (unless ``fresh``,
    which deletes the old journal and logs).
    """
    directory.mkdir(parents=True, exist_ok=True)
    lock = (directory / LOCK_FILE).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise AlreadyRunningError(
            f"search {name!r} is already running in another process (it holds the lock "
            f"{directory / LOCK_FILE}); wait for it to finish, stop it, or give this run another "
            f"--name or --state-dir"
        ) from None
    try:
        return _open_locked(
            directory, name, spec_document, fresh=fresh, lock=lock, accept_edit=accept_edit
        )
    except BaseException:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        raise


def _open_locked(
    directory: Path,
    name: str,
    spec_document: Any,
    *,
    fresh: bool,
    lock: IO[str],
    accept_edit: AcceptEdit | None,
) -> OpenState:
    fingerprint = spec_fingerprint(spec_document)
    journal_path = directory / JOURNAL_FILE
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(directory / LOG_DIR, ignore_errors=True)
    existed = journal_path.exists()
    journal = Journal(journal_path)
    stored = journal.get_meta("fingerprint")
    changes: list[str] = []
    if existed and stored is not None and stored != fingerprint:
        try:
            changes = _accepted_edit(directory, name, journal, accept_edit)
        except BaseException:
            journal.close()
            raise
    if stored is None or changes:
        journal.set_meta({"name": name, "fingerprint": fingerprint, "schema": str(SCHEMA_VERSION)})
        spec_text = json.dumps(spec_document, indent=2, sort_keys=True, default=str)
        tmp = directory / f"{SPEC_FILE}.tmp"
        tmp.write_text(spec_text + "\n")
        os.replace(tmp, directory / SPEC_FILE)
    (directory / LOG_DIR).mkdir(exist_ok=True)
    resumed = existed and stored is not None and bool(journal.records())
    return OpenState(
        directory=directory, journal=journal, resumed=resumed, _lock=lock, changes=tuple(changes)
    )


def _accepted_edit(
    directory: Path, name: str, journal: Journal, accept_edit: AcceptEdit | None
) -> list[str]:
    """The changes of an edit ``accept_edit`` accepts; SpecChangedError otherwise."""
    fix = (
        "run with --fresh to discard it and start over, or give the changed search another "
        "--name (or --state-dir)"
    )
    spec_path = directory / SPEC_FILE
    if accept_edit is None or not spec_path.is_file():
        raise SpecChangedError(
            f"{directory}: the journal of search {name!r} was written for a different spec; {fix}"
        )
    try:
        changes = accept_edit(json.loads(spec_path.read_text()), journal.records())
    except SpecError as err:
        raise SpecChangedError(
            f"{directory}: search {name!r} cannot go on under the changed spec: {err}; or {fix}"
        ) from None
    # An edit of nothing but ignored fields (images) changes the fingerprint's input only.
    return changes or ["(only fields that do not matter on this machine)"]


def find_searches(root: Path) -> list[Path]:
    """State directories under ``root`` (``.hyper``) that hold a journal, by name."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / JOURNAL_FILE).is_file())


def locate_search(
    name: str | None, state_dir: Path | None, usage: str, cwd: Path | None = None
) -> Path:
    """The state directory a read-only command (``usage``, e.g. ``hyper status NAME``) reads:
    ``state_dir``, ``.hyper/NAME``, or the only search under ``.hyper``. Raises
    SearchNotFoundError, saying where it looked and how to name the search, when there is no
    journal there or no single search to pick."""
    root = (cwd or Path.cwd()) / STATE_ROOT
    if state_dir is not None:
        directory = state_dir
    elif name is not None:
        directory = default_state_dir(name, cwd)
    else:
        found = find_searches(root)
        if len(found) != 1:
            listed = f" ({', '.join(p.name for p in found)})" if found else ""
            raise SearchNotFoundError(
                f"{root} holds {len(found)} searches{listed}; name one ({usage}) or pass "
                "--state-dir"
            )
        directory = found[0]
    if not (directory / JOURNAL_FILE).is_file():
        raise SearchNotFoundError(
            f"{directory}: no journal here; run the search first (hyper run), or pass the right "
            "NAME or --state-dir"
        )
    return directory
