"""What goes wrong on a cluster ends as a failed trial or a Failed condition, never a crash."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hypersearch.kube import names

from .operator_harness import (
    complete_pod,
    condition,
    entries,
    finish_trial,
    operator_with,
    running_pods,
    search_manifest,
    search_when,
    stall_pod,
    trial_phase,
    trial_pods,
    wait_for,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration


def test_a_trial_pod_deleted_by_hand_fails_its_trial_and_a_new_one_starts(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("gone", max_trials=3, parallelism=1)
    with operator_with(testplane, namespace, tmp_path, manifest):
        search_when(
            testplane, namespace, "gone", lambda s: trial_phase(s, "gone-0000"), "gone-0000"
        )
        testplane.kubectl("delete", "pod", "gone-0000", "-n", namespace, "--wait=false")
        search = search_when(
            testplane,
            namespace,
            "gone",
            lambda s: trial_phase(s, "gone-0001"),
            "the next trial after the deletion",
        )
    first = entries(search)["gone-0000"]
    assert first["phase"] == "Failed"
    assert first["reason"] == "PodDeleted"
    assert first["message"] == "trial Pod gone-0000 was deleted before the trial finished"
    assert search["status"]["counts"]["failed"] == 1


def test_a_failed_or_oom_killed_trainer_fails_its_trial_with_the_reason(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("crash", max_trials=2, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest):
        wait_for(
            lambda: len(trial_pods(testplane, namespace, "crash")) == 2 or None, "two trial Pods"
        )
        wait_for(
            lambda: (
                all(
                    (p.get("status") or {}).get("phase") == "Running"
                    for p in trial_pods(testplane, namespace, "crash")
                )
                or None
            ),
            "both Pods running",
        )
        complete_pod(testplane, namespace, "crash-0000", exit_code=137, reason="OOMKilled")
        complete_pod(testplane, namespace, "crash-0001", exit_code=3)
        search = search_when(
            testplane,
            namespace,
            "crash",
            lambda s: (condition(s, "Failed") or {}).get("status") == "True",
            "the search to finish",
        )
    found = entries(search)
    assert (found["crash-0000"]["reason"], found["crash-0000"]["message"]) == (
        "OOMKilled",
        "container trainer was killed for using too much memory (OOMKilled)",
    )
    assert (found["crash-0001"]["reason"], found["crash-0001"]["message"]) == (
        "TrainingFailed",
        "container trainer exited with code 3",
    )
    failed = condition(search, "Failed")
    assert failed is not None
    assert failed["reason"] == "MaxTrialsReached"


def _unknown_machine() -> dict[str, Any]:
    return search_manifest("bad", machine_type="H100")


def _word_in_a_discrete_list() -> dict[str, Any]:
    # The schema cannot type a list of strings-or-numbers, so this is the parser's to refuse (an
    # undeclared placeholder, once here, is refused at apply now: test_operator_crd).
    manifest = search_manifest("bad")
    manifest["spec"]["parameters"].append(
        {"name": "batch", "type": "discrete", "values": [16, "big"]}
    )
    return manifest


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            _unknown_machine,
            "spec.trial.machineType is 'H100', which this operator does not know (known: A100, "
            "CPU, K80, P100, T4, V100); use one of those or add it under machineTypes in the "
            "operator's --config file",
        ),
        (
            _word_in_a_discrete_list,
            "spec.parameters[2].values[1] must be a number, got 'big' (use type: categorical for "
            "names)",
        ),
    ],
)
def test_an_invalid_spec_the_schema_lets_through_sets_failed_with_the_field_path(
    testplane: ControlPlane,
    namespace: str,
    tmp_path: Path,
    manifest: Callable[[], dict[str, Any]],
    message: str,
) -> None:
    with operator_with(testplane, namespace, tmp_path, manifest()):
        search = search_when(
            testplane, namespace, "bad", lambda s: condition(s, "Failed"), "a Failed condition"
        )
    failed = condition(search, "Failed")
    assert failed is not None
    assert (failed["status"], failed["reason"]) == ("True", "InvalidSpec")
    assert failed["message"] == message
    assert search["status"]["phase"] == "Failed"
    assert search["status"]["observedGeneration"] == search["metadata"]["generation"]
    assert trial_pods(testplane, namespace, "bad") == []
    testplane.kubectl("wait", "--for=condition=Failed", "hs/bad", "-n", namespace, "--timeout=10s")


def test_a_pod_unschedulable_past_the_timeout_fails_with_the_schedulers_reason(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    config = "machineTypes:\n  K80x16: {gpus: 16}\ntimeouts: {unschedulableSeconds: 2}\n"
    manifest = search_manifest("huge", machine_type="K80x16", max_trials=1, parallelism=1)
    with operator_with(testplane, namespace, tmp_path, manifest, config=config):
        search = search_when(
            testplane,
            namespace,
            "huge",
            lambda s: trial_phase(s, "huge-0000") == "Failed",
            "the unschedulable trial to fail",
        )
        wait_for(
            lambda: trial_pods(testplane, namespace, "huge") == [] or None,
            "the unschedulable Pod to be deleted",
        )
    trial = entries(search)["huge-0000"]
    assert trial["reason"] == "Unschedulable"
    assert trial["message"].startswith("trial Pod huge-0000 could not be scheduled for 2s: 0/")
    assert "Insufficient nvidia.com/gpu" in trial["message"]


def test_deleting_a_search_deletes_its_pods_trial_objects_and_sidecar_identity(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("bye", max_trials=2, parallelism=2)
    selector = f"{names.SEARCH_LABEL}=bye"
    with operator_with(testplane, namespace, tmp_path, manifest):
        wait_for(
            lambda: len(trial_pods(testplane, namespace, "bye")) == 2 or None, "two trial Pods"
        )
        table = testplane.kubectl("get", "hst", "-n", namespace, "-l", selector).stdout
        assert table.split("\n")[0].split() == ["NAME", "INDEX", "PHASE", "VALUE", "PARAMS", "AGE"]
        assert sorted(line.split()[0] for line in table.strip().split("\n")[1:]) == [
            "bye-0000",
            "bye-0001",
        ]
        testplane.kubectl("delete", "hs", "bye", "-n", namespace, "--wait=true", timeout=60)
        wait_for(
            lambda: trial_pods(testplane, namespace, "bye") == [] or None,
            "garbage collection of the trial Pods",
        )
        wait_for(
            lambda: (
                testplane.get_json("hst", "-n", namespace, "-l", selector)["items"] == [] or None
            ),
            "garbage collection of the trial objects",
        )

    def sidecar_identity_gone(kind: str) -> bool | None:
        listed = testplane.get_json(kind, "-n", namespace)["items"]
        return "bye-hypersearch-sidecar" not in [o["metadata"]["name"] for o in listed] or None

    for kind in ("roles", "rolebindings", "serviceaccounts"):
        wait_for(
            functools.partial(sidecar_identity_gone, kind),
            f"garbage collection of the sidecar's {kind}",
        )


def test_a_trainer_whose_image_cannot_be_pulled_fails_and_the_search_goes_on(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    config = "timeouts: {unschedulableSeconds: 2}\n"
    manifest = search_manifest("pull", max_trials=2, parallelism=1)
    with operator_with(testplane, namespace, tmp_path, manifest, config=config):
        wait_for(lambda: running_pods(testplane, namespace, "pull") or None, "trial Pod pull-0000")
        stall_pod(
            testplane,
            namespace,
            "pull-0000",
            reason="ImagePullBackOff",
            message='Back-off pulling image "trainer:test"',
        )
        search = search_when(
            testplane,
            namespace,
            "pull",
            lambda s: trial_phase(s, "pull-0000") == "Failed" and trial_phase(s, "pull-0001"),
            "pull-0000 to fail and pull-0001 to start",
        )
        wait_for(
            lambda: (
                "pull-0000"
                not in [p["metadata"]["name"] for p in trial_pods(testplane, namespace, "pull")]
                or None
            ),
            "the stuck Pod to be deleted",
        )
    trial = entries(search)["pull-0000"]
    assert (trial["reason"], trial["message"]) == (
        "ImagePullBackOff",
        "trial Pod pull-0000 could not start container trainer for 2s: ImagePullBackOff: "
        'Back-off pulling image "trainer:test"; check the image name, the registry and '
        "imagePullSecrets, or the container's configuration",
    )


def test_a_quota_smaller_than_the_parallelism_keeps_status_and_says_why_in_an_event(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    testplane.kubectl("create", "quota", "compute", "--hard=pods=1", "-n", namespace)
    manifest = search_manifest("quota", max_trials=2, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest):
        search = search_when(
            testplane,
            namespace,
            "quota",
            # The trial object is written before the search's status: wait for both.
            lambda s: (
                trial_phase(s, "quota-0000") == "Running"
                and (s.get("status") or {}).get("phase") == "Running"
            ),
            "the trial the quota allows, in the search's status too",
        )
        refused = wait_for(
            lambda: (
                [
                    e
                    for e in testplane.get_json(
                        "events", "-n", namespace, "--field-selector", "involvedObject.name=quota"
                    )["items"]
                    if e["reason"] == "FailedCreate"
                ]
                or None
            ),
            "a FailedCreate Event",
        )
        finish_trial(
            testplane, namespace, search="quota", pod="quota-0000", value=0.5, workdir=tmp_path
        )
        search_when(
            testplane,
            namespace,
            "quota",
            lambda s: trial_phase(s, "quota-0001"),
            "the next trial once the quota has room",
        )
    assert search["status"]["phase"] == "Running"
    assert search["status"]["counts"]["trials"] == 1
    # The refused trial's object was made before its Pod: decided, with no phase until its Pod.
    assert {n: e.get("phase") for n, e in entries(search).items()} == {
        "quota-0000": "Running",
        "quota-0001": None,
    }
    assert [e["type"] for e in refused] == ["Warning"]
    assert refused[0]["message"].startswith(
        'could not create trial Pod quota-0001, will retry: pods "quota-0001" is forbidden: '
        "exceeded quota: compute"
    )
