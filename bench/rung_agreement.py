"""Diagnostic for round 5's adaptive rungs: what ``rank_agreement.rung_agreement`` said each time
``hs+asha-r`` judged a trial outside its rung's best third (the rank correlation between that
rung's scores and the completed trials' final values, or nothing yet), per task and seed.

    python bench/rung_agreement.py crossing 0,1
    python bench/rung_agreement.py sgd_digits 0

A diagnostic, not a benchmark: it runs the same search as ``early_stopping.py``'s
``hs+asha-r@0.4`` and prints the distinct (rung, correlation) pairs it met.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from unittest import mock

import early_stopping as bench
from hypersearch.core import rank_agreement
from hypersearch.core.curves import Curve
from hypersearch.core.trials import Trial


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(bench.TASKS))
    parser.add_argument("seeds", help="comma-separated seeds")
    args = parser.parse_args(argv)
    shape = argparse.Namespace(trials=30, epochs=30, parallel=4)
    original = rank_agreement.rung_agreement
    seen: list[tuple[float, float | None]] = []

    def spy(
        rung: float,
        trials: Sequence[Trial],
        curves: dict[str, Curve | None],
    ) -> tuple[float, int] | None:
        got = original(rung, trials, curves)
        seen.append((rung, None if got is None else round(got[0], 2)))
        return got

    for seed in map(int, args.seeds.split(",")):
        seen.clear()
        with mock.patch.object(rank_agreement, "rung_agreement", spy):
            r = bench.run_one(args.task, "hs+asha-r@0.4", seed, shape)
        distinct = sorted(set(seen), key=str)
        print(
            f"{args.task} seed={seed} epochs={r.epochs} stopped={r.stopped} best={r.best:.4f} "
            f"judged={len(seen)} (rung, rank correlation): {distinct}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
