"""The Events a status write tells users about: which, in what order, at what time. Pure.

Cause before effect: trials that ended, a new best, the trials started in the slots they freed,
the search's end. Each is timed a microsecond after the one before, so that ``kubectl describe``
(which sorts by time) lists them in the order posted. The reasons (TrialSucceeded, TrialFailed,
NewBest, ...) are public API: users' alerts match them. Must not post anything itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hypersearch.core.conditions import FINAL_PHASES
from hypersearch.core.engine import Plan
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import record


class EventReason(StrEnum):
    """The reasons of the trial Events (the search's end uses its condition's reason).
    Public API: alerts and ``kubectl get events --field-selector reason=...`` match them, and
    docs/operator.md lists them (a test keeps the two equal)."""

    TRIAL_STARTED = "TrialStarted"
    TRIAL_SUCCEEDED = "TrialSucceeded"
    TRIAL_FAILED = "TrialFailed"
    TRIAL_EARLY_STOPPED = "TrialEarlyStopped"
    TRIAL_QUEUED = "TrialQueued"
    TRIAL_ADMITTED = "TrialAdmitted"
    TRIAL_REQUEUED = "TrialRequeued"
    NEW_BEST = "NewBest"


@dataclass(frozen=True, slots=True)
class Event:
    """One core/v1 Event about the search: ``kind`` is Normal or Warning."""

    kind: str
    reason: str
    message: str
    at: float


def transition_events(
    body: Mapping[str, Any],
    *,
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Trial],
    started: Sequence[Trial],
    plan: Plan,
    now: float,
) -> list[Event]:
    """Events for what a status write recorded: ``before`` is the stored ``status.trials``,
    ``after`` the trials written, ``started`` those this reconcile created."""
    ticks = itertools.count()
    found: list[Event] = []

    def add(kind: str, reason: str, message: str) -> None:
        found.append(Event(kind, reason, message, now + next(ticks) * 1e-6))

    was = {str(e.get("name")): str(e.get("phase") or "") for e in before}
    for trial in after:
        _queue_events(trial, was.get(trial.name), _requeues(before, trial.name), add)
    for trial in after:
        if not trial.phase.finished or was.get(trial.name) in record.FINISHED_PHASES:
            continue
        if trial.name not in was and trial in started:
            continue
        if trial.phase is TrialPhase.SUCCEEDED:
            add(
                "Normal",
                EventReason.TRIAL_SUCCEEDED,
                f"trial {trial.name} succeeded with {trial.value:g}",
            )
        elif trial.phase is TrialPhase.EARLY_STOPPED:
            add(
                "Normal",
                EventReason.TRIAL_EARLY_STOPPED,
                f"trial {trial.name} was stopped early: {trial.message}",
            )
        else:
            add(
                "Warning",
                EventReason.TRIAL_FAILED,
                f"trial {trial.name} failed ({trial.reason}): {trial.message}",
            )
    previous_best = ((body.get("status") or {}).get("best") or {}).get("trial")
    if plan.best is not None and plan.best.name != previous_best:
        add(
            "Normal",
            EventReason.NEW_BEST,
            f"trial {plan.best.name} is the best so far with {plan.best.value:g}",
        )
    for trial in started:
        if trial.phase is TrialPhase.FAILED:
            add("Warning", EventReason.TRIAL_FAILED, str(trial.message))
        elif trial.phase is TrialPhase.QUEUED:
            add(
                "Normal",
                EventReason.TRIAL_QUEUED,
                f"created trial {trial.name}, which waits for its queue's admission",
            )
        else:
            add("Normal", EventReason.TRIAL_STARTED, f"started trial {trial.name}")
    was_finished = (body.get("status") or {}).get("phase") in FINAL_PHASES
    if plan.finished and not was_finished:
        add(
            "Normal" if plan.succeeded else "Warning", plan.reason or "Finished", plan.message or ""
        )
    return found


def _requeues(before: Sequence[Mapping[str, Any]], name: str) -> int:
    for entry in before:
        if str(entry.get("name")) == name:
            value = entry.get("requeues")
            return value if isinstance(value, int) and not isinstance(value, bool) else 0
    return 0


def _queue_events(
    trial: Trial,
    was: str | None,
    requeues_before: int,
    add: Callable[[str, str, str], None],
) -> None:
    """A trial's queue transitions (Kueue): evicted and waiting again (TrialRequeued, with
    Kueue's message), waiting after its creation was recorded (TrialQueued, once: a trial
    created Queued told it as it was created), admitted (TrialAdmitted, with its wait)."""
    if trial.phase.finished or was is None:
        return
    queued = TrialPhase.QUEUED.value
    if trial.requeues > requeues_before:
        why = f": {trial.message}" if trial.message else ""
        add(
            "Normal",
            EventReason.TRIAL_REQUEUED,
            f"trial {trial.name} was evicted by its queue and runs again with the same "
            f"parameters once admitted (requeue {trial.requeues}){why}",
        )
    elif trial.phase is TrialPhase.QUEUED and was != queued and trial.requeues == 0:
        add("Normal", EventReason.TRIAL_QUEUED, f"trial {trial.name} {trial.message}")
    elif trial.phase is not TrialPhase.QUEUED and was == queued:
        add(
            "Normal",
            EventReason.TRIAL_ADMITTED,
            f"trial {trial.name} was admitted by its queue after waiting "
            f"{trial.queued_seconds:.0f}s in all",
        )


def queue_moves(
    before: Sequence[Mapping[str, Any]], after: Sequence[Trial]
) -> tuple[list[float], int]:
    """What the queue did since the records ``before`` (for the metrics): the waits of the
    trials admitted (seconds each waited this time) and how many trials were evicted."""
    old = {str(e.get("name")): e for e in before}
    waits: list[float] = []
    evicted = 0
    for trial in after:
        entry = old.get(trial.name)
        if entry is None:
            continue
        evicted += max(0, trial.requeues - _requeues([entry], trial.name))
        if entry.get("phase") == TrialPhase.QUEUED.value and trial.phase not in (
            TrialPhase.QUEUED,
            *(p for p in TrialPhase if p.finished),
        ):
            waits.append(trial.queued_seconds - (record.number(entry.get("queuedSeconds")) or 0.0))
    return waits, evicted
