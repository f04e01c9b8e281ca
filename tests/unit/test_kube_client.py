"""The CLI's and the operator's connection (the ``kubernetes`` package): kubeconfig users of every
kind, when credentials are renewed, what a 401 does, proxies, and errors that name the fix.

A local HTTP server plays the API server; an exec plugin is a small script written by the test
that counts its calls and hands out a new token each time."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypersearch.kube.client import Connection, KubeconfigError, connect, in_cluster
from hypersearch.kube.wire import ApiError


class Clock:
    """Starts at the real time (a plugin's expiry is real), then moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


class Api(http.server.BaseHTTPRequestHandler):
    """Answers every GET with what it saw; refuses tokens listed in ``refused`` with 401."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str | None]]
    refused: set[str]

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        authorization = self.headers.get("Authorization")
        self.seen.append((self.path, authorization))
        if authorization in self.refused:
            self._answer(401, {"kind": "Status", "reason": "Unauthorized", "message": "no"})
        elif self.path.endswith("/missing"):
            self._answer(404, {"kind": "Status", "reason": "NotFound", "message": "x not found"})
        else:
            self._answer(200, {"path": self.path})

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, type[Api]]]:
    handler: Any = type("Handler", (Api,), {"seen": [], "refused": set()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def write_kubeconfig(
    path: Path, user: dict[str, Any], cluster: dict[str, Any], namespace: str | None = None
) -> Path:
    context: dict[str, Any] = {"cluster": "k", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [{"name": "c", "context": context}],
                "clusters": [{"name": "k", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return path


def plugin(tmp_path: Path, *, lifetime: float | None = 3600.0, fail: str = "") -> dict[str, Any]:
    """An exec user whose plugin hands out token t1, t2, ... (one per call), valid ``lifetime``
    seconds from the real now, and counts its calls in ``calls``."""
    script = tmp_path / "plugin.py"
    script.write_text(
        f"""
import datetime, json, pathlib, sys
calls = pathlib.Path({str(tmp_path / "calls")!r})
n = len(calls.read_text().split()) + 1 if calls.exists() else 1
calls.write_text(calls.read_text() + f"{{n}}\\n" if calls.exists() else f"{{n}}\\n")
FAIL = {fail!r} or (pathlib.Path({str(tmp_path / "down")!r}).exists() and "STS is down")
if FAIL:
    sys.stderr.write(FAIL)
    sys.exit(1)
LIFETIME = {lifetime!r}
status = {{"token": f"t{{n}}"}}
if LIFETIME is not None:
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=LIFETIME)
    status["expirationTimestamp"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": status}}))
"""
    )
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script)],
            "interactiveMode": "Never",
        }
    }


def calls(tmp_path: Path) -> int:
    found = tmp_path / "calls"
    return len(found.read_text().split()) if found.exists() else 0


def exec_connection(
    tmp_path: Path, url: str, clock: Clock, **options: Any
) -> tuple[Connection, Path]:
    config = write_kubeconfig(tmp_path / "config", plugin(tmp_path, **options), {"server": url})
    return connect(str(config), clock=clock), config


def test_an_exec_plugins_token_is_used_until_most_of_its_life_has_passed(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    url, handler = api
    clock = Clock()
    connection, _ = exec_connection(tmp_path, url, clock)
    try:
        for _ in range(3):
            connection.request("GET", "/api")
        clock.advance(minutes=47)  # under 80% of an hour: still good
        connection.request("GET", "/api")
        clock.advance(minutes=2)  # past 80% of its life: renewed
        connection.request("GET", "/api")
    finally:
        connection.close()
    assert [auth for _, auth in handler.seen] == ["Bearer t1"] * 4 + ["Bearer t2"]
    assert calls(tmp_path) == 2


def test_a_401_runs_the_plugin_again_and_repeats_the_request_once(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    url, handler = api
    handler.refused.add("Bearer t1")  # revoked before it expired
    connection, _ = exec_connection(tmp_path, url, Clock())
    try:
        answer = connection.request("GET", "/api/v1/pods", query={"labelSelector": "a=b"})
    finally:
        connection.close()
    assert answer == {"path": "/api/v1/pods?labelSelector=a%3Db"}
    assert [auth for _, auth in handler.seen] == ["Bearer t1", "Bearer t2"]


def test_a_token_the_server_keeps_refusing_is_an_api_error_401(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    url, handler = api
    handler.refused.add("Bearer static")
    config = write_kubeconfig(tmp_path / "config", {"token": "static"}, {"server": url})
    connection = connect(str(config))
    try:
        with pytest.raises(ApiError) as caught:
            connection.request("GET", "/api")
    finally:
        connection.close()
    assert (caught.value.status, caught.value.reason, caught.value.transient) == (
        401,
        "Unauthorized",
        False,
    )
    assert len(handler.seen) == 1  # reloading gave the same token: no point in repeating


def test_a_plugin_failing_at_renewal_leaves_the_old_token_and_is_tried_again_later(
    api: tuple[str, type[Api]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = api
    clock = Clock()
    connection, _ = exec_connection(tmp_path, url, clock)
    (tmp_path / "down").touch()
    try:
        clock.advance(minutes=50)
        connection.request("GET", "/api")  # renewal fails: the old token, still valid, is sent
        connection.request("GET", "/api")  # not retried at once
        (tmp_path / "down").unlink()
        clock.advance(seconds=11)
        connection.request("GET", "/api")
    finally:
        connection.close()
    assert [auth for _, auth in handler.seen] == ["Bearer t1", "Bearer t1", "Bearer t3"]
    assert calls(tmp_path) == 3
    assert [r.getMessage() for r in caplog.records if r.name == "hypersearch.kube"] == [
        f"kubeconfig {tmp_path / 'config'} (user 'u': users[].user.exec): renewing the "
        "credentials failed: exec: process returned 1. STS is down"
    ]


def test_a_plugin_without_an_expiry_runs_again_only_after_a_401(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    url, handler = api
    clock = Clock()
    connection, _ = exec_connection(tmp_path, url, clock, lifetime=None)
    try:
        connection.request("GET", "/api")
        clock.advance(days=2)
        connection.request("GET", "/api")
        handler.refused.add("Bearer t1")
        connection.request("GET", "/api")
    finally:
        connection.close()
    assert [auth for _, auth in handler.seen] == ["Bearer t1"] * 3 + ["Bearer t2"]


def test_a_token_file_is_read_again_every_minute(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    url, handler = api
    token = tmp_path / "token"
    token.write_text("old")
    config = write_kubeconfig(tmp_path / "config", {"tokenFile": str(token)}, {"server": url})
    clock = Clock()
    connection = connect(str(config), clock=clock)
    try:
        connection.request("GET", "/api")
        token.write_text("new")
        connection.request("GET", "/api")
        clock.advance(seconds=61)
        connection.request("GET", "/api")
    finally:
        connection.close()
    assert [auth for _, auth in handler.seen] == ["Bearer old", "Bearer old", "Bearer new"]


def test_the_kubeconfig_proxy_url_carries_the_requests(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    proxy, handler = api  # an HTTP proxy sees the absolute URL in the request line
    cluster = {"server": "http://api.cluster.invalid:6443", "proxy-url": proxy}
    config = write_kubeconfig(tmp_path / "config", {"token": "t"}, cluster)
    connection = connect(str(config))
    try:
        connection.request("GET", "/version")
        assert connection.credentials().proxy == proxy
    finally:
        connection.close()
    assert handler.seen == [("http://api.cluster.invalid:6443/version", "Bearer t")]


def test_the_proxy_of_the_environment_carries_the_requests(
    api: tuple[str, type[Api]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, handler = api
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    cluster = {"server": "http://api.cluster.invalid:6443"}
    config = write_kubeconfig(tmp_path / "config", {"token": "t"}, cluster)
    connection = connect(str(config))
    try:
        connection.request("GET", "/version")
    finally:
        connection.close()
    assert handler.seen == [("http://api.cluster.invalid:6443/version", "Bearer t")]


def test_kopf_gets_the_plugins_token_with_its_expiry_and_a_fresh_one_when_it_is_stale(
    tmp_path: Path,
) -> None:
    connection, _ = exec_connection(tmp_path, "https://10.0.0.1:6443", Clock())
    try:
        first = connection.credentials()
        again = connection.credentials()
        renewed = connection.credentials(stale=first.authorization)
    finally:
        connection.close()
    assert (first.server, first.authorization, again.authorization) == (
        "https://10.0.0.1:6443",
        "Bearer t1",
        "Bearer t1",
    )
    assert first.expires is not None
    assert first.expires > datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=50)
    assert renewed.authorization == "Bearer t2"
    assert calls(tmp_path) == 2


def test_the_contexts_namespace_and_errors_come_back_as_before(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    url, _ = api
    config = write_kubeconfig(tmp_path / "config", {"token": "t"}, {"server": url}, "ml")
    connection = connect(str(config))
    try:
        with pytest.raises(ApiError) as caught:
            connection.request("GET", "/api/missing")
    finally:
        connection.close()
    assert connection.namespace == "ml"
    assert str(caught.value) == "GET /api/missing: 404 NotFound: x not found"


class Closing(Api):
    """Keeps each connection's socket so the test can close them all, as an API server (or a
    load balancer in front of it) does with idle keep-alive connections."""

    sockets: list[Any]
    together: threading.Barrier

    def do_GET(self) -> None:
        self.sockets.append(self.connection)
        if self.path == "/together":
            self.together.wait(timeout=10)
        super().do_GET()


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A handler whose socket the test shut down fails its next read: expected here."""


def test_a_request_after_the_server_closed_every_idle_connection_succeeds(tmp_path: Path) -> None:
    handler: Any = type(
        "Handler",
        (Closing,),
        {"seen": [], "refused": set(), "sockets": [], "together": threading.Barrier(3)},
    )
    httpd = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server = {"server": f"http://127.0.0.1:{httpd.server_port}"}
    connection = connect(str(write_kubeconfig(tmp_path / "config", {"token": "t"}, server)))
    try:
        callers = [
            threading.Thread(target=connection.request, args=("GET", "/together")) for _ in range(3)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=10)
        assert len(handler.sockets) == 3  # three pooled keep-alive connections
        for sock in handler.sockets:
            sock.shutdown(socket.SHUT_RDWR)
        answer = connection.request("GET", "/after-idle")
    finally:
        connection.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert answer == {"path": "/after-idle"}


def test_an_unreachable_server_is_a_transient_api_error(tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "config", {}, {"server": "http://127.0.0.1:9"})
    connection = connect(str(config), timeout=2)
    try:
        with pytest.raises(ApiError) as caught:
            connection.request("GET", "/api")
    finally:
        connection.close()
    assert (caught.value.status, caught.value.reason, caught.value.transient) == (
        0,
        "Unreachable",
        True,
    )


def test_a_failing_plugin_is_named_with_what_it_said_and_the_fix(tmp_path: Path) -> None:
    user = plugin(tmp_path, fail="no SSO session; run aws sso login")
    config = write_kubeconfig(tmp_path / "config", user, {"server": "https://10.0.0.1:6443"})
    with pytest.raises(KubeconfigError) as caught:
        connect(str(config))
    assert str(caught.value) == (
        f"kubeconfig {config} (user 'u': users[].user.exec): the exec credential plugin "
        f"{sys.executable!r} failed: exec: process returned 1. no SSO session; run aws sso "
        "login; fix the plugin (kubectl runs the same command: try kubectl get namespaces) or "
        "pick another context with --context"
    )


def test_unusable_kubeconfigs_name_the_file_the_field_and_the_fix(tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "config", {}, {"server": "https://10.0.0.1:6443"})
    missing = tmp_path / "nope"
    cases = {
        (str(missing), None): (
            f"--kubeconfig {missing}: no such file; fix the path (or leave the flag out to use "
            "$KUBECONFIG or ~/.kube/config)"
        ),
        (str(config), "other"): (
            f"kubeconfig {config}: Expected object with name other in {config}/contexts list; "
            "pass an existing context with --context"
        ),
    }
    for (path, context), message in cases.items():
        with pytest.raises(KubeconfigError) as caught:
            connect(path, context)
        assert str(caught.value) == message
    broken = tmp_path / "broken"
    broken.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": []}))
    with pytest.raises(KubeconfigError) as caught:
        connect(str(broken))
    assert str(caught.value) == (
        f"kubeconfig {broken}: Expected key current-context in {broken}; fix the file"
    )


def test_without_kubeconfig_or_pod_the_error_says_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeconfigError) as caught:
        connect()
    assert str(caught.value) == (
        "no kubeconfig found (no --kubeconfig, KUBECONFIG is not set, ~/.kube/config does not "
        "exist) and not running in a Pod: pass --kubeconfig or set KUBECONFIG"
    )


def test_kubeconfig_files_are_merged_as_kubectl_merges_them(
    api: tuple[str, type[Api]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = api
    first = write_kubeconfig(tmp_path / "a", {"token": "from-a"}, {"server": url}, "ml")
    second = tmp_path / "b"
    second.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": []}))
    monkeypatch.setenv("KUBECONFIG", f"{second}:{first}:{tmp_path / 'absent'}")
    connection = connect()
    try:
        connection.request("GET", "/api")
    finally:
        connection.close()
    assert handler.seen == [("/api", "Bearer from-a")]


def test_in_a_pod_the_projected_token_is_read_again_every_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    (tmp_path / "token").write_text("first")
    (tmp_path / "ca.crt").write_text("PEM")
    (tmp_path / "namespace").write_text("ml\n")
    clock = Clock()
    connection = in_cluster(tmp_path, clock=clock)
    (tmp_path / "token").write_text("second")
    before = connection.credentials()
    clock.advance(seconds=61)
    after = connection.credentials()
    assert (before.server, before.ca_file, before.namespace) == (
        "https://10.0.0.1:443",
        str(tmp_path / "ca.crt"),
        "ml",
    )
    assert (before.authorization, after.authorization) == ("bearer first", "bearer second")
    assert after.expires is None  # kopf keeps it until a 401


def test_an_oidc_auth_providers_id_token_is_sent(
    api: tuple[str, type[Api]], tmp_path: Path
) -> None:
    url, handler = api

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    far = int((datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).timestamp())
    id_token = f"{part({'alg': 'RS256'})}.{part({'sub': 'me', 'exp': far})}.c2ln"
    provider = {
        "name": "oidc",
        "config": {
            "client-id": "hyper",
            "id-token": id_token,
            "idp-issuer-url": "https://issuer.invalid",
            "refresh-token": "r",
        },
    }
    config = write_kubeconfig(tmp_path / "config", {"auth-provider": provider}, {"server": url})
    connection = connect(str(config))
    try:
        connection.request("GET", "/api")
    finally:
        connection.close()
    assert handler.seen == [("/api", f"Bearer {id_token}")]
