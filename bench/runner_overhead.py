"""How much time the local runner itself costs, and how busy it keeps its slots.

Two measurements (results go to docs/benchmarks.md, section "Local runner"):

1. Overhead on no-op trials. ``hyper random`` runs N trials of a shell one-liner, one at a time,
   that prints the wall clock when it starts (``t0=``) and just before it exits (``t1=``). The gap
   from one trial's ``t1`` to the next trial's ``t0`` is everything between one process exiting
   and the next one running: noticing the exit, parsing, the journal's transactions, the engine's
   decision, fork and exec. The same one-liner run N times by a bare ``subprocess.run`` loop gives
   the floor (fork, exec and shell start only) for a side-by-side ratio.
2. Slot utilisation of the demo (``examples/digits-svm/search.yaml``: 21 trials, 3 at once):
   the sum of trial run times over (parallelism x the search's wall time, first start to last
   end), from the journal; also until the last trial starts (after that slots idle only because
   no trial is left) and the gap from a trial's exit to the start of the one taking its slot
   (which includes the engine's GP fit).

Run: ``.venv/bin/python bench/runner_overhead.py [--trials 100] [--skip-demo]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypersearch.local.journal import JOURNAL_FILE, Journal

REPO = Path(__file__).resolve().parents[1]
HYPER = [sys.executable, "-m", "hypersearch.cli"]
NOOP = 'echo "t0=$(date +%s.%N)"; echo score=1; echo "t1=$(date +%s.%N)"'


def _stamps(lines: list[str]) -> tuple[float, float]:
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    return float(values["t0"]), float(values["t1"])


def _summary(gaps_s: list[float]) -> dict[str, float]:
    ms = sorted(g * 1000 for g in gaps_s)
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": ms[int(0.9 * (len(ms) - 1))],
        "max_ms": ms[-1],
    }


def bench_overhead(trials: int, work: Path) -> dict[str, object]:
    state = work / "noop"
    started = time.perf_counter()
    done = subprocess.run(
        [*HYPER, "random", "--param", "x=0:1", "--num-runs", str(trials), "--parallel-runs", "1",
         "--metric", "score", "--state-dir", str(state), "--fresh", "-o", "json",
         "--", "sh", "-c", NOOP],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    assert len(json.loads(done.stdout)["trials"]) == trials
    journal = Journal.open_readonly(state / JOURNAL_FILE)
    records = journal.records()
    journal.close()
    spans = []
    for record in records:
        obs = {o.metric: o.value for o in record.trial.observations}
        spans.append((obs["t0"], obs["t1"]))
    gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    runner_side = [
        (records[i + 1].trial.started_at or 0.0) - (records[i].trial.finished_at or 0.0)
        for i in range(len(records) - 1)
    ]

    floor_spans = []
    floor_started = time.perf_counter()
    for _ in range(trials):
        out = subprocess.run(["sh", "-c", NOOP], capture_output=True, text=True, check=True)
        floor_spans.append(_stamps(out.stdout.splitlines()))
    floor_wall = time.perf_counter() - floor_started
    floor_gaps = [floor_spans[i + 1][0] - floor_spans[i][1] for i in range(trials - 1)]

    hyper = _summary(gaps)
    floor = _summary(floor_gaps)
    return {
        "trials": trials,
        "hyper_exit_to_next_start": hyper,
        "hyper_exit_seen_to_next_start_ms_median": statistics.median(runner_side) * 1000,
        "hyper_trials_per_s": trials / wall,
        "hyper_wall_s_including_startup": wall,
        "bare_loop_exit_to_next_start": floor,
        "bare_loop_trials_per_s": trials / floor_wall,
        "ratio_median_gap_hyper_over_bare": hyper["median_ms"] / floor["median_ms"],
    }


def bench_demo(work: Path) -> dict[str, object]:
    state = work / "demo"
    started = time.perf_counter()
    subprocess.run(
        [*HYPER, "run", str(REPO / "examples" / "digits-svm" / "search.yaml"),
         "--state-dir", str(state), "--fresh", "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    journal = Journal.open_readonly(state / JOURNAL_FILE)
    trials = [r.trial for r in journal.records()]
    journal.close()
    spans = sorted((t.started_at or 0.0, t.finished_at or 0.0) for t in trials)
    first, last_start = spans[0][0], spans[-1][0]
    last_end = max(end for _, end in spans)
    busy = sum(end - start for start, end in spans)
    # Until the last trial starts there is always work waiting: idle slot-time there is the
    # runner's and the engine's overhead. After it, slots idle only because no trial is left.
    busy_until_last_start = sum(max(0.0, min(end, last_start) - start) for start, end in spans)
    gaps = []
    for start, _ in spans[3:]:
        freed = max(end for _, end in spans if end <= start + 1e-9)
        gaps.append(start - freed)
    return {
        "trials": len(trials),
        "parallelism": 3,
        "wall_s_including_startup": wall,
        "first_start_to_last_end_s": last_end - first,
        "slot_utilisation": busy / (3 * (last_end - first)),
        "slot_utilisation_until_last_start": busy_until_last_start / (3 * (last_start - first)),
        "exit_to_next_start_ms_median": statistics.median(gaps) * 1000,
        "exit_to_next_start_ms_max": max(gaps) * 1000,
        "best": max(t.value or 0.0 for t in trials),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results: dict[str, object] = {"overhead": bench_overhead(args.trials, work)}
        if not args.skip_demo:
            results["demo"] = bench_demo(work)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
