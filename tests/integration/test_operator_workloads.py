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
import yaml

from hypersearch.kube import names
from hypersearch.kube.transport import Endpoint, Transport
from hypersearch.kube.wire import ApiError
from hypersearch.sidecar.reporter import TrialReporter

from .operator_harness import (
    HOLD_RUNNING,
    entries,
    get_search,
    install_crd,
    operator_with,
    run_sidecar,
    search_manifest,
    search_when,
    sidecar_token,
    trial_objects,
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


def jobset_search(name: str, *, max_trials: int = 1) -> dict[str, Any]:
    """A search whose trials are JobSets: a ``leader`` Job of one Pod and a ``worker`` Job of
    two (Indexed), on K80 machines; the leader's Pod reports."""
    doc = search_manifest(name, max_trials=max_trials, parallelism=1)
    trial = doc["spec"]["trial"]
    trial.pop("template")

    def rjob(role: str, pods: int) -> dict[str, Any]:
        return {
            "name": role,
            "replicas": 1,
            "template": {
                "spec": {
                    "completions": pods,
                    "parallelism": pods,
                    "template": pod_template("--role", role),
                }
            },
        }

    trial["jobSetTemplate"] = {
        "spec": {
            "network": {"enableDNSHostnames": True},
            "replicatedJobs": [rjob("leader", 1), rjob("worker", 2)],
        }
    }
    return doc


def test_a_jobset_trial_runs_leader_and_workers_and_the_leader_reports(
    kueue_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    with operator_with(kueue_plane, namespace, tmp_path, jobset_search("wljs")):
        jobset = wait_for(
            lambda: next(iter(workloads(kueue_plane, "jobsets", namespace, "wljs")), None),
            "a trial JobSet",
        )
        trial = jobset["metadata"]["name"]
        owner = jobset["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == (names.KIND, "wljs", True)
        pods = wait_for(
            lambda: (
                p
                if len(p := pods_of(kueue_plane, namespace, f"{JOBSET_NAME_LABEL}={trial}")) == 3
                and all(x["status"].get("phase") == "Running" for x in p)
                else None
            ),
            "the trial JobSet's three Pods running",
        )
        role = {
            p["metadata"]["name"]: p["metadata"]["labels"]["jobset.sigs.k8s.io/replicatedjob-name"]
            for p in pods
        }
        assert sorted(role.values()) == ["leader", "worker", "worker"]
        for pod in pods:
            assert ":lr:" not in " ".join(trainer_argv(pod))
            assert (sidecar_of(pod) is not None) is (role[pod["metadata"]["name"]] == "leader")
        leader = next(n for n, r in role.items() if r == "leader")
        report(
            kueue_plane,
            namespace,
            search="wljs",
            trial=trial,
            pod=leader,
            value=0.7,
            tmp_path=tmp_path,
        )
        finish_pods(kueue_plane, namespace, pods)
        done = search_when(
            kueue_plane,
            namespace,
            "wljs",
            lambda s: (s.get("status") or {}).get("phase") == "Succeeded",
            "the search Succeeded",
            timeout=90,
        )
    entry = entries(done)[trial]
    assert (entry["phase"], entry["value"]) == ("Succeeded", 0.7)


def test_a_job_whose_pod_cannot_be_scheduled_fails_unschedulable_and_is_deleted(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    # The Job controller leaves an unschedulable Pod Pending for ever: the operator reads the
    # running Job's Pending Pods and applies the trial Pod's rule (unschedulableSeconds).
    config = "machineTypes:\n  K80x16: {gpus: 16}\ntimeouts: {unschedulableSeconds: 2}\n"
    doc = job_search("wlu", pods=2, max_trials=1)
    doc["spec"]["trial"]["machineType"] = "K80x16"
    with operator_with(testplane, namespace, tmp_path, doc, config=config):
        search = search_when(
            testplane,
            namespace,
            "wlu",
            lambda s: trial_phase(s, "wlu-0000") == "Failed",
            "the unschedulable Job trial to fail",
            timeout=90,
        )
        wait_for(
            lambda: workloads(testplane, "job", namespace, "wlu") == [] or None,
            "the trial's Job to be deleted",
            timeout=60,
        )
    trial = entries(search)["wlu-0000"]
    assert trial["reason"] == "Unschedulable"
    assert trial["message"].startswith(
        "trial Job wlu-0000 could not be scheduled for 2s: Pod wlu-0000-"
    )
    assert "Insufficient nvidia.com/gpu" in trial["message"]


def test_a_failed_job_fails_its_trial_with_the_job_reason_and_counts_as_a_failure(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    doc = job_search("wlf", pods=1, max_trials=3, max_failed=0)
    pod = doc["spec"]["trial"]["jobTemplate"]["spec"]["template"]
    pod["metadata"]["annotations"].update(
        {RUN_DURATION: "1s", "hypersearch.io/kwok-outcome": "Failed"}
    )
    with operator_with(testplane, namespace, tmp_path, doc):
        done = search_when(
            testplane,
            namespace,
            "wlf",
            lambda s: (s.get("status") or {}).get("phase") == "Failed",
            "the search Failed",
            timeout=90,
        )
    (entry,) = entries(done).values()
    assert (entry["phase"], entry["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert entry["message"].startswith(f"Job {entry['name']} failed: ")
    assert f"; Pod {entry['name']}-" in entry["message"], entry["message"]
    assert "MaxFailedTrialsExceeded" in json.dumps(done["status"]["conditions"])


def test_deleting_a_search_mid_run_leaves_no_jobset_job_pod_or_trial_object(
    kueue_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    with operator_with(kueue_plane, namespace, tmp_path, jobset_search("wld", max_trials=2)):
        wait_for(
            lambda: (
                len(
                    [
                        p
                        for p in pods_of(kueue_plane, namespace, JOBSET_NAME_LABEL)
                        if p["status"].get("phase") == "Running"
                    ]
                )
                == 3
                or None
            ),
            "the trial's Pods running",
        )
        kueue_plane.kubectl("delete", "hs", "wld", "-n", namespace, "--wait=false")

        def leftovers() -> dict[str, int]:
            return {
                kind: len(kueue_plane.get_json(kind, "-n", namespace)["items"])
                for kind in ("jobsets", "jobs", "pods", "hst")
            }

        wait_for(
            lambda: not any(leftovers().values()) or None,
            "no JobSet, Job, Pod or trial object left",
            timeout=120,
        )


def test_the_sidecar_of_a_job_pod_writes_only_its_own_trial_of_its_own_search(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """The chart's ValidatingAdmissionPolicy, for Pods the Job and JobSet controllers name:
    the Pod of trial pol-0000 writes pol-0000 only, and a Pod whose name starts with
    pol-0000- but runs as another search's sidecar writes nothing of pol's."""
    searches = [job_search("pol", pods=1, max_trials=2), job_search("other", pods=1)]
    for doc in searches:
        doc["spec"]["parallelism"] = 2
    with operator_with(testplane, namespace, tmp_path, *searches):
        job_pod = wait_for(
            lambda: next(iter(pods_of(testplane, namespace, f"{JOB_NAME_LABEL}=pol-0000")), None),
            "the Pod of trial pol-0000",
        )["metadata"]["name"]
        wait_for(lambda: len(trial_objects(testplane, namespace, "pol")) == 2 or None, "trials")
        wait_for(lambda: trial_objects(testplane, namespace, "other") or None, "other's trial")
    # Pods named as a JobSet would name trial pol-0000's, run as each search's sidecar.
    for search, pod in (
        ("pol", "pol-0000-leader-0-0-aaaaa"),
        ("other", "pol-0000-leader-0-0-bbbbb"),
    ):
        testplane.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod},
                "spec": {
                    "serviceAccountName": names.sidecar_account(search),
                    "nodeSelector": {"hypersearch.io/nowhere": "true"},
                    "containers": [{"name": "c", "image": "x"}],
                },
            },
            namespace,
        )
    cluster = yaml.safe_load(testplane.kubeconfig.read_text())["clusters"][0]["cluster"]

    transports: list[Transport] = []

    def reporter(search: str, pod: str, trial: str) -> TrialReporter:
        token = tmp_path / f"{pod}.token"
        token.write_text(sidecar_token(testplane, namespace, search=search, trial=pod))
        transport = Transport(
            Endpoint(
                server=cluster["server"],
                ca_file=cluster["certificate-authority"],
                token_file=str(token),
            )
        )
        transports.append(transport)
        return TrialReporter(transport, namespace, trial)

    admitted = {
        "its own trial from the Job's Pod": ("pol", job_pod, "pol-0000"),
        "its own trial from a JobSet-named Pod": ("pol", "pol-0000-leader-0-0-aaaaa", "pol-0000"),
    }
    refused = {
        "the other trial of its search": ("pol", job_pod, "pol-0001"),
        "another search's trial its Pod name starts with": (
            "other",
            "pol-0000-leader-0-0-bbbbb",
            "pol-0000",
        ),
    }
    statuses = {}
    try:
        for search, pod, trial in admitted.values():
            reporter(search, pod, trial).apply({"name": trial, "observed": 1, "curve": [[1, 0.5]]})
        for what, (search, pod, trial) in refused.items():
            with pytest.raises(ApiError) as caught:
                reporter(search, pod, trial).apply({"name": trial, "value": 1.0})
            statuses[what] = caught.value.status
    finally:
        for transport in transports:
            transport.close()
    assert statuses == dict.fromkeys(refused, 403)
    objects = trial_objects(testplane, namespace, "pol")
    assert objects["pol-0000"]["curve"] == [[1, 0.5]]
    assert "value" not in objects["pol-0000"] and "value" not in objects["pol-0001"]


@pytest.mark.parametrize("kinds", [("template", "jobTemplate"), ()], ids=["two", "none"])
def test_the_api_server_refuses_a_trial_with_two_workload_kinds_or_none(
    testplane: ControlPlane, namespace: str, kinds: tuple[str, ...]
) -> None:
    install_crd(testplane)
    doc = job_search("both")
    trial = doc["spec"]["trial"]
    job = trial.pop("jobTemplate")
    for kind in kinds:
        trial[kind] = job if kind == "jobTemplate" else job["spec"]["template"]
    refused = testplane.kubectl(
        "apply",
        "-n",
        namespace,
        "--dry-run=server",
        "-f",
        "-",
        input_text=json.dumps(doc),
        check=False,
    )
    assert refused.returncode != 0
    assert (
        "must set exactly one of template (one Pod per trial), jobTemplate (a batch/v1 Job) or "
        "jobSetTemplate (a JobSet)" in refused.stderr
    ), refused.stderr


def test_the_ddp_jobset_example_is_accepted_by_the_api_server(
    testplane: ControlPlane, namespace: str
) -> None:
    install_crd(testplane)
    example = Path(__file__).resolve().parents[2] / "examples" / "k8s" / "ddp-jobset.yaml"
    testplane.kubectl("apply", "-n", namespace, "--dry-run=server", "-f", str(example))
