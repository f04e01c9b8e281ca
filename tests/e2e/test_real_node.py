"""Real Pods on a real node: the cluster path with nothing played by the test.

A second test plane (its own state dir and ports) starts with `e2e/testplane up --real-node`: one
real node (containerd, runc, bridge CNI, kubelet, kube-proxy, 4 stub nvidia.com/gpu, labelled as
machine type K80 and tainted so only Pods that ask land there). The images are built here without
Docker (images/build) and imported into the node. The chart is installed with `helm install`, so
the operator runs as a Pod with the chart's ServiceAccount, RBAC and in-cluster config; then
HyperSearches are applied with kubectl and their trials run as real Pods: the trainer's wrapper,
the native sidecar with its projected token, the emptyDir hand-off, Pods reaching Succeeded.

Needs root and the Debian packages of e2e/system-packages.txt; where they are missing the module
skips with one line saying why. `down` must restore the host, so the fixture checks that too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypersearch.kube import names, record
from integration.plane import ControlPlane, wait_until

# A cold first run builds the images (~6 min on 2 busy cores) inside the first test's setup.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.realnode,
    pytest.mark.timeout(1800),
]

REPO = Path(__file__).resolve().parents[2]
TESTPLANE = REPO / "e2e" / "testplane"
REALNODE = REPO / "e2e" / "realnode"
BASE_STATE = os.environ.get("HYPERSEARCH_TESTPLANE_DIR", "/tmp/hypersearch-testplane")
STATE = Path(f"{BASE_STATE}-realnode")
PORT_BASE = int(os.environ.get("HYPERSEARCH_TESTPLANE_PORT_BASE", "16440")) + 20
NODE = "hs-real-node"
BRIDGE = "hsnode0"
OPERATOR_NS = "hypersearch-system"
# The operator's timeout for trial Pods that cannot be scheduled or cannot start their container.
STUCK_SECONDS = 45
ON_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {"hypersearch.io/real-node": "true"},
    "tolerations": [{"key": "hypersearch.io/real-node", "operator": "Exists"}],
}


def why_not() -> str | None:
    """Why the real node cannot run here, in one line, or None."""
    if os.environ.get("HYPERSEARCH_REAL_NODE") == "0":
        return "HYPERSEARCH_REAL_NODE=0"
    if os.geteuid() != 0:
        return "needs root (containerd, kubelet, iptables); run as root or in CI"
    check = subprocess.run(
        [str(REALNODE), "check"], capture_output=True, text=True, timeout=30, check=False
    )
    if check.returncode != 0:
        return check.stdout.strip() or check.stderr.strip()
    for tool in ("buildah", "debootstrap", "gcc"):
        if subprocess.run(["which", tool], capture_output=True, check=False).returncode:
            return f"{tool} is not installed (see e2e/system-packages.txt)"
    return None


WHY_NOT = why_not()
if WHY_NOT:
    pytest.skip(f"real node: {WHY_NOT}", allow_module_level=True)


def run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its output when it fails."""
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}:\n"
            f"{proc.stderr[-6000:]}{proc.stdout[-3000:]}",
            pytrace=False,
        )
    return proc.stdout


def host_state() -> dict[str, str]:
    """What the real node changes on the host and `down` must restore."""
    chains = {
        t: sorted(
            line
            for line in run(["iptables", "-t", t, "-S"], 30).splitlines()
            if "KUBE-" in line or "CNI-" in line
        )
        for t in ("filter", "nat", "mangle")
    }
    return {
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
        "kernel.panic": Path("/proc/sys/kernel/panic").read_text().strip(),
        "bridge": str(Path(f"/sys/class/net/{BRIDGE}").exists()),
        "iptables": json.dumps(chains),
        "kubepods": str(Path("/sys/fs/cgroup/memory/kubepods").exists()),
        "device-plugins": str(Path("/var/lib/kubelet/device-plugins").exists()),
    }


@dataclass(frozen=True)
class RealPlane:
    plane: ControlPlane
    env: dict[str, str]
    operator_image: str
    trainer_image: str

    def logs(self, namespace: str, pod: str, container: str) -> str:
        proc = self.plane.kubectl(
            "logs", "-n", namespace, pod, "-c", container, "--tail", "40", check=False
        )
        return proc.stdout + proc.stderr


def image_name(archive: str) -> str:
    """localhost/hypersearch/NAME:KEY of images/build's archive NAME-KEY.oci.tar."""
    stem = Path(archive).name.removesuffix(".oci.tar")
    name, key = stem.rsplit("-", 1)
    return f"localhost/hypersearch/{name}:{key}"


@contextmanager
def real_plane(trainer: str, *up_options: str) -> Iterator[RealPlane]:
    """A plane with a real node (`up --real-node` and up_options), the operator's and the
    trainer's images (images/TRAINER) imported; stopped afterwards, host state checked."""
    env = {
        **os.environ,
        "HYPERSEARCH_TESTPLANE_DIR": str(STATE),
        "HYPERSEARCH_TESTPLANE_PORT_BASE": str(PORT_BASE),
    }
    if subprocess.run([str(TESTPLANE), "built"], env=env, check=False).returncode != 0:
        pytest.fail("the test plane binaries are not built; run `e2e/testplane build`", False)
    archives = run([str(REPO / "images" / "build"), "operator", trainer], 3600)
    operator_archive, trainer_archive = archives.split()
    before = host_state()
    try:
        up = run([str(TESTPLANE), "up", "--real-node", *up_options], 900, env)
        run([str(TESTPLANE), "import", operator_archive, trainer_archive], 900, env)
        plane = ControlPlane(
            kubeconfig=Path(up.split("KUBECONFIG=")[1].split()[0]),
            log_dir=STATE / "logs",
            kubectl_bin=os.environ.get("HYPERSEARCH_KUBECTL", "kubectl"),
        )
        yield RealPlane(plane, env, image_name(operator_archive), image_name(trainer_archive))
    finally:
        subprocess.run(
            [str(TESTPLANE), "down", "--force"], env=env, timeout=300, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    after = host_state()
    assert after == before, f"`e2e/testplane down` left host changes: {before} -> {after}"


@pytest.fixture(scope="module")
def real() -> Iterator[RealPlane]:
    """A plane with a real node, the operator and digits-svm images imported."""
    with real_plane("examples-digits-svm") as plane:
        yield plane


@pytest.fixture(scope="module")
def operator_ns(real: RealPlane) -> str:
    """The chart installed with `helm install`, its operator Pod Ready on the real node."""
    return install_operator(real)


def install_operator(real: RealPlane) -> str:
    """Install the chart with `helm install`; return its namespace once the operator Pod is
    Ready on the real node."""
    helm = run([str(REPO / "charts" / "get-helm")], 600).strip()
    repo, tag = real.operator_image.rsplit(":", 1)
    ns = OPERATOR_NS
    run(
        [
            helm, "install", "hs", str(REPO / "charts" / "hypersearch"), "--namespace", ns,
            "--create-namespace", "--kubeconfig", str(real.plane.kubeconfig),
            "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
            "--set", "image.pullPolicy=Never",
            "--set", f"timeouts.unschedulableSeconds={STUCK_SECONDS}",
            "--set-json", f"nodeSelector={json.dumps(ON_REAL_NODE['nodeSelector'])}",
            "--set-json", f"tolerations={json.dumps(ON_REAL_NODE['tolerations'])}",
        ],
        300,
    )  # fmt: skip
    ready = real.plane.kubectl(
        "wait", "pod", "-n", ns, "-l", "app.kubernetes.io/instance=hs",
        "--for=condition=Ready", "--timeout=300s", check=False, timeout=320,
    )  # fmt: skip
    if ready.returncode != 0:
        pods = real.plane.kubectl("describe", "pods", "-n", ns, check=False).stdout
        logs = real.plane.kubectl(
            "logs", "-n", ns, "-l", "app.kubernetes.io/instance=hs", "--tail", "60", check=False
        )
        pytest.fail(
            f"the operator Pod did not become Ready:\n{ready.stderr}\n{pods[-5000:]}\n"
            f"{logs.stdout[-4000:]}{logs.stderr}",
            pytrace=False,
        )
    return ns


def search(name: str, image: str, **trial: Any) -> dict[str, Any]:
    """The digits-svm example's HyperSearch, small, with its trials on the real node."""
    manifest: dict[str, Any] = yaml.safe_load(
        (REPO / "examples/digits-svm/search.yaml").read_text()
    )
    manifest["metadata"] = {"name": name}
    spec = manifest["spec"]
    spec.update(maxTrials=4, parallelism=2)
    template = spec["trial"]["template"]["spec"]
    template.update(ON_REAL_NODE)
    container = template["containers"][0]
    container.update(image=image, imagePullPolicy="Never")
    container["command"] = [*container["command"], "--folds", "3", "--repeats", "1"]
    spec["trial"].update(machineType="K80")
    for key, value in trial.items():
        if key == "container":
            container.update(value)
        else:
            spec[key] = value
    return manifest


def trials(real: RealPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    """The search's trial records (its HyperSearchTrials, each flattened into an entry), by
    index."""
    found = real.plane.get_json("hst", "-n", namespace, "-l", f"hypersearch.io/search={name}")
    entries = [record.object_entry(o) for o in found["items"]]
    return sorted(entries, key=lambda e: int(e.get("index") or 0))


def wait_finished(real: RealPlane, namespace: str, name: str, seconds: float) -> dict[str, Any]:
    """Wait until the search is Succeeded or Failed; fail with its Pods' state and logs if not."""

    def finished() -> dict[str, Any] | None:
        obj: dict[str, Any] = real.plane.get_json("hs", name, "-n", namespace)
        conds = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
        return obj if "True" in (conds.get("Succeeded"), conds.get("Failed")) else None

    try:
        return wait_until(finished, f"HyperSearch {name} to finish", timeout=seconds, interval=2)
    except pytest.fail.Exception:
        pods = real.plane.kubectl("describe", "pods", "-n", namespace, check=False).stdout
        status = real.plane.kubectl("get", "hs", name, "-n", namespace, "-o", "yaml").stdout
        operator = real.plane.kubectl(
            "logs", "-n", OPERATOR_NS, "-l", "app.kubernetes.io/instance=hs", "--tail", "40",
            check=False,
        )  # fmt: skip
        raise AssertionError(
            f"{name} did not finish:\n{status[-4000:]}\n{pods[-6000:]}\n"
            f"operator log:\n{operator.stdout[-4000:]}{operator.stderr}"
        ) from None


def hyper(*args: str) -> str:
    return run([sys.executable, "-m", "hypersearch.cli", *args], 120)


def test_operator_pod_runs_digits_svm_trials_as_real_pods_that_train_and_report(
    real: RealPlane, operator_ns: str, namespace_real: str
) -> None:
    ns = namespace_real
    # The mean of the folds' accuracies: each fold prints one, so each trial has a curve.
    objective = {"metric": "fold_accuracy", "goal": "maximize", "aggregation": "avg"}
    real.plane.apply(search("digits-svm", real.trainer_image, objective=objective), ns)
    real.plane.kubectl(
        "wait", "--for=condition=Succeeded", "hs/digits-svm", "-n", ns, "--timeout=600s",
        check=False, timeout=620,
    )  # fmt: skip
    wait_finished(real, ns, "digits-svm", 30)
    entries = trials(real, ns, "digits-svm")
    assert [t["phase"] for t in entries] == ["Succeeded"] * 4, entries
    for entry in entries:
        # Real accuracies of real SVMs: distinct, between chance (0.1) and perfect; the curve
        # holds the 3 folds (steps 1..3) and the value is their mean.
        assert 0.05 < entry["value"] <= 1.0, entry
        assert entry["exitCode"] == 0, entry
        assert [step for step, _ in entry["curve"]] == [1, 2, 3], entry
        folds = [value for _, value in entry["curve"]]
        assert entry["value"] == pytest.approx(sum(folds) / 3, abs=1e-3), entry
    assert len({t["value"] for t in entries}) > 1
    pods = real.plane.get_json("pods", "-n", ns, "-l", "hypersearch.io/search=digits-svm")
    for pod in pods["items"]:
        assert pod["spec"]["nodeName"] == NODE
        assert pod["status"]["phase"] == "Succeeded"
        trainer = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "trainer")
        assert trainer["state"]["terminated"]["exitCode"] == 0
    kube = ["--kubeconfig", str(real.plane.kubeconfig), "-n", ns]
    status = hyper("status", "hs/digits-svm", *kube)
    best = max(t["value"] for t in entries)
    assert f"{best:.4f}"[:5] in status, status
    report = Path(STATE) / "digits-svm-report.html"
    hyper("report", "hs/digits-svm", "-o", str(report), *kube)
    html = report.read_text()
    assert all(t["name"] in html for t in entries)


def test_an_indexed_job_trial_runs_two_real_pods_and_only_index_zero_reports(
    real: RealPlane, operator_ns: str, namespace_real: str
) -> None:
    """A Job trial on a real kubelet: both Pods train, the completion index reaches each
    sidecar through the downward API, only index 0's reports, the other's idles until the
    kubelet stops it with its Pod, and the Job completes (kwok runs no container: only here)."""
    ns = namespace_real
    objective = {"metric": "fold_accuracy", "goal": "maximize", "aggregation": "avg"}
    manifest = search("two-pods", real.trainer_image, objective=objective, maxTrials=2)
    trial = manifest["spec"]["trial"]
    pod_template = trial.pop("template")
    trial["jobTemplate"] = {"spec": {"completions": 2, "parallelism": 2, "template": pod_template}}
    manifest["spec"]["parallelism"] = 1  # two Pods at once on the node's 2 cores
    real.plane.apply(manifest, ns)
    wait_finished(real, ns, "two-pods", 600)
    entries = trials(real, ns, "two-pods")
    assert [t["phase"] for t in entries] == ["Succeeded"] * 2, entries
    for entry in entries:
        # One reporter: its 3 folds, not both Pods' 6.
        assert [step for step, _ in entry["curve"]] == [1, 2, 3], entry
        assert 0.05 < entry["value"] <= 1.0, entry
    jobs = real.plane.get_json("jobs", "-n", ns, "-l", "hypersearch.io/search=two-pods")
    assert len(jobs["items"]) == 2
    for job in jobs["items"]:
        assert job["spec"]["completionMode"] == "Indexed"
        assert job["status"].get("succeeded") == 2, job["status"]
    pods = real.plane.get_json("pods", "-n", ns)  # a namespace of its own: only the Jobs' Pods
    assert len(pods["items"]) == 4
    idle = 0
    for pod in pods["items"]:
        assert pod["spec"]["nodeName"] == NODE
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        sidecar = real.logs(ns, pod["metadata"]["name"], names.SIDECAR_CONTAINER)
        if index == "1":
            assert "not the reporting Pod" in sidecar, sidecar
            idle += 1
        else:
            assert "not the reporting Pod" not in sidecar, sidecar
    assert idle == 2


CASES = """
import glob, sys
case = sys.argv[1]
print("token_files=%d" % len(glob.glob("/var/run/secrets/**/token", recursive=True)), flush=True)
if case == "oom":
    hog = b"x" * (512 << 20)
    print(len(hog))
if case == "fail":
    sys.exit(3)
"""


def test_trials_fail_for_real_reasons_and_the_training_container_holds_no_token(
    real: RealPlane, operator_ns: str, namespace_real: str
) -> None:
    ns = namespace_real
    cases = search(
        "cases", real.trainer_image, algorithm={"name": "grid"},
        objective={"metric": "token_files", "goal": "minimize", "aggregation": "last"},
        parameters=[{"name": "case", "type": "categorical", "values": ["ok", "oom", "fail"]}],
        maxTrials=3, parallelism=3, maxFailedTrials=3,
        container={
            "command": ["python", "-c", CASES, ":case:"],
            "resources": {"limits": {"memory": "96Mi"}},
        },
    )  # fmt: skip
    del cases["spec"]["trial"]["machineType"]  # no GPU: room for the searches beside it
    missing = search(
        "no-image", "localhost/hypersearch/no-such-image:0", maxTrials=1, parallelism=1,
        maxFailedTrials=1, container={"imagePullPolicy": "IfNotPresent"},
    )  # fmt: skip
    del missing["spec"]["trial"]["machineType"]
    greedy = search(
        "too-many-gpus", real.trainer_image, maxTrials=1, parallelism=1, maxFailedTrials=1,
        container={"resources": {"limits": {"nvidia.com/gpu": "8"}}},
    )  # fmt: skip
    for manifest in (cases, missing, greedy):
        real.plane.apply(manifest, ns)

    def says_why() -> str | None:
        entries = trials(real, ns, "too-many-gpus")
        message = str(entries[0].get("message") or "") if entries else ""
        return message if "cannot be scheduled yet" in message else None

    # While the Pod is Pending the search already says why, before the timeout fails it.
    pending = wait_until(says_why, "the Pending trial's reason", timeout=STUCK_SECONDS - 10)
    assert "Insufficient nvidia.com/gpu" in pending, pending

    wait_finished(real, ns, "cases", 300)
    by_case = {t["params"]["case"]: t for t in trials(real, ns, "cases")}
    assert by_case["ok"]["phase"] == "Succeeded", by_case
    # The trainer saw no token under /var/run/secrets; its sidecar reported that with its own.
    assert by_case["ok"]["value"] == 0, by_case["ok"]
    assert by_case["oom"]["phase"] == "Failed"
    assert by_case["oom"]["reason"] == "OOMKilled", by_case["oom"]
    assert by_case["fail"]["phase"] == "Failed"
    assert (by_case["fail"]["reason"], by_case["fail"]["message"]) == (
        "TrainingFailed",
        "container trainer exited with code 3",
    ), by_case["fail"]
    events = real.plane.get_json("events", "-n", ns, "--field-selector", "reason=TrialFailed")
    messages = " ".join(e["message"] for e in events["items"])
    assert "OOMKilled" in messages, messages

    wait_finished(real, ns, "no-image", 180)
    (entry,) = trials(real, ns, "no-image")
    assert entry["phase"] == "Failed"
    assert entry["reason"] in {"ErrImagePull", "ImagePullBackOff"}, entry

    wait_finished(real, ns, "too-many-gpus", 180)
    (entry,) = trials(real, ns, "too-many-gpus")
    assert entry["reason"] == "Unschedulable", entry
    assert "nvidia.com/gpu" in entry["message"], entry


@pytest.fixture
def namespace_real(real: RealPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the real-node plane; deleted afterwards."""
    name = "t-" + request.node.name.lower().replace("_", "-")[5:40].strip("-")
    real.plane.kubectl("create", "namespace", name)
    wait_until(
        lambda: real.plane.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
        f"the default ServiceAccount in {name}",
        timeout=60,
    )
    yield name
    real.plane.kubectl("delete", "namespace", name, "--wait=false", check=False)
