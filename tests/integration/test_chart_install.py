"""The chart's rendered manifests apply to a real API server and work there.

Under kwok no container runs, so the Deployment's Pod never starts the operator; what is proven:
every object is accepted (schemas, CRDs established and served, RBAC objects bound), and the
ReplicaSet controller creates the operator Pod in a namespace that enforces the `restricted` Pod
Security Standard, so the Pod's security settings pass the API server's own admission. Then the
Pod's own command, arguments and config file are run here as processes with the chart's
ServiceAccount token: one replica runs a search; two replicas elect one to act through kopf
peering, and the standby takes over when the active one is killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .operator_harness import search_manifest, trial_pods
from .plane import ControlPlane, unwatch_process, wait_until, watch_process

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
        crd: dict[str, Any] = {
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def token_kubeconfig(testplane: ControlPlane, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates only with the ServiceAccount's token (as in the Pod)."""
    token = testplane.kubectl(
        "create", "token", account, "-n", namespace, "--duration=10m"
    ).stdout.strip()
    cluster = yaml.safe_load(testplane.kubeconfig.read_text())["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "plane", "cluster": cluster}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "plane", "user": account}}],
                "current-context": "sa",
            }
        )
    )
    return path


@dataclass
class Replica:
    """One operator replica run as the Deployment's container would run it (same command through
    /bin/sh, so the same peering priority derivation), with local ports and files."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_port: int
    health_port: int

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
            ) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        unwatch_process(self.proc)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def charted_install(
    testplane: ControlPlane, namespace: str, release: str, *flags: str
) -> list[dict[str, Any]]:
    """The chart for this namespace only (so the operator never touches other tests' searches)."""
    objs = render(
        release,
        namespace,
        "--set",
        "watch.allNamespaces=false",
        "--set",
        f"watch.namespaces={{{namespace}}}",
        *flags,
    )
    install(testplane, objs)
    return objs


def start_replica(
    objs: list[dict[str, Any]], pod_name: str, kubeconfig: Path, tmp_path: Path
) -> Replica:
    config = next(
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config")
    )
    (tmp_path / "config.yaml").write_text(config["data"]["config.yaml"])
    [main] = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    metrics_port, health_port = free_port(), free_port()
    replaced = {
        "--config": str(tmp_path / "config.yaml"),
        "--metrics-port": str(metrics_port),
        "--liveness": f"http://127.0.0.1:{health_port}/healthz",
    }
    args = [
        f"{a.split('=')[0]}={replaced[a.split('=')[0]]}" if a.split("=")[0] in replaced else a
        for a in main["args"]
    ]
    command = main.get("command") or ["hyper"]
    env = {
        **os.environ,
        "POD_NAME": pod_name,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    log = tmp_path / f"{pod_name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, *args, f"--kubeconfig={kubeconfig}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    replica = Replica(pod_name, proc, log, metrics_port, health_port)
    watch_process(f"operator replica {pod_name}", proc, replica.text)
    wait_until(
        lambda: http_ok(f"http://127.0.0.1:{health_port}/healthz"),
        f"liveness of {pod_name}",
        timeout=90,
    )
    return replica


def test_operator_runs_a_search_with_the_charts_identity_arguments_and_config(
    testplane: ControlPlane, namespace: str, release: str, tmp_path: Path
) -> None:
    """What the Deployment would run, run here (kwok starts no containers): the rendered
    command, arguments and config file, the chart's ServiceAccount token and RBAC, peering on."""
    objs = charted_install(testplane, namespace, release)
    kubeconfig = token_kubeconfig(
        testplane, namespace, f"{release}-hypersearch", tmp_path / "sa.kubeconfig"
    )
    replica = start_replica(objs, f"{release}-hypersearch-7f9c-aaaaa", kubeconfig, tmp_path)
    try:
        testplane.apply(
            search_manifest("charted", max_trials=2, parallelism=2), namespace=namespace
        )

        def two_pods() -> list[dict[str, Any]] | None:
            pods = trial_pods(testplane, namespace, "charted")
            return pods if len(pods) == 2 else None

        pods = wait_until(two_pods, "two trial Pods", timeout=90)
        trainer = pods[0]["spec"]["containers"][0]
        assert trainer["resources"]["limits"]["nvidia.com/gpu"] == "1"  # K80, from the chart
        assert pods[0]["spec"]["nodeSelector"] == {
            "cloud.google.com/gke-accelerator": "nvidia-tesla-k80"
        }
        # The API server's ServiceAccount admission injected no token: the trainer has no
        # credentials, only the sidecar mounts its projected token.
        volumes = {v["name"] for v in pods[0]["spec"]["volumes"]}
        assert not any(v.startswith("kube-api-access") for v in volumes)
        assert all("serviceaccount" not in m["mountPath"] for m in trainer.get("volumeMounts", []))
        [main] = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"][
            "containers"
        ]
        assert pods[0]["spec"]["initContainers"][-1]["image"] == main["image"]  # sidecar image
        status = wait_until(
            lambda: (testplane.get_json("hs", "charted", "-n", namespace).get("status") or {}).get(
                "counts"
            ),
            "status.counts written by the operator",
        )
        assert status["trials"] == 2
        peering = testplane.get_json("kopfpeering", f"{release}-hypersearch", "-n", namespace)
        assert peering.get("status"), "the operator wrote no keep-alive into its KopfPeering"
        assert 'search="charted"' in replica.metrics()
    finally:
        replica.stop()
    assert "Forbidden" not in replica.text()


def test_two_replicas_elect_one_through_peering_and_the_standby_takes_over(
    testplane: ControlPlane, namespace: str, release: str, tmp_path: Path
) -> None:
    """kopf peering with the priorities the chart derives from Pod names: the lower replica
    stays paused while the higher is alive; once the higher is SIGKILLed (no goodbye in the peering
    object) and its keep-alive expires, the standby resumes and runs the search."""
    objs = charted_install(testplane, namespace, release, "--set", "replicaCount=2")
    kubeconfig = token_kubeconfig(
        testplane, namespace, f"{release}-hypersearch", tmp_path / "sa.kubeconfig"
    )
    names = (f"{release}-hypersearch-5d8f7-abcde", f"{release}-hypersearch-5d8f7-fghij")
    replicas = [start_replica(objs, name, kubeconfig, tmp_path) for name in names]
    try:
        active, standby = sorted(replicas, key=lambda r: cksum(r.name), reverse=True)
        # kopf starts paused until it has read the peering object; only the higher one resumes.
        resumed = "Resuming operations after the pause"
        wait_until(
            lambda: resumed in active.text(), f"{active.name} (higher priority) to act", timeout=60
        )
        testplane.apply(
            search_manifest("elected", max_trials=3, parallelism=1), namespace=namespace
        )
        wait_until(
            lambda: 'search="elected"' in active.metrics(),
            "the active replica to run the search",
            timeout=60,
        )
        assert 'search="elected"' not in standby.metrics()
        assert resumed not in standby.text()

        active.stop(signal.SIGKILL)
        wait_until(
            lambda: 'search="elected"' in standby.metrics(),
            f"the standby {standby.name} to take over",
            timeout=150,
        )
        assert resumed in standby.text()
    finally:
        for replica in replicas:
            replica.stop()
    for replica in replicas:
        assert "Forbidden" not in replica.text()


def cksum(text: str) -> int:
    """The POSIX cksum of ``text``: the priority the chart's command gives a Pod of that name."""
    proc = subprocess.run(
        ["cksum"], input=text.encode(), capture_output=True, timeout=10, check=True
    )
    return int(proc.stdout.split()[0])
