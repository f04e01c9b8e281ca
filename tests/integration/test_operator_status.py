"""Status written by several managers: sidecars and the operator never erase each other.

Server-side apply on ``status.trials`` (a list map keyed by name) is what makes this hold; a
merge patch from any writer would replace the list whole.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hypersearch.kube import names
from hypersearch.kube.transport import Endpoint, Transport
from hypersearch.kube.wire import ApiError
from hypersearch.sidecar.reporter import StatusReporter

from .operator_harness import (
    complete_pod,
    entries,
    get_search,
    operator_with,
    run_sidecar,
    running_pods,
    search_manifest,
    search_when,
    trial_phase,
    trial_pods,
    wait_for,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration


def test_sidecars_and_operator_keep_each_others_entries(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("ssa", max_trials=3, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest):
        search_when(
            testplane, namespace, "ssa", lambda s: len(entries(s)) == 2, "two trials in status"
        )
        for trial, value in (("ssa-0000", 0.5), ("ssa-0001", 0.75)):
            done = run_sidecar(
                testplane,
                namespace,
                search="ssa",
                trial=trial,
                workdir=tmp_path / trial,
                output=f"val_acc={value / 2}\nval_acc={value}\n",
                exit_code=0,
            )
            assert done.returncode == 0, done.stderr
        # The operator reacts to the sidecars' writes (it re-applies its own fields) while
        # both entries must keep the sidecars' fields.
        complete_pod(testplane, namespace, "ssa-0000")
        search = search_when(
            testplane,
            namespace,
            "ssa",
            lambda s: trial_phase(s, "ssa-0000") == "Succeeded",
            "trial ssa-0000 to succeed",
        )
        found = entries(search)
        assert found["ssa-0000"]["value"] == 0.5
        assert found["ssa-0000"]["curve"] == [[1, 0.25], [2, 0.5]]
        assert found["ssa-0001"]["value"] == 0.75
        assert found["ssa-0001"]["exitCode"] == 0
        assert found["ssa-0001"]["phase"] == "Running"
        assert "params" in found["ssa-0001"]
        assert search["status"]["best"]["trial"] == "ssa-0000"
        shown = testplane.get_json("hs", "ssa", "-n", namespace, "--show-managed-fields")
        managers = {m["manager"] for m in shown["metadata"]["managedFields"]}
        assert {names.sidecar_manager("ssa-0000"), names.sidecar_manager("ssa-0001")} <= managers

        complete_pod(testplane, namespace, "ssa-0001")
        wait_for(
            lambda: (
                "ssa-0002"
                in {p["metadata"]["name"] for p in running_pods(testplane, namespace, "ssa")}
                or None
            ),
            "trial ssa-0002 running",
        )
        done = run_sidecar(
            testplane,
            namespace,
            search="ssa",
            trial="ssa-0002",
            workdir=tmp_path / "ssa-0002",
            output="val_acc=0.1\n",
            exit_code=0,
        )
        assert done.returncode == 0, done.stderr
        complete_pod(testplane, namespace, "ssa-0002")
        testplane.kubectl(
            "wait", "--for=condition=Succeeded", "hs/ssa", "-n", namespace, "--timeout=60s"
        )
        # Once the search is over, the operator owns every report: the per-trial sidecar
        # managers are gone from managedFields, so it does not grow with the number of trials.
        wait_for(
            lambda: (
                not [
                    m
                    for m in testplane.get_json(
                        "hs", "ssa", "-n", namespace, "--show-managed-fields"
                    )["metadata"]["managedFields"]
                    if m["manager"].startswith("hypersearch-sidecar-")
                ]
                or None
            ),
            "the sidecars' managedFields entries to be dropped",
        )
    final = entries(get_search(testplane, namespace, "ssa"))
    assert {n: e["value"] for n, e in final.items()} == {
        "ssa-0000": 0.5,
        "ssa-0001": 0.75,
        "ssa-0002": 0.1,
    }
    assert final["ssa-0000"]["curve"] == [[1, 0.25], [2, 0.5]]


def test_a_sidecar_cannot_write_another_searchs_status(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    mine = search_manifest("mine", max_trials=1, parallelism=1)
    other = search_manifest("other", max_trials=1, parallelism=1, hold=True)
    with operator_with(testplane, namespace, tmp_path, mine, other):
        wait_for(lambda: trial_pods(testplane, namespace, "mine") or None, "a trial Pod of mine")
        wait_for(lambda: trial_pods(testplane, namespace, "other") or None, "a Pod of other")
    token = testplane.kubectl(
        "create", "token", names.sidecar_account("mine"), "-n", namespace
    ).stdout.strip()
    (tmp_path / "token").write_text(token)
    cluster = yaml.safe_load(testplane.kubeconfig.read_text())["clusters"][0]["cluster"]
    as_sidecar = Transport(
        Endpoint(
            server=cluster["server"],
            ca_file=cluster["certificate-authority"],
            token_file=str(tmp_path / "token"),
        )
    )
    try:
        reporter = StatusReporter(as_sidecar, namespace, "other", "other-0000")
        with pytest.raises(ApiError) as refused:
            reporter.apply({"name": "other-0000", "value": 1.0})
        StatusReporter(as_sidecar, namespace, "mine", "mine-0000").apply({"name": "mine-0000"})
    finally:
        as_sidecar.close()
    assert refused.value.status == 403
    assert refused.value.reason == "Forbidden"
    assert "value" not in entries(get_search(testplane, namespace, "other"))["other-0000"]
