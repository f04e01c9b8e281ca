"""Editing a running or finished search with kubectl on a real API server: the operator sees
each generation, continues on a raised budget and refuses a space its trials no longer fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .operator_harness import (
    condition,
    finish_trial,
    operator_with,
    search_manifest,
    search_when,
    trial_phase,
    trial_pods,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration


def test_raising_max_trials_continues_and_renaming_a_parameter_is_refused(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    def patch(change: list[dict[str, object]]) -> None:
        testplane.kubectl(
            "patch", "hs", "edit", "-n", namespace, "--type=json", "-p", json.dumps(change)
        )

    def observed(generation: int) -> None:
        testplane.kubectl(
            "wait",
            f"--for=jsonpath={{.status.observedGeneration}}={generation}",
            "hs/edit",
            "-n",
            namespace,
            "--timeout=60s",
        )

    manifest = search_manifest("edit", max_trials=2, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest):
        search_when(
            testplane,
            namespace,
            "edit",
            lambda s: trial_phase(s, "edit-0000") == trial_phase(s, "edit-0001") == "Running",
            "two trials running",
        )
        for trial, value in (("edit-0000", 0.5), ("edit-0001", 0.7)):
            finish_trial(
                testplane, namespace, search="edit", pod=trial, value=value, workdir=tmp_path
            )
        testplane.kubectl(
            "wait", "--for=condition=Succeeded", "hs/edit", "-n", namespace, "--timeout=60s"
        )
        recorded = testplane.get_json("hs", "edit", "-n", namespace)["status"]["objective"]
        assert recorded == {"metric": "val_acc", "goal": "maximize", "aggregation": "last"}

        patch([{"op": "replace", "path": "/spec/maxTrials", "value": 3}])
        observed(2)
        more = search_when(
            testplane, namespace, "edit", lambda s: trial_phase(s, "edit-0002"), "a third trial"
        )
        assert more["status"]["phase"] == "Running"

        patch(
            [
                {"op": "replace", "path": "/spec/parameters/0/name", "value": "width"},
                {"op": "replace", "path": "/spec/maxTrials", "value": 5},
                {
                    "op": "replace",
                    "path": "/spec/trial/template/spec/containers/0/command",
                    "value": ["python", "train.py", "--units", ":width:", "--lr=:lr:"],
                },
            ]
        )
        observed(3)
        refused = search_when(
            testplane, namespace, "edit", lambda s: s["status"]["phase"] == "Failed", "Failed"
        )
    failed = condition(refused, "Failed")
    assert failed is not None
    assert (failed["status"], failed["reason"], failed["observedGeneration"]) == (
        "True",
        "InvalidSpec",
        3,
    )
    assert failed["message"].startswith(
        "spec.parameters no longer describe the trials this search ran: trial edit-0000 ran with"
    )
    assert "params.width is missing" in failed["message"]
    assert sorted(p["metadata"]["name"] for p in trial_pods(testplane, namespace, "edit")) == [
        "edit-0000",
        "edit-0001",
        "edit-0002",
    ]
