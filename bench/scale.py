"""Scale benchmark on the test plane: throughput over time, API requests, etcd bytes, memory.

    e2e/testplane up      # with HYPERSEARCH_TESTPLANE_DIR / _PORT_BASE as for the tests
    .venv/bin/python bench/scale.py one --trials 1000 --parallelism 100
    .venv/bin/python bench/scale.py many --searches 20 --trials 100 --parallelism 10 --nodes 200

Two shapes (issue 14; numbers go to docs/benchmarks.md, section "Scale"):

- ``one``: one random search of N instant trials with parallelism P. Throughput of the first
  and the last tenth of the trials (trials per minute), and their ratio.
- ``many``: S random searches of T instant trials at once, each trial asking for one GPU
  (machine type K80), on K extra kwok GPU nodes (4 GPUs each) the bench adds and removes.

Both report: trials per minute per time window; API requests per trial (the API server's
``apiserver_request_total`` deltas by verb and resource, every client included: the operator,
the bench playing the kubelet and the sidecar, the scheduler, kwok, the controller-manager);
etcd bytes written per trial (``etcd_debugging_mvcc_total_put_size_in_bytes``: the bytes of
every key-value put, whatever the key), split by what was written: HyperSearch objects (the
sum of every version's JSON size, seen by a watch), Pods (each Pod key's stored size times its
number of versions, read from etcd), Events (the same), and the rest (leases, endpoints,
the bench's nodes); the operator's VmRSS over time, its peak VmHWM and CPU seconds per trial.

An "instant" trial: the bench plays the kubelet (the Pod's status becomes Succeeded) and the
sidecar (its final report, through the sidecar's own ``Collector`` and ``TrialReporter``) as
soon as the Pod is Running. It counts trials from the Pods it completed and from each search's
``status.phase``, never from a list of trials in status, so it runs unchanged whatever the
operator keeps there. The operator runs as ``hyper operator`` in a child process watching only
the bench namespace; ``HYPERSEARCH_TRACEMALLOC=FILE`` is passed through (controller/run.py).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))
sys.path.insert(0, str(REPO / "bench"))

import operator_latency as latency  # noqa: E402
from hypersearch.kube import names  # noqa: E402
from hypersearch.kube.api import KubeApi  # noqa: E402
from hypersearch.kube.client import connect  # noqa: E402
from hypersearch.sidecar.collector import Collector, Objective  # noqa: E402
from hypersearch.sidecar.reporter import TrialReporter  # noqa: E402
from operator_latency import (  # noqa: E402
    KUBECONFIG,
    PodWatch,
    complete,
    operator_cpu_seconds,
    operator_memory,
    value_of,
)

PORT_BASE = int(os.environ.get("HYPERSEARCH_TESTPLANE_PORT_BASE", "16440"))
ETCD = f"http://127.0.0.1:{PORT_BASE + 1}"
GPUS_PER_NODE = 4
OBJECTIVE = Objective(metric="val_acc", aggregation="last")


def kubectl(*args: str, stdin: str | None = None) -> str:
    """kubectl on the plane, with room for the large applies of many nodes."""
    return latency.kubectl(*args, stdin=stdin, timeout=300)


def manifest(name: str, trials: int, parallelism: int, machine: str) -> dict[str, Any]:
    """A random search of instant trials (the operator-latency bench's, on ``machine``)."""
    return latency.manifest(name, "random", trials, parallelism, machine)


def gpu_nodes(count: int, prefix: str) -> dict[str, Any]:
    """``count`` kwok K80 nodes (the labels machine type K80 selects), 4 GPUs each."""
    items = []
    for i in range(count):
        name = f"{prefix}-{i}"
        capacity = {"cpu": "32", "memory": "256Gi", "pods": "110", "nvidia.com/gpu": "4"}
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {
                        "type": "kwok-scale",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "accelerator": "nvidia-tesla-k80",
                        "cloud.google.com/gke-accelerator": "nvidia-tesla-k80",
                        "hypersearch.io/machine-type": "K80",
                    },
                },
                "status": {"capacity": capacity, "allocatable": capacity},
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def play_sidecar(api: KubeApi, namespace: str, search: str, pod: str, value: float) -> None:
    """The sidecar's final report, through the sidecar's own code (what it would send)."""
    collector = Collector(pod, OBJECTIVE)
    collector.feed(f"val_acc={value}\n")
    collector.finish()
    TrialReporter(api.client, namespace, pod).apply(collector.entry(time.time(), 0))


# --- what the cluster says ------------------------------------------------------------------


def apiserver_requests() -> Counter[tuple[str, str]]:
    """``apiserver_request_total`` summed over codes, by (verb, resource[/subresource])."""
    found: Counter[tuple[str, str]] = Counter()
    for line in kubectl("get", "--raw", "/metrics").splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        labels = dict(
            part.split("=", 1)
            for part in labels_text[len("apiserver_request_total{") : -1].split(",")
        )
        resource = labels.get("resource", "").strip('"')
        if not resource:
            continue
        sub = labels.get("subresource", "").strip('"')
        key = (labels["verb"].strip('"'), resource + (f"/{sub}" if sub else ""))
        found[key] += int(float(value))
    return found


def etcd_metrics() -> dict[str, float]:
    import urllib.request

    wanted = ("etcd_debugging_mvcc_total_put_size_in_bytes", "etcd_mvcc_db_total_size_in_bytes")
    with urllib.request.urlopen(f"{ETCD}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            out[name] = float(value)
    return out


def etcd_written(prefix: str) -> tuple[int, int, int]:
    """Keys under ``prefix`` now, their stored bytes, and stored bytes times versions (what
    was put for them, when each version is about the size of the last: true of Pods)."""
    import urllib.request

    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = json.dumps(
        {
            "key": base64.b64encode(prefix.encode()).decode(),
            "range_end": base64.b64encode(end.encode()).decode(),
        }
    ).encode()
    request = urllib.request.Request(f"{ETCD}/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        found = json.loads(answer.read())
    keys = stored = written = 0
    for kv in found.get("kvs") or []:
        size = len(base64.b64decode(kv.get("value", "")))
        keys += 1
        stored += size
        written += size * int(kv.get("version", "1"))
    return keys, stored, written


class SearchWatch(threading.Thread):
    """Watches the namespace's HyperSearches; sums the JSON size of every version (what etcd
    stores for a custom resource)."""

    def __init__(self, api: KubeApi, namespace: str):
        super().__init__(daemon=True)
        self.api = api
        self.namespace = namespace
        self.bytes = 0
        self.versions = 0
        self.largest = 0
        self.version = ""

    def run(self) -> None:
        while True:  # a watch ends (server timeout, a CRD not served yet): start it again
            with suppress(OSError):
                self._watch()
            time.sleep(1)

    def _watch(self) -> None:
        import http.client
        import ssl
        import urllib.parse

        endpoint = self.api.client.credentials()
        parsed = urllib.parse.urlsplit(endpoint.server)
        context = ssl.create_default_context(cafile=endpoint.ca_file)
        if endpoint.cert_file:
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
        conn = http.client.HTTPSConnection(
            parsed.hostname or "", parsed.port or 443, context=context, timeout=3600
        )
        query = f"watch=1&resourceVersion={self.version}" if self.version else "watch=1"
        conn.request("GET", f"/apis/{names.API}/namespaces/{self.namespace}/{names.PLURAL}?{query}")
        response = conn.getresponse()
        if response.status != 200:
            return
        while True:
            line = response.readline()
            if not line:
                return
            event = json.loads(line)
            obj = event.get("object") or {}
            if event.get("type") in ("ADDED", "MODIFIED"):
                size = len(json.dumps(obj, separators=(",", ":")))
                self.bytes += size
                self.versions += 1
                self.largest = max(self.largest, size)
                self.version = str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Sampler(threading.Thread):
    """The operator's VmRSS every ``every`` seconds, with the trials finished by then."""

    def __init__(self, pid: int, finished: list[float], every: float = 5.0):
        super().__init__(daemon=True)
        self.pid = pid
        self.finished = finished
        self.every = every
        self.samples: list[tuple[float, int, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.wait(self.every):
            try:
                rss = operator_memory(self.pid).get("VmRSS", 0) / 1024
            except OSError:
                return
            self.samples.append((time.monotonic() - start, len(self.finished), rss))


# --- the run ----------------------------------------------------------------------------------


@contextmanager
def operator_process(namespace: str) -> Iterator[subprocess.Popen[bytes]]:
    operator, log = latency.start_operator(namespace)
    try:
        yield operator
    finally:
        operator.terminate()
        try:
            operator.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still posting a backlog of Events: not measured
            operator.kill()
            operator.wait(timeout=30)
        log.close()


def phases(api: KubeApi, namespace: str, searches: list[str]) -> dict[str, str]:
    """Each search's ``status.phase`` (read from the API, not from a watch)."""
    out = {}
    for name in searches:
        found = api.get_search(namespace, name) or {}
        out[name] = str((found.get("status") or {}).get("phase"))
    return out


def drive(  # noqa: PLR0917
    api: KubeApi,
    watch: PodWatch,
    namespace: str,
    total: int,
    names_: list[str],
    finished: list[float],
    timeout: float,
) -> None:
    """Complete every trial Pod once it runs, until every search has ended."""
    pool = ThreadPoolExecutor(max_workers=12)
    handled: set[str] = set()

    def finish(search: str, pod: str, value: float) -> None:
        complete(api, namespace, pod)
        play_sidecar(api, namespace, search, pod, value)
        finished.append(time.monotonic())

    deadline = time.monotonic() + timeout
    looked = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() - looked > 5:
            looked = time.monotonic()
            if all(p in ("Succeeded", "Failed") for p in phases(api, namespace, names_).values()):
                break
        try:
            _, _, pod = watch.events.get(timeout=2)
        except queue.Empty:
            continue
        meta = pod["metadata"]
        search = meta["labels"].get(names.SEARCH_LABEL, "")
        if (pod.get("status") or {}).get("phase") == "Running" and meta["name"] not in handled:
            handled.add(meta["name"])
            pool.submit(finish, search, meta["name"], value_of(pod))
    pool.shutdown(wait=True)
    if len(handled) < total:
        print(f"bench: only {len(handled)} of {total} trials ran before the timeout")


def windows(finished: list[float], start: float, width: float) -> list[float]:
    """Trials per minute in consecutive windows of ``width`` seconds."""
    if not finished:
        return []
    end = max(finished)
    out = []
    at = start
    while at < end:
        n = sum(1 for t in finished if at <= t < at + width)
        out.append(round(n * 60 / width, 1))
        at += width
    return out


def tenth_rates(finished: list[float], start: float) -> tuple[float, float]:
    """Trials per minute of the first tenth and of the last tenth of the trials."""
    done = sorted(finished)
    k = max(1, len(done) // 10)
    first = k / max(done[k - 1] - start, 1e-9) * 60
    last = k / max(done[-1] - done[-k - 1], 1e-9) * 60
    return round(first, 1), round(last, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", choices=("one", "many"))
    parser.add_argument("--trials", type=int, default=1000, help="trials per search")
    parser.add_argument("--parallelism", type=int, default=100)
    parser.add_argument("--searches", type=int, default=1, help="concurrent searches (many)")
    parser.add_argument("--nodes", type=int, default=0, help="extra kwok GPU nodes (many)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per window")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="stop driving after this many seconds and report what finished by then",
    )
    args = parser.parse_args()
    # SIGTERM (an outer `timeout`) unwinds like Ctrl-C: the operator and namespace are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    searches_n = 1 if args.shape == "one" else args.searches
    total = searches_n * args.trials
    up = subprocess.run([str(REPO / "e2e" / "testplane"), "up"], check=False, timeout=3600)
    if up.returncode != 0:
        print("bench: `e2e/testplane up` failed; see its logs")
        return 1
    api = KubeApi(connect(str(KUBECONFIG), pool_size=16))
    namespace = f"scale-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl(
        "wait",
        "--for=condition=Established",
        f"crd/{names.PLURAL}.{names.API_GROUP}",
        "--timeout=60s",
    )
    kubectl("create", "namespace", namespace)
    for _ in range(100):
        try:
            kubectl("get", "sa", "default", "-n", namespace)
            break
        except subprocess.CalledProcessError:
            time.sleep(0.1)
    node_prefix = f"{namespace}-gpu"
    if args.nodes:
        kubectl("apply", "-f", "-", stdin=json.dumps(gpu_nodes(args.nodes, node_prefix)))
    machine = "K80" if args.shape == "many" else "CPU"
    watch = PodWatch(api.client.credentials(), namespace)
    watch.start()
    watch.ready.wait(30)
    searches = SearchWatch(api, namespace)
    searches.start()
    search_names = [f"s{i}" for i in range(searches_n)]
    finished: list[float] = []
    try:
        with operator_process(namespace) as operator:
            time.sleep(3)  # let it start and list before the load begins
            rss_start = operator_memory(operator.pid)
            cpu_start = operator_cpu_seconds(operator.pid)
            requests_before = apiserver_requests()
            etcd_before = etcd_metrics()
            sampler = Sampler(operator.pid, finished)
            sampler.start()
            start = time.monotonic()
            for name in search_names:
                kubectl(
                    "apply",
                    "-n",
                    namespace,
                    "-f",
                    "-",
                    stdin=json.dumps(manifest(name, args.trials, args.parallelism, machine)),
                )
            drive(api, watch, namespace, total, search_names, finished, args.timeout)
            elapsed = time.monotonic() - start
            sampler.stop.set()
            cpu = operator_cpu_seconds(operator.pid) - cpu_start
            memory = operator_memory(operator.pid)
            requests = apiserver_requests() - requests_before
            etcd_after = etcd_metrics()
            pods = etcd_written(f"/registry/pods/{namespace}/")
            events = etcd_written(f"/registry/events/{namespace}/")
            load = Path("/proc/loadavg").read_text().split()[:3]
            ended = phases(api, namespace, search_names)
            endings = sorted(
                {
                    str(((api.get_search(namespace, n) or {}).get("status") or {}).get("message"))
                    for n in search_names
                    if ended[n] == "Failed"
                }
            )
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
        if args.nodes:
            kubectl("delete", "nodes", "-l", "type=kwok-scale", "--wait=false")
    done = len(finished)
    put = etcd_after["etcd_debugging_mvcc_total_put_size_in_bytes"] - etcd_before.get(
        "etcd_debugging_mvcc_total_put_size_in_bytes", 0
    )
    per = max(done, 1)
    top = sorted(requests.items(), key=lambda kv: -kv[1])
    first, last = tenth_rates(finished, start) if finished else (0.0, 0.0)
    result = {
        "shape": args.shape,
        "searches": searches_n,
        "trials_per_search": args.trials,
        "parallelism": args.parallelism,
        "extra_gpu_nodes": args.nodes,
        "trials_finished": done,
        "pod_watch_restarts": watch.restarts,
        "phases": dict(Counter(ended.values())),
        "failed_search_messages": endings[:5],
        "elapsed_s": round(elapsed, 1),
        "trials_per_min": round(done / elapsed * 60, 1),
        "first_tenth_per_min": first,
        "last_tenth_per_min": last,
        "last_over_first": round(last / first, 2) if first else None,
        f"per_{int(args.window)}s_window_per_min": windows(finished, start, args.window),
        "api_requests_per_trial": round(sum(requests.values()) / per, 1),
        "api_requests_per_trial_by_verb_resource": {
            f"{verb} {resource}": round(n / per, 2) for (verb, resource), n in top[:12]
        },
        "etcd_put_kb_per_trial": round(put / per / 1024, 1),
        "etcd_put_kb_per_trial_hypersearch": round(searches.bytes / per / 1024, 1),
        "etcd_put_kb_per_trial_pods": round(pods[2] / per / 1024, 1),
        "etcd_put_kb_per_trial_events": round(events[2] / per / 1024, 1),
        "largest_hypersearch_kb": round(searches.largest / 1024, 1),
        "etcd_db_growth_mb": round(
            (
                etcd_after["etcd_mvcc_db_total_size_in_bytes"]
                - etcd_before["etcd_mvcc_db_total_size_in_bytes"]
            )
            / 2**20,
            1,
        ),
        "operator_rss_start_mib": round(rss_start.get("VmRSS", 0) / 1024, 1),
        "operator_rss_end_mib": round(memory.get("VmRSS", 0) / 1024, 1),
        "operator_peak_rss_mib": round(memory.get("VmHWM", 0) / 1024, 1),
        "operator_rss_mib_by_trials": [
            (n, round(rss)) for _, n, rss in sampler.samples[:: max(1, len(sampler.samples) // 12)]
        ],
        "operator_cpu_ms_per_trial": round(cpu * 1000 / per, 1),
        "load_average": [float(x) for x in load],
        "median_trial_finish_gap_s": round(statistics.median(_gaps(finished)), 3)
        if len(finished) > 2
        else None,
    }
    print(json.dumps(result, indent=2))
    return 0


def _gaps(finished: list[float]) -> list[float]:
    done = sorted(finished)
    return [b - a for a, b in itertools.pairwise(done)]


if __name__ == "__main__":
    sys.exit(main())
