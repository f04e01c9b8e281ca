"""Status entries + Pods -> trials (kube.convert): every way a trial can end, and adoption."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from hypersearch.core import reasons
from hypersearch.core.times import format_time, parse_time
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import convert, failures, names, record
from hypersearch.kube.failures import Timing
from hypersearch.kube.pods import PodView, pod_view
from hypersearch.kube.queueing import Admission

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TIMING = Timing(unschedulable_seconds=300, metric_grace_seconds=30)


def iso(when: float) -> str:
    return format_time(when)


def pod(
    name: str = "s-0000",
    phase: str = "Running",
    *,
    index: int = 0,
    params: dict[str, Any] | None = None,
    terminated: dict[str, Any] | None = None,
    unschedulable_at: float | None = None,
    deleting: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "startTime": iso(T0)}
    if terminated is not None:
        status["containerStatuses"] = [{"name": "trainer", "state": {"terminated": terminated}}]
    if unschedulable_at is not None:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/5 nodes are available: 5 Insufficient nvidia.com/gpu.",
                "lastTransitionTime": iso(unschedulable_at),
            }
        ]
    if reason:
        status["reason"] = reason
        status["message"] = "The node was low on resource: memory."
    meta: dict[str, Any] = {
        "name": name,
        "annotations": {
            names.PARAMS_ANNOTATION: json.dumps(params or {"x": 1}),
            names.INDEX_ANNOTATION: str(index),
        },
        "ownerReferences": [{"kind": "HyperSearch", "name": "s", "uid": "u1"}],
        "creationTimestamp": iso(T0),
    }
    if deleting:
        meta["deletionTimestamp"] = iso(T0 + 5)
    return {"metadata": meta, "status": status}


def entry(name: str = "s-0000", **fields: Any) -> dict[str, Any]:
    return {"name": name, "index": 0, "params": {"x": 1}, "phase": "Running", **fields}


def gather(entries: list[dict[str, Any]], pods: list[dict[str, Any]], now: float) -> list[Trial]:
    views = [pod_view(p) for p in pods]
    return convert.gather_trials(entries, views, metric="val_acc", now=now, timing=TIMING)


def one(entries: list[dict[str, Any]], pods: list[dict[str, Any]], now: float = T0 + 60) -> Trial:
    (trial,) = gather(entries, pods, now)
    return trial


FINISHED = {"exitCode": 0, "finishedAt": iso(T0 + 50), "reason": "Completed"}


@pytest.mark.parametrize(
    ("case", "entries", "pods", "phase", "reason", "value"),
    [
        ("running pod", [entry()], [pod()], TrialPhase.RUNNING, None, None),
        ("pending pod", [entry()], [pod(phase="Pending")], TrialPhase.PENDING, None, None),
        (
            "succeeded with a final report",
            [entry(value=0.9, exitCode=0)],
            [pod(phase="Succeeded", terminated=FINISHED)],
            TrialPhase.SUCCEEDED,
            None,
            0.9,
        ),
        (
            "succeeded, report not in yet, within grace",
            [entry()],
            [pod(phase="Succeeded", terminated=FINISHED)],
            TrialPhase.RUNNING,
            None,
            None,
        ),
        (
            "succeeded, report not in after grace",
            [entry()],
            [pod(phase="Succeeded", terminated={**FINISHED, "finishedAt": iso(T0)})],
            TrialPhase.FAILED,
            reasons.METRIC_NOT_REPORTED,
            None,
        ),
        (
            "final report without the metric",
            [entry(exitCode=0, metricMessage="no value reported for metric val_acc")],
            [pod(phase="Succeeded", terminated=FINISHED)],
            TrialPhase.FAILED,
            reasons.METRIC_NOT_FOUND,
            None,
        ),
        (
            "trainer exited non-zero",
            [entry()],
            [pod(phase="Failed", terminated={"exitCode": 2, "reason": "Error"})],
            TrialPhase.FAILED,
            reasons.TRAINING_FAILED,
            None,
        ),
        (
            "oom killed",
            [entry()],
            [pod(phase="Failed", terminated={"exitCode": 137, "reason": "OOMKilled"})],
            TrialPhase.FAILED,
            reasons.OOM_KILLED,
            None,
        ),
        (
            "evicted",
            [entry()],
            [pod(phase="Failed", reason="Evicted")],
            TrialPhase.FAILED,
            "Evicted",
            None,
        ),
        ("pod deleted", [entry()], [], TrialPhase.FAILED, reasons.POD_DELETED, None),
        (
            "pod being deleted",
            [entry()],
            [pod(deleting=True)],
            TrialPhase.FAILED,
            reasons.POD_DELETED,
            None,
        ),
        (
            "pod gone after a final report",
            [entry(value=0.7, exitCode=0)],
            [],
            TrialPhase.SUCCEEDED,
            None,
            0.7,
        ),
        (
            "unschedulable, within the timeout",
            [entry()],
            [pod(phase="Pending", unschedulable_at=T0)],
            TrialPhase.PENDING,
            None,
            None,
        ),
        (
            "unschedulable past the timeout",
            [entry()],
            [pod(phase="Pending", unschedulable_at=T0 - 300)],
            TrialPhase.FAILED,
            reasons.UNSCHEDULABLE,
            None,
        ),
        (
            "finished entries are final whatever the pod says",
            [entry(phase="Failed", reason="Timeout", message="too slow")],
            [pod()],
            TrialPhase.FAILED,
            "Timeout",
            None,
        ),
    ],
)
def test_trial_phase_from_entry_and_pod(
    case: str,
    *,
    entries: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    phase: TrialPhase,
    reason: str | None,
    value: float | None,
) -> None:
    trial = one(entries, pods)
    assert (trial.phase, trial.reason, trial.value) == (phase, reason, value), case


@pytest.mark.parametrize(
    ("pods", "message"),
    [
        (
            [pod(phase="Failed", terminated={"exitCode": 2, "reason": "Error"})],
            "container trainer exited with code 2",
        ),
        ([], "trial Pod s-0000 was deleted before the trial finished"),
        (
            [pod(phase="Pending", unschedulable_at=T0 - 300)],
            "trial Pod s-0000 could not be scheduled for 300s: "
            "0/5 nodes are available: 5 Insufficient nvidia.com/gpu.",
        ),
    ],
)
def test_failure_messages_say_what_happened(pods: list[dict[str, Any]], message: str) -> None:
    assert one([entry()], pods).message == message


def test_a_job_trial_whose_job_is_gone_names_the_job_not_a_pod() -> None:
    (trial,) = convert.gather_trials(
        [entry()], [], metric="val_acc", now=T0 + 60, timing=TIMING, kind="Job"
    )
    assert trial.message == "trial Job s-0000 was deleted before the trial finished"


def test_metric_not_found_message_carries_the_sidecars_reason() -> None:
    trial = one(
        [
            entry(
                exitCode=0, metricMessage="no value reported for metric val_acc (saw metrics: loss)"
            )
        ],
        [pod(phase="Succeeded", terminated=FINISHED)],
    )
    assert trial.message == (
        "trial s-0000 finished but no value reported for metric val_acc (saw metrics: loss); "
        "make the training program print it (for example 'val_acc=0.93')"
    )


def test_a_pod_missing_from_status_is_adopted_from_its_annotations() -> None:
    trial = one([], [pod("s-0004", index=4, params={"x": 7, "opt": "adam"})])
    assert (trial.name, trial.index, trial.params, trial.phase) == (
        "s-0004",
        4,
        {"x": 7, "opt": "adam"},
        TrialPhase.RUNNING,
    )


def test_a_sidecar_entry_without_operator_fields_takes_them_from_the_pod() -> None:
    trial = one([{"name": "s-0002", "curve": [[1, 0.5]]}], [pod("s-0002", index=2)])
    assert (trial.index, trial.params, trial.observations[0].value) == (2, {"x": 1}, 0.5)


def test_an_entry_with_neither_operator_fields_nor_pod_is_left_out() -> None:
    assert gather([{"name": "s-0009", "value": 1.0}], [], T0) == []


def test_trials_come_back_in_index_order() -> None:
    pods = [pod(f"s-000{i}", index=i) for i in (2, 0, 1)]
    assert [t.index for t in gather([], pods, T0)] == [0, 1, 2]


def test_operator_entry_carries_the_report_only_once_finished() -> None:
    recorded = {"name": "s-0000", "value": 0.5, "curve": [[1, 0.5]], "reportedAt": iso(T0)}
    running = Trial("s-0000", 0, {"x": 1}, TrialPhase.RUNNING, started_at=T0)
    done = Trial("s-0000", 0, {"x": 1}, TrialPhase.SUCCEEDED, 0.5, started_at=T0, finished_at=T0)
    assert record.trial_entry(running, recorded) == {
        "name": "s-0000",
        "index": 0,
        "params": {"x": 1},
        "phase": "Running",
        "startedAt": iso(T0),
    }
    assert record.trial_entry(done, recorded) == {
        "name": "s-0000",
        "index": 0,
        "params": {"x": 1},
        "phase": "Succeeded",
        "startedAt": iso(T0),
        "finishedAt": iso(T0),
        "value": 0.5,
        "curve": [[1, 0.5]],
        "reportedAt": iso(T0),
    }


def test_times_round_trip_through_rfc3339() -> None:
    assert format_time(T0) == "2027-01-15T08:00:00Z"
    assert parse_time("2027-01-15T08:00:00Z") == T0
    assert parse_time("not a time") is None


def stuck_pod(reason: str = "ImagePullBackOff", *, init: bool = False) -> dict[str, Any]:
    """A Pod scheduled at T0 whose container waits: the kubelet cannot start it."""
    found = pod(phase="Pending")
    found["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": iso(T0)}
    ]
    waiting = {
        "name": names.SIDECAR_CONTAINER if init else "trainer",
        "state": {
            "waiting": {
                "reason": reason,
                "message": 'Back-off pulling image "trainer:tpyo"',
            }
        },
    }
    found["status"]["initContainerStatuses" if init else "containerStatuses"] = [waiting]
    return found


@pytest.mark.parametrize("init", [False, True])
def test_a_container_that_cannot_start_fails_its_trial_once_the_timeout_passed(
    init: bool,
) -> None:
    container = names.SIDECAR_CONTAINER if init else "trainer"
    assert one([entry(phase="Pending")], [stuck_pod(init=init)], T0 + 299).phase is (
        TrialPhase.PENDING
    )
    trial = one([entry(phase="Pending")], [stuck_pod(init=init)], T0 + 300)
    assert (trial.phase, trial.reason) == (TrialPhase.FAILED, "ImagePullBackOff")
    assert trial.message == (
        f"trial Pod s-0000 could not start container {container} for 300s: ImagePullBackOff: "
        'Back-off pulling image "trainer:tpyo"; check the image name, the registry and '
        "imagePullSecrets, or the container's configuration"
    )


def test_a_container_still_being_created_is_not_stuck() -> None:
    slow = stuck_pod("ContainerCreating")
    assert one([entry(phase="Pending")], [slow], T0 + 3600).phase is TrialPhase.PENDING
    assert failures.start_deadline(pod_view(slow), TIMING) is None
    assert failures.start_deadline(pod_view(stuck_pod()), TIMING) == T0 + 300


def test_a_pending_trial_says_why_before_the_timeout_fails_it() -> None:
    # Found on the real node: a Pod asking for more GPUs than any node has sat Pending for the
    # whole timeout with nothing in the search's status saying why.
    waiting = one([entry(phase="Pending")], [pod(phase="Pending", unschedulable_at=T0)], T0 + 10)
    assert (waiting.phase, waiting.reason) == (TrialPhase.PENDING, None)
    assert waiting.message == (
        "trial Pod s-0000 cannot be scheduled yet: 0/5 nodes are available: 5 Insufficient "
        "nvidia.com/gpu. (fails as Unschedulable after 300s)"
    )
    stuck = one([entry(phase="Pending")], [stuck_pod()], T0 + 10)
    assert (stuck.phase, stuck.reason) == (TrialPhase.PENDING, None)
    assert stuck.message == (
        "container trainer of trial Pod s-0000 cannot start yet: ImagePullBackOff: "
        'Back-off pulling image "trainer:tpyo"'
    )
    assert record.trial_entry(stuck, None)["message"] == stuck.message
    assert one([entry(phase="Pending")], [pod(phase="Pending")], T0 + 10).message is None


def test_a_null_curve_value_is_nan_so_a_diverged_report_reaches_the_rule() -> None:
    trial = one([{"name": "s-0002", "curve": [[1, 0.5], [2, None]]}], [pod("s-0002", index=2)])
    assert [o.step for o in trial.observations] == [1, 2]
    assert trial.observations[0].value == 0.5
    assert math.isnan(trial.observations[1].value)


# --- workloads a queue admits (Kueue): the workload seen as a PodView with ``queued`` ----------


def workload(queued: bool, started: float | None) -> PodView:
    """A trial's Job as the operator sees it: suspended and waiting, or admitted and running."""
    view = pod_view(pod("s-0000", "Pending" if queued else "Running"))
    return dataclasses.replace(view, queued=queued, started_at=started)


def test_a_started_trial_whose_job_kueue_suspended_again_is_requeued_not_pod_deleted() -> None:
    kueue = {"s-0000": Admission("s-0000", "job-s-0000-x", False, "2 more needed", "Preempted")}
    (trial,) = convert.gather_trials(
        [entry(startedAt=iso(T0))],
        [workload(queued=True, started=None)],
        metric="val_acc",
        now=T0 + 90,
        timing=TIMING,
        admissions=kueue,
    )
    assert (trial.phase, trial.reason, trial.requeues) == (TrialPhase.QUEUED, None, 1)
    assert trial.params == {"x": 1}
    assert trial.queued_at == T0 + 90
    assert trial.message == (
        "evicted by its queue (Preempted); waiting for the queue's admission: 2 more needed"
    )


def test_a_queued_trial_admitted_since_runs_from_its_jobs_start() -> None:
    (trial,) = convert.gather_trials(
        [entry(phase="Queued", queuedAt=iso(T0), requeues=1, queuedSeconds=10.0)],
        [workload(queued=False, started=T0 + 30)],
        metric="val_acc",
        now=T0 + 35,
        timing=TIMING,
    )
    assert (trial.phase, trial.started_at) == (TrialPhase.RUNNING, T0 + 30)
    assert (trial.requeues, trial.queued_seconds, trial.queued_at) == (1, 40.0, None)
