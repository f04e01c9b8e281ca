"""Job and JobSet trials on the test plane: the operator creates one workload per trial, owned by
the search; the plane's Job controller (kube-controller-manager) and JobSet controller make the
Pods, kwok runs them, and the test plays the reporter Pod's trainer and runs the real sidecar
with a token bound to that Pod (as the kubelet would project it).

Pods run under kwok: ``hypersearch.io/kwok-run-duration`` keeps them Running until the test
shortens it, which makes kwok finish them at once (``hypersearch.io/kwok-outcome: Failed``
makes them fail).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hypersearch.kube import names

from .operator_harness import (
    HOLD_RUNNING,
    entries,
    get_search,
    operator_with,
    run_sidecar,
    search_manifest,
    search_when,
    trial_phase,
    wait_for,
)
from .plane import ControlPlane

pytestmark = [pytest.mark.integration]

RUN_DURATION = "hypersearch.io/kwok-run-duration"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def pod_template(*args: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"annotations": {**HOLD_RUNNING, **(annotations or {})}},
        "spec": {
            "containers": [
                {
                    "name": "trainer",
                    "image": "trainer:test",
                    "command": ["python", "train.py", "--units", ":units:", "--lr=:lr:", *args],
                }
            ]
        },
    }


def job_search(
    name: str, *, pods: int = 2, max_trials: int = 1, max_failed: int = 3, **pod: Any
) -> dict[str, Any]:
    """A search whose trials are Indexed Jobs of ``pods`` Pods on K80 machines."""
    doc = search_manifest(name, max_trials=max_trials, parallelism=1, max_failed=max_failed)
    trial = doc["spec"]["trial"]
    trial.pop("template")
    trial["jobTemplate"] = {
        "metadata": {"labels": {"team": "vision"}},
        "spec": {
            "completions": pods,
            "parallelism": pods,
            "completionMode": "Indexed",
            "template": pod_template(**pod),
        },
    }
    return doc


def workloads(plane: ControlPlane, kind: str, namespace: str, search: str) -> list[dict[str, Any]]:
    found = plane.get_json(kind, "-n", namespace, "-l", f"{names.SEARCH_LABEL}={search}")
    return list(found["items"])


def pods_of(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    return list(plane.get_json("pods", "-n", namespace, "-l", selector)["items"])


def finish_pods(plane: ControlPlane, namespace: str, pods: list[dict[str, Any]]) -> None:
    """Make kwok end each Pod now (its run duration shortened to one second)."""
    for pod in pods:
        plane.kubectl(
            "annotate",
            "pod",
            pod["metadata"]["name"],
            "-n",
            namespace,
            f"{RUN_DURATION}=1s",
            "--overwrite",
        )


def trainer_argv(pod: dict[str, Any]) -> list[str]:
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    return [*containers["trainer"].get("command", []), *containers["trainer"].get("args", [])]


def sidecar_of(pod: dict[str, Any]) -> dict[str, Any] | None:
    for c in pod["spec"].get("initContainers") or []:
        if c["name"] == names.SIDECAR_CONTAINER:
            found: dict[str, Any] = c
            return found
    return None


def report(
    plane: ControlPlane,
    namespace: str,
    *,
    search: str,
    trial: str,
    pod: str,
    value: float,
    tmp_path: Path,
) -> None:
    """Play the reporter Pod's trainer (its output and exit code) and run the real sidecar."""
    done = run_sidecar(
        plane,
        namespace,
        search=search,
        trial=trial,
        workdir=tmp_path / pod,
        output=f"epoch=1 val_acc={value / 2}\nepoch=2 val_acc={value}\n",
        exit_code=0,
        pod=pod,
    )
    assert done.returncode == 0, done.stderr


def test_an_indexed_job_trial_runs_two_pods_and_succeeds_with_the_reported_value(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    doc = job_search("wl")
    with operator_with(testplane, namespace, tmp_path, doc):
        job = wait_for(
            lambda: next(iter(workloads(testplane, "jobs", namespace, "wl")), None), "a trial Job"
        )
        trial = job["metadata"]["name"]
        search = get_search(testplane, namespace, "wl")
        owner = job["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            names.KIND,
            "wl",
            search["metadata"]["uid"],
        )
        assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
        assert job["metadata"]["labels"]["team"] == "vision"
        assert job["spec"]["backoffLimit"] == 0
        params = json.loads(job["metadata"]["annotations"][names.PARAMS_ANNOTATION])
        pods = wait_for(
            lambda: (
                p
                if len(p := pods_of(testplane, namespace, f"{JOB_NAME_LABEL}={trial}")) == 2
                and all(x["status"].get("phase") == "Running" for x in p)
                else None
            ),
            "both Pods of the trial Job running",
        )
        by_index = {int(p["metadata"]["annotations"][INDEX_ANNOTATION]): p for p in pods}
        for pod in by_index.values():
            argv = trainer_argv(pod)
            assert f"--lr={params['lr']}" in argv, argv
            assert str(params["units"]) in argv and ":units:" not in argv
            sidecar = sidecar_of(pod)
            assert sidecar is not None and "--report-if-pod-index=0" in sidecar["command"]
        assert trial_phase(get_search(testplane, namespace, "wl"), trial) == "Running"
        report(
            testplane,
            namespace,
            search="wl",
            trial=trial,
            pod=by_index[0]["metadata"]["name"],
            value=0.8,
            tmp_path=tmp_path,
        )
        finish_pods(testplane, namespace, pods)
        done = search_when(
            testplane,
            namespace,
            "wl",
            lambda s: (s.get("status") or {}).get("phase") == "Succeeded",
            "the search Succeeded",
            timeout=90,
        )
    entry = entries(done)[trial]
    assert (entry["phase"], entry["value"]) == ("Succeeded", 0.8)
    assert done["status"]["best"]["trial"] == trial
