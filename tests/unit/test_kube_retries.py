"""The operator's client waits for a slow server and retries only what is safe to repeat.

A read timeout may come after the server acted, so only idempotent requests are sent again
(GET, DELETE, server-side apply, a create with a derived name); a refused connection or a 429
never reached the handler, so any request is. Against a real local HTTP server; the backoff's
sleeps are recorded instead of slept."""

from __future__ import annotations

import http.server
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_kube_client import write_kubeconfig

from hypersearch.kube.api import KubeApi
from hypersearch.kube.client import Connection, RetryPolicy, Timeouts, connect, idempotent
from hypersearch.kube.status import trials_path
from hypersearch.kube.wire import APPLY_PATCH, JSON_PATCH, ApiError


class Slow(http.server.BaseHTTPRequestHandler):
    """The first ``slow`` requests get no answer in time; then each path answers
    ``answers[path]`` in turn (status, extra headers), else 200."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str]]
    slow: list[int]
    answers: dict[str, list[tuple[int, dict[str, str]]]]

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append((self.command, self.path.split("?")[0]))
        if self.slow[0] > 0:
            self.slow[0] -= 1
            time.sleep(0.6)
        queued = self.answers.get(self.path.split("?")[0]) or []
        status, headers = queued.pop(0) if queued else (200, {})
        reason = {409: "AlreadyExists", 429: "TooManyRequests"}.get(status, "")
        payload = json.dumps({"kind": "Status", "reason": reason, "message": "m"}).encode()
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up on this one

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Slow]]]:
    handler: Any = type("Handler", (Slow,), {"seen": [], "slow": [0], "answers": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def client(
    tmp_path: Path, url: str, failures: list[tuple[str, str]], waits: list[float]
) -> Connection:
    config = write_kubeconfig(tmp_path / "config", {"token": "t"}, {"server": url})
    return connect(
        str(config),
        timeout=Timeouts(connect=2.0, read=0.3),
        retry=RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05),
        on_failure=lambda verb, reason: failures.append((verb, reason)),
        sleep=waits.append,
    )


def test_a_get_that_times_out_is_sent_again_and_its_answer_returned(
    tmp_path: Path, server: tuple[str, type[Slow]]
) -> None:
    url, handler = server
    handler.slow[0] = 1
    failures: list[tuple[str, str]] = []
    waits: list[float] = []
    connection = client(tmp_path, url, failures, waits)
    try:
        answer = connection.request("GET", "/api/v1/namespaces/ml/pods/p")
    finally:
        connection.close()
    assert answer["kind"] == "Status"
    assert handler.seen == [("GET", "/api/v1/namespaces/ml/pods/p")] * 2
    assert failures == [("GET", "Timeout")]
    assert len(waits) == 1


def test_a_post_that_times_out_is_not_sent_again(
    tmp_path: Path, server: tuple[str, type[Slow]]
) -> None:
    """An Event's POST may have been stored before the answer was lost: a repeat would post it
    twice, so the error goes to the caller (which treats Events as best effort)."""
    url, handler = server
    handler.slow[0] = 1
    failures: list[tuple[str, str]] = []
    connection = client(tmp_path, url, failures, [])
    try:
        with pytest.raises(ApiError) as caught:
            connection.request("POST", "/api/v1/namespaces/ml/events", body={})
    finally:
        connection.close()
    assert (caught.value.status, caught.value.reason, caught.value.transient) == (
        0,
        "Timeout",
        True,
    )
    assert handler.seen == [("POST", "/api/v1/namespaces/ml/events")]
    assert failures == [("POST", "Timeout")]


def test_a_timed_out_create_of_a_derived_name_is_sent_again_and_already_exists_means_done(
    tmp_path: Path, server: tuple[str, type[Slow]]
) -> None:
    url, handler = server
    handler.slow[0] = 1
    # The first create is still sleeping when the repeat arrives and finds the Pod there.
    handler.answers["/api/v1/namespaces/ml/pods"] = [(409, {})]
    connection = client(tmp_path, url, [], [])
    try:
        created = KubeApi(connection).create_pod(
            {"metadata": {"name": "s-0001", "namespace": "ml"}}
        )
    finally:
        connection.close()
    assert created is False  # the first attempt made it: the trial's Pod exists
    assert handler.seen == [("POST", "/api/v1/namespaces/ml/pods")] * 2


def test_a_timed_out_create_of_a_trial_object_is_sent_again_and_already_exists_means_done(
    tmp_path: Path, server: tuple[str, type[Slow]]
) -> None:
    """The trial object's name is derived too: the operator's first write of a trial must not
    fail a reconcile on a slow server when a repeat is harmless."""
    url, handler = server
    handler.slow[0] = 1
    path = trials_path("ml")
    handler.answers[path] = [(409, {})]
    connection = client(tmp_path, url, [], [])
    try:
        created = KubeApi(connection).create_trial(
            {"metadata": {"name": "s-0001", "namespace": "ml"}}
        )
    finally:
        connection.close()
    assert created is None  # the first attempt made it: the trial object exists
    assert handler.seen == [("POST", path)] * 2


def test_a_429_is_retried_for_any_request_after_the_servers_retry_after(
    tmp_path: Path, server: tuple[str, type[Slow]]
) -> None:
    url, handler = server
    handler.answers["/api/v1/namespaces/ml/events"] = [(429, {"Retry-After": "1"})]
    failures: list[tuple[str, str]] = []
    waits: list[float] = []
    connection = client(tmp_path, url, failures, waits)
    try:
        connection.request("POST", "/api/v1/namespaces/ml/events", body={})
    finally:
        connection.close()
    assert handler.seen == [("POST", "/api/v1/namespaces/ml/events")] * 2
    assert failures == [("POST", "TooManyRequests")]
    assert waits == [0.05]  # Retry-After, capped at the policy's cap


def test_a_refused_connection_is_tried_the_policys_number_of_times_then_is_unreachable(
    tmp_path: Path,
) -> None:
    failures: list[tuple[str, str]] = []
    waits: list[float] = []
    connection = client(tmp_path, "http://127.0.0.1:9", failures, waits)
    try:
        with pytest.raises(ApiError) as caught:
            connection.request("POST", "/api/v1/namespaces/ml/events", body={})
    finally:
        connection.close()
    assert (caught.value.status, caught.value.reason) == (0, "Unreachable")
    assert failures == [("POST", "Unreachable")] * 3
    assert len(waits) == 2


@pytest.mark.parametrize(
    ("method", "content_type", "expected"),
    [
        ("GET", "application/json", True),
        ("DELETE", "application/json", True),
        ("PATCH", APPLY_PATCH, True),
        ("PATCH", "application/merge-patch+json", True),
        ("PATCH", JSON_PATCH, False),
        ("POST", "application/json", False),
    ],
)
def test_which_requests_are_idempotent(method: str, content_type: str, expected: bool) -> None:
    assert idempotent(method, content_type) is expected


def test_the_backoff_is_full_jitter_below_a_doubling_ceiling_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=6, base_seconds=0.5, cap_seconds=8.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= 0.0
        assert max(delays) <= ceiling
        assert max(delays) > ceiling / 2  # spread over the range, not a fixed wait
    assert policy.delay(1, rng, retry_after=3.0) == 3.0
    assert policy.delay(1, rng, retry_after=60.0) == 8.0
