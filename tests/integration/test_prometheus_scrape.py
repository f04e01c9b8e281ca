"""A real Prometheus scrapes a real operator during a search, and PromQL returns its series.

The operator (``hyper operator --metrics-port``) runs a small search on the test plane; the test
plays trainer and kubelet through the operator harness (the real sidecar reports the values).
Debian's Prometheus server scrapes the operator every second; its HTTP API answers the queries.
The series must move: absent before the search, trial counts while it runs, the best value and
the Succeeded phase at the end, gone once the search is deleted. The `kubectl wait` recipes of
docs/install.md are run on the finished search too.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .operator_harness import finish_trial, install_crd, search_manifest, trial_pods
from .plane import ControlPlane, unwatch_process, wait_until, watch_process

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

SEARCH = "scraped"
HYPER = "import sys; from hypersearch.cli import main; sys.exit(main())"
# One scrape: {(sample name, sorted (label, value) pairs): value}.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    unwatch_process(proc)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture
def operator_metrics(testplane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[str]:
    """A `hyper operator` process serving /metrics; yields the scrape address host:port."""
    install_crd(testplane)
    port = free_port()
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-c", HYPER,
                "operator", "--kubeconfig", str(testplane.kubeconfig), "-n", namespace,
                f"--metrics-port={port}",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    watch_process("hyper operator", proc, lambda: log.read_text(errors="replace")[-4000:])
    try:
        wait_until(
            lambda: scrape(f"127.0.0.1:{port}") or None,
            f"operator /metrics on port {port}",
            timeout=60,
        )
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)
        print(log.read_text(errors="replace")[-4000:])


@pytest.fixture
def prometheus(operator_metrics: str, tmp_path: Path) -> Iterator[str]:
    """Debian's Prometheus scraping the operator every second; yields its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "prometheus is not on PATH: install Debian's prometheus (apt-get install -y prometheus)"
        )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "hypersearch-operator",
                "static_configs": [{"targets": [operator_metrics]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h", "--log.level=warn",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    watch_process("prometheus", proc, lambda: log.read_text(errors="replace")[-4000:])
    try:
        wait_until(lambda: ready(url), f"prometheus ready at {url}", timeout=60)
        yield url
    finally:
        stop(proc)
        print(log.read_text(errors="replace")[-4000:])


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def scrape(address: str) -> Samples:
    """The operator's /metrics as {(sample name, sorted labels): value}; empty if unreachable."""
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """An instant PromQL query through Prometheus's HTTP API (/api/v1/query)."""
    with urllib.request.urlopen(
        f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=10
    ) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_the_operator_and_promql_follows_a_search(
    testplane: ControlPlane, namespace: str, tmp_path: Path, operator_metrics: str, prometheus: str
) -> None:
    per_search = {"namespace": namespace, "search": SEARCH}
    before = scrape(operator_metrics)
    assert sample(before, "hypersearch_search_trials", **per_search, phase="Running") is None
    assert sample(before, "hypersearch_build_info", version="0.1.0") == 1

    testplane.apply(search_manifest(SEARCH, max_trials=2, parallelism=2), namespace=namespace)

    def active() -> Samples | None:
        now = scrape(operator_metrics)
        pending = sample(now, "hypersearch_search_trials", **per_search, phase="Pending") or 0
        running = sample(now, "hypersearch_search_trials", **per_search, phase="Running") or 0
        return now if pending + running == 2 else None

    during = wait_until(active, "two active trials in hypersearch_search_trials", timeout=90)
    assert sample(during, "hypersearch_search_phase", **per_search, phase="Running") == 1
    assert sample(during, "hypersearch_searches", phase="Running") == 1
    assert (sample(during, "hypersearch_trial_pods_active") or 0) >= 2

    series = f'hypersearch_search_trials{{namespace="{namespace}",search="{SEARCH}"}}'
    running_in_prometheus = wait_until(
        lambda: query(prometheus, f"sum({series})") or None,
        "the trial series in Prometheus",
        timeout=60,
    )
    assert float(running_in_prometheus[0]["value"][1]) == 2

    def two_pods() -> list[dict[str, Any]] | None:
        pods = trial_pods(testplane, namespace, SEARCH)
        return pods if len(pods) == 2 else None

    pods = wait_until(two_pods, "two trial Pods", timeout=60)
    for pod, value in zip(sorted(p["metadata"]["name"] for p in pods), (0.61, 0.87), strict=True):
        finish_trial(
            testplane, namespace, search=SEARCH, pod=pod, value=value, workdir=tmp_path / "trials"
        )

    best = f'hypersearch_search_best_value{{namespace="{namespace}",search="{SEARCH}"}}'
    phase = f'hypersearch_search_phase{{namespace="{namespace}",search="{SEARCH}"'
    done = f'{phase},phase="Succeeded"}} == 1'

    def finished_in_prometheus() -> list[dict[str, Any]] | None:
        result = query(prometheus, done)
        return result or None

    wait_until(finished_in_prometheus, f"PromQL {done}", timeout=120)
    [best_now] = query(prometheus, best)
    assert best_now["metric"]["job"] == "hypersearch-operator"
    assert float(best_now["value"][1]) == pytest.approx(0.87)
    [finished] = query(
        prometheus, f'sum by (phase) (hypersearch_search_trials{{namespace="{namespace}"}}) > 0'
    )
    assert finished["metric"] == {"phase": "Succeeded"}
    assert float(finished["value"][1]) == 2

    timed = query(prometheus, 'hypersearch_suggestion_duration_seconds_count{algorithm="random"}')
    assert [float(r["value"][1]) > 0 for r in timed] == [True]
    errors = query(prometheus, "sum(hypersearch_reconcile_errors_total)")
    assert errors == [] or float(errors[0]["value"][1]) == 0

    # The kubectl wait recipes of docs/install.md answer at once for a finished search.
    for condition in ("Running=False", "Succeeded"):
        testplane.kubectl(
            "wait", f"--for=condition={condition}", f"hs/{SEARCH}", "-n", namespace, "--timeout=30s"
        )
    generation = testplane.kubectl(
        "get", "hs", SEARCH, "-n", namespace, "-o", "jsonpath={.metadata.generation}"
    )
    observed = f"--for=jsonpath={{.status.observedGeneration}}={generation.stdout}"
    testplane.kubectl("wait", observed, f"hs/{SEARCH}", "-n", namespace, "--timeout=30s")

    testplane.kubectl("delete", "hs", SEARCH, "-n", namespace)

    def forgotten() -> Samples | None:
        now = scrape(operator_metrics)
        named = [key for key in now if dict(key[1]).get("search") == SEARCH]
        return now if now and not named else None

    gone = wait_until(forgotten, "the deleted search's series to leave /metrics", timeout=60)
    assert sample(gone, "hypersearch_searches", phase="Succeeded") == 0
