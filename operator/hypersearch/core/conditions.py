"""Status conditions in the Kubernetes shape, set so that ``lastTransitionTime`` means something.

A HyperSearch always carries three conditions, so ``kubectl wait --for=condition=Succeeded`` (or
``Failed``) works and scripts can tell "not yet" from "never": ``Running``, ``Succeeded`` and
``Failed``. ``search_conditions`` derives all three from what the engine decided; ``set_condition``
keeps a condition's ``lastTransitionTime`` while its status does not change, so writing the same
conditions again changes nothing (shells write status only when it differs).

Pure: the time is an argument (epoch seconds or an aware datetime), never read from a clock. The
reasons for finishing (MaxTrialsReached, TargetReached, ...) come from the engine's plan; this
module only adds the reasons that describe the conditions themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal, TypeAlias

from hypersearch.core.times import format_time

ConditionStatus: TypeAlias = Literal["True", "False", "Unknown"]
STATUSES: Final[tuple[ConditionStatus, ...]] = ("True", "False", "Unknown")

RUNNING: Final = "Running"
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
CONDITION_TYPES: Final = (RUNNING, SUCCEEDED, FAILED)


class SearchPhase(StrEnum):
    """``status.phase`` of a search (a trial's is ``core.trials.TrialPhase``); the two final
    phases are also the condition types that say how it ended."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (SearchPhase.SUCCEEDED, SearchPhase.FAILED)


SEARCH_PHASES: Final = tuple(phase.value for phase in SearchPhase)
FINAL_PHASES: Final = (SearchPhase.SUCCEEDED.value, SearchPhase.FAILED.value)

TRIALS_RUNNING: Final = "TrialsRunning"
"""The search has trials to run or running; it has not finished."""
INVALID_SPEC: Final = "InvalidSpec"
"""The spec did not validate; the message lists every problem. Fixing the spec restarts it."""
STALLED: Final = "Stalled"
"""Condition type (and Warning Event reason): the operator could not reconcile the search for
longer than its stall threshold, because the API server failed or did not answer in time."""
RECOVERED: Final = "Recovered"
"""Reason of ``Stalled`` False: reconciles work again; the message says when and how long."""

QUEUED: Final = "Queued"
"""Condition type of a search whose trials a queue admits (``spec.trial.queueName``): True while
trials wait for the queue's admission (for quota, say), the message saying how many and why."""
WAITING_FOR_ADMISSION: Final = "WaitingForAdmission"
"""Reason of ``Queued`` True."""
NONE_WAITING: Final = "NoneWaiting"
"""Reason of ``Queued`` False: every trial that exists has been admitted (or has ended)."""

REASON_PATTERN: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
"""What Kubernetes accepts as a condition reason (metav1.Condition); CamelCase by convention."""
MAX_REASON_LENGTH: Final = 1024
MAX_MESSAGE_LENGTH: Final = 32768
MAX_TYPE_LENGTH: Final = 316

_REASON_RE = re.compile(REASON_PATTERN)


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition; ``last_transition_time`` is RFC 3339 text as stored in status."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"condition status must be True, False or Unknown, got {self.status!r}"
            )
        if not _REASON_RE.match(self.reason) or len(self.reason) > MAX_REASON_LENGTH:
            raise ValueError(f"condition reason must be CamelCase, got {self.reason!r}")

    def to_dict(self) -> dict[str, Any]:
        """The status form (camelCase keys; observedGeneration only when known)."""
        out: dict[str, Any] = {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message[:MAX_MESSAGE_LENGTH],
            "lastTransitionTime": self.last_transition_time,
        }
        if self.observed_generation is not None:
            out["observedGeneration"] = self.observed_generation
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """Read a status entry; tolerant of missing optional fields (older writers)."""
        status = str(data.get("status", "Unknown"))
        generation = data.get("observedGeneration")
        reason = str(data.get("reason") or "")
        if not _REASON_RE.match(reason) or len(reason) > MAX_REASON_LENGTH:
            reason = "Unknown"
        return cls(
            type=str(data["type"]),
            status=status if status in STATUSES else "Unknown",
            reason=reason,
            message=str(data.get("message") or ""),
            last_transition_time=str(data.get("lastTransitionTime") or ""),
            observed_generation=generation if isinstance(generation, int) else None,
        )


def find(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """The condition of ``type_``, or None."""
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    """Whether the condition of ``type_`` exists with status True."""
    found = find(conditions, type_)
    return found is not None and found.status == "True"


def set_condition(
    conditions: Sequence[Condition], new: Condition, now: float | datetime
) -> tuple[Condition, ...]:
    """``conditions`` with ``new`` in place of the one of its type (appended if there is none).

    ``lastTransitionTime`` is the old one when the status did not change, else ``now``; the
    reason, message and generation are always ``new``'s.
    """
    old = find(conditions, new.type)
    if old is not None and old.status == new.status and old.last_transition_time:
        stamped = replace(new, last_transition_time=old.last_transition_time)
    else:
        stamped = replace(new, last_transition_time=format_time(now))
    if old is None:
        return (*conditions, stamped)
    return tuple(stamped if c.type == new.type else c for c in conditions)


def search_conditions(
    previous: Sequence[Condition],
    *,
    finished: bool,
    succeeded: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: float | datetime,
) -> tuple[Condition, ...]:
    """The Running, Succeeded and Failed conditions for a search in the given state.

    Unfinished: Running is True, the others False, all with ``reason`` (normally TrialsRunning).
    Finished: Running is False and exactly one of Succeeded or Failed is True, with the engine's
    reason (or InvalidSpec). Conditions of other types in ``previous`` are kept.
    """
    statuses: dict[str, ConditionStatus] = {
        RUNNING: "False" if finished else "True",
        SUCCEEDED: "True" if finished and succeeded else "False",
        FAILED: "True" if finished and not succeeded else "False",
    }
    result = tuple(previous)
    for type_ in CONDITION_TYPES:
        result = set_condition(
            result,
            Condition(type_, statuses[type_], reason, message, observed_generation=generation),
            now,
        )
    return result


def queue_condition(waiting: str, queue: str, generation: int | None) -> Condition:
    """The ``Queued`` condition: ``waiting`` says which trials wait and why ('' when none)."""
    if waiting:
        return Condition(QUEUED, "True", WAITING_FOR_ADMISSION, waiting, "", generation)
    message = f"no trial waits for admission by LocalQueue {queue}"
    return Condition(QUEUED, "False", NONE_WAITING, message, "", generation)


def to_dicts(conditions: Iterable[Condition]) -> list[dict[str, Any]]:
    """The status list form."""
    return [c.to_dict() for c in conditions]


def from_dicts(items: object) -> tuple[Condition, ...]:
    """Conditions from a status list, skipping entries without a type (tolerant reader)."""
    if not isinstance(items, list):
        return ()
    return tuple(
        Condition.from_dict(item)
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("type"), str)
    )
