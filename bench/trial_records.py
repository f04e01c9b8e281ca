"""Trial records on the test plane: one list in the search's status (earlier versions) beside
one HyperSearchTrial per trial (this version), at N finished trials.

    e2e/testplane up
    .venv/bin/python bench/trial_records.py [--old 100,1000] [--new 100,1000,3000] [--repeat 5]

For each N it fills a fresh search with N finished trials the old way (N entries in
``status.trials``, applied as the operator does) or the new way (N HyperSearchTrials, each
created and its status applied, labelled finished), each trial with 4 parameters, a prediction
and a 24-point curve, as in issue 14. Then it times, median of ``--repeat``:

- sidecar: one trial's report applied (old: an entry of ``status.trials`` as the trial's
  sidecar manager; new: the trial object's status);
- operator: what the operator writes when a trial ends (old: the whole status with the list;
  new: the trial object's verdict, its finished label and the search's small status);
- reads: what a reconcile reads (old: GET of the search; new: GET of the search and the LIST of
  its unfinished trials), and the first look after a restart (new: the paginated LIST of all);
- bytes: the size of the objects each write stores (etcd keeps the whole object per revision,
  so the sum over one trial's end is the bytes it adds to etcd), and the stored search object.

Prints one table row per (way, N) with the ratio old/new where both ran. The machine's load
average is printed with it (docs/benchmarks.md, "Trial records", records the command, the
numbers and the load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from hypersearch.core.params import Params  # noqa: E402
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase  # noqa: E402
from hypersearch.kube import names, record  # noqa: E402
from hypersearch.kube.api import KubeApi  # noqa: E402
from hypersearch.kube.client import connect  # noqa: E402
from hypersearch.sidecar.reporter import TrialReporter  # noqa: E402

PLANE = Path(os.environ.get("HYPERSEARCH_TESTPLANE_DIR", "/tmp/hypersearch-testplane"))
KUBECONFIG = PLANE / "kubeconfig"
CURVE = [[step, round(0.5 + step / 100, 4)] for step in range(1, 25)]


def kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(KUBECONFIG), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def search_manifest(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": names.API,
        "kind": names.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "algorithm": {"name": "random", "seed": 1},
            "objective": {"metric": "val_acc", "goal": "maximize"},
            "parameters": [
                {"name": p, "type": "float", "min": 0.0, "max": 1.0} for p in ("a", "b", "c", "d")
            ],
            "maxTrials": 10000,
            "parallelism": 1,
            "trial": {
                "template": {
                    "spec": {"containers": [{"name": "t", "image": "t", "command": ["t", ":a:"]}]}
                }
            },
        },
    }


def trial(search: str, index: int) -> Trial:
    params: Params = {p: round((index * 0.6180339 + k / 7) % 1, 6) for k, p in enumerate("abcd")}
    return Trial(
        name=f"{search}-{index:04d}",
        index=index,
        params=params,
        phase=TrialPhase.SUCCEEDED,
        value=0.74 + index * 1e-6,
        observations=tuple(Observation("val_acc", v, int(s)) for s, v in CURVE),
        prediction=Prediction(0.7, 0.05, 0.8),
        started_at=1_800_000_000.0 + index,
        finished_at=1_800_000_100.0 + index,
    )


def report(t: Trial) -> dict[str, Any]:
    return record.report_entry(
        t.name, [list(p) for p in CURVE], 24, 1_800_000_099.0, exit_code=0, value=t.value
    )


def size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":")))


def timed(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def search_status(entries: list[dict[str, Any]] | None, count: int) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Running",
        "message": f"{count} of 10000 trials finished, 1 active",
        "counts": {"trials": count, "pending": 0, "running": 1, "succeeded": count},
        "best": {"trial": "x", "params": {"a": 0.5}, "value": 0.9},
    }
    if entries is not None:
        status["trials"] = entries
    return status


def old_way(api: KubeApi, namespace: str, n: int, repeat: int) -> dict[str, float]:
    name = f"old-{n}"
    api.apply(search_manifest(name, namespace))
    trials = [trial(name, i) for i in range(n)]
    entries = [{**record.trial_entry(t, None), **report(t)} for t in trials]
    api.apply_status(namespace, name, search_status(entries, n), names.OPERATOR_MANAGER)
    last = trials[-1]
    sidecar_ms, stored = timed(
        lambda: api.apply_status(
            namespace, name, {"trials": [report(last)]}, names.sidecar_manager(last.name)
        ),
        repeat,
    )
    operator_ms, stored = timed(
        lambda: api.apply_status(
            namespace, name, search_status(entries, n), names.OPERATOR_MANAGER
        ),
        repeat,
    )
    read_ms, body = timed(lambda: api.get_search(namespace, name), repeat)
    return {
        "sidecar_ms": sidecar_ms,
        "operator_ms": operator_ms,
        "reads_ms": read_ms,
        "first_look_ms": read_ms,
        "search_bytes": size(body),
        "etcd_bytes_per_trial_end": size(stored) * 2,  # the sidecar's and the operator's write
    }


def new_way(api: KubeApi, namespace: str, n: int, repeat: int) -> dict[str, float]:
    name = f"new-{n}"
    api.apply(search_manifest(name, namespace))
    uid = str((api.get_search(namespace, name) or {})["metadata"]["uid"])
    owner = {
        "apiVersion": names.API,
        "kind": names.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    trials = [trial(name, i) for i in range(n)]

    def fill(t: Trial) -> None:
        api.create_trial(record.trial_object(t, name, namespace, owner))
        api.apply_trial_status(namespace, t.name, record.object_status(t, report(t)))
        api.mark_trial_finished(namespace, t.name)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fill, trials))
    api.apply_status(namespace, name, search_status(None, n), names.OPERATOR_MANAGER)
    probe = trial(name, n)
    api.create_trial(record.trial_object(probe, name, namespace, owner))
    sidecar_ms, _ = timed(
        lambda: TrialReporter(api.client, namespace, probe.name).apply(report(probe)),
        repeat,
    )
    writes: list[int] = []

    def trial_end() -> None:
        writes.clear()
        writes.append(
            size(
                api.apply_trial_status(
                    namespace, probe.name, record.object_status(probe, report(probe))
                )
            )
        )
        writes.append(size(api.mark_trial_finished(namespace, probe.name)))
        writes.append(
            size(
                api.apply_status(
                    namespace, name, search_status(None, n + 1), names.OPERATOR_MANAGER
                )
            )
        )

    operator_ms, _ = timed(trial_end, repeat)
    kubectl("label", "hst", probe.name, "-n", namespace, f"{names.FINISHED_LABEL}-", "--overwrite")

    def reads() -> None:
        api.get_search(namespace, name)
        api.list_trials(namespace, name, unfinished_only=True)

    reads_ms, _ = timed(reads, repeat)
    first_ms, listed = timed(lambda: api.list_trials(namespace, name), max(1, repeat // 2))
    assert len(listed) == n + 1
    return {
        "sidecar_ms": sidecar_ms,
        "operator_ms": operator_ms,
        "reads_ms": reads_ms,
        "first_look_ms": first_ms,
        "search_bytes": size(api.get_search(namespace, name)),
        "etcd_bytes_per_trial_end": sum(writes) + size(listed[-1]),  # + the sidecar's write
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="100,1000")
    parser.add_argument("--new", default="100,1000,3000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    namespace = f"bench-records-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    for crd in ("hypersearch.io_hypersearches.yaml", "hypersearch.io_hypersearchtrials.yaml"):
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / crd))
    api = KubeApi(connect(str(KUBECONFIG), pool_size=16))
    print(f"load average at start: {os.getloadavg()}")
    rows: dict[tuple[str, int], dict[str, float]] = {}
    try:
        for way, sizes, run in (("old", args.old, old_way), ("new", args.new, new_way)):
            for n in (int(x) for x in sizes.split(",") if x):
                rows[(way, n)] = run(api, namespace, n, args.repeat)
                print(way, n, json.dumps({k: round(v, 1) for k, v in rows[(way, n)].items()}))
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
        api.close()
    print(f"load average at end: {os.getloadavg()}")
    keys = ("sidecar_ms", "operator_ms", "reads_ms", "first_look_ms", "search_bytes")
    print("| way | N | " + " | ".join(keys) + " | etcd bytes per trial end |")
    print("|---|---|" + "---|" * (len(keys) + 1))
    for (way, n), row in sorted(rows.items()):
        cells = [f"{row[k]:,.1f}" if k.endswith("ms") else f"{row[k]:,.0f}" for k in keys]
        print(
            f"| {way} | {n:,} | "
            + " | ".join(cells)
            + f" | {row['etcd_bytes_per_trial_end']:,.0f} |"
        )
    for n in sorted(
        {n for way, n in rows if way == "old"} & {n for way, n in rows if way == "new"}
    ):
        old, new = rows[("old", n)], rows[("new", n)]
        ratios = ", ".join(
            f"{k} {old[k] / new[k]:.1f}x" for k in (*keys, "etcd_bytes_per_trial_end")
        )
        print(f"old/new at N={n:,}: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
