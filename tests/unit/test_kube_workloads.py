"""Job and JobSet trials (kube.workloads): rendering, and reading a workload back as the view the
trial verdict uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import job_trial, jobset_trial, manifest

from hypersearch.core.engine import NewTrial
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.spec import SearchSpec
from hypersearch.core.times import parse_time
from hypersearch.kube import names, workloads
from hypersearch.kube.manifests import Owner, PodSettings
from hypersearch.kube.pods import PodView, pod_view

OWNER = Owner(name="ddp", namespace="ml", uid="uid-1")
NEW = NewTrial(name="ddp-0003", index=3, params={"lr": 0.01})
PARAMS = [{"name": "lr", "type": "float", "min": 0.001, "max": 0.1}]


def spec_of(trial: dict[str, Any]) -> SearchSpec:
    return parse_manifest(manifest(parameters=PARAMS, trial={"machineType": "K80", **trial}))


def render(trial: dict[str, Any]) -> dict[str, Any]:
    return workloads.trial_workload(spec_of(trial), OWNER, NEW, PodSettings())


def sidecar(pod_spec: dict[str, Any]) -> dict[str, Any] | None:
    found = [c for c in pod_spec.get("initContainers") or [] if c["name"] == "hypersearch-metrics"]
    return found[0] if found else None


def test_an_indexed_job_trial_is_owned_labelled_and_every_pod_may_report_index_zero() -> None:
    job = render(job_trial(pods=2))
    meta = job["metadata"]
    assert (job["apiVersion"], job["kind"], meta["name"]) == ("batch/v1", "Job", "ddp-0003")
    assert meta["ownerReferences"] == [OWNER.reference()]
    assert meta["labels"][names.SEARCH_LABEL] == "ddp"
    assert meta["annotations"][names.PARAMS_ANNOTATION] == '{"lr":0.01}'
    assert job["spec"]["backoffLimit"] == 0
    assert "suspend" not in job["spec"]
    pod = job["spec"]["template"]
    assert names.SEARCH_LABEL not in pod["metadata"]["labels"]
    assert pod["metadata"]["labels"][names.TRIAL_LABEL] == "ddp-0003"
    trainer = pod["spec"]["containers"][0]
    assert trainer["command"][-3:] == ["train.py", "--lr", "0.01"]
    assert trainer["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    found = sidecar(pod["spec"])
    assert found is not None
    assert found["command"][-1] == "--report-if-pod-index=0"
    assert found["env"] == [
        {
            "name": names.POD_INDEX_ENV,
            "valueFrom": {
                "fieldRef": {
                    "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                }
            },
        }
    ]


def test_a_single_pod_job_trial_is_made_indexed_so_its_pod_is_named_by_index() -> None:
    # The sidecar policy admits a Job Pod named <trial>-<index>-<random>; a NonIndexed Job's
    # Pods are <trial>-<random> and could never report.
    job = render(job_trial(pods=1))
    assert job["spec"]["completionMode"] == "Indexed"
    found = sidecar(job["spec"]["template"]["spec"])
    assert found is not None
    assert found["command"][-1] == "--report-if-pod-index=0"


def test_a_queued_job_is_suspended_with_the_queue_label_and_keeps_its_backoff_limit() -> None:
    trial = job_trial(pods=1, queueName="team-a")
    trial["jobTemplate"]["spec"]["backoffLimit"] = 2
    job = render(trial)
    assert job["metadata"]["labels"][workloads.QUEUE_LABEL] == "team-a"
    assert (job["spec"]["suspend"], job["spec"]["backoffLimit"]) == (True, 2)
    found = sidecar(job["spec"]["template"]["spec"])
    assert found is not None and found["command"][-1] == "--report-if-pod-index=0"


def test_a_jobset_trial_has_the_sidecar_only_in_the_reporter_replicated_job() -> None:
    jobset = render(jobset_trial(workers=2, reporter={"replicatedJob": "worker", "jobIndex": 1}))
    assert (jobset["apiVersion"], jobset["kind"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet")
    leader, worker = jobset["spec"]["replicatedJobs"]
    leader_pod = leader["template"]["spec"]["template"]["spec"]
    worker_pod = worker["template"]["spec"]["template"]["spec"]
    assert sidecar(leader_pod) is None
    assert leader_pod["containers"][0]["command"] == [
        "python",
        "train.py",
        "--role",
        "leader",
        "--lr",
        "0.01",
    ]
    assert leader_pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert leader_pod["restartPolicy"] == "Never"
    found = sidecar(worker_pod)
    assert found is not None
    assert found["command"][-2:] == ["--report-if-pod-index=0", "--report-if-job-index=1"]
    assert worker_pod["containers"][0]["command"][-4:] == ["--role", "worker", "--lr", "0.01"]
    assert worker["template"]["spec"]["backoffLimit"] == 0


def job(conditions: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "kind": "Job",
        "metadata": {
            "name": "ddp-0003",
            "creationTimestamp": "2026-12-06T10:00:00Z",
            "annotations": {names.PARAMS_ANNOTATION: '{"lr":0.01}', names.INDEX_ANNOTATION: "3"},
            "ownerReferences": [{"kind": names.KIND, "uid": "uid-1"}],
        },
        "spec": {},
        "status": {"conditions": conditions, **status},
    }


def cond(type_: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-12-06T10:05:00Z",
    }


@pytest.mark.parametrize(
    ("obj", "phase", "reason"),
    [
        (job([]), "Pending", ""),
        (job([], startTime="2026-12-06T10:01:00Z"), "Running", ""),
        (job([cond("SuccessCriteriaMet")], startTime="2026-12-06T10:01:00Z"), "Running", ""),
        (job([cond("Complete")], startTime="2026-12-06T10:01:00Z"), "Succeeded", ""),
        (
            job(
                [
                    cond(
                        "Failed",
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    )
                ]
            ),
            "Failed",
            "BackoffLimitExceeded",
        ),
        ({**job([cond("Completed")]), "kind": "JobSet"}, "Succeeded", ""),
        ({**job([cond("Failed", "FailedJobs")]), "kind": "JobSet"}, "Failed", "FailedJobs"),
    ],
)
def test_a_workload_reads_as_the_phase_of_its_own_conditions(
    obj: dict[str, Any], phase: str, reason: str
) -> None:
    view = workloads.trial_view(workloads.workload_view(obj))
    assert (view.phase, view.failure_reason) == (phase, reason)
    assert (view.index, view.params, view.owner_uid) == (3, {"lr": 0.01}, "uid-1")


def test_a_suspended_job_waits_and_has_no_start() -> None:
    obj = job([])
    obj["spec"]["suspend"] = True
    view = workloads.workload_view(obj)
    assert (view.suspended, view.started_at, workloads.trial_view(view).phase) == (
        True,
        None,
        "Pending",
    )


def queued_job(suspend: bool, conditions: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    obj = job(conditions, **status)
    obj["metadata"]["labels"] = {workloads.QUEUE_LABEL: "trials"}
    obj["spec"]["suspend"] = suspend
    return obj


@pytest.mark.parametrize(
    ("obj", "queued"),
    [
        (job([]), None),  # no queue: not Kueue's
        (queued_job(True, []), True),  # created suspended, waiting
        (queued_job(False, [], startTime="2026-12-06T10:01:00Z"), False),  # admitted
        (queued_job(True, [cond("Suspended", "JobSuspended")]), True),  # evicted
        (queued_job(True, [cond("Complete")]), False),  # ended: nothing to wait for
    ],
    ids=["no-queue", "waiting", "admitted", "evicted", "ended"],
)
def test_a_queue_workload_says_whether_it_waits_for_admission(
    obj: dict[str, Any], queued: bool | None
) -> None:
    assert workloads.trial_view(workloads.workload_view(obj)).queued is queued


def test_a_jobset_unsuspended_before_its_condition_says_so_has_no_start_yet() -> None:
    """Readmitted by Kueue, the JobSet's spec is unsuspended before the JobSet controller turns
    its Suspended condition False: its start is unknown then, not its creation."""
    suspended = {**cond("Suspended", "SuspendedJobs"), "lastTransitionTime": "2026-12-06T10:04:00Z"}
    obj = {**queued_job(False, [suspended]), "kind": "JobSet"}
    assert workloads.workload_view(obj).started_at is None
    resumed = {**suspended, "status": "False", "reason": "ResumeJobs"}
    obj = {**queued_job(False, [resumed]), "kind": "JobSet"}
    assert workloads.workload_view(obj).started_at == parse_time("2026-12-06T10:04:00Z")
    assert workloads.workload_view({**job([]), "kind": "JobSet"}).started_at == parse_time(
        "2026-12-06T10:00:00Z"
    )  # never suspended: it started when created


def test_a_failed_job_says_why_with_its_failed_pod() -> None:
    failed_pod = pod_view(
        {
            "metadata": {"name": "ddp-0003-1-abcde"},
            "status": {
                "phase": "Failed",
                "containerStatuses": [
                    {"name": "trainer", "state": {"terminated": {"exitCode": 3}}}
                ],
            },
        }
    )
    obj = job(
        [cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
    )
    view = workloads.trial_view(workloads.workload_view(obj), failed_pod)
    assert isinstance(view, PodView)
    assert view.failure_message == (
        "Job ddp-0003 failed: Job has reached the specified backoff limit; Pod ddp-0003-1-abcde: "
        "TrainingFailed: container trainer exited with code 3"
    )


def test_the_ddp_jobset_example_renders_two_nodes_that_meet_at_the_leader() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "k8s" / "ddp-jobset.yaml"
    spec = parse_manifest(yaml.safe_load(path.read_text()))
    trial = NewTrial(
        name="ddp-jobset-0003",
        index=3,
        params={
            "conv2_filter": 32,
            "dense_layer": 256,
            "lr": 0.001,
        },
    )
    jobset = workloads.trial_workload(
        spec, Owner("ddp-jobset", "ml", "uid-2"), trial, PodSettings()
    )
    assert jobset["spec"]["network"] == {"enableDNSHostnames": True}
    leader, worker = (
        r["template"]["spec"]["template"]["spec"] for r in jobset["spec"]["replicatedJobs"]
    )
    leader_argv = leader["containers"][0]["command"]
    assert leader_argv[:2] == ["/bin/sh", "-c"] and sidecar(leader) is not None
    assert sidecar(worker) is None
    worker_argv = [*worker["containers"][0]["command"], *worker["containers"][0]["args"]]
    for argv in (leader_argv, worker_argv):
        assert "--rdzv-endpoint=$(JOBSET_NAME)-leader-0-0.$(JOBSET_NAME):29500" in argv
        assert [a for a in argv if a.startswith(("--conv2", "--dense", "--lr"))] == [
            "--conv2_filter=32",
            "--dense_layer=256",
            "--lr=0.001",
        ]
    for pod in (leader, worker):
        assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
