"""A tiny trainer for the end-to-end tests of ``hyper``: records each invocation, then reports.

Every run writes ``<HS_RECORD_DIR>/<trial>.<n>.json`` (its argv and a few env values) before doing
anything else, so a test can count invocations per trial. ``--mode`` chooses what it does:
ok (print ``score=<x>``, with a step), fail (exit 3 after a line of output), nan (``score=nan``),
silent (print nothing useful), sleep (sleep ``--sleep`` seconds first, then behave like ok).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path


def record() -> None:
    """Claim the next free ``<trial>.<n>.json`` with its whole content at once: the JSON goes
    to a temporary file first and is hard-linked into place (os.link fails if the name exists),
    so a trainer stopped by a signal mid-write never leaves a half-written record behind."""
    directory = Path(os.environ["HS_RECORD_DIR"])
    trial = os.environ.get("HYPERSEARCH_TRIAL", "unknown")
    content = {
        "argv": sys.argv[1:],
        "env": os.environ.get("HS_EXTRA"),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    tmp = directory / f".{trial}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(content))
    try:
        n = 0
        while True:
            try:
                os.link(tmp, directory / f"{trial}.{n}.json")
                return
            except FileExistsError:
                n += 1
    finally:
        tmp.unlink()


def main() -> None:
    record()
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.sleep:
        time.sleep(args.sleep)
    if args.mode == "fail":
        print("loading data", flush=True)
        print("Traceback: something broke", flush=True)
        sys.exit(3)
    if args.mode == "nan":
        print("score=nan", flush=True)
        return
    if args.mode == "silent":
        print("all done, nothing to report", flush=True)
        return
    print(f"step=1 score={args.x / 2}", flush=True)
    print(f"step=2 score={args.x}", flush=True)


if __name__ == "__main__":
    main()
