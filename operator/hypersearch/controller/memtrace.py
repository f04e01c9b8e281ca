"""Where the operator's memory goes: tracemalloc snapshots diffed, behind an env switch.

``HYPERSEARCH_TRACEMALLOC=FILE`` makes ``hyper operator`` trace allocations and rewrite FILE
every ``HYPERSEARCH_TRACEMALLOC_EVERY`` seconds (60) with the allocation sites that grew most
since the first snapshot, with their tracebacks. Tracing slows the process several times:
for finding growth on a test plane (bench/scale.py passes the variable through), never in
production. Must not change what the operator does.
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 12
TOP = 25


def report(first: tracemalloc.Snapshot, now: tracemalloc.Snapshot, top: int = TOP) -> str:
    """The ``top`` allocation sites by growth between two snapshots, tracebacks included."""
    stats = now.compare_to(first, "traceback")
    current, peak = tracemalloc.get_traced_memory()
    lines = [f"traced now {current / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB"]
    for stat in stats[:top]:
        lines.append(
            f"\n+{stat.size_diff / 1024:.0f} KiB ({stat.count_diff:+d} blocks), "
            f"now {stat.size / 1024:.0f} KiB"
        )
        lines.extend(f"    {line}" for line in stat.traceback.format(most_recent_first=True))
    return "\n".join(lines) + "\n"


def start_from_env() -> threading.Thread | None:
    """Start tracing when the variable is set; the thread that writes the report, or None."""
    target = os.environ.get("HYPERSEARCH_TRACEMALLOC")
    if not target:
        return None
    every = float(os.environ.get("HYPERSEARCH_TRACEMALLOC_EVERY", "60"))
    tracemalloc.start(FRAMES)
    path = Path(target)

    def loop() -> None:
        time.sleep(every)
        first = tracemalloc.take_snapshot()
        while True:
            time.sleep(every)
            text = report(first, tracemalloc.take_snapshot())
            path.with_suffix(".tmp").write_text(text)
            path.with_suffix(".tmp").replace(path)

    thread = threading.Thread(target=loop, name="memtrace", daemon=True)
    thread.start()
    return thread
