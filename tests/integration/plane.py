"""Fixtures and helpers that hand tests a real control plane started by e2e/testplane.

The plane is shared: one per machine (state in $HYPERSEARCH_TESTPLANE_DIR), started on
first use and reused by later runs. Every test gets its own namespace, so tests from
parallel sessions do not see each other's objects.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTPLANE_SCRIPT = REPO / "e2e" / "testplane"
STATE_DIR = Path(os.environ.get("HYPERSEARCH_TESTPLANE_DIR", "/tmp/hypersearch-testplane"))
UP_TIMEOUT_S = 300.0

T = TypeVar("T")


def _run(
    args: list[str], timeout: float, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion with pipes closed afterwards (warnings are errors here)."""
    return subprocess.run(
        args,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=None if input_text is not None else subprocess.DEVNULL,
    )


def _tail(path: Path, lines: int = 40) -> str:
    """The end of a log file, for failure messages that say why without opening files."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(cannot read {path}: {err})"


@dataclass(frozen=True)
class ControlPlane:
    """A running test plane: its kubeconfig and helpers to talk to it through kubectl."""

    __test__ = False  # keep pytest from treating this as a test class when imported

    kubeconfig: Path
    log_dir: Path
    kubectl_bin: str = "kubectl"

    def kubectl(
        self,
        *args: str,
        input_text: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the plane; with check, fail the test with kubectl's stderr."""
        cmd = [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args]
        proc = _run(cmd, timeout=timeout, input_text=input_text)
        if check and proc.returncode != 0:
            pytest.fail(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}",
                pytrace=False,
            )
        return proc

    def apply(self, manifest: dict[str, Any] | str, namespace: str | None = None) -> None:
        """Apply a manifest (a dict is sent as JSON, which kubectl reads as YAML)."""
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", input_text=text)

    def get_json(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def new_api_client(self) -> Any:
        """A `kubernetes` client for this plane (imported lazily: only some tests need it)."""
        from kubernetes import config

        # The kubernetes package ships no annotations, so strict mode calls this untyped.
        client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return client


@dataclass(frozen=True)
class _Watched:
    what: str
    proc: subprocess.Popen[Any]
    log: Callable[[], str]


_WATCHED: list[_Watched] = []


def watch_process(what: str, proc: subprocess.Popen[Any], log: Callable[[], str]) -> None:
    """From now on, every wait fails at once with ``log()`` if ``proc`` exits: a test that waits
    for an operator's work must not wait its whole timeout for a process that died at start."""
    _WATCHED.append(_Watched(what, proc, log))


def unwatch_process(proc: subprocess.Popen[Any] | None) -> None:
    """Stop watching ``proc`` (call before stopping or killing it on purpose)."""
    _WATCHED[:] = [w for w in _WATCHED if w.proc is not proc]


def check_processes(waiting_for: str) -> None:
    """Fail, with its exit code and log, if a watched process has exited."""
    for watched in list(_WATCHED):
        code = watched.proc.poll()
        if code is not None:
            unwatch_process(watched.proc)
            pytest.fail(
                f"{watched.what} exited with code {code} while the test waited for "
                f"{waiting_for}; its log:\n{watched.log()}",
                False,
            )


def wait_until(
    probe: Callable[[], T | None], what: str, timeout: float = 60.0, interval: float = 0.25
) -> T:
    """Poll until probe returns something other than None/False; fail naming what was awaited,
    or at once when a watched process (``watch_process``) exits meanwhile."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            return last
        check_processes(what)
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})", False)


def _register_user() -> Path:
    """Note this session as a user of the plane, so no other session's teardown stops it."""
    users = STATE_DIR / "users"
    users.mkdir(parents=True, exist_ok=True)
    mark = users / str(os.getpid())
    mark.write_text(f"{time.time()}\n")
    return mark


def _other_live_users() -> list[int]:
    """Pids of other sessions still using the plane (stale marks of dead ones are dropped)."""
    live: list[int] = []
    for mark in (STATE_DIR / "users").glob("*"):
        if not mark.name.isdigit() or int(mark.name) == os.getpid():
            continue
        if Path(f"/proc/{mark.name}").exists():
            live.append(int(mark.name))
        else:
            mark.unlink(missing_ok=True)
    return live


@pytest.fixture(scope="session")
def testplane() -> Iterator[ControlPlane]:
    """A ready control plane for the whole session; the run fails (not skips) without one.

    Starts it with `e2e/testplane up` unless it is already healthy. A plane this session
    started is stopped afterwards unless HYPERSEARCH_TESTPLANE_KEEP=1 or another session
    still uses it; a plane that was already running is left running.
    """
    if _run([str(TESTPLANE_SCRIPT), "built"], timeout=60).returncode != 0:
        pytest.fail(
            "the test plane binaries are not built; run `e2e/testplane build` "
            "(or `make testplane-build`) first: a cold build takes ~20 minutes",
            pytrace=False,
        )
    was_up = _run([str(TESTPLANE_SCRIPT), "status"], timeout=60).returncode == 0
    mark = _register_user()
    try:
        up = _run([str(TESTPLANE_SCRIPT), "up"], timeout=UP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        mark.unlink(missing_ok=True)
        pytest.fail(
            f"`e2e/testplane up` did not finish in {UP_TIMEOUT_S:.0f}s; "
            f"kube-apiserver log tail:\n{_tail(STATE_DIR / 'logs' / 'kube-apiserver.log')}",
            pytrace=False,
        )
    if up.returncode != 0:
        mark.unlink(missing_ok=True)
        pytest.fail(
            f"`e2e/testplane up` failed (exit {up.returncode}); logs in {STATE_DIR / 'logs'}\n"
            f"{up.stderr[-6000:]}",
            pytrace=False,
        )
    match = re.search(r"export KUBECONFIG=(\S+)", up.stdout)
    kubeconfig = Path(match.group(1)) if match else STATE_DIR / "kubeconfig"
    plane = ControlPlane(
        kubeconfig=kubeconfig,
        log_dir=STATE_DIR / "logs",
        kubectl_bin=os.environ.get("HYPERSEARCH_KUBECTL", "kubectl"),
    )
    try:
        yield plane
    finally:
        mark.unlink(missing_ok=True)
        keep = os.environ.get("HYPERSEARCH_TESTPLANE_KEEP") == "1"
        if not was_up and not keep and not _other_live_users():
            _run([str(TESTPLANE_SCRIPT), "down"], timeout=120)


@pytest.fixture(scope="session")
def kueue_plane(testplane: ControlPlane) -> ControlPlane:
    """The plane with Kueue and JobSet running (`e2e/testplane up --kueue`): their CRDs, both
    controllers as processes and their webhooks. They stay until the plane stops.

    Skips, with the build's own one-line reason, only where `e2e/testplane build` tried and
    could not build them here; fails when they were simply never built, or do not start.
    """
    built = _run([str(TESTPLANE_SCRIPT), "built", "--addons"], timeout=60)
    if built.returncode != 0:
        if built.stderr.strip():
            reason = " ".join(built.stderr.split())
            pytest.skip(f"Kueue/JobSet cannot be built here: {reason}")
        pytest.fail(
            "Kueue and JobSet are not built; run `e2e/testplane build` (or `make testplane-build`)",
            pytrace=False,
        )
    try:
        up = _run([str(TESTPLANE_SCRIPT), "up", "--kueue"], timeout=UP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"`e2e/testplane up --kueue` did not finish in {UP_TIMEOUT_S:.0f}s; kueue log tail:\n"
            f"{_tail(STATE_DIR / 'logs' / 'kueue.log')}",
            pytrace=False,
        )
    if up.returncode != 0:
        pytest.fail(
            f"`e2e/testplane up --kueue` failed (exit {up.returncode}); logs in "
            f"{STATE_DIR / 'logs'}\n{up.stderr[-6000:]}",
            pytrace=False,
        )
    return testplane


def _namespace_name(test_name: str) -> str:
    """A DNS-1123 label from the test name plus a random suffix (names must be unique)."""
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"t-{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(testplane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    name = _namespace_name(request.node.name)
    testplane.kubectl("create", "namespace", name)

    def default_sa() -> bool:
        # Pods are refused until the serviceaccount controller has created `default`.
        probe = testplane.kubectl("get", "serviceaccount", "default", "-n", name, check=False)
        return probe.returncode == 0

    try:
        wait_until(default_sa, f"service account default in namespace {name}", timeout=30)
        yield name
    finally:
        testplane.kubectl(
            "delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False
        )
