"""Helpers for the operator's integration and end-to-end tests on the test plane.

The operator runs as a real process (``hyper operator``), so a test can SIGKILL and restart it.
Because kwok runs no containers, tests play the two parts kwok cannot: the trainer (they write
the output and exit-code files the wrapper would write into the emptyDir, and run the REAL
sidecar program on them with the search's ServiceAccount token from the TokenRequest API) and
the kubelet (they patch the Pod's status to Succeeded or Failed).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hypersearch.kube import names, record

from .plane import ControlPlane, unwatch_process, wait_until, watch_process

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "hypersearch.io_hypersearches.yaml"
TRIAL_CRD = REPO / "crds" / "hypersearch.io_hypersearchtrials.yaml"
# kwok completes a Running Pod after this long; tests complete trial Pods themselves first.
HOLD_RUNNING = {"hypersearch.io/kwok-run-duration": "1h"}


def sidecar_policy() -> str:
    """The chart's ValidatingAdmissionPolicy (and binding) that narrows each sidecar to its own
    trial object, rendered by helm as an install would."""
    helm = subprocess.run(
        [str(REPO / "charts" / "get-helm")], capture_output=True, text=True, check=True
    ).stdout.strip()
    return subprocess.run(
        [
            helm,
            "template",
            "hypersearch",
            str(REPO / "charts" / "hypersearch"),
            "--show-only",
            "templates/sidecar-policy.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def install_crd(plane: ControlPlane) -> None:
    """Apply the generated CRDs and the chart's sidecar policy; wait until the API serves
    the CRDs."""
    for path in (CRD, TRIAL_CRD):
        plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input_text=sidecar_policy()
    )
    plane.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/hypersearches.hypersearch.io",
        "crd/hypersearchtrials.hypersearch.io",
        "--timeout=60s",
    )


def search_manifest(
    name: str,
    *,
    max_trials: int = 4,
    parallelism: int = 2,
    algorithm: str = "random",
    machine_type: str | None = "K80",
    max_failed: int = 3,
    hold: bool = True,
) -> dict[str, Any]:
    """A small HyperSearch whose trial Pods stay Running until the test completes them."""
    trial: dict[str, Any] = {
        "template": {
            "metadata": {"annotations": dict(HOLD_RUNNING) if hold else {}},
            "spec": {
                "containers": [
                    {
                        "name": "trainer",
                        "image": "trainer:test",
                        "command": ["python", "train.py", "--units", ":units:", "--lr=:lr:"],
                    }
                ]
            },
        }
    }
    if machine_type:
        trial["machineType"] = machine_type
    return {
        "apiVersion": names.API,
        "kind": names.KIND,
        "metadata": {"name": name},
        "spec": {
            "algorithm": {"name": algorithm, "seed": 3},
            "objective": {"metric": "val_acc", "goal": "maximize", "aggregation": "last"},
            "parameters": [
                {"name": "units", "type": "int", "min": 8, "max": 512},
                {"name": "lr", "type": "float", "min": 1e-4, "max": 0.1, "scale": "log"},
            ],
            "maxTrials": max_trials,
            "parallelism": parallelism,
            "maxFailedTrials": max_failed,
            "trial": trial,
        },
    }


@dataclass
class OperatorProcess:
    """``hyper operator`` watching one namespace, as a child process with its log in a file."""

    plane: ControlPlane
    namespace: str
    log: Path
    config: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kubeconfig: Path | None = None
    """Another kubeconfig than the plane's admin one (e.g. an exec plugin's)."""
    extra_args: tuple[str, ...] = ()
    """More flags of ``hyper operator`` (e.g. ``--metrics-port=N``)."""

    def start(self) -> None:
        args = [
            sys.executable,
            "-c",
            "import sys; from hypersearch.cli import main; sys.exit(main())",
            "operator",
            "--kubeconfig",
            str(self.kubeconfig or self.plane.kubeconfig),
            "-n",
            self.namespace,
        ]
        if self.config is not None:
            args += ["--config", str(self.config)]
        args += self.extra_args
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts}\n".encode())
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        watch_process(f"hyper operator (start {self.starts})", self.proc, self.tail)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as a node failure or OOM kill would do."""
        unwatch_process(self.proc)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        unwatch_process(self.proc)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def assert_alive(self) -> None:
        """Fail with the operator's log if the process has exited (it must never crash)."""
        assert self.proc is not None and self.proc.poll() is None, self.tail()


@contextmanager
def running_operator(
    plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
    config: str | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[OperatorProcess]:
    config_file = None
    if config is not None:
        config_file = tmp_path / "operator-config.yaml"
        config_file.write_text(config)
    operator = OperatorProcess(
        plane, namespace, tmp_path / "operator.log", config_file, extra_args=args
    )
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()


@contextmanager
def operator_with(
    plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
    *manifests: dict[str, Any],
    config: str | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[OperatorProcess]:
    """The CRD installed, ``manifests`` applied and ``hyper operator`` running in ``namespace``
    (with ``args``); when the block ends without an error the operator must still be running."""
    install_crd(plane)
    for manifest in manifests:
        plane.apply(manifest, namespace)
    with running_operator(plane, namespace, tmp_path, config, args) as operator:
        yield operator
        operator.assert_alive()


def search_when(
    plane: ControlPlane,
    namespace: str,
    name: str,
    holds: Callable[[dict[str, Any]], Any],
    what: str,
    *,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Wait until ``holds`` is true of the search; return the search as it was then."""
    found: dict[str, Any] = wait_for(
        lambda: s if holds(s := get_search(plane, namespace, name)) else None, what, timeout
    )
    return found


def trial_phase(search: dict[str, Any], trial: str) -> str | None:
    """The phase status records for ``trial`` (None while it is not in status)."""
    phase = entries(search).get(trial, {}).get("phase")
    return None if phase is None else str(phase)


RECORDS = "hypersearchTrials"
"""Where ``get_search`` puts the search's trial records (not a field of the object)."""


def get_search(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The HyperSearch as stored, with its HyperSearchTrials read after it (flattened into
    entries, by name) under ``RECORDS``, so that ``entries`` sees every trial's record."""
    found: dict[str, Any] = plane.get_json("hs", name, "-n", namespace)
    found[RECORDS] = trial_objects(plane, namespace, name)
    return found


def trial_pods(plane: ControlPlane, namespace: str, search: str) -> list[dict[str, Any]]:
    found = plane.get_json("pods", "-n", namespace, "-l", f"{names.SEARCH_LABEL}={search}")
    return list(found["items"])


def trial_objects(plane: ControlPlane, namespace: str, search: str) -> dict[str, dict[str, Any]]:
    """The search's HyperSearchTrials by name, each flattened into the entry it records."""
    found = plane.get_json("hst", "-n", namespace, "-l", f"{names.SEARCH_LABEL}={search}")
    return {o["metadata"]["name"]: record.object_entry(o) for o in found["items"]}


def entries(search: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every trial's record of a search read by ``get_search``: its HyperSearchTrial, or the
    ``status.trials`` entry an earlier version wrote when it has none."""
    legacy = {e["name"]: e for e in (search.get("status") or {}).get("trials") or []}
    return {**legacy, **search.get(RECORDS, {})}


def condition(search: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (search.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            found: dict[str, Any] = cond
            return found
    return None


def running_pods(plane: ControlPlane, namespace: str, search: str) -> list[dict[str, Any]]:
    return [
        p
        for p in trial_pods(plane, namespace, search)
        if (p.get("status") or {}).get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
    ]


def run_sidecar(
    plane: ControlPlane,
    namespace: str,
    *,
    search: str,
    trial: str,
    workdir: Path,
    output: str,
    exit_code: int | None,
    pod: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Play the trainer's part and run the real sidecar with the search's own identity (its
    token bound to ``pod``, by default the Pod named after the trial)."""
    args = _sidecar_args(
        plane,
        namespace,
        search=search,
        trial=trial,
        workdir=workdir,
        output=output,
        exit_code=exit_code,
        pod=pod,
    )
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
    )


def start_sidecar(
    plane: ControlPlane, namespace: str, *, search: str, trial: str, workdir: Path, output: str
) -> subprocess.Popen[str]:
    """The real sidecar of a trial whose trainer still runs (no exit code yet), in the
    background: it pushes the curve of ``output`` and waits, as it would beside a trainer, until
    it gets SIGTERM (the Pod stopping) or the exit-code file appears."""
    args = _sidecar_args(
        plane,
        namespace,
        search=search,
        trial=trial,
        workdir=workdir,
        output=output,
        exit_code=None,
    )
    return subprocess.Popen(
        [*args, "--push-interval=0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _sidecar_args(
    plane: ControlPlane,
    namespace: str,
    *,
    search: str,
    trial: str,
    workdir: Path,
    output: str,
    exit_code: int | None,
    pod: str | None = None,
) -> list[str]:
    """The trainer's files written into ``workdir``, and the sidecar's command line."""
    workdir.mkdir(parents=True, exist_ok=True)
    token = sidecar_token(plane, namespace, search=search, trial=pod or trial)
    (workdir / "token").write_text(token)
    (workdir / "output.log").write_text(output)
    if exit_code is not None:
        (workdir / "exit-code").write_text(f"{exit_code}\n")
    cluster = yaml.safe_load(plane.kubeconfig.read_text())["clusters"][0]["cluster"]
    return [
        sys.executable,
        "-m",
        "hypersearch.sidecar",
        f"--namespace={namespace}",
        f"--search={search}",
        f"--trial={trial}",
        "--metric=val_acc",
        "--aggregation=last",
        f"--output={workdir / 'output.log'}",
        f"--exit-code={workdir / 'exit-code'}",
        f"--token-file={workdir / 'token'}",
        f"--ca-file={cluster['certificate-authority']}",
        f"--server={cluster['server']}",
        "--poll=0.05",
        "--final-deadline=20",
    ]


def sidecar_token(plane: ControlPlane, namespace: str, *, search: str, trial: str) -> str:
    """A token of the search's sidecar identity bound to the trial's Pod, as the kubelet
    projects it (the Pod's name is in the token's user extra, which the sidecar policy reads)."""
    return plane.kubectl(
        "create",
        "token",
        names.sidecar_account(search),
        "-n",
        namespace,
        "--duration=10m",
        "--bound-object-kind=Pod",
        f"--bound-object-name={trial}",
    ).stdout.strip()


def complete_pod(
    plane: ControlPlane, namespace: str, pod: str, *, exit_code: int = 0, reason: str = ""
) -> None:
    """Play the kubelet: the trainer container terminated, the Pod is Succeeded or Failed."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": now,
        "finishedAt": now,
    }
    patch = {
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": "trainer",
                    "image": "trainer:test",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": terminated},
                }
            ],
        }
    }
    patch_pod_status(plane, namespace, pod, patch)


def patch_pod_status(plane: ControlPlane, namespace: str, pod: str, patch: dict[str, Any]) -> None:
    """Write a Pod's status as the kubelet would (a merge patch of the status subresource)."""
    plane.kubectl(
        "patch",
        "pod",
        pod,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )


def stall_pod(plane: ControlPlane, namespace: str, pod: str, *, reason: str, message: str) -> None:
    """Play a kubelet that cannot start the trainer: the Pod is scheduled but stays Pending with
    the container waiting for ``reason`` (ImagePullBackOff, CreateContainerConfigError, ...)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    patch = {
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}],
            "containerStatuses": [
                {
                    "name": "trainer",
                    "image": "trainer:test",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
            ],
        }
    }
    patch_pod_status(plane, namespace, pod, patch)


def finish_trial(
    plane: ControlPlane, namespace: str, *, search: str, pod: str, value: float, workdir: Path
) -> None:
    """A whole successful trial: output with a final value, the sidecar, then the Pod ends."""
    output = "".join(f"epoch={e} val_acc={value * e / 3:.6f}\n" for e in (1, 2, 3))
    done = run_sidecar(
        plane,
        namespace,
        search=search,
        trial=pod,
        workdir=workdir / pod,
        output=output,
        exit_code=0,
    )
    assert done.returncode == 0, done.stderr
    complete_pod(plane, namespace, pod)


@dataclass
class PodWatch:
    """``kubectl get pods -w`` in the background: the most trial Pods ever active at once."""

    plane: ControlPlane
    namespace: str
    search: str
    active: set[str] = field(default_factory=set)
    peak: int = 0
    seen: set[str] = field(default_factory=set)
    proc: subprocess.Popen[str] | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        template = (
            "{.type} {.object.metadata.name} {.object.status.phase} "
            '{.object.metadata.deletionTimestamp}{"\\n"}'
        )
        self.proc = subprocess.Popen(
            [
                self.plane.kubectl_bin,
                "--kubeconfig",
                str(self.plane.kubeconfig),
                "get",
                "pods",
                "-n",
                self.namespace,
                "-l",
                f"{names.SEARCH_LABEL}={self.search}",
                "--watch",
                "--output-watch-events",
                "-o",
                f"jsonpath={template}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) < 2:
                continue
            kind, name = parts[0], parts[1]
            phase = parts[2] if len(parts) > 2 else "Pending"
            deleting = len(parts) > 3
            self.seen.add(name)
            if kind == "DELETED" or deleting or phase in ("Succeeded", "Failed"):
                self.active.discard(name)
            else:
                self.active.add(name)
            self.peak = max(self.peak, len(self.active))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        if self.thread is not None:
            self.thread.join(timeout=20)


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    return wait_until(probe, what, timeout=timeout, interval=0.2)
