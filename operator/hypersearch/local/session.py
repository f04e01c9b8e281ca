"""One ``hyper`` invocation on this machine: open the state, run or show the search, print the end.

``run_local`` opens (and locks) the state directory, runs ``loop.run_search`` with a live progress
view on stderr, then prints the table and the best trial (or one JSON document) on stdout and
returns the exit code. ``read_search`` reads a state directory without taking the lock (for
``hyper status``, ``hyper report`` and ``hyper ui``); ``show_status`` prints its table.

This module must NOT parse command lines (cli.py does) or hold search logic (the engine does).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hypersearch.core.edits import check_spec_edit, describe_changes
from hypersearch.core.engine import Plan, decide, rng_for
from hypersearch.core.errors import Problem
from hypersearch.core.manifest import parse_manifest, spec_to_manifest
from hypersearch.core.spec import SearchSpec, spec_warnings
from hypersearch.core.trials import Trial
from hypersearch.local.journal import JOURNAL_FILE, Journal, TrialRecord
from hypersearch.local.launch import trial_command
from hypersearch.local.loop import LocalOptions, RunResult, run_search
from hypersearch.local.progress import Progress
from hypersearch.local.state import SPEC_FILE, default_state_dir, locate_search, open_state
from hypersearch.local.summary import (
    SearchEnd,
    render_best,
    render_failures,
    render_json,
    render_table,
    result_document,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
"""128 + the signal's number: 130 for SIGINT (Ctrl-C), 143 for SIGTERM."""


def run_local(
    spec: SearchSpec,
    *,
    workdir: Path,
    state_dir: Path | None,
    fresh: bool,
    output: str,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    options: LocalOptions | None = None,
    name_fields: Callable[[Problem], Problem] | None = None,
) -> int:
    """Run (or resume) ``spec`` here; returns the exit code (0, 1, or 130/143 when interrupted).
    ``name_fields`` rewrites a warning's field path (the CLI names its flags)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    for warning in spec_warnings(spec):
        err.write(f"hyper: warning: {name_fields(warning) if name_fields else warning}\n")
    trial_command(spec)  # a template with nothing to run locally fails before any state is made
    directory = state_dir if state_dir is not None else default_state_dir(spec.name)
    document = spec_to_manifest(spec)

    def accept_edit(stored: Any, records: list[TrialRecord]) -> list[str]:
        old = parse_manifest(stored, source=str(directory / SPEC_FILE))
        check_spec_edit(old, spec, [r.trial for r in records])
        return describe_changes(stored.get("spec"), document.get("spec"))

    state = open_state(directory, spec.name, document, fresh=fresh, accept_edit=accept_edit)
    try:
        progress = Progress(err, spec.objective.metric)
        if state.changes:
            progress.note(
                f"search {spec.name!r} goes on under an edited spec (its trials still fit): "
                + "; ".join(state.changes)
            )
        progress.note(
            f"search {spec.name!r}: {spec.algorithm.name}, {spec.max_trials} trials, "
            f"{spec.parallelism} at once; state in {directory}"
        )
        run_options = options or LocalOptions(workdir=workdir)
        outcome = run_search(spec, state, run_options, progress)
    finally:
        state.close()
    _print_outcome(spec, outcome, output, out, err)
    if outcome.interrupted:
        err.write(
            f"hyper: interrupted; run the same command again to resume (state in {directory})\n"
        )
        return 128 + outcome.signal if outcome.signal is not None else EXIT_INTERRUPTED
    return EXIT_OK if outcome.succeeded else EXIT_FAILED


def _print_outcome(
    spec: SearchSpec, outcome: RunResult, output: str, out: TextIO, err: TextIO
) -> None:
    statuses = dict(outcome.statuses)
    end = SearchEnd(spec.name, outcome.finished, outcome.succeeded, outcome.reason, outcome.message)
    if output == "json":
        document = result_document(outcome.trials, outcome.best, statuses, search=end)
        out.write(render_json(document) + "\n")
    else:
        _print_table(spec, list(outcome.trials), outcome.best, statuses, out)
    if outcome.finished:
        verdict = "finished" if outcome.succeeded else "failed"
        err.write(f"hyper: search {verdict}: {outcome.reason}: {outcome.message}\n")
    out.flush()


def _print_table(
    spec: SearchSpec,
    trials: list[Trial],
    best: Trial | None,
    statuses: dict[str, str],
    out: TextIO,
) -> None:
    metric = spec.objective.metric
    out.write(render_table(trials, metric, spec.objective.goal, spec.space.names, statuses) + "\n")
    failures = render_failures(trials)
    if failures:
        out.write(failures.replace("NAME", spec.name) + "\n")
    out.write(render_best(best, metric) + "\n")


@dataclass(frozen=True, slots=True)
class SavedSearch:
    """A local search as its state directory holds it, and what the engine makes of it now."""

    directory: Path
    spec: SearchSpec
    records: tuple[TrialRecord, ...]
    plan: Plan

    @property
    def trials(self) -> list[Trial]:
        return [r.trial for r in self.records]

    @property
    def statuses(self) -> dict[str, str]:
        """The journal's word per trial (it knows Interrupted, which no core phase is)."""
        return {r.trial.name: r.status for r in self.records}


def read_search(directory: Path) -> SavedSearch:
    """Read a state directory without taking its lock (it may be running): its spec.json and
    journal, and the engine's plan for them (whether it finished, why, the best trial)."""
    spec_path = directory / SPEC_FILE
    spec = parse_manifest(spec_path.read_text(), source=str(spec_path))
    journal = Journal.open_readonly(directory / JOURNAL_FILE)
    try:
        records = journal.records()
    finally:
        journal.close()
    trials = [r.trial for r in records]
    plan = decide(spec, trials, 0.0, rng_for(spec, trials))
    return SavedSearch(directory, spec, tuple(records), plan)


def show_status(
    name: str | None, state_dir: Path | None, output: str, stdout: TextIO | None = None
) -> int:
    """Print the trials of a local search's journal (read-only, works while it runs)."""
    out = stdout or sys.stdout
    saved = read_search(locate_search(name, state_dir, "hyper status NAME"))
    spec, plan, trials = saved.spec, saved.plan, saved.trials
    if output == "json":
        end = SearchEnd(spec.name, plan.finished, plan.succeeded, plan.reason, plan.message)
        document = result_document(trials, plan.best, saved.statuses, search=end)
        out.write(render_json(document) + "\n")
        return EXIT_OK
    counts = plan.counts
    state = f"finished: {plan.reason}" if plan.finished else "not finished"
    stopped = (
        f"{counts.early_stopped} early-stopped, "
        if counts.early_stopped or spec.early_stopping is not None
        else ""
    )
    out.write(
        f"search {spec.name}: {counts.succeeded} succeeded, {counts.failed} failed, {stopped}"
        f"{counts.total}/{spec.max_trials} trials recorded, {state}\n"
    )
    _print_table(spec, trials, plan.best, saved.statuses, out)
    return EXIT_OK
