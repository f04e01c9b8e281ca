"""The local journal: one SQLite file (WAL) per search that survives a crash, kill -9 or Ctrl-C.

Every event (a trial created, started, an observation, a trial finished or interrupted) is one
transaction, so what is on disk is always a consistent prefix of what happened. Reading it back
gives core ``Trial`` values; a trial that was running when the process died comes back as
``Pending`` with its name and parameters, so the loop starts it again.

This module must NOT decide anything about the search (which trial to start, when it is done) and
must NOT hold the lock against concurrent runs (see ``state``): it only stores and loads.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypersearch.core.params import Params
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase

SCHEMA_VERSION = 1
JOURNAL_FILE = "journal.sqlite"

# Journal statuses: the core's phases plus "Interrupted" (stopped by Ctrl-C or a crash; to re-run).
INTERRUPTED = "Interrupted"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    name TEXT PRIMARY KEY,
    idx INTEGER NOT NULL UNIQUE,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    value REAL,
    reason TEXT,
    message TEXT,
    prediction TEXT,
    created_at REAL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS observations (
    trial TEXT NOT NULL REFERENCES trials(name),
    seq INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    step INTEGER,
    PRIMARY KEY (trial, seq)
);
"""


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A trial as stored: the core value plus what only the journal knows."""

    trial: Trial
    status: str
    attempts: int


class Journal:
    """Write-through store of one search's trials."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._next_seq: dict[str, int] = {}

    @classmethod
    def open_readonly(cls, path: Path) -> Journal:
        """Open an existing journal for reading (``hyper status``); fails if it does not exist."""
        if not path.is_file():
            raise FileNotFoundError(path)
        return cls(path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    # -- events ---------------------------------------------------------------------------------

    def add_trial(
        self, name: str, index: int, params: Params, prediction: Prediction | None, now: float
    ) -> None:
        """Record a trial the engine decided to start (status Pending)."""
        pred = None
        if prediction is not None:
            pred = json.dumps(
                {"mean": prediction.mean, "std": prediction.std, "ucb": prediction.ucb}
            )
        with self._transaction() as db:
            db.execute(
                "INSERT INTO trials(name, idx, params, status, prediction, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, index, json.dumps(params), TrialPhase.PENDING.value, pred, now),
            )

    def start_trial(self, name: str, now: float) -> None:
        """Record that the trial's process started; forgets observations of an earlier attempt."""
        with self._transaction() as db:
            db.execute("DELETE FROM observations WHERE trial = ?", (name,))
            db.execute(
                "UPDATE trials SET status = ?, started_at = ?, finished_at = NULL, value = NULL, "
                "reason = NULL, message = NULL, attempts = attempts + 1 WHERE name = ?",
                (TrialPhase.RUNNING.value, now, name),
            )
        self._next_seq[name] = 0

    def add_observation(self, name: str, observation: Observation) -> None:
        """Record one reported metric value of a running trial."""
        seq = self._next_seq.get(name)
        if seq is None:
            row = self._db.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM observations WHERE trial = ?", (name,)
            ).fetchone()
            seq = int(row[0])
        value = None if math.isnan(observation.value) else observation.value
        with self._transaction() as db:
            db.execute(
                "INSERT INTO observations(trial, seq, metric, value, step) VALUES (?, ?, ?, ?, ?)",
                (name, seq, observation.metric, value, observation.step),
            )
        self._next_seq[name] = seq + 1

    def finish_trial(
        self,
        name: str,
        status: str,
        *,
        now: float,
        value: float | None = None,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """Record how a trial ended: Succeeded, Failed, EarlyStopped, or Interrupted (to be run
        again)."""
        stored = None if value is None or math.isnan(value) else value
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, value = ?, reason = ?, message = ?, finished_at = ? "
                "WHERE name = ?",
                (status, stored, reason, message, now, name),
            )

    # -- reading --------------------------------------------------------------------------------

    def records(self) -> list[TrialRecord]:
        """Every trial in index order, with observations."""
        observations: dict[str, list[Observation]] = {}
        for trial, metric, value, step in self._db.execute(
            "SELECT trial, metric, value, step FROM observations ORDER BY trial, seq"
        ):
            obs = Observation(
                metric=str(metric),
                value=math.nan if value is None else float(value),
                step=None if step is None else int(step),
            )
            observations.setdefault(str(trial), []).append(obs)
        out: list[TrialRecord] = []
        for row in self._db.execute(
            "SELECT name, idx, params, status, value, reason, message, prediction, created_at, "
            "started_at, finished_at, attempts FROM trials ORDER BY idx"
        ):
            out.append(_record_from_row(row, observations.get(str(row[0]), [])))
        return out


def _record_from_row(row: tuple[Any, ...], observations: list[Observation]) -> TrialRecord:
    (name, idx, params, status, value, reason, message, pred, created, started, finished, n) = row
    prediction = None
    if pred is not None:
        p = json.loads(pred)
        prediction = Prediction(mean=float(p["mean"]), std=float(p["std"]), ucb=float(p["ucb"]))
    status = str(status)
    phase = _phase_for(status)
    trial = Trial(
        name=str(name),
        index=int(idx),
        params=dict(json.loads(params)),
        phase=phase,
        value=None if value is None else float(value),
        reason=None if reason is None else str(reason),
        message=None if message is None else str(message),
        observations=tuple(observations),
        prediction=prediction,
        created_at=created,
        started_at=started,
        finished_at=finished,
    )
    return TrialRecord(trial=trial, status=status, attempts=int(n))


def _phase_for(status: str) -> TrialPhase:
    """Journal status -> core phase; anything not finished is to be (re)started."""
    if status == TrialPhase.SUCCEEDED.value:
        return TrialPhase.SUCCEEDED
    if status == TrialPhase.FAILED.value:
        return TrialPhase.FAILED
    if status == TrialPhase.EARLY_STOPPED.value:
        return TrialPhase.EARLY_STOPPED
    return TrialPhase.PENDING
