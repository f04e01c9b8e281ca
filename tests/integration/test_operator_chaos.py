"""Crash safety under repeated SIGKILLs: the operator is killed ten times during one 30-trial
Bayesian search, each time at a random moment after a trial ends (while it records the verdict,
creates the next trial's object or its Pod, or applies status), and restarted.

What must hold afterwards: exactly the 30 trials, each with one Pod whose arguments are the
trial object's parameters (a restarted operator never suggests a created trial again), every
reported value recorded (nothing lost), no point measured twice, never more Pods at once than
``parallelism``, and the search Succeeded.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from hypersearch.kube import names

from .operator_harness import (
    PodWatch,
    condition,
    entries,
    finish_trial,
    get_search,
    operator_with,
    running_pods,
    search_manifest,
    trial_objects,
    trial_pods,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration

TRIALS = 30
PARALLELISM = 3
KILLS = 10


def test_ten_operator_kills_in_a_30_trial_search_lose_and_repeat_nothing(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest(
        "chaos", max_trials=TRIALS, parallelism=PARALLELISM, algorithm="bayesian"
    )
    rng = random.Random(20261206)
    reported: dict[str, float] = {}
    watch = PodWatch(testplane, namespace, "chaos")
    watch.start()
    try:
        with operator_with(testplane, namespace, tmp_path, manifest) as operator:
            deadline = time.monotonic() + 900
            while not _succeeded(get_search(testplane, namespace, "chaos")):
                assert time.monotonic() < deadline, operator.tail()
                fresh = [
                    p["metadata"]["name"]
                    for p in running_pods(testplane, namespace, "chaos")
                    if p["metadata"]["name"] not in reported
                ]
                for pod in sorted(fresh):
                    value = round(rng.uniform(0.05, 0.95), 6)
                    finish_trial(
                        testplane,
                        namespace,
                        search="chaos",
                        pod=pod,
                        value=value,
                        workdir=tmp_path / "trials",
                    )
                    reported[pod] = value
                    if operator.starts <= KILLS and len(reported) % PARALLELISM == 1:
                        # Somewhere in the reconcile this trial's end triggered.
                        time.sleep(rng.uniform(0.0, 0.8))
                        operator.kill()
                        time.sleep(rng.uniform(0.0, 0.5))
                        operator.start()
                time.sleep(0.2)
    finally:
        watch.stop()

    assert operator.starts == KILLS + 1
    search = get_search(testplane, namespace, "chaos")
    expected = [f"chaos-{i:04d}" for i in range(TRIALS)]
    objects = trial_objects(testplane, namespace, "chaos")
    assert sorted(objects) == expected
    assert sorted(reported) == expected
    records = entries(search)
    assert {n: records[n].get("phase") for n in expected} == dict.fromkeys(expected, "Succeeded")
    assert {n: float(records[n]["value"]) for n in expected} == pytest.approx(reported)
    pods = {p["metadata"]["name"]: p for p in trial_pods(testplane, namespace, "chaos")}
    assert sorted(pods) == expected
    assert watch.seen == set(expected)
    assert watch.peak <= PARALLELISM
    points = set()
    for name in expected:
        params = records[name]["params"]
        argv = pods[name]["spec"]["containers"][0]["command"]
        units, lr = argv[argv.index("--units") + 1], argv[-1].removeprefix("--lr=")
        assert int(units) == int(params["units"]), name
        assert float(lr) == pytest.approx(float(params["lr"])), name
        assert pods[name]["metadata"]["labels"][names.TRIAL_LABEL] == name
        points.add((int(params["units"]), float(params["lr"])))
    assert len(points) == TRIALS
    assert search["status"]["counts"]["succeeded"] == TRIALS
    assert search["status"]["counts"]["trials"] == TRIALS


def _succeeded(search: dict[str, Any]) -> bool:
    found = condition(search, "Succeeded")
    return found is not None and found.get("status") == "True"
