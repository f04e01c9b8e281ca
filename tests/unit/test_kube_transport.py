"""The sidecar's stdlib API client: error decoding, requests over keep-alive, rotated tokens."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypersearch.kube.transport import Endpoint, Transport
from hypersearch.kube.wire import ApiError

TOKENS: list[str | None] = []
"""The Authorization header of each request the ``server`` fixture answered."""


class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server
    peers: list[int]
    tokens: list[str | None]

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.peers.append(self.client_address[1])
        self.tokens.append(self.headers.get("Authorization"))
        if self.path.startswith("/missing"):
            self._answer(
                404, {"kind": "Status", "reason": "NotFound", "message": 'pods "x" not found'}
            )
        else:
            self._answer(200, {"path": self.path})

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[int]]]:
    handler: Any = type("Handler", (Api,), {"peers": [], "tokens": TOKENS})
    TOKENS.clear()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", handler.peers
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_requests_reuse_one_connection_and_encode_the_query(
    server: tuple[str, list[int]],
) -> None:
    url, peers = server
    transport = Transport(Endpoint(server=url))
    try:
        first = transport.request("GET", "/api/v1/pods", query={"labelSelector": "a=b"})
        transport.request("GET", "/api/v1/pods")
    finally:
        transport.close()
    assert first == {"path": "/api/v1/pods?labelSelector=a%3Db"}
    assert len(set(peers)) == 1


def test_a_token_file_that_changes_between_calls_is_used_fresh(
    server: tuple[str, list[int]], tmp_path: Path
) -> None:
    """The kubelet rotates a projected token by replacing the file; the old token stops working
    when it expires, so every request must read the file again."""
    url, _ = server
    token = tmp_path / "token"
    token.write_text("first\n")
    transport = Transport(Endpoint(server=url, token_file=str(token)))
    try:
        transport.request("GET", "/api")
        token.write_text("second")
        transport.request("GET", "/api")
    finally:
        transport.close()
    assert TOKENS == ["Bearer first", "Bearer second"]


def test_error_answers_become_api_errors_with_the_servers_reason(
    server: tuple[str, list[int]],
) -> None:
    url, _ = server
    transport = Transport(Endpoint(server=url))
    try:
        with pytest.raises(ApiError) as caught:
            transport.request("GET", "/missing")
    finally:
        transport.close()
    err = caught.value
    assert (err.status, err.reason, err.not_found, err.transient) == (404, "NotFound", True, False)
    assert str(err) == 'GET /missing: 404 NotFound: pods "x" not found'


def test_an_unreachable_server_is_a_transient_api_error() -> None:
    transport = Transport(Endpoint(server="http://127.0.0.1:9"), timeout=2)
    try:
        with pytest.raises(ApiError) as caught:
            transport.request("GET", "/api")
    finally:
        transport.close()
    assert (caught.value.status, caught.value.reason, caught.value.transient) == (
        0,
        "Unreachable",
        True,
    )


def test_a_server_that_is_not_a_url_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError) as caught:
        Transport(Endpoint(server="10.0.0.1:6443"))
    assert str(caught.value) == (
        "server '10.0.0.1:6443' is not a URL like https://host:6443; fix the kubeconfig's "
        "cluster.server or the --server flag"
    )


class ClosingApi(Api):
    """Keeps each connection's socket so a test can close them all, as an API server (or a
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


def test_a_request_after_the_server_closed_every_idle_connection_succeeds() -> None:
    handler: Any = type(
        "Handler",
        (ClosingApi,),
        {"peers": [], "tokens": [], "sockets": [], "together": threading.Barrier(3)},
    )
    httpd = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    transport = Transport(Endpoint(server=f"http://127.0.0.1:{httpd.server_port}"))
    try:
        callers = [
            threading.Thread(target=transport.request, args=("GET", "/together")) for _ in range(3)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=10)
        assert len(set(handler.peers)) == 3  # three pooled keep-alive connections
        for sock in handler.sockets:
            sock.shutdown(socket.SHUT_RDWR)

        answer = transport.request("GET", "/after-idle")
    finally:
        transport.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert answer == {"path": "/after-idle"}
