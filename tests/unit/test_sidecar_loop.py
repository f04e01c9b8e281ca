"""The sidecar process: files in, server-side applies out (a local HTTP server plays the API)."""

from __future__ import annotations

import http.server
import json
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from hypersearch.kube.wire import ApiError
from hypersearch.sidecar import main as sidecar_main
from hypersearch.sidecar.collector import Collector, Objective
from hypersearch.sidecar.main import FileTail, Sidecar


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records every request; answers 500 to the first ``fail_first`` of them."""

    requests: list[dict[str, Any]]
    fail_first = 0

    def do_PATCH(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        record = {
            "path": self.path,
            "content_type": self.headers["Content-Type"],
            "authorization": self.headers["Authorization"],
            "body": json.loads(body),
        }
        self.requests.append(record)
        status = 500 if len(self.requests) <= self.fail_first else 200
        payload = json.dumps({"kind": "Status", "reason": "InternalError", "message": "boom"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"requests": [], "fail_first": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_trial_files(tmp_path: Path, output: str, exit_code: int | None) -> None:
    (tmp_path / "output.log").write_text(output)
    (tmp_path / "token").write_text("the-token\n")
    if exit_code is not None:
        (tmp_path / "exit-code").write_text(f"{exit_code}\n")


def run_main(tmp_path: Path, server: str) -> int:
    return sidecar_main.main(
        [
            "--namespace=ml",
            "--search=cifar",
            "--trial=cifar-0002",
            "--metric=val_acc",
            f"--output={tmp_path / 'output.log'}",
            f"--exit-code={tmp_path / 'exit-code'}",
            f"--token-file={tmp_path / 'token'}",
            f"--server={server}",
            "--poll=0.01",
        ]
    )


def test_finished_trial_is_applied_once_to_its_own_trial_object(
    tmp_path: Path, api: tuple[str, type[Recorder]]
) -> None:
    server, handler = api
    write_trial_files(tmp_path, "val_acc=0.5\nval_acc=0.75\n", exit_code=0)
    assert run_main(tmp_path, server) == 0
    (request,) = handler.requests
    assert request["path"] == (
        "/apis/hypersearch.io/v1alpha1/namespaces/ml/hypersearchtrials/cifar-0002/status"
        "?fieldManager=hypersearch-sidecar-cifar-0002&force=true"
    )
    assert request["content_type"] == "application/apply-patch+yaml"
    assert request["authorization"] == "Bearer the-token"
    body = request["body"]
    assert body["apiVersion"] == "hypersearch.io/v1alpha1"
    assert body["kind"] == "HyperSearchTrial"
    assert body["metadata"] == {"name": "cifar-0002", "namespace": "ml"}
    assert {k: v for k, v in body["status"].items() if k != "reportedAt"} == {
        "observed": 2,
        "curve": [[1, 0.5], [2, 0.75]],
        "exitCode": 0,
        "value": 0.75,
    }


def test_final_push_is_retried_until_it_lands(
    tmp_path: Path, api: tuple[str, type[Recorder]]
) -> None:
    server, handler = api
    handler.fail_first = 2
    write_trial_files(tmp_path, "val_acc=0.5\n", exit_code=3)
    assert run_main(tmp_path, server) == 0
    assert len(handler.requests) == 3
    assert handler.requests[-1]["body"]["status"]["exitCode"] == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sigterm_without_exit_code_pushes_what_was_read_and_stops(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    (tmp_path / "output.log").write_text("val_acc=0.25\n")
    stop = threading.Event()
    stop.set()
    sidecar = Sidecar(
        Collector("t-1", Objective("val_acc", "last")),
        sent.append,
        tmp_path / "output.log",
        tmp_path / "exit-code",
        clock=FakeClock(),
        stop=stop,
    )
    assert sidecar.run() == 0
    (entry,) = sent
    assert entry["curve"] == [[1, 0.25]]
    assert "exitCode" not in entry


def test_running_pushes_only_on_change_and_at_most_every_interval(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    output = tmp_path / "output.log"
    output.write_text("")
    clock = FakeClock()
    stop = threading.Event()
    sidecar = Sidecar(
        Collector("t-1", Objective("val_acc", "last")),
        sent.append,
        output,
        tmp_path / "exit-code",
        push_interval=10.0,
        clock=clock,
        stop=stop,
    )
    script = [
        (0.0, "val_acc=0.1\n"),  # first value: pushed at once
        (1.0, "val_acc=0.2\n"),  # within the interval: held
        (2.0, ""),  # nothing new: held
        (11.0, ""),  # interval passed with a change pending: pushed
        (30.0, ""),  # no change: nothing
    ]
    counts = []
    for when, text in script:
        clock.now = when
        with output.open("a") as handle:
            handle.write(text)
        assert sidecar.tick() is None
        counts.append(len(sent))
    assert counts == [1, 1, 1, 2, 2]
    assert sent[-1]["curve"] == [[1, 0.1], [2, 0.2]]


def test_file_tail_keeps_utf8_split_across_reads(tmp_path: Path) -> None:
    path = tmp_path / "out"
    tail = FileTail(path)
    assert tail.read() == ""
    data = "é=1\n".encode()
    path.write_bytes(data[:1])
    first = tail.read()
    with path.open("ab") as handle:
        handle.write(data[1:])
    assert first + tail.read() == "é=1\n"


def test_unreachable_server_is_reported_as_transient(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []

    def refuse(entry: dict[str, Any]) -> None:
        sent.append(entry)
        raise ApiError(0, "Unreachable", "connection refused", "PATCH", "/x")

    write_trial_files(tmp_path, "val_acc=0.5\n", exit_code=0)
    clock = FakeClock()
    sidecar = Sidecar(
        Collector("t-1", Objective("val_acc", "last")),
        refuse,
        tmp_path / "output.log",
        tmp_path / "exit-code",
        poll=0.001,
        final_deadline=0.0,
        clock=clock,
    )
    assert sidecar.run() == 1
    assert len(sent) == 1


def test_file_tail_reads_a_large_file_in_bounded_chunks(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("x" * 2500)
    tail = FileTail(path)
    assert [len(chunk) for chunk in iter(lambda: tail.read(limit=1000), "")] == [1000, 1000, 500]
    with path.open("a") as handle:
        handle.write("val_acc=1\n")
    assert "".join(tail.drain()) == "val_acc=1\n"


BASE_ARGS = ["--namespace=ml", "--search=s", "--trial=s-0001", "--metric=val_acc"]


@pytest.mark.parametrize(
    ("flags", "environ", "reports"),
    [
        ([], {}, True),  # a Pod trial's sidecar always reports
        (["--report-if-pod-index=0"], {"HYPERSEARCH_POD_INDEX": "0"}, True),
        (["--report-if-pod-index=0"], {"HYPERSEARCH_POD_INDEX": "1"}, False),
        (["--report-if-pod-index=0"], {"HYPERSEARCH_POD_INDEX": ""}, True),  # not Indexed
        (["--report-if-pod-index=2"], {"HYPERSEARCH_POD_INDEX": "2"}, True),
        (
            ["--report-if-pod-index=0", "--report-if-job-index=1"],
            {"HYPERSEARCH_POD_INDEX": "0", "HYPERSEARCH_JOB_INDEX": "0"},
            False,
        ),
        (
            ["--report-if-pod-index=0", "--report-if-job-index=1"],
            {"HYPERSEARCH_POD_INDEX": "0", "HYPERSEARCH_JOB_INDEX": "1"},
            True,
        ),
    ],
)
def test_only_the_reporter_pod_of_a_job_or_jobset_reports(
    flags: list[str], environ: dict[str, str], reports: bool
) -> None:
    args = sidecar_main.parse_args([*BASE_ARGS, *flags])
    assert sidecar_main.is_reporter(args, environ) is reports


def test_a_sidecar_that_does_not_report_idles_until_sigterm_and_exits_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPERSEARCH_POD_INDEX", "1")
    handlers: dict[int, Callable[[int, FrameType | None], object]] = {}
    monkeypatch.setattr(signal, "signal", handlers.__setitem__)
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            sidecar_main.main([*BASE_ARGS, "--report-if-pod-index=0", f"--token-dir={tmp_path}"])
        )
    )
    thread.start()
    thread.join(0.3)
    assert thread.is_alive() and not result  # no API server needed, and no early exit
    handlers[signal.SIGTERM](signal.SIGTERM, None)
    thread.join(5)
    assert result == [0]
