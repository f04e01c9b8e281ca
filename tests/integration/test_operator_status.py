"""Status written by several managers: sidecars and the operator never erase each other.

Server-side apply on ``status.trials`` (a list map keyed by name) is what makes this hold; a
merge patch from any writer would replace the list whole.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hypersearch.kube import names
from hypersearch.kube.status import apply_status, search_path
from hypersearch.kube.transport import Endpoint, Transport
from hypersearch.kube.wire import ApiError
from hypersearch.sidecar.reporter import TrialReporter

from .operator_harness import (
    complete_pod,
    get_search,
    operator_with,
    run_sidecar,
    running_pods,
    search_manifest,
    sidecar_token,
    trial_objects,
    trial_pods,
    wait_for,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration


def test_sidecars_and_operator_keep_each_others_fields_of_the_trial_objects(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("ssa", max_trials=3, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest):
        wait_for(
            lambda: len(trial_objects(testplane, namespace, "ssa")) == 2 or None,
            "two trial objects",
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
        # The operator reacts to the sidecars' writes (it applies its verdict into the same
        # status) while each object keeps its sidecar's fields.
        complete_pod(testplane, namespace, "ssa-0000")
        found = wait_for(
            lambda: (
                t
                if (t := trial_objects(testplane, namespace, "ssa"))["ssa-0000"].get("phase")
                == "Succeeded"
                else None
            ),
            "trial ssa-0000 to succeed",
        )
        assert found["ssa-0000"]["value"] == 0.5
        assert found["ssa-0000"]["curve"] == [[1, 0.25], [2, 0.5]]
        assert found["ssa-0001"]["value"] == 0.75
        assert found["ssa-0001"]["exitCode"] == 0
        assert found["ssa-0001"]["phase"] == "Running"
        assert "params" in found["ssa-0001"]
        assert get_search(testplane, namespace, "ssa")["status"]["best"]["trial"] == "ssa-0000"
        shown = testplane.get_json("hst", "ssa-0001", "-n", namespace, "--show-managed-fields")
        managers = {m["manager"] for m in shown["metadata"]["managedFields"]}
        assert {names.sidecar_manager("ssa-0001"), names.OPERATOR_MANAGER} <= managers
        finished = testplane.get_json("hst", "ssa-0000", "-n", namespace)
        assert finished["metadata"]["labels"][names.FINISHED_LABEL] == "true"

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
    final = trial_objects(testplane, namespace, "ssa")
    assert {n: e["value"] for n, e in final.items()} == {
        "ssa-0000": 0.5,
        "ssa-0001": 0.75,
        "ssa-0002": 0.1,
    }
    assert {e["phase"] for e in final.values()} == {"Succeeded"}
    assert final["ssa-0000"]["curve"] == [[1, 0.25], [2, 0.5]]


def test_a_sidecar_writes_only_its_own_trial_object(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """The sidecar's Role reaches every trial object's status in the namespace (RBAC cannot name
    unbounded trial names); the chart's ValidatingAdmissionPolicy admits only the trial named as
    the Pod its token is bound to."""
    mine = search_manifest("mine", max_trials=2, parallelism=2)
    other = search_manifest("other", max_trials=1, parallelism=1, hold=True)
    with operator_with(testplane, namespace, tmp_path, mine, other):
        wait_for(
            lambda: len(trial_pods(testplane, namespace, "mine")) == 2 or None,
            "two trial Pods of mine",
        )
        wait_for(lambda: trial_pods(testplane, namespace, "other") or None, "a Pod of other")
    (tmp_path / "token").write_text(
        sidecar_token(testplane, namespace, search="mine", trial="mine-0000")
    )
    (tmp_path / "unbound").write_text(
        testplane.kubectl(
            "create", "token", names.sidecar_account("mine"), "-n", namespace
        ).stdout.strip()
    )
    cluster = yaml.safe_load(testplane.kubeconfig.read_text())["clusters"][0]["cluster"]

    def transport(token: str) -> Transport:
        return Transport(
            Endpoint(
                server=cluster["server"],
                ca_file=cluster["certificate-authority"],
                token_file=str(tmp_path / token),
            )
        )

    as_sidecar, unbound = transport("token"), transport("unbound")
    refusals: dict[str, ApiError] = {}
    try:
        TrialReporter(as_sidecar, namespace, "mine-0000").apply(
            {"name": "mine-0000", "observed": 1, "curve": [[1, 0.5]]}
        )
        attempts: dict[str, Callable[[], object]] = {
            "the other trial of its search": lambda: TrialReporter(
                as_sidecar, namespace, "mine-0001"
            ).apply({"name": "mine-0001", "value": 1.0}),
            "a trial of another search": lambda: TrialReporter(
                as_sidecar, namespace, "other-0000"
            ).apply({"name": "other-0000", "value": 1.0}),
            "its own trial with a token bound to no Pod": lambda: TrialReporter(
                unbound, namespace, "mine-0000"
            ).apply({"name": "mine-0000", "value": 1.0}),
            "another search's status": lambda: apply_status(
                as_sidecar, namespace, "other", {"phase": "Failed"}, "intruder"
            ),
            "its own search's status": lambda: apply_status(
                as_sidecar, namespace, "mine", {"phase": "Failed"}, "intruder"
            ),
            "its search's spec": lambda: as_sidecar.request(
                "PATCH",
                search_path(namespace, "mine"),
                body={"spec": {"maxTrials": 100}},
                content_type="application/merge-patch+json",
            ),
        }
        for what, attempt in attempts.items():
            with pytest.raises(ApiError) as refused:
                attempt()
            refusals[what] = refused.value
    finally:
        as_sidecar.close()
        unbound.close()
    assert {what: err.status for what, err in refusals.items()} == dict.fromkeys(attempts, 403)
    assert "may write only the HyperSearchTrial of its own Pod: its Pod is mine-0000" in str(
        refusals["the other trial of its search"]
    )
    assert "its token is bound to no Pod" in str(
        refusals["its own trial with a token bound to no Pod"]
    )
    trial_objects = {
        o["metadata"]["name"]: o.get("status") or {}
        for o in testplane.get_json("hst", "-n", namespace)["items"]
    }
    assert trial_objects["mine-0000"]["curve"] == [[1, 0.5]]
    assert "value" not in trial_objects["mine-0001"]
    assert "value" not in trial_objects["other-0000"]
