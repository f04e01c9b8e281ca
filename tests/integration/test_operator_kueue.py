"""Trials admitted by Kueue, on the test plane with the real Kueue (``kueue_plane``): the
operator creates each trial's Job suspended in a LocalQueue whose ClusterQueue has 2 GPUs, and
Kueue decides when it runs (docs/operator.md, "Trials admitted by a queue").

kwok runs the Pods (a Pod stays Running until the test shortens its
``hypersearch.io/kwok-run-duration``); the test plays the reporter's trainer and runs the real
sidecar with a token bound to the Pod, as in tests/integration/test_operator_workloads.py.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hypersearch.core.times import parse_time

from .kueue import PRIORITY_LABEL, Queue, priority_classes
from .operator_harness import (
    HOLD_RUNNING,
    condition,
    entries,
    get_search,
    operator_with,
    search_manifest,
    search_when,
    wait_for,
)
from .plane import ControlPlane
from .test_operator_workloads import (
    JOB_NAME_LABEL,
    JOBSET_NAME_LABEL,
    finish_pods,
    jobset_search,
    pods_of,
    report,
)

pytestmark = [pytest.mark.integration, pytest.mark.kueue]


def queue_search(
    name: str,
    queue: Queue,
    *,
    parallelism: int,
    max_trials: int,
    priority: str | None = None,
    timeout: int | None = None,
) -> dict[str, Any]:
    """A search whose trials are one-Pod Jobs of 1 GPU (machine type K80) admitted by Kueue
    from ``queue``'s LocalQueue."""
    doc = search_manifest(name, max_trials=max_trials, parallelism=parallelism, max_failed=0)
    trial = doc["spec"]["trial"]
    template = trial.pop("template")
    labels = {PRIORITY_LABEL: priority} if priority else {}
    # Indexed: the chart's sidecar policy knows Indexed Job Pod names (<trial>-<index>-<random>).
    trial["jobTemplate"] = {
        "metadata": {"labels": labels},
        "spec": {"completionMode": "Indexed", "template": template},
    }
    trial["queueName"] = queue.local_queue
    if timeout is not None:
        trial["timeoutSeconds"] = timeout
    return doc


def plain_job(name: str, queue: Queue, gpus: int, priority: str | None = None) -> dict[str, Any]:
    """Another team's Job through the same LocalQueue, holding ``gpus`` GPUs until finished."""
    labels = {"kueue.x-k8s.io/queue-name": queue.local_queue}
    if priority:
        labels[PRIORITY_LABEL] = priority
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "suspend": True,
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": dict(HOLD_RUNNING)},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"hypersearch.io/machine-type": "K80"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "train",
                            "image": "example.invalid/train:1",
                            "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                        }
                    ],
                },
            },
        },
    }


def phases(search: dict[str, Any]) -> dict[str, str]:
    return {name: str(e.get("phase")) for name, e in entries(search).items()}


def running(pod: dict[str, Any]) -> bool:
    return pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")


def running_pod(plane: ControlPlane, namespace: str, trial: str) -> dict[str, Any] | None:
    return next(
        (p for p in pods_of(plane, namespace, f"{JOB_NAME_LABEL}={trial}") if running(p)), None
    )


def finish_trial(
    plane: ControlPlane, namespace: str, search: str, trial: str, *, value: float, tmp_path: Path
) -> None:
    """The trial's Pod reports ``value`` through the real sidecar and ends (kwok)."""
    pod = wait_for(lambda: running_pod(plane, namespace, trial), f"trial {trial}'s Pod Running")
    report(
        plane,
        namespace,
        search=search,
        trial=trial,
        pod=pod["metadata"]["name"],
        value=value,
        tmp_path=tmp_path,
    )
    finish_pods(plane, namespace, [pod])


def job_suspended(plane: ControlPlane, namespace: str, name: str) -> bool:
    return bool(plane.get_json("job", name, "-n", namespace)["spec"].get("suspend"))


def reasons_of_events(plane: ControlPlane, namespace: str, search: str) -> list[str]:
    found = plane.get_json(
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind=HyperSearch,involvedObject.name={search}",
    )["items"]
    return [f"{e['reason']}: {e['message']}" for e in found]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text: str = answer.read().decode()
    return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_trials_wait_queued_for_gpu_quota_and_are_admitted_in_turn_until_the_search_ends(
    kueue_plane: ControlPlane, gpu_queue: Queue, tmp_path: Path
) -> None:
    ns = gpu_queue.namespace
    doc = queue_search("q", gpu_queue, parallelism=3, max_trials=4)
    port = free_port()
    with operator_with(kueue_plane, ns, tmp_path, doc, args=(f"--metrics-port={port}",)):
        # 2 GPUs of quota for 3 trials of 1 GPU: two run, the third waits for quota.
        waiting = search_when(
            kueue_plane,
            ns,
            "q",
            lambda s: (
                sorted(phases(s).values()) == ["Queued", "Running", "Running"]
                and (s.get("status") or {}).get("counts", {}).get("queued") == 1
                and s["status"]["counts"]["running"] == 2
            ),
            "two trials Running and the third Queued (records and counts)",
            timeout=90,
        )
        queued = next(n for n, p in phases(waiting).items() if p == "Queued")
        assert job_suspended(kueue_plane, ns, queued)
        said = search_when(
            kueue_plane,
            ns,
            "q",
            lambda s: (
                "insufficient unused quota for nvidia.com/gpu"
                in ((condition(s, "Queued") or {}).get("message") or "")
            ),
            "the Queued condition to give Kueue's reason",
        )
        cond = condition(said, "Queued")
        assert cond is not None and (cond["status"], cond["reason"]) == (
            "True",
            "WaitingForAdmission",
        )
        assert cond["message"].startswith("1 trial waits for admission by LocalQueue trials")
        assert "insufficient unused quota" in entries(said)[queued]["message"]
        table = kueue_plane.kubectl("get", "hs", "q", "-n", ns).stdout.splitlines()
        row = dict(zip(table[0].split(), table[1].split(), strict=False))
        assert row["QUEUED"] == "1", table
        metric = f'hypersearch_search_trials{{namespace="{ns}",phase="Queued",search="q"}} 1.0'
        assert metric in scrape(port)

        # Finish the running trials one at a time: the waiting ones are admitted in turn.
        values = iter([0.5, 0.6, 0.7, 0.8])
        finished: set[str] = set()
        while len(finished) < 4:
            search = search_when(
                kueue_plane,
                ns,
                "q",
                lambda s: (
                    any(p == "Running" and n not in finished for n, p in phases(s).items())
                    or s["status"].get("phase") == "Succeeded"
                ),
                "a trial Running that has not been finished",
                timeout=90,
            )
            running = sorted(n for n, p in phases(search).items() if p == "Running")
            fresh = [n for n in running if n not in finished]
            if not fresh:
                break
            assert len(running) <= 3  # never more admitted than parallelism
            finish_trial(kueue_plane, ns, "q", fresh[0], value=next(values), tmp_path=tmp_path)
            finished.add(fresh[0])
        done = search_when(
            kueue_plane,
            ns,
            "q",
            lambda s: s["status"].get("phase") == "Succeeded",
            "the search Succeeded",
            timeout=90,
        )
        waits = re.search(r"^hypersearch_trial_queue_seconds_count (\S+)$", scrape(port), re.M)
        assert waits is not None and float(waits.group(1)) >= 1  # the queued one, at least
    records = entries(done)
    assert sorted(e["phase"] for e in records.values()) == ["Succeeded"] * 4
    assert done["status"]["counts"]["failed"] == 0
    assert records[queued]["queuedSeconds"] > 0
    assert not records[queued].get("requeues")
    final = condition(done, "Queued")
    assert final is not None and (final["status"], final["reason"]) == ("False", "NoneWaiting")

    def queued_told() -> list[str] | None:
        told = reasons_of_events(kueue_plane, ns, "q")
        return told if sum(e.startswith("TrialQueued: ") for e in told) >= 4 else None

    told = wait_for(queued_told, "a TrialQueued Event per trial")
    assert sum(e.startswith("TrialQueued: ") for e in told) == 4, told
    assert any(e.startswith(f"TrialAdmitted: trial {queued} was admitted") for e in told), told


def test_a_preempted_trial_is_requeued_with_its_parameters_and_finishes_without_a_failure(
    kueue_plane: ControlPlane, gpu_queue: Queue, tmp_path: Path
) -> None:
    ns = gpu_queue.namespace
    with priority_classes(kueue_plane, gpu_queue) as (low, high):
        doc = queue_search("pre", gpu_queue, parallelism=1, max_trials=1, priority=low)
        with operator_with(kueue_plane, ns, tmp_path, doc):
            search = search_when(
                kueue_plane,
                ns,
                "pre",
                lambda s: list(phases(s).values()) == ["Running"],
                "the trial Running",
                timeout=90,
            )
            (trial,) = phases(search)
            params = entries(search)[trial]["params"]
            first_pod = wait_for(lambda: running_pod(kueue_plane, ns, trial), "its Pod Running")
            kueue_plane.apply(plain_job("urgent", gpu_queue, gpus=2, priority=high), ns)
            requeued = search_when(
                kueue_plane,
                ns,
                "pre",
                lambda s: (
                    entries(s)[trial].get("phase") == "Queued"
                    and entries(s)[trial].get("requeues") == 1
                ),
                "the preempted trial Queued again with one requeue",
                timeout=90,
            )
            record = entries(requeued)[trial]
            assert "Preempted to accommodate a workload" in record["message"]
            assert requeued["status"]["counts"]["failed"] == 0
            assert requeued["status"]["phase"] == "Running"
            told = reasons_of_events(kueue_plane, ns, "pre")
            assert any(
                e.startswith(f"TrialRequeued: trial {trial} was evicted by its queue")
                and "Preempted" in e
                for e in told
            ), told

            # The urgent Job ends: Kueue admits the same trial again, which runs anew.
            finish_pods(kueue_plane, ns, pods_of(kueue_plane, ns, f"{JOB_NAME_LABEL}=urgent"))
            again = wait_for(
                lambda: (
                    p
                    if (p := running_pod(kueue_plane, ns, trial))
                    and p["metadata"]["uid"] != first_pod["metadata"]["uid"]
                    else None
                ),
                "a new Pod of the readmitted trial Running",
                timeout=90,
            )
            assert again is not None
            finish_trial(kueue_plane, ns, "pre", trial, value=0.9, tmp_path=tmp_path)
            done = search_when(
                kueue_plane,
                ns,
                "pre",
                lambda s: s["status"].get("phase") == "Succeeded",
                "the search Succeeded",
                timeout=90,
            )
    record = entries(done)[trial]
    assert (record["phase"], record["value"], record["params"]) == ("Succeeded", 0.9, params)
    assert record["requeues"] == 1
    assert record["queuedSeconds"] > 0
    assert done["status"]["counts"] == {
        "trials": 1,
        "queued": 0,
        "pending": 0,
        "running": 0,
        "succeeded": 1,
        "failed": 0,
        "earlyStopped": 0,
    }


def test_a_trial_queued_longer_than_its_timeout_is_not_timed_out(
    kueue_plane: ControlPlane, gpu_queue: Queue, tmp_path: Path
) -> None:
    ns = gpu_queue.namespace
    timeout = 20
    kueue_plane.apply(plain_job("blocker", gpu_queue, gpus=2), ns)
    wait_for(
        lambda: not job_suspended(kueue_plane, ns, "blocker"),
        "the other team's Job admitted, holding both GPUs",
        timeout=60,
    )
    doc = queue_search("slow", gpu_queue, parallelism=1, max_trials=1, timeout=timeout)
    with operator_with(kueue_plane, ns, tmp_path, doc):
        search = search_when(
            kueue_plane,
            ns,
            "slow",
            lambda s: list(phases(s).values()) == ["Queued"],
            "the trial Queued behind the other Job",
            timeout=90,
        )
        (trial,) = phases(search)
        since = parse_time(entries(search)[trial]["queuedAt"])
        assert since is not None
        # Wait in the queue longer than the trial may run, then free the GPUs.
        wait_for(
            lambda: time.time() - since > timeout + 5,
            f"the trial to have waited longer than timeoutSeconds={timeout}",
            timeout=timeout + 30,
        )
        finish_pods(kueue_plane, ns, pods_of(kueue_plane, ns, f"{JOB_NAME_LABEL}=blocker"))
        finish_trial(kueue_plane, ns, "slow", trial, value=0.7, tmp_path=tmp_path)
        done = search_when(
            kueue_plane,
            ns,
            "slow",
            lambda s: s["status"].get("phase") in ("Succeeded", "Failed"),
            "the search to end",
            timeout=90,
        )
    record = entries(done)[trial]
    assert (record["phase"], record.get("reason")) == ("Succeeded", None), record
    assert record["queuedSeconds"] > timeout


def test_a_preempted_jobset_trial_is_requeued_and_its_leader_reports_after_readmission(
    kueue_plane: ControlPlane, gpu_queue: Queue, tmp_path: Path
) -> None:
    """A JobSet trial (leader + 1 worker, 1 GPU each: the whole quota) preempted by a
    higher-priority Job: the JobSet is suspended with its child Jobs kept, the trial waits
    Queued with one requeue, and resumes with the same parameters."""
    ns = gpu_queue.namespace
    selector = f"{JOBSET_NAME_LABEL}=jsp-0000"
    with priority_classes(kueue_plane, gpu_queue) as (low, high):
        doc = jobset_search("jsp")
        trial_spec = doc["spec"]["trial"]
        trial_spec["queueName"] = gpu_queue.local_queue
        trial_spec["jobSetTemplate"]["metadata"] = {"labels": {PRIORITY_LABEL: low}}
        worker = trial_spec["jobSetTemplate"]["spec"]["replicatedJobs"][1]["template"]["spec"]
        worker.update(completions=1, parallelism=1)
        with operator_with(kueue_plane, ns, tmp_path, doc):
            wait_for(
                lambda: len([p for p in pods_of(kueue_plane, ns, selector) if running(p)]) == 2,
                "the trial JobSet's two Pods Running",
                timeout=90,
            )
            params = entries(get_search(kueue_plane, ns, "jsp"))["jsp-0000"]["params"]
            kueue_plane.apply(plain_job("urgent", gpu_queue, gpus=2, priority=high), ns)
            requeued = search_when(
                kueue_plane,
                ns,
                "jsp",
                lambda s: (
                    entries(s)["jsp-0000"].get("phase") == "Queued"
                    and entries(s)["jsp-0000"].get("requeues") == 1
                ),
                "the preempted JobSet trial Queued again with one requeue",
                timeout=90,
            )
            assert requeued["status"]["counts"]["failed"] == 0
            jobset = kueue_plane.get_json("jobset", "jsp-0000", "-n", ns)
            assert jobset["spec"]["suspend"] is True
            finish_pods(kueue_plane, ns, pods_of(kueue_plane, ns, f"{JOB_NAME_LABEL}=urgent"))
            pods = wait_for(
                lambda: (
                    p
                    if len(p := [x for x in pods_of(kueue_plane, ns, selector) if running(x)]) == 2
                    else None
                ),
                "the readmitted JobSet's two Pods Running again",
                timeout=90,
            )
            leader = next(
                p["metadata"]["name"]
                for p in pods
                if p["metadata"]["labels"]["jobset.sigs.k8s.io/replicatedjob-name"] == "leader"
            )
            report(
                kueue_plane,
                ns,
                search="jsp",
                trial="jsp-0000",
                pod=leader,
                value=0.75,
                tmp_path=tmp_path,
            )
            finish_pods(kueue_plane, ns, pods)
            done = search_when(
                kueue_plane,
                ns,
                "jsp",
                lambda s: (s.get("status") or {}).get("phase") == "Succeeded",
                "the search Succeeded",
                timeout=90,
            )
    record = entries(done)["jsp-0000"]
    assert (record["phase"], record["value"], record["params"]) == ("Succeeded", 0.75, params)
    assert record["requeues"] == 1
    assert done["status"]["counts"]["failed"] == 0


def test_a_search_without_a_queue_name_goes_through_the_namespace_default_local_queue(
    kueue_plane: ControlPlane, gpu_queue: Queue, tmp_path: Path
) -> None:
    """The issue's "or the namespace's default LocalQueue": Kueue (LocalQueueDefaulting, on by
    default) labels and suspends a Job created without a queue name in a namespace that has a
    LocalQueue named `default`; the operator reads the queue from the Job, so its trials wait
    Queued and are admitted as with `spec.trial.queueName`."""
    ns = gpu_queue.namespace
    kueue_plane.apply(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": {"name": "default"},
            "spec": {"clusterQueue": gpu_queue.cluster_queue},
        },
        ns,
    )
    doc = queue_search("dq", gpu_queue, parallelism=3, max_trials=3)
    del doc["spec"]["trial"]["queueName"]
    with operator_with(kueue_plane, ns, tmp_path, doc):
        waiting = search_when(
            kueue_plane,
            ns,
            "dq",
            lambda s: sorted(phases(s).values()) == ["Queued", "Running", "Running"],
            "two trials Running and the third Queued",
            timeout=90,
        )
        queued = next(n for n, p in phases(waiting).items() if p == "Queued")
        job = kueue_plane.get_json("job", queued, "-n", ns)
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default"
        assert job["spec"]["suspend"] is True
        finished: set[str] = set()
        for value in (0.5, 0.6, 0.7):
            search = search_when(
                kueue_plane,
                ns,
                "dq",
                lambda s: any(p == "Running" and n not in finished for n, p in phases(s).items()),
                "a trial Running that has not been finished",
                timeout=90,
            )
            trial = min(
                n for n, p in phases(search).items() if p == "Running" and n not in finished
            )
            finish_trial(kueue_plane, ns, "dq", trial, value=value, tmp_path=tmp_path)
            finished.add(trial)
        done = search_when(
            kueue_plane,
            ns,
            "dq",
            lambda s: (s.get("status") or {}).get("phase") == "Succeeded",
            "the search Succeeded",
            timeout=90,
        )
    records = entries(done)
    assert sorted(e["phase"] for e in records.values()) == ["Succeeded"] * 3
    assert records[queued]["queuedSeconds"] > 0
