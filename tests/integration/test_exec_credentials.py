"""Exec credential plugins on the real API server: tokens that change and expire during an
operator run and during a `hyper run --submit` follow.

Each plugin (a script the test writes) mints a real ServiceAccount token with the TokenRequest
API (`kubectl create token`), bound to a Secret of its own, and says it expires LIFETIME seconds
later. When that moment passes, the test deletes the Secret, which revokes the token: a client
that went on using an expired token would be refused (401) from then on. Both clients must keep
working across several expiries, and each plugin must have been called again and again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .operator_harness import (
    OperatorProcess,
    finish_trial,
    install_crd,
    search_manifest,
    search_when,
    trial_phase,
)
from .plane import ControlPlane, wait_until

pytestmark = pytest.mark.integration

HYPER = [sys.executable, "-m", "hypersearch.cli"]
ACCOUNT = "exec-user"
LIFETIME = 12
"""Seconds each token lives by the plugin's word (the real token lives 10 minutes, the least
TokenRequest gives, unless its Secret is deleted first, which the test does at expiry)."""

PLUGIN = """
import datetime, json, os, pathlib, subprocess, sys, time

state = pathlib.Path(os.environ["HS_STATE"])
issued = state / "issued"
n = len(issued.read_text().splitlines()) + 1 if issued.exists() else 1
secret = f"{state.name}-{n}"
kubectl = [os.environ["HS_KUBECTL"], "--kubeconfig", os.environ["HS_ADMIN"],
           "-n", os.environ["HS_NAMESPACE"]]
subprocess.run([*kubectl, "create", "secret", "generic", secret], check=True,
               capture_output=True, stdin=subprocess.DEVNULL)
token = subprocess.run(
    [*kubectl, "create", "token", os.environ["HS_ACCOUNT"], "--duration=10m",
     "--bound-object-kind=Secret", f"--bound-object-name={secret}"],
    check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL,
).stdout.strip()
expires = int(time.time()) + int(os.environ["HS_LIFETIME"])
with issued.open("a") as out:
    out.write(f"{secret} {expires} {token}\\n")
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {
        "token": token,
        "expirationTimestamp": datetime.datetime.fromtimestamp(expires, datetime.UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
    },
}))
"""


@dataclass(frozen=True)
class Issued:
    secret: str
    expires: float
    token: str


def issued(state: Path) -> list[Issued]:
    found = state / "issued"
    if not found.exists():
        return []
    rows = [line.split() for line in found.read_text().splitlines() if line.strip()]
    return [Issued(secret, float(expires), token) for secret, expires, token in rows]


def cluster_entry(plane: ControlPlane) -> dict[str, Any]:
    entry: dict[str, Any] = yaml.safe_load(plane.kubeconfig.read_text())["clusters"][0]["cluster"]
    return entry


def exec_kubeconfig(plane: ControlPlane, state: Path, namespace: str) -> Path:
    """A kubeconfig whose only user is the plugin (no certificate, no token of its own)."""
    state.mkdir(parents=True)
    script = state / "plugin.py"
    script.write_text(PLUGIN)
    env = {
        "HS_STATE": str(state),
        "HS_ADMIN": str(plane.kubeconfig),
        "HS_KUBECTL": plane.kubectl_bin,
        "HS_NAMESPACE": namespace,
        "HS_ACCOUNT": ACCOUNT,
        "HS_LIFETIME": str(LIFETIME),
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "exec",
        "clusters": [{"name": "plane", "cluster": cluster_entry(plane)}],
        "contexts": [
            {"name": "exec", "context": {"cluster": "plane", "user": "sso", "namespace": namespace}}
        ],
        "users": [
            {
                "name": "sso",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": sys.executable,
                        "args": [str(script)],
                        "env": [{"name": k, "value": v} for k, v in env.items()],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }
    path = state / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Revoker:
    """Deletes the Secret of every issued token once the token's expiry has passed."""

    plane: ControlPlane
    namespace: str
    states: list[Path]
    revoked: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            for state in self.states:
                for token in issued(state):
                    if token.expires <= time.time() and token.secret not in self.revoked:
                        self.plane.kubectl(
                            "delete", "secret", token.secret, "-n", self.namespace, "--wait=false"
                        )
                        self.revoked.add(token.secret)

    def count(self, state: Path) -> int:
        return sum(1 for token in issued(state) if token.secret in self.revoked)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


def run_plugin(kubeconfig: Path) -> None:
    """Call the plugin once as a client would (its command, args and env from ``kubeconfig``)."""
    spec = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["exec"]
    env = {**os.environ, **{item["name"]: item["value"] for item in spec["env"]}}
    subprocess.run(
        [spec["command"], *spec["args"]],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def whoami(plane: ControlPlane, token: str, path: Path) -> subprocess.CompletedProcess[str]:
    """`kubectl auth whoami` with only ``token`` (a kubeconfig without the admin certificate)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "t",
                "clusters": [{"name": "plane", "cluster": cluster_entry(plane)}],
                "contexts": [{"name": "t", "context": {"cluster": "plane", "user": "t"}}],
                "users": [{"name": "t", "user": {"token": token}}],
            }
        )
    )
    return subprocess.run(
        [
            plane.kubectl_bin,
            "--kubeconfig",
            str(path),
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_expiring_exec_tokens_are_renewed_by_the_operator_and_by_a_submit_follow(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    install_crd(testplane)
    testplane.kubectl("create", "serviceaccount", ACCOUNT, "-n", namespace)
    # kopf lists CRDs and namespaces at the cluster scope: the plugins' account is an admin.
    binding = f"{namespace}-{ACCOUNT}"
    testplane.kubectl(
        "create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:{ACCOUNT}",
    )  # fmt: skip
    operator_state, cli_state = tmp_path / "op", tmp_path / "cli"
    operator_config = exec_kubeconfig(testplane, operator_state, namespace)
    cli_config = exec_kubeconfig(testplane, cli_state, namespace)
    settings = tmp_path / "operator-config.yaml"
    settings.write_text("timeouts: {watchSeconds: 5}\n")  # kopf asks the server again often
    manifest = tmp_path / "search.yaml"
    manifest.write_text(yaml.safe_dump(search_manifest("renewed", max_trials=3, parallelism=1)))

    revoker = Revoker(testplane, namespace, [operator_state, cli_state])
    revoker.start()
    operator = OperatorProcess(
        testplane, namespace, tmp_path / "operator.log", settings, kubeconfig=operator_config
    )
    operator.start()
    follow = subprocess.Popen(
        [*HYPER, "run", str(manifest), "--submit", "-o", "json", "--namespace", namespace,
         "--kubeconfig", str(cli_config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip

    def both_alive() -> None:
        """Fail at once, with what it said, when a client died (a 401 ends the follow)."""
        if follow.poll() is not None:
            pytest.fail(f"hyper run --submit ended early:\n{follow.communicate()[1]}")
        operator.assert_alive()

    try:

        def submitted() -> bool:
            both_alive()
            found = testplane.kubectl("get", "hs", "renewed", "-n", namespace, check=False)
            return found.returncode == 0

        wait_until(submitted, "the search submitted through the plugin's token", timeout=120)
        for index in range(3):
            trial = f"renewed-{index:04d}"

            def running(search: dict[str, Any], trial: str = trial) -> bool:
                return trial_phase(search, trial) == "Running"

            search_when(
                testplane,
                namespace,
                "renewed",
                running,
                f"the operator running {trial}",
                timeout=120,
            )

            def renewed(index: int = index) -> bool:
                both_alive()
                return all(
                    revoker.count(state) >= index + 1 and len(issued(state)) >= index + 2
                    for state in (operator_state, cli_state)
                )

            # Before each trial ends, more tokens of both clients expire and are revoked.
            wait_until(
                renewed,
                f"token {index + 1} of both plugins expired and revoked, token {index + 2} issued",
                timeout=LIFETIME * 6,
            )
            finish_trial(
                testplane,
                namespace,
                search="renewed",
                pod=trial,
                value=0.5 + index / 10,
                workdir=tmp_path,
            )
        out, err = follow.communicate(timeout=180)
        operator.assert_alive()
    finally:
        if follow.poll() is None:
            follow.kill()
        for pipe in (follow.stdout, follow.stderr):
            if pipe is not None:
                pipe.close()
        follow.wait()
        operator.stop()
        revoker.close()
        testplane.kubectl("delete", "clusterrolebinding", binding, "--wait=false", check=False)

    assert follow.returncode == 0, err
    result = yaml.safe_load(out)
    assert (result["search"]["reason"], result["best"]["name"]) == (
        "MaxTrialsReached",
        "renewed-0002",
    )
    log = (tmp_path / "operator.log").read_text()
    assert "Re-authentication has finished." in log, operator.tail()  # kopf logged in again
    for state in (operator_state, cli_state):
        tokens = issued(state)
        assert len(tokens) >= 4, f"{state.name}: the plugin was called {len(tokens)} times"
        assert len({t.token for t in tokens}) == len(tokens)
        # The server really refuses a revoked token and takes the newest one: the clients
        # that kept working were using renewed tokens.
        refused = whoami(testplane, tokens[0].token, tmp_path / f"{state.name}-first")
        assert refused.returncode != 0 and "Unauthorized" in refused.stderr, refused.stderr
    # ... while a token minted the same way and not revoked is taken.
    run_plugin(cli_config)
    fresh = whoami(testplane, issued(cli_state)[-1].token, tmp_path / "fresh")
    assert fresh.stdout.strip() == f"system:serviceaccount:{namespace}:{ACCOUNT}", fresh.stderr
