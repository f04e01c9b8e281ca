"""A learning-curve trainer for the early-stopping end-to-end tests of ``hyper``.

Prints ``epoch=k score=<x * k / epochs>`` for k = 1..epochs, ``--pause`` seconds apart, so a
larger ``--x`` gives a curve above the others at every epoch. Records each invocation as
``<HS_RECORD_DIR>/<trial>.<n>.start`` and, only when it printed every epoch, ``.done``, so a test
can tell a stopped process from a finished one without trusting hyper's output.
"""

import argparse
import os
import sys
import time
from pathlib import Path


def claim(suffix: str) -> None:
    directory = Path(os.environ["HS_RECORD_DIR"])
    trial = os.environ.get("HYPERSEARCH_TRIAL", "unknown")
    n = 0
    while True:
        try:
            with open(directory / f"{trial}.{n}.{suffix}", "x") as handle:
                handle.write(" ".join(sys.argv[1:]))
            return
        except FileExistsError:
            n += 1


def main() -> None:
    claim("start")
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.2)
    args = parser.parse_args()
    for epoch in range(1, args.epochs + 1):
        time.sleep(args.pause)
        print(f"epoch={epoch} score={args.x * epoch / args.epochs:.4f}", flush=True)
    claim("done")


if __name__ == "__main__":
    main()
