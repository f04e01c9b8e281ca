"""Trials as the core sees them: what was tried, what it reported, how it ended.

Shells convert their records (journal rows, HyperSearch status entries) into these values and back;
the engine only ever reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hypersearch.core.params import Params  # stdlib only: the sidecar loads this module


class TrialPhase(StrEnum):
    """Lifecycle of one trial. QUEUED: its workload exists but waits for a queue's admission
    (Kueue: a suspended Job or JobSet not yet started, or suspended again after an eviction; a
    cluster shell only, never the local runner); it is active (it holds a slot of
    ``parallelism`` and its point is pending for the suggester) but cannot time out.
    PENDING: decided (and admitted), process/Pod not yet running. EARLY_STOPPED: the
    spec's early-stopping rule stopped it while it ran (neither a success nor a failure: it counts
    toward maxTrials, never toward maxFailedTrials, and never ranks as the best)."""

    QUEUED = "Queued"
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EARLY_STOPPED = "EarlyStopped"

    @property
    def finished(self) -> bool:
        return self in (TrialPhase.SUCCEEDED, TrialPhase.FAILED, TrialPhase.EARLY_STOPPED)


@dataclass(frozen=True, slots=True)
class Observation:
    """One reported metric value; ``step`` is the epoch/iteration when the output said so."""

    metric: str
    value: float
    step: int | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the GP believed about a point when it was suggested, in objective units."""

    mean: float
    std: float
    ucb: float


@dataclass(frozen=True, slots=True)
class Trial:
    """One trial. ``value`` is the aggregated objective value (None until known or when failed).

    Queue bookkeeping (cluster trials admitted by Kueue; zero/None elsewhere): ``requeues`` is
    how often the queue evicted the trial after it had started (it then waits again with the
    same parameters); ``queued_seconds`` the seconds of its finished waits for admission;
    ``queued_at`` when its current wait began (None unless it is QUEUED). ``started_at`` is its
    latest start, so a requeued trial's timeout counts from its readmission."""

    name: str
    index: int
    params: Params
    phase: TrialPhase
    value: float | None = None
    reason: str | None = None
    message: str | None = None
    observations: tuple[Observation, ...] = field(default=())
    prediction: Prediction | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    requeues: int = 0
    queued_seconds: float = 0.0
    queued_at: float | None = None


def queue_seconds(trial: Trial, now: float) -> float:
    """Every second ``trial`` has waited for admission so far: its finished waits plus the one
    it is in."""
    waiting = now - trial.queued_at if trial.queued_at is not None else 0.0
    return trial.queued_seconds + max(0.0, waiting)


def trial_name(search: str, index: int) -> str:
    """Derived, stable names make every side effect idempotent: a restart recreates the same."""
    return f"{search}-{index:04d}"
