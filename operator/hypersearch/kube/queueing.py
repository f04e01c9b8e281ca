"""Trials admitted by a queue (Kueue): waiting, admission and eviction, read from the workload
and its Kueue Workload. Pure: no API calls, ``now`` is passed.

Kueue, not the operator, decides when a trial's Job or JobSet runs: the workload is created
suspended with the ``kueue.x-k8s.io/queue-name`` label, Kueue unsuspends it when it admits it,
and suspends it again when it evicts it (preemption, for one), deleting its Pods. What Kueue does
is recorded in docs/testplane.md, "Kueue facts"; this module turns it into the trial's phase and
its queue bookkeeping (``Trial.requeues``, ``queued_seconds``, ``queued_at``), which the trial's
record keeps from one reconcile to the next:

- a workload that is suspended and has not ended waits for admission: the trial is Queued, its
  message Kueue's reason (``QuotaReserved=False``: ``... insufficient unused quota for
  nvidia.com/gpu in flavor ..., 2 more needed``) when the Workload is known;
- a trial recorded as started whose workload waits again was evicted: it is Queued again with
  one more requeue (not failed: its Pods' deletion is Kueue's doing), waiting since the
  Workload's ``Evicted`` transition (else since now), its message Kueue's eviction message;
- a trial recorded as Queued whose workload runs was admitted: its wait (to the workload's
  start) is added to ``queued_seconds``; a start later than the recorded one without a wait
  seen in between counts as a requeue too when the Workload's ``Evicted`` transition lies
  between the two starts (evicted and readmitted between two looks).

``started_at`` follows the workload's latest start (a Job's ``status.startTime`` is removed on
eviction and set anew), so the engine times a requeued trial from its readmission. Trials that
never waited (every Pod trial) come back unchanged. Must not decide anything about the search.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hypersearch.core.times import parse_time
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube.pods import PodView
from hypersearch.kube.record import Entry

WAITING: Final = "waiting for the queue's admission"
"""How a Queued trial's message begins (Kueue's reason follows when known)."""
WORKLOAD_KINDS: Final = ("Job", "JobSet")
"""Owner kinds of the Kueue Workloads that can be trials'."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What the Kueue Workload of one trial's Job or JobSet says.

    ``waiting``: the message of ``QuotaReserved=False`` (why Kueue does not admit it yet), or ''.
    ``evicted``: the message of the latest eviction (``Evicted`` True, or False with Kueue's
    ``Previously: ...`` once readmitted), or ''; ``evicted_at`` its last transition.
    """

    trial: str
    workload: str
    admitted: bool
    waiting: str = ""
    evicted: str = ""
    evicted_at: float | None = None


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = obj.get("status") or {}
    return {
        str(c.get("type")): c
        for c in status.get("conditions") or []
        if isinstance(c, Mapping) and c.get("type")
    }


def admission(obj: Mapping[str, Any]) -> Admission | None:
    """A Kueue Workload as the Admission of the Job or JobSet that owns it (None otherwise)."""
    meta = obj.get("metadata") or {}
    owner = next(
        (
            ref
            for ref in meta.get("ownerReferences") or []
            if isinstance(ref, Mapping) and ref.get("kind") in WORKLOAD_KINDS
        ),
        None,
    )
    if owner is None:
        return None
    conds = _conditions(obj)
    admitted = conds.get("Admitted", {}).get("status") == "True"
    reserved = conds.get("QuotaReserved", {})
    waiting = str(reserved.get("message") or "") if reserved.get("status") == "False" else ""
    evicted_cond = conds.get("Evicted", {})
    evicted = str(evicted_cond.get("message") or "")
    return Admission(
        trial=str(owner.get("name")),
        workload=str(meta.get("name")),
        admitted=admitted,
        waiting=waiting,
        evicted=evicted.removeprefix("Previously: "),
        evicted_at=parse_time(evicted_cond.get("lastTransitionTime")) if evicted else None,
    )


def admissions(items: Iterable[Mapping[str, Any]]) -> dict[str, Admission]:
    """The Admission of each trial workload among Kueue Workloads, by trial name."""
    found: dict[str, Admission] = {}
    for obj in items:
        read = admission(obj)
        if read is not None:
            found[read.trial] = read
    return found


def account(
    trial: Trial,
    recorded: Entry,
    *,
    waiting: bool,
    started_at: float | None,
    created_at: float | None,
    kueue: Admission | None,
    now: float,
) -> Trial:
    """``trial`` (as judged from its workload) with its queue phase and bookkeeping (see the
    module docstring). ``waiting``: the workload is suspended and has not ended; ``started_at``:
    its latest start (None while suspended); ``recorded``: the trial's record before this look."""
    requeues, queued_seconds = recorded.requeues, recorded.queued_seconds
    queued_at = recorded.queued_at
    if trial.phase.finished:
        if queued_at is not None:  # stopped while it waited (the search ended, say)
            queued_seconds += max(0.0, (trial.finished_at or now) - queued_at)
        return _with(trial, requeues, queued_seconds, None, trial.started_at)
    was_started = recorded.phase is not TrialPhase.QUEUED and recorded.started_at is not None
    if waiting:
        message = f"{WAITING}: {kueue.waiting}" if kueue and kueue.waiting else WAITING
        if was_started and queued_at is None:
            requeues += 1
            queued_at = kueue.evicted_at if kueue and kueue.evicted_at else now
        elif queued_at is None:
            queued_at = created_at if created_at is not None else now
        if requeues and kueue and kueue.evicted:  # said for as long as it waits again
            message = f"evicted by its queue ({kueue.evicted}); {message}"
        queued = _with(trial, requeues, queued_seconds, queued_at, None)
        return dataclasses.replace(queued, phase=TrialPhase.QUEUED, reason=None, message=message)
    if queued_at is not None:  # admitted since the last look
        queued_seconds += max(0.0, (started_at if started_at is not None else now) - queued_at)
        return _with(trial, requeues, queued_seconds, None, started_at or trial.started_at)
    if (
        was_started
        and started_at is not None
        and recorded.started_at is not None
        and kueue is not None
        and kueue.evicted_at is not None
        and recorded.started_at < kueue.evicted_at < started_at
    ):  # evicted and admitted again between two looks (Kueue says when)
        requeues += 1
        queued_seconds += started_at - kueue.evicted_at
        return _with(trial, requeues, queued_seconds, None, started_at)
    if requeues or queued_seconds:
        return _with(trial, requeues, queued_seconds, None, started_at or trial.started_at)
    return trial


def _with(
    trial: Trial,
    requeues: int,
    queued_seconds: float,
    queued_at: float | None,
    started_at: float | None,
) -> Trial:
    return dataclasses.replace(
        trial,
        requeues=requeues,
        queued_seconds=queued_seconds,
        queued_at=queued_at,
        started_at=started_at,
    )


def needs_admissions(views: Iterable[PodView], entries: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether Kueue's Workloads are worth a read: a queue workload (``PodView.queued`` not
    None) waits, or started later than its record says (evicted and readmitted between looks).
    Otherwise the read is skipped: a search whose trials all run costs no extra LIST."""
    for view in views:
        if view.queued:
            return True
        if view.queued is False and view.started_at is not None:
            recorded = parse_time((entries.get(view.name) or {}).get("startedAt"))
            if recorded is not None and view.started_at > recorded:
                return True
    return False


def workload_uids(views: Iterable[PodView]) -> list[str]:
    """The uids of a search's queue workloads: Kueue labels each Workload with its Job's or
    JobSet's (``kueue.x-k8s.io/job-uid``), so a read of Kueue's Workloads can select the
    search's own instead of every Workload of the namespace (which, where quota is short and
    many searches wait, is a LIST of all their queues on each look)."""
    return sorted({v.uid for v in views if v.queued is not None and v.uid})


def waiting_summary(trials: Iterable[Trial], queue: str | None) -> str:
    """``2 trials wait for admission by LocalQueue trials; hs-0003: <Kueue's reason>``, or ''
    when none waits (the ``Queued`` condition's message)."""
    queued = sorted((t for t in trials if t.phase is TrialPhase.QUEUED), key=lambda t: t.index)
    if not queued:
        return ""
    what = "1 trial waits" if len(queued) == 1 else f"{len(queued)} trials wait"
    where = f" by LocalQueue {queue}" if queue else ""
    text = f"{what} for admission{where}"
    first = queued[0]
    why = (first.message or "").removeprefix(WAITING).removeprefix(": ")
    return f"{text}; {first.name}: {why}" if why else text
