"""What a suggestion and an engine decision cost as a search grows (issue 14: 10,000 trials).

1. ``--suggest``: seconds per GP-UCB suggestion with N finished observations and P running trials
   (pending), in 6-D (Hartmann-6 values) and in conditional_pipeline's mixed space (2
   categoricals, 4 floats), median of ``--repeats``; with ``--full`` also the exact GP (caps
   raised past N and P, as before the caps existed; one repeat; up to N + P = 3,500) beside it,
   with the ratio of CPU times.
2. ``--decide``: seconds per ``engine.decide`` call for a search of ``--trials`` trials with
   ``--parallelism`` running, for random, quasi-random, grid and bayesian, i.e. what the operator
   pays on every reconcile of such a search.

One BLAS thread (as the suggester runs). Timings move with the machine's load: the script prints
the load average before and after, and every comparison is made in the same process.

    python bench/gp_cost.py --suggest --sizes 100,500,1000,3000,10000 --pending 3,100,500 --full
    python bench/gp_cost.py --decide --trials 10000 --parallelism 500
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from hypersearch.core import engine
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.params import FloatParam, IntParam, Params
from hypersearch.core.space import Space
from hypersearch.core.spec import AlgorithmName
from hypersearch.core.suggest.base import Outcome
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester
from hypersearch.core.trials import Trial, TrialPhase
from tasks import TASKS


def _load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


FULL_MAX = 3_500
"""Largest N + P the exact GP is timed at (at 10,000 it takes minutes per suggestion)."""
UNCAPPED = 10**9
"""Both caps for the exact GP: every observation and every running trial, as before issue 14."""


def _seconds(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``call`` (CPU time moves less with the load of
    a shared machine: it leaves out the time spent waiting for a core)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def suggest_costs(sizes: list[int], pendings: list[int], repeats: int, full: bool) -> None:
    six = Space(tuple(FloatParam(f"x{i}", 0.0, 1.0) for i in range(6)))
    mixed = TASKS["conditional_pipeline"]
    for label, space, f in (
        ("6-D", six, TASKS["hartmann6"].f),
        ("conditional_pipeline", mixed.space, mixed.f),
    ):
        for n in sizes:
            for p in pendings:
                points = space.sample(np.random.default_rng(n + p), n + p)
                history = [Outcome(q, -f(q)) for q in points[:n]]
                pending = points[n:]

                def ask(
                    space: Space = space,
                    history: list[Outcome] = history,
                    pending: list[Params] = pending,
                    cap: int | None = None,
                ) -> None:
                    suggester = GPUCBSuggester(0, observed_cap=cap, pending_cap=cap)
                    suggester.suggest(space, history, pending, 1, np.random.default_rng(0))

                ours, ours_cpu = _seconds(ask, repeats)
                line = f"{label:>20}  N={n:>6}  P={p:>4}  {ours:7.3f} s (CPU {ours_cpu:.3f} s)"
                if full and n + p <= FULL_MAX:
                    exact, exact_cpu = _seconds(lambda: ask(cap=UNCAPPED), 1)
                    line += (
                        f"  exact GP {exact:8.3f} s (CPU {exact_cpu:.3f} s)"
                        f"  ratio {ours_cpu / exact_cpu:.3f}"
                    )
                print(line, flush=True)


_MANIFEST: dict[str, Any] = {
    "apiVersion": "hypersearch.io/v1alpha1",
    "kind": "HyperSearch",
    "metadata": {"name": "cost"},
    "spec": {
        "algorithm": {"name": "bayesian", "seed": 7},
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [
            {"name": "lr", "type": "float", "min": 1e-5, "max": 1.0, "scale": "log"},
            {"name": "layers", "type": "int", "min": 1, "max": 100},
            {"name": "dropout", "type": "float", "min": 0.0, "max": 0.9},
            {"name": "optimizer", "type": "categorical", "values": ["adam", "sgd", "rmsprop"]},
        ],
        "maxTrials": 1000,
        "parallelism": 10,
        "trial": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "train", "image": "example/train:1", "command": ["train"]}
                    ]
                }
            }
        },
    },
}


def decide_costs(trials: int, parallelism: int, repeats: int) -> None:
    base = parse_manifest(_MANIFEST)
    cases: tuple[tuple[AlgorithmName, dict[str, Any]], ...] = (
        ("random", {}),
        ("random", {"quasiRandom": True}),
        ("grid", {}),
        ("bayesian", {}),
    )
    for name, settings in cases:
        algorithm = dataclasses.replace(base.algorithm, name=name, settings=settings)
        space = base.space
        if name == "grid":  # a grid with more points than trials: 101 x 101 integers
            space = Space(
                tuple(IntParam(n, 0, 100, "linear", None, None) for n in ("lr", "layers"))
            )
        spec = dataclasses.replace(
            base,
            algorithm=algorithm,
            space=space,
            max_trials=trials + parallelism,
            parallelism=parallelism,
        )
        rng = np.random.default_rng(0)
        points = (
            list(spec.space.grid())[:trials] if name == "grid" else spec.space.sample(rng, trials)
        )
        done = trials - parallelism + 1  # one running trial just ended: room for one more
        history = [
            Trial(
                name=f"cost-{i:05d}",
                index=i,
                params=q,
                phase=TrialPhase.SUCCEEDED if i < done else TrialPhase.RUNNING,
                value=float(rng.random()) if i < done else None,
                started_at=0.0,
            )
            for i, q in enumerate(points)
        ]

        def call(history: list[Trial] = history, spec: Any = spec) -> None:
            plan = engine.decide(spec, history, 1.0, engine.rng_for(spec, history))
            assert len(plan.start) == 1, plan

        seconds, cpu = _seconds(call, repeats)
        kind = name + (" (quasi)" if settings else "")
        print(
            f"decide  {kind:>15}  {len(points)} trials, {parallelism - 1} running: "
            f"{seconds:.3f} s (CPU {cpu:.3f} s)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suggest", action="store_true")
    parser.add_argument("--sizes", default="100,500,1000,3000,10000")
    parser.add_argument("--pending", default="3,100,500")
    parser.add_argument("--full", action="store_true", help="also time the exact GP")
    parser.add_argument("--decide", action="store_true")
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--parallelism", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(_load(), flush=True)
    with threadpool_limits(1):
        if args.suggest:
            suggest_costs(
                [int(s) for s in args.sizes.split(",")],
                [int(p) for p in args.pending.split(",")],
                args.repeats,
                args.full,
            )
        if args.decide:
            decide_costs(args.trials, args.parallelism, args.repeats)
    print(_load())


if __name__ == "__main__":
    main()
