"""Early stopping on the test plane: a trial whose curve is bad is recorded EarlyStopped from its
sidecar's reports, its Pod is deleted, and the search counts it as done, not failed.

kwok runs no containers: the test plays the trainers (output files) and runs the real sidecars.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .operator_harness import (
    entries,
    finish_trial,
    get_search,
    install_crd,
    operator_with,
    running_pods,
    search_manifest,
    search_when,
    start_sidecar,
    trial_phase,
    trial_pods,
    wait_for,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("early", "refusal"),
    [
        (
            {"algorithm": "asha", "minTrials": 3},
            'spec.earlyStopping.minTrials: Invalid value: "object": minTrials is a setting of '
            "the median rule only",
        ),
        (
            {"algorithm": "asha", "minResource": 10, "maxResource": 10},
            'spec.earlyStopping.minResource: Invalid value: "object": minResource must be less '
            "than maxResource",
        ),
        (
            {"algorithm": "asha", "minResource": 200},
            'spec.earlyStopping.minResource: Invalid value: "object": minResource must be less '
            "than maxResource",
        ),
        (
            {"algorithm": "hyperband"},
            'spec.earlyStopping.algorithm: Unsupported value: "hyperband"',
        ),
        (
            {"algorithm": "asha", "reductionFactor": 1},
            "spec.earlyStopping.reductionFactor in body should be greater than 1",
        ),
        (
            {"algorithm": "asha", "extrapolate": True},
            'spec.earlyStopping.extrapolate: Invalid value: "object": extrapolate is a setting '
            "of the median rule only",
        ),
    ],
)
def test_the_api_server_refuses_a_bad_early_stopping_rule(
    testplane: ControlPlane, namespace: str, early: dict[str, Any], refusal: str
) -> None:
    install_crd(testplane)
    manifest = search_manifest("bad")
    manifest["spec"]["earlyStopping"] = early
    refused = testplane.kubectl(
        "apply", "-n", namespace, "-f", "-", input_text=json.dumps(manifest), check=False
    )
    assert refused.returncode != 0
    assert refusal in refused.stderr


def test_a_good_rule_is_accepted_and_explain_describes_it(
    testplane: ControlPlane, namespace: str
) -> None:
    install_crd(testplane)
    manifest = search_manifest("good")
    manifest["spec"]["earlyStopping"] = {"algorithm": "asha", "minResource": 1}
    testplane.kubectl(
        "apply", "-n", namespace, "--dry-run=server", "-f", "-", input_text=json.dumps(manifest)
    )
    manifest["spec"]["earlyStopping"] = {"algorithm": "median", "extrapolate": True}
    testplane.kubectl(
        "apply", "-n", namespace, "--dry-run=server", "-f", "-", input_text=json.dumps(manifest)
    )
    explained = testplane.kubectl("explain", "hs.spec.earlyStopping").stdout
    assert "maxFailedTrials" in explained
    assert "reductionFactor" in explained
    assert "extrapolate" in explained


def _stopped_while_training(
    testplane: ControlPlane, namespace: str, workdir: Path, *, trial: str, output: str
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Run the real sidecar of a trial still training (its output so far: ``output``) until the
    operator records the trial EarlyStopped; its sidecar (still running) and status entry."""
    search = trial.rsplit("-", 1)[0]
    sidecar = start_sidecar(
        testplane, namespace, search=search, trial=trial, workdir=workdir / trial, output=output
    )
    try:
        found = search_when(
            testplane,
            namespace,
            search,
            lambda s: trial_phase(s, trial) == "EarlyStopped",
            f"trial {trial} to be stopped early",
        )
    except BaseException:
        sidecar.kill()
        sidecar.communicate(timeout=30)
        raise
    return sidecar, entries(found)[trial]


def test_a_bad_curve_is_stopped_early_its_pod_deleted_and_the_search_still_succeeds(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("es", max_trials=3, parallelism=3, max_failed=0)
    manifest["spec"]["earlyStopping"] = {"algorithm": "median", "gracePeriod": 2, "minTrials": 2}
    with operator_with(testplane, namespace, tmp_path, manifest) as operator:
        wait_for(
            lambda: len(running_pods(testplane, namespace, "es")) == 3 or None,
            "three trial Pods running",
        )
        # Two good trials finish (curves 0.3, 0.6, 0.9 and 0.27, 0.53, 0.8 over three epochs).
        for trial, value in (("es-0000", 0.9), ("es-0001", 0.8)):
            finish_trial(
                testplane, namespace, search="es", pod=trial, value=value, workdir=tmp_path
            )
        # The third is still training: its sidecar pushes two poor epochs and keeps running.
        sidecar, stopped = _stopped_while_training(
            testplane,
            namespace,
            tmp_path,
            trial="es-0002",
            output="epoch=1 val_acc=0.05\nepoch=2 val_acc=0.1\n",
        )
        try:
            assert (stopped["reason"], stopped["value"]) == ("EarlyStopped", 0.1)
            assert stopped["message"] == (
                "val_acc 0.1 at step 2 is worse than the median 0.56665 of the 2 completed trials "
                "at that step (earlyStopping: median, gracePeriod 2, minTrials 2)"
            )
            wait_for(
                lambda: (
                    all(
                        p["metadata"]["name"] != "es-0002" or p["metadata"].get("deletionTimestamp")
                        for p in trial_pods(testplane, namespace, "es")
                    )
                    or None
                ),
                "the Pod of es-0002 to be deleted",
            )
        finally:
            sidecar.send_signal(signal.SIGTERM)  # the kubelet stopping the deleted Pod
            _, errors = sidecar.communicate(timeout=30)
        assert sidecar.returncode == 0, errors
        testplane.kubectl(
            "wait", "--for=condition=Succeeded", "hs/es", "-n", namespace, "--timeout=60s"
        )
        final = get_search(testplane, namespace, "es")
        assert final["status"]["counts"] == {
            "trials": 3,
            "queued": 0,
            "pending": 0,
            "running": 0,
            "succeeded": 2,
            "failed": 0,
            "earlyStopped": 1,
        }
        assert final["status"]["best"]["trial"] == "es-0000"
        columns = testplane.kubectl(
            "get",
            "hs",
            "es",
            "-n",
            namespace,
            "-o",
            "custom-columns=STOPPED:.status.counts.earlyStopped",
        ).stdout.split()
        assert columns == ["STOPPED", "1"]
        table = testplane.kubectl("get", "hs", "es", "-n", namespace).stdout.splitlines()
        header, row = table[0].split(), table[1].split()
        assert row[header.index("STOPPED")] == "1"

        # A restarted operator keeps the decision: no new stop, no new trial, nothing rewritten.
        operator.kill()
        operator.start()
        again = search_when(
            testplane,
            namespace,
            "es",
            lambda s: (
                s["metadata"]["resourceVersion"] != final["metadata"]["resourceVersion"]
                or s["status"]["phase"] == "Succeeded"
            ),
            "the search after the restart",
        )
        assert trial_phase(again, "es-0002") == "EarlyStopped"
        assert len(entries(again)) == 3


def test_a_diverged_trial_reaches_the_rule_through_status_and_is_stopped(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("nan", max_trials=1, parallelism=1, max_failed=0)
    manifest["spec"]["earlyStopping"] = {"algorithm": "median", "gracePeriod": 2}
    with operator_with(testplane, namespace, tmp_path, manifest):
        wait_for(
            lambda: len(running_pods(testplane, namespace, "nan")) == 1 or None,
            "the trial Pod running",
        )
        # Its second epoch is NaN: the sidecar stores it as null, the operator reads it as NaN,
        # and the rule stops the trial as the local runner does (no completed trial needed).
        sidecar, stopped = _stopped_while_training(
            testplane,
            namespace,
            tmp_path,
            trial="nan-0000",
            output="epoch=1 val_acc=0.4\nepoch=2 val_acc=nan\n",
        )
        try:
            assert stopped["curve"] == [[1, 0.4], [2, None]]
            assert stopped["message"] == (
                "val_acc has no finite value at step 2 (NaN/inf: the training diverged), so the "
                "trial could only end without a value (earlyStopping: median, from step 2)"
            )
        finally:
            sidecar.send_signal(signal.SIGTERM)
            sidecar.communicate(timeout=30)
