"""The operator on a real API server: trial Pods as rendered, scheduled and owned.

kwok's K80 nodes carry the GKE accelerator label, so the built-in K80 machine type's node
selector and GPU limit meet the real scheduler.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hypersearch.kube import names

from .operator_harness import (
    entries,
    get_search,
    operator_with,
    search_manifest,
    search_when,
    trial_pods,
    wait_for,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration


def test_trial_pods_ask_for_a_k80_gpu_and_are_bound_to_k80_nodes(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("gpu", max_trials=2, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest):
        pods = wait_for(
            lambda: (
                p
                if len(p := trial_pods(testplane, namespace, "gpu")) == 2
                and all(x["spec"].get("nodeName") for x in p)
                else None
            ),
            "two scheduled trial Pods",
        )
        search = search_when(
            testplane, namespace, "gpu", lambda s: len(entries(s)) == 2, "two trials in status"
        )
    uid = search["metadata"]["uid"]
    for pod in pods:
        spec = pod["spec"]
        trainer = spec["containers"][0]
        assert trainer["resources"]["limits"] == {"nvidia.com/gpu": "1"}
        assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-k80"}
        assert spec["nodeName"].startswith("kwok-k80-")
        assert spec["restartPolicy"] == "Never"
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == names.sidecar_account("gpu")
        assert [c["name"] for c in spec["initContainers"]] == [names.SIDECAR_CONTAINER]
        assert spec["initContainers"][0]["restartPolicy"] == "Always"
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("HyperSearch", "gpu", uid)
        assert pod["metadata"]["labels"][names.TRIAL_LABEL] == pod["metadata"]["name"]
        argv = trainer["command"][4:]
        assert argv[:3] == ["python", "train.py", "--units"]
        assert argv[3].isdigit()
        assert argv[4].startswith("--lr=")
    assert sorted(entries(search)) == ["gpu-0000", "gpu-0001"]
    assert {e["phase"] for e in entries(search).values()} <= {"Pending", "Running"}
    meta = get_search(testplane, namespace, "gpu")["metadata"]
    assert not meta.get("finalizers")
    assert not [a for a in meta.get("annotations") or {} if "kopf" in a]


def test_sidecar_identity_is_created_and_owned_by_the_search(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("ident", max_trials=1, parallelism=1)
    with operator_with(testplane, namespace, tmp_path, manifest):
        wait_for(lambda: trial_pods(testplane, namespace, "ident") or None, "a trial Pod")
    account = names.sidecar_account("ident")
    role = testplane.get_json("role", account, "-n", namespace)
    # Trial objects' status only (the chart's admission policy narrows it to the sidecar's own
    # trial); no rule on the search's status, which only sidecars of earlier versions wrote.
    assert [r["resources"] for r in role["rules"]] == [["hypersearchtrials/status"]]
    assert "resourceNames" not in role["rules"][0]
    for kind in ("serviceaccount", "role", "rolebinding"):
        obj = testplane.get_json(kind, account, "-n", namespace)
        assert obj["metadata"]["ownerReferences"][0]["name"] == "ident"
