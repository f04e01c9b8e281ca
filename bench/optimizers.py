"""Optimisation quality: hypersearch's bayesian and random side by side with peers, in one run.

Each optimiser minimises each task (bench/tasks.py) with 21 trials, 3 running at once,
asynchronously: ask 3; then, until 21 were asked, complete the oldest running trial and ask one
more while the other 2 are still running (the optimiser knows them as pending when it can). The
same seeds go to every optimiser. Printed per task: each optimiser's median normalised score
(0 = the median of hypersearch random search's final bests, 100 = the best value known) and median
regret (final best minus the best value known); then the mean score, the mean rank (ranks of the
final best among optimisers on each task and seed, averaged), paired wins of the first optimiser
against each other, and the time each optimiser spends per suggestion. ``--timing`` also times one
hypersearch suggestion at 100 and 500 observations in 6-D.

    python bench/optimizers.py                       # 10 seeds, every task and optimiser
    python bench/optimizers.py --seeds 3 --tasks branin,cnn_like --optimizers hs-bayes,hs-random

Optimisers: hs-bayes, hs-random, hs-quasi, optuna-tpe, optuna-gp (needs torch), skopt-gp,
hyperopt-tpe, hebo (out of process, in its own virtual environment: ``--hebo-python PATH``, see
bench/hebo_worker.py); ``hs-bayes[warp=none,pending=ignore]`` passes GPUCBSuggester settings
(variants: ``hs-bayes[categories=onehot,balanced=0,enumerate_categories=0]`` is the default
before round 8, ``hs-bayes[split=1,category_bonus=2.0,bonus_per=combo]`` round 10's candidate,
``hs-bayes[combo_choice=thompson]`` and ``hs-bayes[batch_split=5]`` round 11's).
A peer that is not installed is skipped with a note. This is a benchmark, not a test: nothing here
asserts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import statistics
import subprocess
import time
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from hypersearch.core.params import FloatParam, Params
from hypersearch.core.space import Space
from hypersearch.core.suggest.base import Outcome
from hypersearch.core.suggest.encoding import Encoding
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester
from hypersearch.core.suggest.random import QuasiRandomSuggester, RandomSuggester
from peers import HeboOpt, HyperoptOpt, OptunaOpt, SkoptOpt, hebo_python, optuna_dist
from tasks import TASKS

TRIALS = 21
NEAR = 1e-4
"""Two trials closer than this in unit-cube features are one point measured twice."""
PARALLEL = 3
PROTOCOLS = {"seed": (21, 3), "batch10": (60, 10), "batch50": (150, 50)}
"""Named (trials, parallel) settings: the seed's budget and a cluster's batches."""


class Optimiser(Protocol):
    """Ask for one point (others may be pending), tell the value of an earlier one."""

    def ask(self) -> tuple[Any, Params]: ...

    def tell(self, token: Any, value: float) -> None: ...


class Ours:
    """A hypersearch suggester driven the way the engine drives it (maximise -f)."""

    def __init__(self, space: Space, seed: int, make: Callable[[int], Any]) -> None:
        self.space, self.seed, self.suggester = space, seed, make(seed)
        self.history: list[Outcome] = []
        self.pending: dict[int, Params] = {}
        self.count = 0

    def ask(self) -> tuple[Any, Params]:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.count]))
        (s,) = self.suggester.suggest(self.space, self.history, list(self.pending.values()), 1, rng)
        token = self.count
        self.count += 1
        self.pending[token] = s.params
        return token, s.params

    def tell(self, token: Any, value: float) -> None:
        self.history.append(Outcome(self.pending.pop(token), -value))


def _variant(spec: str, horizon: int | None = None) -> Callable[[int], Any]:
    """``hs-bayes[warp=none,beta_scale=0.5]`` -> a GPUCBSuggester factory with those settings,
    told the run's budget (``horizon``) as the engine tells it a search's maxTrials."""
    settings: dict[str, Any] = {"horizon": horizon}
    if "[" in spec:
        for item in spec[spec.index("[") + 1 : -1].split(","):
            key, _, raw = item.partition("=")
            try:
                settings[key] = int(raw)
            except ValueError:
                try:
                    settings[key] = float(raw)
                except ValueError:
                    settings[key] = raw
    return lambda seed: GPUCBSuggester(seed, **settings)


def make(name: str, space: Space, seed: int, trials: int | None = None) -> Optimiser:
    if name.startswith("hs-bayes"):
        return Ours(space, seed, _variant(name, trials))
    if name == "hs-random":
        return Ours(space, seed, lambda _s: RandomSuggester())
    if name == "hs-quasi":
        return Ours(space, seed, QuasiRandomSuggester)
    if name == "optuna-tpe":
        return OptunaOpt(space, seed, "tpe")
    if name == "optuna-gp":
        return OptunaOpt(space, seed, "gp")
    if name == "skopt-gp":
        return SkoptOpt(space, seed)
    if name == "hyperopt-tpe":
        return HyperoptOpt(space, seed)
    if name == "hebo":
        return HeboOpt(space, seed)
    raise SystemExit(f"unknown optimiser {name!r}")


def available(name: str) -> str | None:
    """None when the optimiser can run here, else why not."""
    if name == "hebo":
        python = hebo_python()
        if not python:
            return "hebo skipped: no --hebo-python (a virtual environment's Python with HEBO)"
        check = subprocess.run([python, "-c", "import hebo"], capture_output=True, check=False)
        if check.returncode:
            return f"hebo skipped: {python} cannot import hebo"
        return None
    needs = {
        "optuna-tpe": ["optuna"],
        "optuna-gp": ["optuna", "torch"],
        "skopt-gp": ["skopt"],
        "hyperopt-tpe": ["hyperopt"],
    }.get(name, [])
    for module in needs:
        try:
            __import__(module)
        except ImportError:
            return f"{name} skipped: python module {module} is not installed"
    return None


@dataclass
class RunResult:
    task: str
    optimiser: str
    seed: int
    best: float
    ask_seconds: list[float] = field(default_factory=list)
    tell_seconds: float = 0.0
    repeats: int = 0
    """Trials asked at a point (canonical key) that an earlier trial of the run already had."""
    near_repeats: int | None = None
    """Trials asked within ``NEAR`` (unit-cube features) of an earlier trial but not at it: a
    re-measurement by a rounding error (None: a run saved before this was counted)."""


def run_one(
    task_name: str, optimiser: str, seed: int, trials: int = TRIALS, parallel: int = PARALLEL
) -> RunResult:
    """One asynchronous search: ``parallel`` at once, oldest completes first, ``trials`` in all.

    One BLAS/OpenMP thread per process: fair timings, and no thread storms on a busy machine.
    """
    warnings.filterwarnings("ignore")  # peers' chatter; our own code is tested warning-free
    with threadpool_limits(1):
        return _run_one(task_name, optimiser, seed, trials, parallel)


def _run_one(task_name: str, optimiser: str, seed: int, trials: int, parallel: int) -> RunResult:
    task = TASKS[task_name]
    opt = make(optimiser, task.space, seed, trials)
    try:
        return _search(task, opt, optimiser, seed, trials, parallel)
    finally:
        close = getattr(opt, "close", None)
        if close:
            close()


def _search(  # noqa: PLR0917
    task: Any, opt: Optimiser, optimiser: str, seed: int, trials: int, parallel: int
) -> RunResult:
    result = RunResult(task.name, optimiser, seed, math.inf, near_repeats=0)
    running: deque[tuple[Any, Params]] = deque()
    seen: set[Any] = set()
    encoding = Encoding(task.space)
    rows: list[np.ndarray] = []
    asked = 0

    def ask() -> None:
        nonlocal asked
        start = time.perf_counter()
        token, params = opt.ask()
        result.ask_seconds.append(time.perf_counter() - start)
        key = task.space.canonical(params)
        row = encoding.encode(params)
        if key not in seen and rows:
            near = float(np.min(np.linalg.norm(np.array(rows) - row, axis=1))) < NEAR
            result.near_repeats = (result.near_repeats or 0) + near
        result.repeats += key in seen
        seen.add(key)
        rows.append(row)
        running.append((token, params))
        asked += 1

    while asked < parallel:
        ask()
    while running:
        token, params = running.popleft()
        value = task.f(params)
        result.best = min(result.best, value)
        start = time.perf_counter()
        opt.tell(token, value)  # skopt refits here, so telling counts as suggestion time
        result.tell_seconds += time.perf_counter() - start
        if asked < trials:
            ask()
    return result


def timing(sizes: tuple[int, ...] = (100, 500), dim: int = 6, repeats: int = 3) -> None:
    """Seconds per suggestion with ``n`` observations (2 pending) in ``dim`` dims: ours, and
    Optuna's GPSampler when it is installed (told the same points); then the same on
    conditional_pipeline's mixed space (2 categoricals, 3 x 2 values, and 4 floats)."""
    space = Space(tuple(FloatParam(f"x{i}", 0.0, 1.0) for i in range(dim)))
    _timing(space, TASKS["hartmann6"].f, sizes, f"{dim}-D", repeats)
    mixed = TASKS["conditional_pipeline"]
    _timing(mixed.space, mixed.f, sizes[:1], "conditional_pipeline's space", repeats)


def _timing(
    space: Space, f: Callable[[Params], float], sizes: tuple[int, ...], label: str, repeats: int
) -> None:
    gp_peer = available("optuna-gp") is None
    for n in sizes:
        rng = np.random.default_rng(n)
        points = space.sample(rng, n + 2)
        history = [Outcome(p, -f(p)) for p in points[:n]]
        ours, peer = [], []
        for r in range(repeats):
            start = time.perf_counter()
            GPUCBSuggester(r).suggest(space, history, points[n:], 1, np.random.default_rng(r))
            ours.append(time.perf_counter() - start)
            if gp_peer:
                peer.append(_optuna_gp_seconds(space, history, r))
        line = f"{n} observations in {label}: hs-bayes {statistics.median(ours):.3f} s"
        if peer:
            line += f", optuna-gp {statistics.median(peer):.3f} s"
        print(line + " per suggestion")


def _optuna_gp_seconds(space: Space, history: list[Outcome], seed: int) -> float:
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    dists = {p.name: optuna_dist(p) for p in space.params}
    for o in history:
        assert o.value is not None
        trial = optuna.trial.create_trial(params=o.params, distributions=dists, value=-o.value)
        study.add_trial(trial)
    start = time.perf_counter()
    study.ask(dists)
    return time.perf_counter() - start


def report(results: list[RunResult], tasks: list[str], optimisers: list[str]) -> None:
    def by_opt(name: str) -> list[RunResult]:
        return [r for r in results if r.optimiser == name]

    by: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        by.setdefault((r.task, r.optimiser), []).append(r)
    names = optimisers
    width = max([12, *(len(n) for n in names)])
    scores: dict[str, list[float]] = {n: [] for n in names}
    print(f"\n{'task':<18} " + " ".join(f"{n:>{width}}" for n in names) + "   (median score)")
    regrets: list[str] = []
    for t in tasks:
        known = TASKS[t].best
        best = min([known, *(r.best for r in results if r.task == t)])
        if "hs-random" in names:
            base = statistics.median(r.best for r in by[(t, "hs-random")])
        else:
            base = statistics.median(r.best for r in results if r.task == t)
        row = []
        reg = []
        for n in names:
            runs = by[(t, n)]
            span = base - best
            normalised = [100.0 * (base - r.best) / span if span > 0 else 100.0 for r in runs]
            med = statistics.median(normalised)
            scores[n].append(med)
            row.append(f"{med:>{width}.0f}")
            reg.append(f"{statistics.median(r.best - best for r in runs):>{width}.4g}")
        print(f"{t:<18} " + " ".join(row))
        regrets.append(f"{t:<18} " + " ".join(reg))
    print(f"\n{'task':<18} " + " ".join(f"{n:>{width}}" for n in names) + "   (median regret)")
    print("\n".join(regrets))
    ranks: dict[str, list[float]] = {n: [] for n in names}
    seeds = sorted({r.seed for r in results})
    for t in tasks:
        for s in seeds:
            finals = {n: next(r.best for r in by[(t, n)] if r.seed == s) for n in names}
            ordered = sorted(finals.values())
            for n, v in finals.items():
                # Average rank for ties.
                first = ordered.index(v) + 1
                last = len(ordered) - ordered[::-1].index(v)
                ranks[n].append((first + last) / 2)
    print(f"\n{'':<18} " + " ".join(f"{n:>{width}}" for n in names))
    print(
        f"{'mean score':<18} "
        + " ".join(f"{statistics.mean(scores[n]):>{width}.1f}" for n in names)
    )
    print(
        f"{'mean rank':<18} " + " ".join(f"{statistics.mean(ranks[n]):>{width}.2f}" for n in names)
    )
    asks = {
        n: [
            (sum(r.ask_seconds) + r.tell_seconds) / len(r.ask_seconds)
            for r in results
            if r.optimiser == n
        ]
        for n in names
    }
    print(
        f"{'repeated trials':<18} "
        + " ".join(f"{sum(r.repeats for r in by_opt(n)):>{width}d}" for n in names)
    )

    def near(runs: list[RunResult]) -> str:
        counts = [r.near_repeats for r in runs]
        return "-" if None in counts else str(sum(c or 0 for c in counts))

    print(f"{'near repeats':<18} " + " ".join(f"{near(by_opt(n)):>{width}}" for n in names))
    print(
        f"{'s/suggestion':<18} "
        + " ".join(f"{statistics.mean(asks[n]):>{width}.3f}" for n in names)
    )
    ours = names[0]
    wins = []
    per_task: dict[str, list[str]] = {t: [] for t in tasks}
    for n in names[1:]:
        w = ties = total = 0
        for t in tasks:
            tw = tl = 0
            for s in seeds:
                a = next(r.best for r in by[(t, ours)] if r.seed == s)
                b = next(r.best for r in by[(t, n)] if r.seed == s)
                total += 1
                w += a < b
                ties += a == b
                tw, tl = tw + (a < b), tl + (a > b)
            per_task[t].append(f"{f'{tw}-{tl}':>{width}}")
        lost = total - w - ties
        wins.append(f"{n} {100.0 * (w + ties / 2) / total:.0f}% ({w}/{lost}/{ties})")
    header = " ".join(f"{n:>{width}}" for n in names[1:])
    print(f"\n{'task':<18} {header}   ({ours} better-worse)")
    for t in tasks:
        print(f"{t:<18} " + " ".join(per_task[t]))
    print(f"\npaired wins of {ours} (ties count half; better/worse/tied): " + ", ".join(wins))


def _run_all(
    tasks: list[str],
    optimisers: list[str],
    seeds: int,
    jobs: int,
    save: str | None,
    *,
    resume: bool = False,
    trials: int = TRIALS,
    parallel: int = PARALLEL,
    first_seed: int = 0,
) -> list[RunResult]:
    """Every (seed, task, optimiser) run, seed by seed, each appended to ``save`` as it ends.

    With ``resume``, runs already in ``save`` are read back instead of run again (the benchmark
    is deterministic, so a run cut short or extended by more seeds reports the same table).
    """
    order = [
        (t, o, s) for s in range(first_seed, first_seed + seeds) for t in tasks for o in optimisers
    ]
    results: list[RunResult] = []
    if resume and save and Path(save).exists():
        wanted = set(order)
        kept = {(r.task, r.optimiser, r.seed): r for r in _load(Path(save))}
        results = [r for key, r in kept.items() if key in wanted]
        order = [key for key in order if key not in kept]
        print(f"resuming: {len(results)} runs read back from {save}, {len(order)} to run")
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:  # map yields in job order
        columns = [*zip(*order, strict=True), [trials] * len(order), [parallel] * len(order)]
        for result in pool.map(run_one, *columns):
            results.append(result)
            if save:
                with Path(save).open("a") as out:
                    out.write(json.dumps(dataclasses.asdict(result)) + "\n")
    print(
        f"{len(order)} runs of {trials} trials ({parallel} at once, asynchronous), "
        f"{seeds} seeds, {len(tasks)} tasks, in {time.perf_counter() - started:.0f} s"
    )
    return results


def _load(path: Path) -> list[RunResult]:
    return [RunResult(**json.loads(line)) for line in path.read_text().splitlines() if line]


def _complete_seeds(
    results: list[RunResult], tasks: list[str], optimisers: list[str]
) -> list[RunResult]:
    """Only the seeds for which every task and optimiser finished (a run cut short)."""
    done = {(r.seed, r.task, r.optimiser) for r in results}
    seeds = sorted({r.seed for r in results})
    complete = [s for s in seeds if all((s, t, o) in done for t in tasks for o in optimisers)]
    print(f"loaded {len(results)} runs; seeds complete for every task and optimiser: {complete}")
    return [
        r for r in results if r.seed in complete and r.task in tasks and r.optimiser in optimisers
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument(
        "--optimizers",
        default="hs-bayes,hs-random,optuna-tpe,optuna-gp,skopt-gp,hyperopt-tpe",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="run seeds first-seed .. first-seed + seeds - 1 (screen on some, confirm on others)",
    )
    parser.add_argument("--trials", type=int, default=TRIALS, help="trials per search")
    parser.add_argument("--parallel", type=int, default=PARALLEL, help="trials running at once")
    parser.add_argument(
        "--protocol",
        choices=("seed", "batch10", "batch50"),
        help="seed: 21 trials, 3 at once (the default); batch10: 60 trials, 10 at once (a "
        "cluster's batch); batch50: 150 trials, 50 at once; overrides --trials/--parallel",
    )
    parser.add_argument("--timing", action="store_true", help="also time 100 and 500 observations")
    parser.add_argument("--save", help="append each run's result to this JSON-lines file")
    parser.add_argument("--load", help="report from a --save file instead of running")
    parser.add_argument(
        "--resume", action="store_true", help="with --save: skip the runs already in that file"
    )
    parser.add_argument(
        "--hebo-python",
        help="the Python of a virtual environment with HEBO installed, for the hebo optimiser",
    )
    args = parser.parse_args(argv)
    if args.protocol:
        args.trials, args.parallel = PROTOCOLS[args.protocol]
    if args.hebo_python:
        os.environ["HEBO_PYTHON"] = args.hebo_python  # reaches the worker processes
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise SystemExit(f"--tasks: unknown {', '.join(unknown)}; known: {', '.join(TASKS)}")
    optimisers = []
    for name in re.split(r",(?![^\[]*\])", args.optimizers):  # commas outside [...]
        why = None if args.load else available(name)
        if why:
            print(why)
        else:
            optimisers.append(name)
    if args.load:
        results = _complete_seeds(_load(Path(args.load)), tasks, optimisers)
    else:
        results = _run_all(
            tasks,
            optimisers,
            args.seeds,
            args.jobs,
            args.save,
            resume=args.resume,
            trials=args.trials,
            parallel=args.parallel,
            first_seed=args.first_seed,
        )
    report(results, tasks, optimisers)
    if args.timing:
        print()
        with threadpool_limits(1):
            timing()


if __name__ == "__main__":
    main()
