"""The chart's rendered manifests apply to a real API server and work there.

Under kwok no container runs, so the operator itself does not start; what is proven: every object
is accepted (schemas, CRDs established and served, RBAC objects bound), and the ReplicaSet
controller creates the operator Pod in a namespace that enforces the `restricted` Pod Security
Standard, so the Pod's security settings pass the API server's own admission.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ControlPlane, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hypersearch"


def render(release: str, namespace: str, *flags: str) -> list[dict[str, Any]]:
    """`helm template --include-crds` of the chart (helm from charts/get-helm)."""
    helm = subprocess.run(
        [str(REPO / "charts" / "get-helm")], capture_output=True, text=True, timeout=600, check=True
    ).stdout.strip()
    proc = subprocess.run(
        [helm, "template", release, str(CHART), "--namespace", namespace, "--include-crds", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def install(testplane: ControlPlane, objs: list[dict[str, Any]]) -> None:
    """Apply like helm does: CRDs first and established, then everything else."""
    crds = [o for o in objs if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in objs if o["kind"] != "CustomResourceDefinition"]
    if crds:
        testplane.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-",
            input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": crds}),
        )  # fmt: skip
        names = [f"crd/{c['metadata']['name']}" for c in crds]
        testplane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    testplane.kubectl(
        "apply", "--server-side", "-f", "-",
        input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": rest}),
    )  # fmt: skip


@pytest.fixture
def release(testplane: ControlPlane, namespace: str) -> Iterator[str]:
    """A release name unique to the test; its cluster-scoped objects are deleted afterwards."""
    name = namespace[:40].rstrip("-")
    yield name
    selector = f"app.kubernetes.io/instance={name}"
    for kind in ("clusterrolebinding", "clusterrole", "clusterkopfpeering"):
        testplane.kubectl("delete", kind, "-l", selector, "--ignore-not-found", check=False)


def exists(testplane: ControlPlane, kind: str, name: str, namespace: str | None = None) -> bool:
    ns = ["-n", namespace] if namespace else []
    return testplane.kubectl("get", kind, name, *ns, check=False).returncode == 0


def operator_pod_events(testplane: ControlPlane, namespace: str) -> str:
    events = testplane.get_json("events", "-n", namespace)["items"]
    return "\n".join(f"{e['reason']}: {e['message']}" for e in events)


def test_default_install_applies_serves_its_crds_and_passes_restricted_admission(
    testplane: ControlPlane, namespace: str, release: str
) -> None:
    testplane.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    objs = render(release, namespace)
    install(testplane, objs)

    for crd in (o for o in objs if o["kind"] == "CustomResourceDefinition"):
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        for version in (v["name"] for v in crd["spec"]["versions"] if v["served"]):
            served = json.loads(
                testplane.kubectl("get", "--raw", f"/apis/{group}/{version}").stdout
            )
            assert plural in {r["name"] for r in served["resources"]}
    for obj in objs:
        if obj["kind"] != "CustomResourceDefinition":
            assert exists(
                testplane, obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")
            )

    def operator_pod() -> dict[str, Any] | None:
        pods = testplane.get_json(
            "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}"
        )
        return pods["items"][0] if pods["items"] else None

    pod = wait_until(
        operator_pod,
        f"the operator Pod in restricted namespace {namespace}; events:\n"
        + operator_pod_events(testplane, namespace),
        timeout=60,
    )
    assert pod["spec"]["serviceAccountName"] == f"{release}-hypersearch"
    assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_namespaced_install_binds_roles_only_in_the_listed_namespaces(
    testplane: ControlPlane, namespace: str, release: str
) -> None:
    watched = f"{namespace[:50]}-w"
    testplane.kubectl("create", "namespace", watched)
    try:
        objs = render(
            release,
            namespace,
            "--set",
            "watch.allNamespaces=false",
            "--set",
            f"watch.namespaces={{{watched}}}",
        )
        install(testplane, objs)
        name = f"{release}-hypersearch-operator"
        assert exists(testplane, "role", name, watched)
        assert exists(testplane, "rolebinding", name, watched)
        assert exists(testplane, "kopfpeering", f"{release}-hypersearch", watched)
        assert not exists(testplane, "clusterrole", name)
        assert not exists(testplane, "clusterrolebinding", name)
        binding = testplane.get_json("rolebinding", name, "-n", watched)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{release}-hypersearch", "namespace": namespace}
        ]
    finally:
        testplane.kubectl(
            "delete", "namespace", watched, "--wait=false", "--ignore-not-found", check=False
        )


def test_monitoring_objects_apply_once_the_prometheus_operator_crds_exist(
    testplane: ControlPlane, namespace: str, release: str
) -> None:
    """ServiceMonitor and PrometheusRule are valid against the monitoring.coreos.com kinds.

    The real Prometheus Operator CRDs are not available offline; minimal CRDs of the same
    group, kinds and versions prove the objects are addressed correctly and apply.
    """
    for kind, plural in (
        ("ServiceMonitor", "servicemonitors"),
        ("PrometheusRule", "prometheusrules"),
    ):
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
        # Create only when absent: a cluster that has the real CRDs keeps them.
        if not exists(testplane, "crd", crd["metadata"]["name"]):
            testplane.kubectl("create", "-f", "-", input_text=json.dumps(crd), check=False)
        testplane.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            f"crd/{plural}.monitoring.coreos.com",
        )
    objs = render(
        release, namespace,
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "grafana.dashboard.enabled=true",
    )  # fmt: skip
    install(testplane, objs)
    assert exists(testplane, "servicemonitor", release + "-hypersearch", namespace)
    assert exists(testplane, "prometheusrule", release + "-hypersearch", namespace)
    dashboard = testplane.get_json("configmap", f"{release}-hypersearch-dashboard", "-n", namespace)
    assert json.loads(dashboard["data"]["hypersearch.json"])["uid"] == "hypersearch-operator"
