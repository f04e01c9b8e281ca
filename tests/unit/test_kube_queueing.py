"""kube.queueing: a trial admitted by Kueue waits Queued, is admitted, is evicted and requeued
with its parameters, and its queue time is kept apart from its run (docs/testplane.md, "Kueue
facts", is what the Workloads below are shaped after)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypersearch.core.times import format_time
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import queueing, record
from hypersearch.kube.pods import PodView
from hypersearch.kube.queueing import (
    Admission,
    account,
    admissions,
    needs_admissions,
    waiting_summary,
    workload_uids,
)

T0 = 1_800_000_000.0
QUOTA = (
    "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in "
    "flavor k80, 2 more needed"
)
PREEMPTED = (
    "Preempted to accommodate a workload (UID: u1, JobUID: j1) due to prioritization in the "
    "ClusterQueue"
)


def recorded(**fields: Any) -> record.Entry:
    entry = {"name": "s-0001", "index": 1, "params": {"lr": 0.1}, **fields}
    return record.read_entry(entry, "acc")


def judged(phase: TrialPhase = TrialPhase.PENDING, **fields: Any) -> Trial:
    """The trial as ``failures.judge`` leaves it (it knows nothing of queues)."""
    return Trial("s-0001", 1, {"lr": 0.1}, phase, **fields)


def workload(
    owner_kind: str, owner: str, **conditions: tuple[str, str, str, float]
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"job-{owner}-1a2b3",
            "ownerReferences": [{"kind": owner_kind, "name": owner, "uid": "x"}],
        },
        "status": {
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": format_time(at),
                }
                for kind, (status, reason, message, at) in conditions.items()
            ]
        },
    }


def test_a_waiting_workloads_admission_carries_kueues_quota_message() -> None:
    found = admissions(
        [
            workload(
                "Job",
                "s-0001",
                QuotaReserved=("False", "Pending", QUOTA, T0),
                Admitted=("False", "NoReservation", "", T0),
            ),
            {"metadata": {"name": "other", "ownerReferences": [{"kind": "Pod", "name": "p"}]}},
        ]
    )
    assert found == {
        "s-0001": Admission("s-0001", "job-s-0001-1a2b3", admitted=False, waiting=QUOTA)
    }


def test_a_readmitted_workload_still_says_why_it_was_evicted_and_when() -> None:
    wl = workload(
        "JobSet",
        "s-0002",
        QuotaReserved=("True", "QuotaReserved", "", T0 + 50),
        Admitted=("True", "Admitted", "", T0 + 50),
        Evicted=("False", "QuotaReserved", f"Previously: {PREEMPTED}", T0 + 50),
    )
    read = queueing.admission(wl)
    assert read is not None
    assert (read.trial, read.admitted, read.waiting) == ("s-0002", True, "")
    assert (read.evicted, read.evicted_at) == (PREEMPTED, T0 + 50)


def test_a_suspended_workload_that_never_started_is_queued_since_its_creation() -> None:
    kueue = Admission("s-0001", "wl", admitted=False, waiting=QUOTA)
    trial = account(
        judged(),
        recorded(phase="Pending"),
        waiting=True,
        started_at=None,
        created_at=T0,
        kueue=kueue,
        now=T0 + 30,
    )
    assert trial.phase is TrialPhase.QUEUED
    assert (trial.queued_at, trial.queued_seconds, trial.requeues) == (T0, 0.0, 0)
    assert trial.message == f"waiting for the queue's admission: {QUOTA}"


def test_an_admitted_trial_adds_its_wait_until_the_workloads_start() -> None:
    trial = account(
        judged(TrialPhase.RUNNING, started_at=T0 + 40),
        recorded(phase="Queued", queuedAt=format_time(T0)),
        waiting=False,
        started_at=T0 + 40,
        created_at=T0,
        kueue=None,
        now=T0 + 45,
    )
    assert trial.phase is TrialPhase.RUNNING
    assert (trial.queued_at, trial.queued_seconds, trial.started_at) == (None, 40.0, T0 + 40)


def test_a_started_trial_whose_workload_is_suspended_again_is_requeued_not_failed() -> None:
    kueue = Admission(
        "s-0001", "wl", admitted=False, waiting=QUOTA, evicted=PREEMPTED, evicted_at=T0 + 100
    )
    trial = account(
        judged(started_at=T0 + 40),  # convert's started_at is the recorded one
        recorded(phase="Running", startedAt=format_time(T0 + 40), queuedSeconds=40.0),
        waiting=True,
        started_at=None,
        created_at=T0,
        kueue=kueue,
        now=T0 + 103,
    )
    assert (trial.phase, trial.reason) == (TrialPhase.QUEUED, None)
    assert (trial.requeues, trial.queued_at, trial.queued_seconds) == (1, T0 + 100, 40.0)
    assert trial.started_at is None  # the next run's timeout counts from its own start
    assert trial.message == (
        f"evicted by its queue ({PREEMPTED}); waiting for the queue's admission: {QUOTA}"
    )
    assert trial.params == {"lr": 0.1}


def test_a_requeued_trial_is_counted_once_however_often_it_is_looked_at() -> None:
    kueue = Admission(
        "s-0001", "wl", admitted=False, waiting=QUOTA, evicted=PREEMPTED, evicted_at=T0 + 100
    )
    again = account(
        judged(),
        recorded(phase="Queued", requeues=1, queuedAt=format_time(T0 + 100), queuedSeconds=40.0),
        waiting=True,
        started_at=None,
        created_at=T0,
        kueue=kueue,
        now=T0 + 200,
    )
    assert (again.requeues, again.queued_at, again.queued_seconds) == (1, T0 + 100, 40.0)
    assert again.message == (  # why it waits again, for as long as it waits
        f"evicted by its queue ({PREEMPTED}); waiting for the queue's admission: {QUOTA}"
    )


def test_a_trial_evicted_and_readmitted_between_two_looks_counts_one_requeue() -> None:
    kueue = Admission("s-0001", "wl", admitted=True, evicted=PREEMPTED, evicted_at=T0 + 100)
    trial = account(
        judged(TrialPhase.RUNNING, started_at=T0 + 40),
        recorded(phase="Running", startedAt=format_time(T0 + 40)),
        waiting=False,
        started_at=T0 + 160,
        created_at=T0,
        kueue=kueue,
        now=T0 + 170,
    )
    assert (trial.requeues, trial.queued_seconds, trial.started_at) == (1, 60.0, T0 + 160)


def test_a_later_start_without_kueues_eviction_between_is_not_a_requeue() -> None:
    for kueue in (None, Admission("s-0001", "wl", admitted=True)):
        trial = account(
            judged(TrialPhase.RUNNING, started_at=T0 + 40),
            recorded(phase="Running", startedAt=format_time(T0 + 40)),
            waiting=False,
            started_at=T0 + 160,
            created_at=T0,
            kueue=kueue,
            now=T0 + 170,
        )
        assert (trial.requeues, trial.queued_seconds) == (0, 0.0)


def test_kueues_workloads_are_read_only_while_a_trial_waits_or_restarted_unseen() -> None:
    base = PodView(
        "s-0001", "Running", "u", False, 1, {}, None, T0, T0 + 40, None, None, "", "", ""
    )
    entries = {"s-0001": {"startedAt": format_time(T0 + 40)}}
    assert not needs_admissions([base], entries)  # a Pod trial: never
    admitted = dataclasses.replace(base, queued=False)
    assert not needs_admissions([admitted], entries)
    assert needs_admissions([dataclasses.replace(base, queued=True, started_at=None)], entries)
    restarted = dataclasses.replace(admitted, started_at=T0 + 160)
    assert needs_admissions([restarted], entries)


def test_kueues_workloads_are_read_for_the_searchs_queue_workloads_only() -> None:
    pod = PodView("s-0000", "Running", "u", False, 0, {}, None, T0, T0, None, None, "", "", "")
    waiting = dataclasses.replace(pod, name="s-0001", queued=True, uid="uid-b")
    running = dataclasses.replace(pod, name="s-0002", queued=False, uid="uid-a")
    unknown = dataclasses.replace(pod, name="s-0003", queued=True, uid=None)
    # A Pod trial (queued None) has no Workload; the rest in a stable order, each once.
    views = [dataclasses.replace(pod, uid="pod-uid"), waiting, running, unknown, waiting]
    assert workload_uids(views) == ["uid-a", "uid-b"]


def test_a_trial_stopped_while_it_waits_keeps_the_wait_it_had() -> None:
    trial = account(
        judged(TrialPhase.FAILED, finished_at=T0 + 90),
        recorded(phase="Queued", queuedAt=format_time(T0 + 30), queuedSeconds=5.0),
        waiting=True,
        started_at=None,
        created_at=T0,
        kueue=None,
        now=T0 + 95,
    )
    assert (trial.phase, trial.queued_seconds, trial.queued_at) == (TrialPhase.FAILED, 65.0, None)


def test_a_trial_that_never_waited_is_left_as_it_was_judged() -> None:
    judged_trial = judged(TrialPhase.RUNNING, started_at=T0)
    same = account(
        judged_trial,
        recorded(phase="Running", startedAt=format_time(T0)),
        waiting=False,
        started_at=T0,
        created_at=T0,
        kueue=None,
        now=T0 + 5,
    )
    assert same is judged_trial


def test_the_condition_message_counts_the_waiting_trials_and_gives_kueues_reason() -> None:
    waiting = [
        Trial(
            f"s-000{i}",
            i,
            {},
            TrialPhase.QUEUED,
            message=f"waiting for the queue's admission: {QUOTA}",
        )
        for i in (3, 2)
    ]
    running = Trial("s-0001", 1, {}, TrialPhase.RUNNING)
    assert waiting_summary([running, *waiting], "trials") == (
        f"2 trials wait for admission by LocalQueue trials; s-0002: {QUOTA}"
    )
    assert waiting_summary([running], "trials") == ""
    bare = Trial("s-0004", 4, {}, TrialPhase.QUEUED, message="waiting for the queue's admission")
    assert waiting_summary([bare], None) == "1 trial waits for admission"
