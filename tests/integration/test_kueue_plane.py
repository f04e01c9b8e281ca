"""Kueue and JobSet on the test plane: the real controllers, built from their Go modules.

These tests prove the foundation the Job/JobSet trial workloads will stand on (issue 15):
Kueue admits suspended Jobs within a ClusterQueue's GPU quota and makes the rest wait,
JobSet turns replicated jobs into Jobs and Pods, Kueue admits a JobSet, and a higher-priority
workload preempts a lower one (a Job, or a JobSet), which is suspended again and later
readmitted. The preemption tests also pin down the conditions, reasons and events the product
will read to requeue a trial (docs/testplane.md, "Kueue facts").

Pods run under kwok: a Pod stays Running for its `hypersearch.io/kwok-run-duration`
annotation; shortening that annotation on a running Pod makes it finish now.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hypersearch.kube.api import KUEUE_UIDS_PER_LIST, KubeApi
from hypersearch.kube.client import connect

from .kueue import PRIORITY_LABEL, QUEUE_LABEL, Queue, condition, is_true, workload_of
from .plane import ControlPlane, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.kueue]

VERSIONS = Path(__file__).resolve().parents[2] / "e2e" / "versions.env"
RUN_DURATION = "hypersearch.io/kwok-run-duration"
LONG_RUN = "600s"


def _pinned(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", VERSIONS.read_text(), re.MULTILINE)
    assert match, f"{name} missing from {VERSIONS}"
    return match.group(1)


def _pod_spec(gpus: int) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "trainer",
                "image": "example.invalid/trainer:1",
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"nvidia.com/gpu": str(gpus)},
                },
            }
        ],
    }


def _job(
    name: str, queue: str, gpus: int = 1, pods: int = 1, priority_class: str | None = None
) -> dict[str, Any]:
    """A trial-like Job: created suspended with the queue-name label, as Kueue expects."""
    labels = {QUEUE_LABEL: queue}
    if priority_class:
        labels[PRIORITY_LABEL] = priority_class
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "suspend": True,
            "parallelism": pods,
            "completions": pods,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {RUN_DURATION: LONG_RUN}},
                "spec": _pod_spec(gpus),
            },
        },
    }


def _suspended(plane: ControlPlane, namespace: str, kind: str, name: str) -> bool:
    return bool(plane.get_json(kind, name, "-n", namespace)["spec"].get("suspend"))


def _running_pods(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    pods = plane.get_json("pods", "-n", namespace, "-l", selector)["items"]
    return [p for p in pods if p.get("status", {}).get("phase") == "Running"]


def _finish_pods(plane: ControlPlane, namespace: str, selector: str) -> None:
    """Let the running Pods of a Job end now, as a training run that finishes would."""
    plane.kubectl(
        "annotate", "pods", "-n", namespace, "-l", selector, f"{RUN_DURATION}=1s", "--overwrite"
    )


def _events(plane: ControlPlane, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
    items = plane.get_json(
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind={kind},involvedObject.name={name}",
    )["items"]
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def test_controllers_are_the_pinned_releases(kueue_plane: ControlPlane) -> None:
    logs = kueue_plane.log_dir
    kueue_log = (logs / "kueue.log").read_text(errors="replace")
    jobset_log = (logs / "jobset.log").read_text(errors="replace")
    # Both log `Initializing ... gitVersion`, set at build time with -X (Kueue logs JSON).
    assert re.search(rf'"gitVersion": ?"{_pinned("KUEUE_VERSION")}"', kueue_log)
    assert re.search(rf'"gitVersion": ?"{_pinned("JOBSET_VERSION")}"', jobset_log)
    crds = {c["metadata"]["name"] for c in kueue_plane.get_json("crd")["items"]}
    assert {"workloads.kueue.x-k8s.io", "clusterqueues.kueue.x-k8s.io"} <= crds
    assert "jobsets.jobset.x-k8s.io" in crds


def test_quota_admits_two_one_gpu_jobs_and_the_third_waits_until_one_finishes(
    kueue_plane: ControlPlane, gpu_queue: Queue
) -> None:
    ns = gpu_queue.namespace
    for name in ("first", "second"):
        kueue_plane.apply(_job(name, gpu_queue.local_queue), ns)

        def unsuspended(name: str = name) -> bool:
            return not _suspended(kueue_plane, ns, "job", name)

        wait_until(unsuspended, f"Kueue to admit (unsuspend) job {name}", timeout=60)
    kueue_plane.apply(_job("third", gpu_queue.local_queue), ns)

    def third_waits() -> dict[str, Any] | None:
        wl = workload_of(kueue_plane, ns, "Job", "third")
        cond = condition(wl, "QuotaReserved") if wl else None
        return cond if cond and cond["status"] == "False" else None

    waiting = wait_until(third_waits, "the third Job's Workload to say why it waits", timeout=60)
    assert waiting["reason"] == "Pending"
    assert "insufficient unused quota for nvidia.com/gpu" in waiting["message"]
    assert _suspended(kueue_plane, ns, "job", "third")

    # Both admitted Jobs run on K80 nodes: the flavor's node labels were injected.
    for name in ("first", "second"):

        def running(name: str = name) -> list[dict[str, Any]]:
            return _running_pods(kueue_plane, ns, f"job-name={name}")

        pods = wait_until(running, f"job {name}'s Pod Running", timeout=60)
        node = kueue_plane.get_json("node", pods[0]["spec"]["nodeName"])
        assert node["metadata"]["labels"]["hypersearch.io/machine-type"] == "K80"
        admitted = workload_of(kueue_plane, ns, "Job", name)
        assert is_true(admitted, "Admitted")
        assert admitted["status"]["admission"]["clusterQueue"] == gpu_queue.cluster_queue

    _finish_pods(kueue_plane, ns, "job-name=first")
    wait_until(
        lambda: is_true(kueue_plane.get_json("job", "first", "-n", ns), "Complete"),
        "the first Job to complete",
        timeout=60,
    )
    wait_until(
        lambda: not _suspended(kueue_plane, ns, "job", "third"),
        "Kueue to admit the third Job once the first released its GPU",
        timeout=60,
    )
    assert is_true(workload_of(kueue_plane, ns, "Job", "first"), "Finished")
    assert is_true(workload_of(kueue_plane, ns, "Job", "third"), "Admitted")
    assert not _suspended(kueue_plane, ns, "job", "second")


def test_the_operator_reads_only_the_workloads_of_the_jobs_it_names(
    kueue_plane: ControlPlane, gpu_queue: Queue
) -> None:
    """Kueue labels each Workload with its Job's uid, so the operator's read of why its trials
    wait selects its own Workloads, in chunks of ``KUEUE_UIDS_PER_LIST`` uids, not the
    namespace's."""
    ns = gpu_queue.namespace
    uids = {}
    for name in ("mine", "theirs"):
        kueue_plane.apply(_job(name, gpu_queue.local_queue), ns)
        uids[name] = kueue_plane.get_json("job", name, "-n", ns)["metadata"]["uid"]

        def made(name: str = name) -> dict[str, Any] | None:
            return workload_of(kueue_plane, ns, "Job", name) or None

        wait_until(made, f"Kueue's Workload of job {name}", timeout=60)
    api = KubeApi(connect(str(kueue_plane.kubeconfig)))

    def owners(found: list[dict[str, Any]]) -> list[str]:
        return sorted(ref["name"] for w in found for ref in w["metadata"]["ownerReferences"])

    assert owners(api.list_kueue_workloads(ns, [uids["mine"]])) == ["mine"]
    assert api.list_kueue_workloads(ns, []) == []
    # More uids than one selector holds (the others name no Job): both chunks are read.
    many = [f"00000000-0000-0000-0000-{i:012d}" for i in range(KUEUE_UIDS_PER_LIST + 20)]
    found = api.list_kueue_workloads(ns, [*many, uids["theirs"], uids["mine"]])
    assert owners(found) == ["mine", "theirs"]


def _jobset(name: str, labels: dict[str, str], workers: int, run: str = "3s") -> dict[str, Any]:
    """A JobSet of two replicated jobs, each Pod with 1 GPU: a leader (1 Pod) and workers
    (`workers` Pods of one Indexed Job), the shape of a small DDP trial."""

    def replicated(rname: str, pods: int) -> dict[str, Any]:
        return {
            "name": rname,
            "replicas": 1,
            "template": {
                "spec": {
                    "parallelism": pods,
                    "completions": pods,
                    "completionMode": "Indexed",
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"annotations": {RUN_DURATION: run}},
                        "spec": _pod_spec(1),
                    },
                }
            },
        }

    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicatedJobs": [replicated("leader", 1), replicated("workers", workers)]},
    }


def test_jobset_creates_a_job_per_replicated_job_and_completes(
    kueue_plane: ControlPlane, namespace: str
) -> None:
    kueue_plane.apply(_jobset("ddp", {}, workers=2), namespace)

    def child_jobs() -> list[dict[str, Any]] | None:
        jobs = kueue_plane.get_json(
            "jobs", "-n", namespace, "-l", "jobset.sigs.k8s.io/jobset-name=ddp"
        )["items"]
        return jobs if len(jobs) == 2 else None

    jobs = wait_until(child_jobs, "JobSet ddp's two child Jobs", timeout=60)
    assert sorted(j["metadata"]["name"] for j in jobs) == ["ddp-leader-0", "ddp-workers-0"]
    for job in jobs:
        (owner,) = job["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("JobSet", "ddp", True)
    pods = wait_until(
        lambda: (
            (
                p := kueue_plane.get_json(
                    "pods", "-n", namespace, "-l", "jobset.sigs.k8s.io/jobset-name=ddp"
                )["items"]
            )
            and len(p) == 3
            and p
        ),
        "the JobSet's three Pods",
        timeout=60,
    )
    by_job = sorted(
        (
            p["metadata"]["labels"]["jobset.sigs.k8s.io/replicatedjob-name"],
            p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
        )
        for p in pods
    )
    assert by_job == [("leader", "0"), ("workers", "0"), ("workers", "1")]
    wait_until(
        lambda: is_true(kueue_plane.get_json("jobset", "ddp", "-n", namespace), "Completed"),
        "JobSet ddp Completed",
        timeout=90,
    )


def test_kueue_admits_a_jobset_from_its_queue(kueue_plane: ControlPlane, gpu_queue: Queue) -> None:
    ns = gpu_queue.namespace
    # Created without spec.suspend: Kueue's webhook suspends a JobSet that names a queue.
    kueue_plane.apply(_jobset("queued", {QUEUE_LABEL: gpu_queue.local_queue}, workers=1), ns)
    wl = wait_until(
        lambda: workload_of(kueue_plane, ns, "JobSet", "queued") or None,
        "the JobSet's Workload",
        timeout=60,
    )
    assert [ps["name"] for ps in wl["spec"]["podSets"]] == ["leader", "workers"]
    assert [ps["count"] for ps in wl["spec"]["podSets"]] == [1, 1]

    def admitted_workload() -> dict[str, Any] | None:
        wl = workload_of(kueue_plane, ns, "JobSet", "queued")
        return wl if is_true(wl, "Admitted") else None

    admitted = wait_until(admitted_workload, "Kueue to admit the JobSet", timeout=60)
    gpus = [
        a["resourceUsage"]["nvidia.com/gpu"]
        for a in admitted["status"]["admission"]["podSetAssignments"]
    ]
    assert gpus == ["1", "1"]
    wait_until(
        lambda: is_true(kueue_plane.get_json("jobset", "queued", "-n", ns), "Completed"),
        "the admitted JobSet to complete",
        timeout=90,
    )
    assert is_true(workload_of(kueue_plane, ns, "JobSet", "queued"), "Finished")


def _priority_class(plane: ControlPlane, name: str, value: int) -> None:
    plane.apply(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "WorkloadPriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": "hypersearch test plane",
        }
    )


def test_higher_priority_job_preempts_a_lower_one_which_is_suspended_and_readmitted(
    kueue_plane: ControlPlane, gpu_queue: Queue
) -> None:
    """The facts a requeued trial rests on (docs/testplane.md, "Kueue facts"): the evicted Job
    is the same object, suspended again with its Pods deleted; its Workload is the same object
    and carries Evicted/Preempted/Requeued; it is admitted again once quota frees up."""
    ns = gpu_queue.namespace
    suffix = gpu_queue.cluster_queue.removeprefix("gpus-")
    low, high = f"low-{suffix}", f"high-{suffix}"
    _priority_class(kueue_plane, low, 100)
    _priority_class(kueue_plane, high, 1000)
    try:
        kueue_plane.apply(_job("background", gpu_queue.local_queue, gpus=2, priority_class=low), ns)
        wait_until(
            lambda: _running_pods(kueue_plane, ns, "job-name=background"),
            "the low-priority Job's Pod Running",
            timeout=60,
        )
        job_before = kueue_plane.get_json("job", "background", "-n", ns)
        wl_before = workload_of(kueue_plane, ns, "Job", "background")
        assert wl_before["spec"]["priority"] == 100
        assert job_before["status"]["startTime"]

        kueue_plane.apply(_job("urgent", gpu_queue.local_queue, gpus=2, priority_class=high), ns)
        wait_until(
            lambda: _running_pods(kueue_plane, ns, "job-name=urgent"),
            "the high-priority Job's Pod Running (after preempting the low one)",
            timeout=90,
        )

        # The evicted Job: suspended again, same object, Pods gone, no start time.
        job = kueue_plane.get_json("job", "background", "-n", ns)
        assert job["metadata"]["uid"] == job_before["metadata"]["uid"]
        assert job["spec"]["suspend"] is True
        suspended = condition(job, "Suspended")
        assert suspended and (suspended["status"], suspended["reason"]) == ("True", "JobSuspended")
        assert "startTime" not in job["status"]
        assert not kueue_plane.get_json("pods", "-n", ns, "-l", "job-name=background")["items"]

        # Its Workload: same object, no admission, and why.
        wl = workload_of(kueue_plane, ns, "Job", "background")
        assert wl["metadata"]["uid"] == wl_before["metadata"]["uid"]
        assert "admission" not in wl["status"]
        conds = {c["type"]: c for c in wl["status"]["conditions"]}
        expected = {
            "Evicted": ("True", "Preempted"),
            "Preempted": ("True", "InClusterQueue"),
            "Requeued": ("True", "Preempted"),
            "QuotaReserved": ("False", "Pending"),
            "Admitted": ("False", "NoReservation"),
        }
        for kind, (status, reason) in expected.items():
            assert (conds[kind]["status"], conds[kind]["reason"]) == (status, reason), kind
        assert "due to prioritization in the ClusterQueue" in conds["Evicted"]["message"]
        assert "insufficient unused quota for nvidia.com/gpu" in conds["QuotaReserved"]["message"]

        job_events = {e["reason"] for e in _events(kueue_plane, ns, "Job", "background")}
        assert {"Started", "Stopped", "Suspended", "Resumed"} <= job_events
        wl_events = {
            e["reason"] for e in _events(kueue_plane, ns, "Workload", wl["metadata"]["name"])
        }
        assert {"EvictedDueToPreempted", "Preempted", "Pending"} <= wl_events

        # The urgent Job finishes: the preempted one is admitted again, as it was.
        _finish_pods(kueue_plane, ns, "job-name=urgent")
        wait_until(
            lambda: not _suspended(kueue_plane, ns, "job", "background"),
            "the preempted Job to be admitted again",
            timeout=60,
        )
        again = workload_of(kueue_plane, ns, "Job", "background")
        assert again["metadata"]["uid"] == wl_before["metadata"]["uid"]
        conds = {c["type"]: c for c in again["status"]["conditions"]}
        assert conds["Admitted"]["status"] == "True"
        assert (conds["Evicted"]["status"], conds["Preempted"]["status"]) == ("False", "False")
        assert conds["Evicted"]["message"].startswith("Previously: Preempted")
        assert conds["Requeued"]["status"] == "True"
        wait_until(
            lambda: _running_pods(kueue_plane, ns, "job-name=background"),
            "a new Pod of the readmitted Job Running",
            timeout=60,
        )
        restarted = kueue_plane.get_json("job", "background", "-n", ns)
        assert restarted["status"]["startTime"] > job_before["status"]["startTime"]
    finally:
        kueue_plane.kubectl(
            "delete", "workloadpriorityclass", low, high, "--ignore-not-found", check=False
        )


def test_a_preempted_jobset_keeps_its_child_jobs_suspended_and_resumes_them(
    kueue_plane: ControlPlane, gpu_queue: Queue
) -> None:
    """A JobSet trial evicted by a higher-priority Job: the JobSet is suspended (its own
    `Suspended` condition), its child Jobs stay (the same objects, suspended, Pods deleted) and
    are resumed when Kueue admits the JobSet again; JobSet does not count it as a restart."""
    ns = gpu_queue.namespace
    suffix = gpu_queue.cluster_queue.removeprefix("gpus-")
    low, high = f"low-{suffix}", f"high-{suffix}"
    _priority_class(kueue_plane, low, 100)
    _priority_class(kueue_plane, high, 1000)
    selector = "jobset.sigs.k8s.io/jobset-name=ddp"
    try:
        labels = {QUEUE_LABEL: gpu_queue.local_queue, PRIORITY_LABEL: low}
        kueue_plane.apply(_jobset("ddp", labels, workers=1, run=LONG_RUN), ns)
        wait_until(
            lambda: len(_running_pods(kueue_plane, ns, selector)) == 2,
            "the JobSet's two Pods Running",
            timeout=60,
        )
        jobs_before = {
            j["metadata"]["name"]: j["metadata"]["uid"]
            for j in kueue_plane.get_json("jobs", "-n", ns, "-l", selector)["items"]
        }
        kueue_plane.apply(_job("urgent", gpu_queue.local_queue, gpus=2, priority_class=high), ns)
        wait_until(
            lambda: _running_pods(kueue_plane, ns, "job-name=urgent"),
            "the high-priority Job's Pod Running (after preempting the JobSet)",
            timeout=90,
        )

        jobset = kueue_plane.get_json("jobset", "ddp", "-n", ns)
        assert jobset["spec"]["suspend"] is True
        suspended = condition(jobset, "Suspended")
        assert suspended and (suspended["status"], suspended["reason"]) == ("True", "SuspendedJobs")
        assert jobset["status"].get("restarts", 0) == 0
        children = kueue_plane.get_json("jobs", "-n", ns, "-l", selector)["items"]
        assert {j["metadata"]["name"]: j["metadata"]["uid"] for j in children} == jobs_before
        assert all(j["spec"]["suspend"] for j in children)
        wait_until(
            lambda: not kueue_plane.get_json("pods", "-n", ns, "-l", selector)["items"],
            "the preempted JobSet's Pods deleted",
            timeout=60,
        )
        wl = workload_of(kueue_plane, ns, "JobSet", "ddp")
        conds = {c["type"]: c for c in wl["status"]["conditions"]}
        assert (conds["Evicted"]["status"], conds["Evicted"]["reason"]) == ("True", "Preempted")
        assert (conds["Requeued"]["status"], conds["Requeued"]["reason"]) == ("True", "Preempted")
        events = {e["reason"] for e in _events(kueue_plane, ns, "JobSet", "ddp")}
        assert {"Started", "Stopped", "SuspendedJobs"} <= events

        _finish_pods(kueue_plane, ns, "job-name=urgent")
        wait_until(
            lambda: len(_running_pods(kueue_plane, ns, selector)) == 2,
            "the readmitted JobSet's Pods Running again",
            timeout=90,
        )
        jobset = kueue_plane.get_json("jobset", "ddp", "-n", ns)
        resumed = condition(jobset, "Suspended")
        assert resumed and (resumed["status"], resumed["reason"]) == ("False", "ResumeJobs")
        assert jobset["status"].get("restarts", 0) == 0
        children = kueue_plane.get_json("jobs", "-n", ns, "-l", selector)["items"]
        assert {j["metadata"]["name"]: j["metadata"]["uid"] for j in children} == jobs_before
    finally:
        kueue_plane.kubectl(
            "delete", "workloadpriorityclass", low, high, "--ignore-not-found", check=False
        )
