"""The Events a status write tells users about: which, in what order, at what time. Pure.

Cause before effect: trials that ended, a new best, the trials started in the slots they freed,
the search's end. Each is timed a microsecond after the one before, so that ``kubectl describe``
(which sorts by time) lists them in the order posted. The reasons (TrialSucceeded, TrialFailed,
NewBest, ...) are public API: users' alerts match them. Must not post anything itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
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
        else:
            add("Normal", EventReason.TRIAL_STARTED, f"started trial {trial.name}")
    was_finished = (body.get("status") or {}).get("phase") in FINAL_PHASES
    if plan.finished and not was_finished:
        add(
            "Normal" if plan.succeeded else "Warning", plan.reason or "Finished", plan.message or ""
        )
    return found
