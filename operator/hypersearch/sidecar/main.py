"""The sidecar process: tail the trainer's output file, push the curve, push the final value
into the trial's HyperSearchTrial status.

The loop polls two files in the shared emptyDir (a file tail needs no inotify and works on every
node): the output the wrapper tees, and the exit-code file it moves into place after the last
line of output is written. Observations are pushed when they change (at most every
``--push-interval`` seconds); once the exit code appears the final entry is pushed (retried until
it lands or ``--final-deadline`` passes) and the process exits 0, so the Pod can complete.
SIGTERM (the Pod stopping) wakes the loop at once: it reads what is left and pushes it, final if
the exit code is there. A restarted sidecar reads the file from the start and re-applies the same
entry (server-side apply is idempotent), so nothing is lost or doubled.

Must stay light: stdlib plus core.metrics and the kube modules that are stdlib-only.
"""

from __future__ import annotations

import argparse
import codecs
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from hypersearch.kube import names
from hypersearch.kube.transport import Endpoint, Transport
from hypersearch.kube.wire import ApiError
from hypersearch.sidecar.collector import Collector, Objective
from hypersearch.sidecar.reporter import TrialReporter

log = logging.getLogger("hypersearch.sidecar")

READ_CHUNK = 1 << 20


class FileTail:
    """New text of a file that may not exist yet; decoding survives split UTF-8 sequences."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def read(self, limit: int = READ_CHUNK) -> str:
        """Up to ``limit`` bytes written since the last call ('' while the file is missing);
        bounded so that a trainer's huge log never lands in memory at once."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read(limit)
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        return self._decoder.decode(data)

    def drain(self) -> Iterator[str]:
        """Chunks of everything written since the last call, until the end of the file."""
        while chunk := self.read():
            yield chunk


def read_exit_code(path: Path) -> int | None:
    """The trainer's exit code once the wrapper has written it (None before)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # a partial write: read it again on the next tick


class Sidecar:
    """The loop, with the clock, the waiting and the reporter injected (tests drive it)."""

    def __init__(
        self,
        collector: Collector,
        send: Callable[[dict[str, Any]], None],
        output: Path,
        exit_code: Path,
        *,
        poll: float = 0.2,
        push_interval: float = 2.0,
        final_deadline: float = 120.0,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
    ):
        self.collector = collector
        self.send = send
        self.tail = FileTail(output)
        self.exit_code_path = exit_code
        self.poll = poll
        self.push_interval = push_interval
        self.final_deadline = final_deadline
        self.clock = clock
        self.stop = stop or threading.Event()
        self._pushed_version = 0
        self._last_push = float("-inf")

    def _push(self, exit_code: int | None) -> bool:
        entry = self.collector.entry(self.clock(), exit_code)
        try:
            self.send(entry)
        except ApiError as err:
            log.warning("could not report trial %s: %s", self.collector.trial, err)
            return False
        self._pushed_version = self.collector.version
        self._last_push = self.clock()
        return True

    def _final(self, exit_code: int | None) -> int:
        """Read the rest, push until it lands (or the deadline), return the process exit code."""
        for chunk in self.tail.drain():
            self.collector.feed(chunk)
        self.collector.finish()
        deadline = self.clock() + self.final_deadline
        delay = self.poll
        while not self._push(exit_code):
            if self.clock() >= deadline:
                log.error("giving up reporting trial %s", self.collector.trial)
                return 1
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return 0

    def tick(self) -> int | None:
        """One pass: read, maybe push; the exit status once the sidecar is done, else None."""
        for chunk in self.tail.drain():
            self.collector.feed(chunk)
        code = read_exit_code(self.exit_code_path)
        if code is not None:
            return self._final(code)
        if self.stop.is_set():
            return self._final(read_exit_code(self.exit_code_path))
        changed = self.collector.version != self._pushed_version
        if changed and self.clock() - self._last_push >= self.push_interval:
            self._push(None)
        return None

    def run(self) -> int:
        """Until the trainer's exit code appears or SIGTERM arrives; returns the exit status."""
        while True:
            status = self.tick()
            if status is not None:
                return status
            self.stop.wait(self.poll)


def keep_steps(text: str) -> tuple[float, ...]:
    """``--keep-steps``' value: ``3,9,27`` (empty: none)."""
    return tuple(float(part) for part in text.split(",") if part.strip())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hypersearch-sidecar",
        description="Report a trial's metrics into its HyperSearchTrial (runs in the trial Pod).",
    )
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--search", required=True, help="the HyperSearch name")
    parser.add_argument("--trial", required=True, help="the trial name (= Pod name)")
    parser.add_argument("--metric", required=True)
    parser.add_argument("--aggregation", default="last", choices=("last", "min", "max", "avg"))
    parser.add_argument(
        "--keep-steps",
        type=keep_steps,
        default=(),
        help="comma-separated steps the early-stopping rule reads; the curve keeps them exactly",
    )
    parser.add_argument("--output", type=Path, default=Path(names.OUTPUT_FILE))
    parser.add_argument("--exit-code", type=Path, default=Path(names.EXIT_CODE_FILE))
    parser.add_argument("--token-dir", type=Path, default=Path(names.TOKEN_DIR))
    parser.add_argument("--server", help="API server URL (default: in-cluster)")
    parser.add_argument("--token-file", help="default: TOKEN_DIR/token")
    parser.add_argument("--ca-file", help="default: TOKEN_DIR/ca.crt")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between file reads")
    parser.add_argument("--push-interval", type=float, default=2.0)
    parser.add_argument("--final-deadline", type=float, default=120.0)
    parser.add_argument(
        "--report-if-pod-index",
        type=int,
        help=f"report only in the Pod of this completion index (${names.POD_INDEX_ENV}); in the "
        "other Pods of a Job or JobSet trial, wait quietly until terminated",
    )
    parser.add_argument(
        "--report-if-job-index",
        type=int,
        help=f"report only in a Pod of the Job of this index (${names.JOB_INDEX_ENV}; JobSet)",
    )
    return parser.parse_args(argv)


def is_reporter(args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    """Whether this Pod reports its trial: every Pod of a Pod trial; in a Job or JobSet trial
    only the one whose completion index (and job index) are the ones asked for. An index the
    Pod does not know (empty: a Job that is not Indexed) counts as 0."""
    for wanted, variable in (
        (args.report_if_pod_index, names.POD_INDEX_ENV),
        (args.report_if_job_index, names.JOB_INDEX_ENV),
    ):
        if wanted is None:
            continue
        text = environ.get(variable, "").strip() or "0"
        if not text.isdigit() or int(text) != wanted:
            return False
    return True


def endpoint(args: argparse.Namespace) -> Endpoint:
    """In-cluster with the projected token, unless --server says otherwise (tests, debugging)."""
    token_file = args.token_file or str(args.token_dir / "token")
    ca_file = args.ca_file or str(args.token_dir / "ca.crt")
    if args.server:
        return Endpoint(server=args.server, ca_file=ca_file, token_file=token_file)
    found = Endpoint.in_cluster(args.token_dir)
    return Endpoint(server=found.server, ca_file=ca_file, token_file=token_file)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if not is_reporter(args, os.environ):
        # A native sidecar that exits is restarted: stay, idle, until the Pod stops.
        log.info("not the reporting Pod of trial %s: idle until terminated", args.trial)
        stop.wait()
        return 0
    try:
        transport = Transport(endpoint(args), timeout=10.0, pool_size=1)
    except (ApiError, OSError, ValueError) as err:
        log.error("cannot reach the API server: %s", err)
        return 2
    reporter = TrialReporter(transport, args.namespace, args.trial)
    sidecar = Sidecar(
        Collector(args.trial, Objective(args.metric, args.aggregation), args.keep_steps),
        reporter.apply,
        args.output,
        args.exit_code,
        poll=args.poll,
        push_interval=args.push_interval,
        final_deadline=args.final_deadline,
        stop=stop,
    )
    return sidecar.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
