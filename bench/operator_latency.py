"""Operator benchmark on the local test plane: reaction latency, throughput, memory.

    e2e/testplane up
    .venv/bin/python bench/operator_latency.py [--trials 30] [--searches 10] [--per-search 40]

What it measures (numbers go to docs/benchmarks.md, section "Operator"):

1. Latency: one Bayesian search, parallelism 1. For each trial the bench plays the kubelet (the
   Pod's status becomes Succeeded) and then the sidecar (the final value is applied to status
   exactly as the sidecar does, server-side apply with the trial's field manager). Measured: from
   the moment that apply returns (the value has landed) to the moment a watch on Pods sees the
   next trial's Pod ADDED. Median and 90th percentile.
2. Throughput: 10 random searches at once, 3 trials each in parallel, "instant" trials (each Pod
   is completed and its value reported as soon as it is Running). Trials per minute, from the
   first apply to the last search Succeeded.
3. The operator process's resident memory (VmRSS, and peak VmHWM) at the end.

The operator runs as ``hyper operator`` in a child process, watching only the bench namespace.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from hypersearch.kube import names  # noqa: E402
from hypersearch.kube.api import KubeApi  # noqa: E402
from hypersearch.kube.client import Credentials, connect  # noqa: E402
from hypersearch.kube.wire import Requester  # noqa: E402
from hypersearch.sidecar.reporter import TrialReporter  # noqa: E402

STATE = Path(os.environ.get("HYPERSEARCH_TESTPLANE_DIR", "/tmp/hypersearch-testplane"))
"""The plane's state directory, as e2e/testplane and the tests read it."""
KUBECONFIG = STATE / "kubeconfig"
STARTUP: list[float] = []
FINISH: list[float] = []
REPORTED: dict[str, list[float]] = {}
REACTION: list[float] = []
"""Per trial Pod in the throughput run: ADDED to Running, the scheduler's and kwok's share."""


def start_operator(namespace: str, *flags: str) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """``hyper operator`` watching ``namespace``, its output in /tmp/<namespace>-operator.log
    (the caller closes the log once the process is gone)."""
    log = open(f"/tmp/{namespace}-operator.log", "wb")  # noqa: SIM115
    operator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from hypersearch.cli import main; sys.exit(main())",
            "operator",
            "--kubeconfig",
            str(KUBECONFIG),
            "-n",
            namespace,
            *flags,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return operator, log


def kubectl(*args: str, stdin: str | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(KUBECONFIG), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    return done.stdout


def manifest(
    name: str, algorithm: str, trials: int, parallelism: int, machine: str = "CPU"
) -> dict[str, Any]:
    return {
        "apiVersion": names.API,
        "kind": names.KIND,
        "metadata": {"name": name},
        "spec": {
            "algorithm": {"name": algorithm, "seed": 1},
            "objective": {"metric": "val_acc", "goal": "maximize"},
            "parameters": [
                {"name": "units", "type": "int", "min": 8, "max": 512},
                {"name": "lr", "type": "float", "min": 1e-4, "max": 0.1, "scale": "log"},
            ],
            "maxTrials": trials,
            "parallelism": parallelism,
            "maxFailedTrials": 3,
            "trial": {
                "machineType": machine,
                "template": {
                    "metadata": {"annotations": {"hypersearch.io/kwok-run-duration": "1h"}},
                    "spec": {
                        "containers": [
                            {"name": "trainer", "image": "t", "command": ["train", ":units:"]}
                        ]
                    },
                },
            },
        },
    }


class PodWatch(threading.Thread):
    """A raw watch on the namespace's Pods; puts (monotonic time, type, pod) on a queue.

    The API server ends a watch now and then (its timeout, or a watcher it finds too slow to
    read); the watch starts again from the last resourceVersion seen, or from the current state
    when that version is gone (then every Pod comes again as ADDED, which consumers dedupe)."""

    def __init__(self, endpoint: Credentials, namespace: str):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.namespace = namespace
        self.events: queue.Queue[tuple[float, str, dict[str, Any]]] = queue.Queue()
        self.ready = threading.Event()
        self.version = ""
        self.restarts = 0

    def run(self) -> None:
        while True:
            with suppress(OSError, ValueError, http.client.HTTPException):
                self._watch()
            self.restarts += 1
            time.sleep(0.5)

    def _watch(self) -> None:
        import ssl

        parsed = urllib.parse.urlsplit(self.endpoint.server)
        context = ssl.create_default_context(cafile=self.endpoint.ca_file)
        if self.endpoint.cert_file:
            context.load_cert_chain(self.endpoint.cert_file, self.endpoint.key_file)
        conn = http.client.HTTPSConnection(
            parsed.hostname or "", parsed.port or 443, context=context, timeout=600
        )
        fields = {"watch": "1", "labelSelector": names.SEARCH_LABEL, "allowWatchBookmarks": "false"}
        if self.version:
            fields["resourceVersion"] = self.version
        conn.request(
            "GET", f"/api/v1/namespaces/{self.namespace}/pods?{urllib.parse.urlencode(fields)}"
        )
        response = conn.getresponse()
        self.ready.set()
        while True:
            line = response.readline()
            if not line:
                return
            event = json.loads(line)
            if event["type"] == "ERROR":  # 410 Gone: the version is compacted; start afresh
                self.version = ""
                return
            self.version = str(event["object"]["metadata"].get("resourceVersion") or "")
            self.events.put((time.monotonic(), event["type"], event["object"]))


def operator_memory(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])  # kB
    return found


def operator_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the operator process so far."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def complete(api: KubeApi, namespace: str, pod: str) -> None:
    """Play the kubelet: the trainer exited 0, the Pod Succeeded."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    api.client.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{pod}/status",
        body={
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [
                    {
                        "name": "trainer",
                        "image": "t",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {
                            "terminated": {
                                "exitCode": 0,
                                "reason": "Completed",
                                "startedAt": now,
                                "finishedAt": now,
                            }
                        },
                    }
                ],
            }
        },
        content_type="application/merge-patch+json",
    )


def report(transport: Requester, namespace: str, search: str, pod: str, value: float) -> None:
    """Play the sidecar's final apply (same request, same field manager)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    TrialReporter(transport, namespace, pod).apply(
        {
            "name": pod,
            "value": value,
            "exitCode": 0,
            "observed": 1,
            "curve": [[1, value]],
            "reportedAt": now,
        }
    )


def value_of(pod: dict[str, Any]) -> float:
    params = json.loads(pod["metadata"]["annotations"][names.PARAMS_ANNOTATION])
    return round(1.0 - abs(float(params["units"]) - 200) / 600, 6)


def wait_phase(namespace: str, name: str, phase: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = json.loads(kubectl("get", "hs", name, "-n", namespace, "-o", "json"))
        if (found.get("status") or {}).get("phase") == phase:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not reach {phase}")


def latency(api: KubeApi, watch: PodWatch, namespace: str, trials: int) -> list[float]:
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(manifest("lat", "bayesian", trials, 1)),
    )
    samples: list[float] = []
    landed: float | None = None
    handled: set[str] = set()
    deadline = time.monotonic() + 60 * 10
    while len(handled) < trials and time.monotonic() < deadline:
        when, kind, pod = watch.events.get(timeout=60)
        name = pod["metadata"]["name"]
        if pod["metadata"]["labels"].get(names.SEARCH_LABEL) != "lat":
            continue
        if kind == "ADDED" and landed is not None:
            samples.append(when - landed)
            landed = None
        if (pod.get("status") or {}).get("phase") == "Running" and name not in handled:
            handled.add(name)
            complete(api, namespace, name)
            report(api.client, namespace, "lat", name, value_of(pod))
            landed = time.monotonic()
    return samples


def throughput(api: KubeApi, watch: PodWatch, namespace: str, searches: int, per: int) -> float:
    pool = ThreadPoolExecutor(max_workers=8)
    handled: set[str] = set()
    total = searches * per
    start = time.monotonic()
    for i in range(searches):
        kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=json.dumps(manifest(f"tp{i}", "random", per, 3)),
        )

    def finish(search: str, name: str, value: float) -> None:
        began = time.monotonic()
        complete(api, namespace, name)
        report(api.client, namespace, search, name, value)
        FINISH.append(time.monotonic() - began)
        REPORTED.setdefault(search, []).append(time.monotonic())

    deadline = time.monotonic() + 60 * 10
    added: dict[str, float] = {}
    while len(handled) < total and time.monotonic() < deadline:
        when, kind, pod = watch.events.get(timeout=60)
        search = pod["metadata"]["labels"].get(names.SEARCH_LABEL, "")
        name = pod["metadata"]["name"]
        if not search.startswith("tp") or name in handled:
            continue
        if kind == "ADDED":
            added[name] = when
            pending = REPORTED.get(search) or []
            if pending:
                REACTION.append(when - pending.pop(0))
        if (pod.get("status") or {}).get("phase") == "Running":
            handled.add(name)
            if name in added:
                STARTUP.append(when - added[name])
            pool.submit(finish, search, name, value_of(pod))
    for i in range(searches):
        wait_phase(namespace, f"tp{i}", "Succeeded", 120)
    elapsed = time.monotonic() - start
    pool.shutdown()
    return total / elapsed * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="latency samples (trials)")
    parser.add_argument("--searches", type=int, default=10)
    parser.add_argument("--per-search", type=int, default=40)
    parser.add_argument(
        "--operator-verbose", action="store_true", help="run the operator with -v (its log: /tmp)"
    )
    args = parser.parse_args()
    # Start the test plane unless it is up (idempotent; a cold cache builds it first).
    up = subprocess.run([str(REPO / "e2e" / "testplane"), "up"], check=False, timeout=3600)
    if up.returncode != 0:
        print(f"bench: `e2e/testplane up` failed; its logs are in {STATE / 'logs'}")
        return 1
    connection = connect(str(KUBECONFIG), pool_size=16)
    endpoint = connection.credentials()
    api = KubeApi(connection)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("create", "namespace", namespace)
    for _ in range(100):
        if (
            subprocess.run(
                [
                    "kubectl",
                    "--kubeconfig",
                    str(KUBECONFIG),
                    "get",
                    "sa",
                    "default",
                    "-n",
                    namespace,
                ],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ):
            break
        time.sleep(0.1)
    operator, log = start_operator(namespace, *(["-v"] if args.operator_verbose else []))
    watch = PodWatch(endpoint, namespace)
    watch.start()
    watch.ready.wait(30)
    try:
        samples = latency(api, watch, namespace, args.trials)
        cpu_before = operator_cpu_seconds(operator.pid)
        rate = throughput(api, watch, namespace, args.searches, args.per_search)
        cpu = operator_cpu_seconds(operator.pid) - cpu_before
        memory = operator_memory(operator.pid)
        load = Path("/proc/loadavg").read_text().split()[0]
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        log.close()
        kubectl("delete", "namespace", namespace, "--wait=false")
    samples.sort()
    result = {
        "latency_samples": len(samples),
        "latency_median_s": round(statistics.median(samples), 3),
        "latency_p90_s": round(samples[int(0.9 * (len(samples) - 1))], 3),
        "latency_max_s": round(samples[-1], 3),
        "throughput_trials_per_min": round(rate, 1),
        "searches": args.searches,
        "trials_per_search": args.per_search,
        "bench_finish_median_s": round(statistics.median(FINISH), 3) if FINISH else None,
        "reported_to_next_pod_median_s": round(statistics.median(REACTION), 3)
        if REACTION
        else None,
        "pod_added_to_running_median_s": round(statistics.median(STARTUP), 3) if STARTUP else None,
        "operator_cpu_ms_per_trial": round(cpu * 1000 / (args.searches * args.per_search), 1),
        "load_average_1min": float(load),
        "operator_rss_mib": round(memory.get("VmRSS", 0) / 1024, 1),
        "operator_peak_rss_mib": round(memory.get("VmHWM", 0) / 1024, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
