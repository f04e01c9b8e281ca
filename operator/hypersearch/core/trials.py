"""Trials as the core sees them: what was tried, what it reported, how it ended.

Shells convert their records (journal rows, HyperSearch status entries) into these values and back;
the engine only ever reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hypersearch.core.params import Params  # stdlib only: the sidecar loads this module


class TrialPhase(StrEnum):
    """Lifecycle of one trial. PENDING: decided, process/Pod not yet running. EARLY_STOPPED: the
    spec's early-stopping rule stopped it while it ran (neither a success nor a failure: it counts
    toward maxTrials, never toward maxFailedTrials, and never ranks as the best)."""

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
    """One trial. ``value`` is the aggregated objective value (None until known or when failed)."""

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


def trial_name(search: str, index: int) -> str:
    """Derived, stable names make every side effect idempotent: a restart recreates the same."""
    return f"{search}-{index:04d}"
