"""A search started by the previous release keeps going after an upgrade.

The previous release kept every trial in ``status.trials`` (written by its operator and, for
the reports, by each trial's sidecar with its own field manager). This version moves each
entry into a HyperSearchTrial (reports kept), runs the rest of the search with trial objects,
and then removes the list: it takes the old sidecars' reports over, drops their managedFields
entries and stops applying the list, so server-side apply removes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hypersearch.kube import names

from .operator_harness import (
    entries,
    finish_trial,
    get_search,
    install_crd,
    running_operator,
    search_manifest,
    trial_pods,
    wait_for,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration


def previous_entry(index: int, units: int, lr: float, value: float) -> dict[str, Any]:
    """An entry as the previous release's operator wrote it (its fields only)."""
    return {
        "name": f"old-{index:04d}",
        "index": index,
        "params": {"units": units, "lr": lr},
        "phase": "Succeeded",
        "startedAt": "2027-01-15T08:00:00Z",
        "finishedAt": "2027-01-15T08:01:40Z",
        "value": value,
        "exitCode": 0,
        "observed": 3,
        "curve": [[1, round(value / 3, 4)], [2, round(2 * value / 3, 4)], [3, value]],
        "reportedAt": "2027-01-15T08:01:39Z",
    }


def apply_status(plane: ControlPlane, namespace: str, status: dict[str, Any], manager: str) -> None:
    body = {
        "apiVersion": names.API,
        "kind": names.KIND,
        "metadata": {"name": "old", "namespace": namespace},
        "status": status,
    }
    plane.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--subresource=status",
        f"--field-manager={manager}",
        "-n",
        namespace,
        "-f",
        "-",
        input_text=json.dumps(body),
    )


def test_a_search_of_the_previous_release_goes_on_with_trial_objects_and_drops_its_list(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    install_crd(testplane)
    testplane.apply(search_manifest("old", max_trials=4, parallelism=2), namespace)
    first = previous_entry(0, 64, 0.01, 0.61)
    second = previous_entry(1, 256, 0.002, 0.72)
    apply_status(
        testplane,
        namespace,
        {
            "phase": "Running",
            "counts": {"trials": 2, "pending": 0, "running": 0, "succeeded": 2, "failed": 0},
            "trials": [first, {k: v for k, v in second.items() if k not in names.REPORT_FIELDS}],
        },
        names.OPERATOR_MANAGER,
    )
    # Trial 1's report as the previous release's sidecar applied it, with its own manager.
    report = {k: v for k, v in second.items() if k in ("name", *names.REPORT_FIELDS)}
    apply_status(testplane, namespace, {"trials": [report]}, names.sidecar_manager("old-0001"))

    with running_operator(testplane, namespace, tmp_path) as operator:
        wait_for(
            lambda: len(trial_pods(testplane, namespace, "old")) == 2 or None,
            "the two remaining trials' Pods",
        )
        for trial, value in (("old-0002", 0.5), ("old-0003", 0.8)):
            finish_trial(
                testplane, namespace, search="old", pod=trial, value=value, workdir=tmp_path
            )
        testplane.kubectl(
            "wait", "--for=condition=Succeeded", "hs/old", "-n", namespace, "--timeout=60s"
        )
        search = wait_for(
            lambda: (
                s
                if "trials" not in (s := get_search(testplane, namespace, "old"))["status"]
                else None
            ),
            "status.trials to be removed",
        )
        operator.assert_alive()

    assert sorted(p["metadata"]["name"] for p in trial_pods(testplane, namespace, "old")) == [
        "old-0002",
        "old-0003",
    ]
    records = entries(search)
    assert {n: (t["phase"], t["value"]) for n, t in records.items()} == {
        "old-0000": ("Succeeded", 0.61),
        "old-0001": ("Succeeded", 0.72),
        "old-0002": ("Succeeded", 0.5),
        "old-0003": ("Succeeded", 0.8),
    }
    assert records["old-0000"]["curve"] == first["curve"]
    assert records["old-0001"]["params"] == {"units": 256, "lr": 0.002}
    status = search["status"]
    assert status["counts"]["succeeded"] == 4
    assert status["best"]["trial"] == "old-0003"
    shown = testplane.get_json("hs", "old", "-n", namespace, "--show-managed-fields")
    managers = {m["manager"] for m in shown["metadata"]["managedFields"]}
    assert not {m for m in managers if m.startswith("hypersearch-sidecar-")}
    finished = testplane.get_json(
        "hst", "-n", namespace, "-l", f"{names.SEARCH_LABEL}=old,{names.FINISHED_LABEL}=true"
    )
    assert len(finished["items"]) == 4
