"""The reconcile of a search whose trials are Jobs, against an in-memory API: Jobs instead of
Pods, the verdict from the Job's own conditions plus the report, stopping deletes the Job, and
after the first look only unfinished trials' Jobs are read."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from test_kube_reconcile import T0, FakeApi, manifest, reconciler, status_trials

from hypersearch.core.times import format_time


def job_manifest(**kwargs: Any) -> dict[str, Any]:
    body = manifest(**kwargs)
    trial = body["spec"]["trial"]
    trial["jobTemplate"] = {
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "completionMode": "Indexed",
            "template": trial.pop("template"),
        }
    }
    return body


class WorkloadApi(FakeApi):
    """FakeApi with Jobs: created Jobs are kept by name; the test plays the Job controller."""

    def __init__(self, search: dict[str, Any]):
        super().__init__(search)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deleted_jobs: list[tuple[str, str]] = []
        self.job_lists = 0
        self.job_gets: list[str] = []
        self.pending: list[dict[str, Any]] = []
        """The namespace's Pending trial Pods (what the scheduler or kubelet left waiting)."""

    def create_workload(self, obj: Mapping[str, Any]) -> bool:
        name = obj["metadata"]["name"]
        if name in self.jobs:
            return False
        stored = copy.deepcopy(dict(obj))
        stored["metadata"]["creationTimestamp"] = format_time(T0)
        stored["status"] = {}
        self.jobs[name] = stored
        return True

    def list_trial_workloads(self, kind: str, namespace: str, search: str) -> list[dict[str, Any]]:
        self.job_lists += 1
        return copy.deepcopy(list(self.jobs.values()))

    def get_workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.job_gets.append(name)
        return copy.deepcopy(self.jobs.get(name))

    def delete_workload(self, kind: str, namespace: str, name: str) -> None:
        self.deleted_jobs.append((kind, name))
        self.jobs.pop(name, None)

    def list_pods(
        self, namespace: str, selector: str, *, pending_only: bool = False
    ) -> list[dict[str, Any]]:
        if pending_only:
            assert selector == "hypersearch.io/trial"
            return copy.deepcopy(self.pending)
        job = selector.split("=", 1)[1]
        return [
            {
                "metadata": {"name": f"{job}-1-abcde"},
                "status": {
                    "phase": "Failed",
                    "containerStatuses": [{"name": "t", "state": {"terminated": {"exitCode": 2}}}],
                },
            }
        ]

    def start(self, name: str) -> None:
        self.jobs[name]["status"] = {"startTime": format_time(T0), "active": 2}

    def end(self, name: str, condition: str, reason: str = "", message: str = "") -> None:
        self.jobs[name]["status"]["conditions"] = [
            {
                "type": condition,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": format_time(T0 + 1),
            }
        ]


def test_a_job_search_creates_one_job_per_trial_and_no_pods() -> None:
    api = WorkloadApi(job_manifest())
    rec = reconciler(api)
    outcome = rec.reconcile("ml", "s", T0)
    assert outcome.started == ("s-0000", "s-0001")
    assert sorted(api.jobs) == ["s-0000", "s-0001"] and not api.pods
    assert sorted(api.trials) == ["s-0000", "s-0001"]
    assert not rec.reconcile("ml", "s", T0 + 1).started


def test_a_complete_job_with_a_report_succeeds_and_one_without_fails_after_the_grace() -> None:
    api = WorkloadApi(job_manifest(max_trials=2))
    rec = reconciler(api)
    rec.reconcile("ml", "s", T0)
    for name in ("s-0000", "s-0001"):
        api.start(name)
        api.end(name, "Complete")
    api.report("s-0000", 0.9)
    rec.reconcile("ml", "s", T0 + 2)
    trials = status_trials(api)
    assert (trials["s-0000"]["phase"], trials["s-0000"]["value"]) == ("Succeeded", 0.9)
    assert trials["s-0001"]["phase"] == "Running"
    rec.reconcile("ml", "s", T0 + 40)
    assert status_trials(api)["s-0001"]["reason"] == "MetricNotReported"


def test_a_failed_job_fails_its_trial_with_the_job_reason_and_the_failed_pod() -> None:
    api = WorkloadApi(job_manifest(max_trials=2, parallelism=1))
    rec = reconciler(api)
    rec.reconcile("ml", "s", T0)
    api.start("s-0000")
    api.end(
        "s-0000", "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    )
    rec.reconcile("ml", "s", T0 + 2)
    trial = status_trials(api)["s-0000"]
    assert (trial["phase"], trial["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert trial["message"] == (
        "Job s-0000 failed: Job has reached the specified backoff limit; Pod s-0000-1-abcde: "
        "TrainingFailed: container t exited with code 2"
    )


def test_a_job_past_its_timeout_is_deleted_whole() -> None:
    body = job_manifest(parallelism=1)
    body["spec"]["trial"]["timeoutSeconds"] = 100
    api = WorkloadApi(body)
    rec = reconciler(api)
    rec.reconcile("ml", "s", T0)
    api.start("s-0000")
    rec.reconcile("ml", "s", T0 + 101)
    assert status_trials(api)["s-0000"]["reason"] == "Timeout"
    assert api.deleted_jobs == [("Job", "s-0000")]
    assert not api.deleted


def test_after_the_first_look_only_the_unfinished_trials_jobs_are_read() -> None:
    api = WorkloadApi(job_manifest(max_trials=3, parallelism=1))
    rec = reconciler(api)
    rec.reconcile("ml", "s", T0)
    api.start("s-0000")
    api.end("s-0000", "Complete")
    api.report("s-0000", 0.5)
    rec.reconcile("ml", "s", T0 + 2)  # s-0000 ends, s-0001 starts
    api.job_gets.clear()
    rec.reconcile("ml", "s", T0 + 3)
    assert api.job_lists == 1
    assert api.job_gets == ["s-0001"]


def unschedulable_pod(trial: str, since: float) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{trial}-1-fghij", "labels": {"hypersearch.io/trial": trial}},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                    "lastTransitionTime": format_time(since),
                }
            ],
        },
    }


def test_a_job_whose_pod_cannot_be_scheduled_fails_unschedulable_and_is_deleted() -> None:
    # The Job controller never fails a Pending Pod: without this the trial would hold its slot
    # until its timeout, or for ever without one.
    api = WorkloadApi(job_manifest(max_trials=1, parallelism=1))
    rec = reconciler(api)
    rec.reconcile("ml", "s", T0)
    api.start("s-0000")
    api.pending = [unschedulable_pod("s-0000", T0), unschedulable_pod("other-0003", T0)]
    waiting = rec.reconcile("ml", "s", T0 + 10)
    trial = status_trials(api)["s-0000"]
    assert trial["phase"] == "Pending"  # as a trial Pod that waits for a node
    assert trial["message"].startswith(
        "trial Job s-0000 cannot be scheduled yet: Pod s-0000-1-fghij: 0/3 nodes are available"
    )
    assert waiting.requeue_after is not None and abs(waiting.requeue_after - 290) < 1
    rec.reconcile("ml", "s", T0 + 301)
    trial = status_trials(api)["s-0000"]
    assert (trial["phase"], trial["reason"]) == ("Failed", "Unschedulable")
    assert trial["message"].startswith(
        "trial Job s-0000 could not be scheduled for 300s: Pod s-0000-1-fghij: 0/3 nodes"
    )
    assert api.deleted_jobs == [("Job", "s-0000")]
