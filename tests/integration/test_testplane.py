"""Smoke tests that prove the test plane is a real Kubernetes control plane.

Each test exercises a component that a mock would not have: the apiserver's CEL
validation, the scheduler's resource fitting, kwok's pod lifecycle, the controller-manager's
garbage collector and token machinery, and a truthful /version.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .plane import ControlPlane, wait_until

pytestmark = pytest.mark.integration

VERSIONS = Path(__file__).resolve().parents[2] / "e2e" / "versions.env"


def _pinned(name: str) -> str:
    """A version pinned in e2e/versions.env (the single place versions are chosen)."""
    match = re.search(rf"^{name}=(\S+)$", VERSIONS.read_text(), re.MULTILINE)
    assert match, f"{name} missing from {VERSIONS}"
    return match.group(1)


def _pod(name: str, gpus: int, machine_type: str | None, **annotations: str) -> dict[str, Any]:
    """A bare trial-like Pod: one container, GPUs as limits, restartPolicy Never."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "trainer",
                "image": "example.invalid/trainer:1",
                "resources": {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {},
            }
        ],
    }
    if machine_type:
        spec["nodeSelector"] = {"hypersearch.io/machine-type": machine_type}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }


def _phase(testplane: ControlPlane, namespace: str, name: str) -> str:
    pod = testplane.get_json("pod", name, "-n", namespace)
    return str(pod.get("status", {}).get("phase", ""))


def test_version_is_truthful(testplane: ControlPlane) -> None:
    version = json.loads(testplane.kubectl("get", "--raw", "/version").stdout)
    pinned = _pinned("K8S_VERSION")
    assert version["gitVersion"] == pinned
    assert f"v{version['major']}.{version['minor']}." in pinned + "."
    assert version["gitTreeState"] == "clean"


def test_simulated_nodes_advertise_gpus(testplane: ControlPlane) -> None:
    nodes = testplane.get_json("nodes", "-l", "type=kwok")["items"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        machine_type = node["metadata"]["labels"]["hypersearch.io/machine-type"]
        by_type.setdefault(machine_type, []).append(node)
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["metadata"]["name"]
    assert {"K80", "T4", "A100", "CPU"} <= set(by_type)
    k80 = by_type["K80"][0]
    assert k80["metadata"]["labels"]["accelerator"] == "nvidia-tesla-k80"
    assert int(k80["status"]["allocatable"]["nvidia.com/gpu"]) > 0
    assert "nvidia.com/gpu" not in by_type["CPU"][0]["status"]["allocatable"]


def test_crd_cel_rule_rejects_invalid_object(testplane: ControlPlane, namespace: str) -> None:
    group = f"{uuid.uuid4().hex[:8]}.smoke.hypersearch.io"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"ranges.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "ranges", "singular": "range", "kind": "Range"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["min", "max"],
                                    "properties": {
                                        "min": {"type": "integer"},
                                        "max": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.min < self.max",
                                            "message": "min must be less than max",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    testplane.apply(crd)
    try:
        testplane.kubectl(
            "wait", "--for=condition=Established", f"crd/ranges.{group}", "--timeout=60s"
        )

        def obj(name: str, lo: int, hi: int) -> str:
            return json.dumps(
                {
                    "apiVersion": f"{group}/v1",
                    "kind": "Range",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"min": lo, "max": hi},
                }
            )

        def created() -> bool:
            # kubectl's discovery may lag the new CRD by a moment.
            proc = testplane.kubectl("create", "-f", "-", input_text=obj("good", 1, 2), check=False)
            return proc.returncode == 0

        wait_until(created, "a valid Range to be accepted", timeout=30)
        bad = testplane.kubectl("create", "-f", "-", input_text=obj("bad", 5, 2), check=False)
        assert bad.returncode != 0
        assert "min must be less than max" in bad.stderr
        assert "Invalid value" in bad.stderr
    finally:
        testplane.kubectl("delete", "crd", f"ranges.{group}", "--wait=false", check=False)


def test_gpu_pod_runs_on_k80_node_and_succeeds(testplane: ControlPlane, namespace: str) -> None:
    run = "hypersearch.io/kwok-run-duration"
    testplane.apply(_pod("trial-k80", 1, "K80", **{run: "5s"}), namespace)

    node = wait_until(
        lambda: testplane.get_json("pod", "trial-k80", "-n", namespace)["spec"].get("nodeName"),
        "the scheduler to bind the Pod",
    )
    labels = testplane.get_json("node", node)["metadata"]["labels"]
    assert labels["hypersearch.io/machine-type"] == "K80"
    assert labels["accelerator"] == "nvidia-tesla-k80"

    seen: list[str] = []

    def phase_is(wanted: str) -> bool:
        phase = _phase(testplane, namespace, "trial-k80")
        if not seen or seen[-1] != phase:
            seen.append(phase)
        return phase == wanted

    wait_until(lambda: phase_is("Running"), "the Pod to run", timeout=60, interval=0.2)
    wait_until(lambda: phase_is("Succeeded"), "the Pod to succeed", timeout=60)
    assert seen[-2:] == ["Running", "Succeeded"], seen
    pod = testplane.get_json("pod", "trial-k80", "-n", namespace)
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 0


def test_pod_can_be_told_to_fail(testplane: ControlPlane, namespace: str) -> None:
    pod = _pod(
        "trial-fails",
        1,
        "T4",
        **{"hypersearch.io/kwok-outcome": "Failed", "hypersearch.io/kwok-exit-code": "3"},
    )
    testplane.apply(pod, namespace)
    wait_until(lambda: _phase(testplane, namespace, "trial-fails") == "Failed", "the Pod to fail")
    status = testplane.get_json("pod", "trial-fails", "-n", namespace)["status"]
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_pod_asking_too_many_gpus_is_unschedulable(testplane: ControlPlane, namespace: str) -> None:
    testplane.apply(_pod("greedy", 64, None), namespace)

    def scheduled_condition() -> dict[str, Any] | None:
        status = testplane.get_json("pod", "greedy", "-n", namespace).get("status", {})
        for cond in status.get("conditions", []):
            if cond["type"] == "PodScheduled":
                return dict(cond)
        return None

    cond = wait_until(scheduled_condition, "a PodScheduled condition")
    assert cond["status"] == "False"
    assert cond["reason"] == "Unschedulable"
    assert "nvidia.com/gpu" in cond["message"]
    assert _phase(testplane, namespace, "greedy") == "Pending"


def test_deleting_owner_garbage_collects_dependents(
    testplane: ControlPlane, namespace: str
) -> None:
    testplane.kubectl("create", "configmap", "owner", "-n", namespace, "--from-literal=a=b")
    owner = testplane.get_json("configmap", "owner", "-n", namespace)["metadata"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["uid"]}
    dependent_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "dependent", "ownerReferences": [ref]},
        "data": {"x": "y"},
    }
    dependent_pod = _pod("dependent-pod", 0, "CPU", **{"hypersearch.io/kwok-run-duration": "1h"})
    dependent_pod["metadata"]["ownerReferences"] = [ref]
    testplane.apply(dependent_cm, namespace)
    testplane.apply(dependent_pod, namespace)

    testplane.kubectl("delete", "configmap", "owner", "-n", namespace)

    def gone(kind: str, name: str) -> bool:
        proc = testplane.kubectl("get", kind, name, "-n", namespace, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    wait_until(lambda: gone("configmap", "dependent"), "the dependent ConfigMap to be collected")
    wait_until(lambda: gone("pod", "dependent-pod"), "the dependent Pod to be collected")


def test_service_accounts_get_tokens(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    testplane.kubectl("create", "serviceaccount", "hypersearch-operator", "-n", namespace)
    token = testplane.kubectl(
        "create", "token", "hypersearch-operator", "-n", namespace, "--duration=10m"
    ).stdout.strip()
    # A kubeconfig with only the token: the admin's client certificate would win otherwise.
    cluster = testplane.kubectl("config", "view", "--minify", "--raw", "-o", "json").stdout
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": json.loads(cluster)["clusters"],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [
                    {"name": "sa", "context": {"cluster": "hypersearch-testplane", "user": "sa"}}
                ],
                "current-context": "sa",
            }
        )
    )
    who = replace(testplane, kubeconfig=kubeconfig).kubectl("auth", "whoami", "-o", "json")
    username = json.loads(who.stdout)["status"]["userInfo"]["username"]
    assert username == f"system:serviceaccount:{namespace}:hypersearch-operator"

    pod = _pod("with-sa", 0, "CPU", **{"hypersearch.io/kwok-run-duration": "1h"})
    pod["spec"]["serviceAccountName"] = "hypersearch-operator"
    testplane.apply(pod, namespace)
    volumes = testplane.get_json("pod", "with-sa", "-n", namespace)["spec"]["volumes"]
    assert any(v["name"].startswith("kube-api-access-") for v in volumes)
