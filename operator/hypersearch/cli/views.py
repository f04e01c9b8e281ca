"""``hyper report`` and ``hyper ui``: a search (local journal or cluster HyperSearch) as report
views, written to one HTML file or served as a read-only web view.

Apart from ``cli`` because turning a local journal into a ``SearchView`` (through the engine's
plan, cached per journal for the web view) is more than wiring arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hypersearch.cli.common import (
    CLUSTER_PREFIXES,
    EXIT_OK,
    UsageError,
    add_cluster_options,
    cluster_namespace,
    kube_api,
    non_negative_int,
    positive_float,
)
from hypersearch.core.errors import HyperSearchError

if TYPE_CHECKING:
    from hypersearch.report.model import SearchView


class _LocalViews:
    """Searches of a local state root as report views, re-read only when a journal changes.

    Whether a search has finished is the engine's decision (``decide``); it fits the GP for a
    Bayesian search, so its result is kept until the journal's files change.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[Path, tuple[tuple[int, ...], SearchView]] = {}

    def one(self, directory: Path) -> SearchView:
        from hypersearch.local.journal import JOURNAL_FILE

        stamp = tuple(
            int(f.stat().st_mtime_ns) + f.stat().st_size
            for f in (directory / JOURNAL_FILE, directory / f"{JOURNAL_FILE}-wal")
            if f.exists()
        )
        cached = self._cache.get(directory)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        view = _local_view(directory)
        self._cache[directory] = (stamp, view)
        return view

    def __call__(self) -> list[SearchView]:
        import logging

        from hypersearch.local.state import SPEC_FILE, find_searches

        views = []
        for directory in find_searches(self.root):
            if not (directory / SPEC_FILE).is_file():
                continue  # a search starting this very moment: its spec.json follows its journal
            try:
                views.append(self.one(directory))
            except (HyperSearchError, OSError, ValueError) as err:
                logging.getLogger("hypersearch.ui").warning("skipping %s: %s", directory, err)
        return views


def _local_view(directory: Path) -> SearchView:
    """One local search (its spec.json and journal) as a report view; the engine's plan says
    whether it finished and why."""
    import dataclasses

    from hypersearch.core.trials import TrialPhase
    from hypersearch.local.journal import INTERRUPTED
    from hypersearch.local.session import read_search
    from hypersearch.report.model import view_from_spec

    saved = read_search(directory)
    plan = saved.plan
    shown = []
    for record in saved.records:
        trial = record.trial
        if record.status == TrialPhase.RUNNING.value:
            trial = dataclasses.replace(trial, phase=TrialPhase.RUNNING)
        elif record.status == INTERRUPTED:
            trial = dataclasses.replace(trial, reason=INTERRUPTED)
        shown.append(trial)
    if plan.finished:
        phase = "Succeeded" if plan.succeeded else "Failed"
    elif any(t.phase is TrialPhase.RUNNING for t in shown):
        phase = "Running"
    else:
        phase = "Stopped" if shown else "Pending"
    times = [x for t in shown for x in (t.created_at, t.started_at, t.finished_at) if x]
    return view_from_spec(
        saved.spec,
        shown,
        phase=phase,
        updated_at=max(times) if times else None,
        message=plan.message if plan.finished else None,
        source=f"local journal {directory}",
    )


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "search",
        nargs="?",
        help="a local search's NAME (default: the only one in .hyper/), or hs/NAME for a "
        "HyperSearch in the cluster",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        help="the HTML file to write (default: NAME-report.html; '-' writes to stdout)",
    )
    parser.add_argument("--state-dir", type=Path, help="a local search's state directory")
    add_cluster_options(parser)


def command_report(args: argparse.Namespace) -> int:
    from hypersearch.report.render import render

    target: str | None = args.search
    if target is not None and target.startswith(CLUSTER_PREFIXES):
        view = _cluster_view(args, target.split("/", 1)[1])
    else:
        from hypersearch.local.state import locate_search

        usage = "hyper report NAME, or hs/NAME for a cluster search"
        view = _local_view(locate_search(target, args.state_dir, usage))
    page = render(view)
    if str(args.out) == "-":
        sys.stdout.write(page)
        return EXIT_OK
    out: Path = args.out or Path(f"{view.name}-report.html")
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"-o {out}: cannot write the report: {err.strerror}") from None
    print(f"wrote {out} ({len(view.trials)} trials of {view.key}); open it in a browser")
    return EXIT_OK


def _cluster_view(args: argparse.Namespace, name: str) -> SearchView:
    from hypersearch.cli import cluster as cli_cluster

    api = kube_api(args)
    try:
        return cli_cluster.read_search(api, cluster_namespace(args, api), name).view
    finally:
        api.close()


def configure_ui(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=non_negative_int, default=8080, help="port (8080)")
    parser.add_argument(
        "--state-root",
        type=Path,
        default=Path(".hyper"),
        help="the folder of local searches to show (default: .hyper)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="show the HyperSearches of the cluster instead of local searches",
    )
    parser.add_argument(
        "--refresh", type=positive_float, default=3.0, help="seconds between page refreshes"
    )
    add_cluster_options(parser)


def command_ui(args: argparse.Namespace) -> int:
    from hypersearch.report.serve import make_server

    source: Callable[[], list[SearchView]]
    if args.cluster:
        source = _cluster_views(args)
        where = f"namespace {args.namespace}" if args.namespace else "all namespaces"
        what = f"HyperSearches in {where}"
    else:
        source = _LocalViews(args.state_root)
        what = f"local searches in {args.state_root.resolve()}"
    try:
        server = make_server(source, args.host, args.port, refresh_seconds=args.refresh)
    except OSError as err:
        raise UsageError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port}: {err.strerror}; "
            "pick another --port"
        ) from None
    port = server.server_address[1]
    print(f"showing {what} at http://{args.host}:{port}/ (read-only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _cluster_views(args: argparse.Namespace) -> Callable[[], list[SearchView]]:
    from hypersearch.report.cluster import cluster_source

    api = kube_api(args)
    return cluster_source(
        lambda: api.list_searches(args.namespace), lambda: api.list_all_trials(args.namespace)
    )
