"""End to end on the test plane: the CNN example as a user would run it, with kwok GPU nodes.

`kubectl apply -f` of examples/k8s/cifar10-bayes.yaml (21 Bayesian trials, 3 at a time, K80
GPUs; one Pod-template annotation added that keeps kwok from completing Pods on its own timer),
`hyper operator` as a process, and `kubectl wait --for=condition=Succeeded`. kwok runs no
containers, so the test plays the trainer (synthetic output fed to the REAL sidecar program,
which reports with the search's own ServiceAccount token) and the kubelet (it completes each
Pod after its sidecar has reported). In the middle the operator is killed with SIGKILL and
started again: no trial may be lost or run twice, and never more than 3 trial Pods may be active.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypersearch.kube.curve import round_value
from integration.operator_harness import (
    HOLD_RUNNING,
    OperatorProcess,
    PodWatch,
    complete_pod,
    entries,
    get_search,
    install_crd,
    run_sidecar,
    running_pods,
)
from integration.plane import ControlPlane

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "k8s" / "cifar10-bayes.yaml"
KILL_AFTER = 10  # trials completed before the operator is SIGKILLed


def accuracy(params: dict[str, Any]) -> float:
    """A smooth synthetic objective with its best inside the space."""
    filters = (float(params["conv2_filter"]) - 96) / 112
    dropout = float(params["dropout_3"]) - 0.35
    return round(0.9 - 0.5 * filters**2 - 0.3 * dropout**2, 6)


def training_output(params: dict[str, Any]) -> str:
    final = accuracy(params)
    lines = []
    for epoch in range(1, 26):
        lines.append(f"Epoch {epoch}/25")
        value = final * (1 - 0.5 ** (epoch / 3))
        lines.append(f"390/390 [====] - loss: {1 - value:.4f} - val_acc: {value:.6f}")
    lines.append(f"val_acc={final}")  # the last report is the final value (aggregation: last)
    return "\n".join(lines) + "\n"


def test_cifar10_example_runs_21_trials_three_at_a_time_across_an_operator_kill(
    testplane: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> None:
    install_crd(testplane)
    manifest = yaml.safe_load(EXAMPLE.read_text())
    template = manifest["spec"]["trial"]["template"]
    template.setdefault("metadata", {}).setdefault("annotations", {}).update(HOLD_RUNNING)
    watch = PodWatch(testplane, namespace, "cifar10-bayes")
    watch.start()
    operator = OperatorProcess(testplane, namespace, tmp_path / "operator.log")
    operator.start()
    done: dict[str, float] = {}
    try:
        testplane.apply(manifest, namespace)
        deadline = time.monotonic() + 480
        while len(done) < 21 and time.monotonic() < deadline:
            progressed = False
            for pod in running_pods(testplane, namespace, "cifar10-bayes"):
                name = pod["metadata"]["name"]
                if name in done:
                    continue
                params = {
                    k: v
                    for k, v in yaml.safe_load(
                        pod["metadata"]["annotations"]["hypersearch.io/params"]
                    ).items()
                }
                reported = run_sidecar(
                    testplane,
                    namespace,
                    search="cifar10-bayes",
                    trial=name,
                    workdir=tmp_path / name,
                    output=training_output(params),
                    exit_code=0,
                )
                assert reported.returncode == 0, reported.stderr
                complete_pod(testplane, namespace, name)
                done[name] = accuracy(params)
                progressed = True
                if len(done) == KILL_AFTER:
                    operator.kill()
                    operator.start()
            if not progressed:
                operator.assert_alive()  # a dead operator fails now, with its log
                time.sleep(0.2)
        assert len(done) == 21, f"only {len(done)} trials ran; operator log:\n{operator.tail()}"
        testplane.kubectl(
            "wait",
            "--for=condition=Succeeded",
            "hs/cifar10-bayes",
            "-n",
            namespace,
            "--timeout=120s",
            timeout=150,
        )
    finally:
        operator.stop()
        watch.stop()
    search = get_search(testplane, namespace, "cifar10-bayes")
    status = search["status"]
    trials = entries(search)  # the trial objects: the search's status no longer lists them all
    assert "trials" not in status
    assert [t["name"] for t in status["recentTrials"]] == [
        f"cifar10-bayes-{i:04d}" for i in range(11, 21)
    ]
    assert sorted(trials) == [f"cifar10-bayes-{i:04d}" for i in range(21)]
    assert {t["phase"] for t in trials.values()} == {"Succeeded"}
    assert {name: t["value"] for name, t in trials.items()} == done
    assert status["counts"] == {
        "trials": 21,
        "queued": 0,
        "pending": 0,
        "running": 0,
        "succeeded": 21,
        "failed": 0,
        "earlyStopped": 0,
    }
    best = max(done, key=lambda name: done[name])
    assert (status["best"]["trial"], status["best"]["value"]) == (best, done[best])
    assert status["best"]["params"] == trials[best]["params"]
    for name, trial in trials.items():  # 25 epochs; the closing report restates epoch 25
        assert (trial["observed"], len(trial["curve"])) == (25, 24)
        assert trial["curve"][-1] == [25, round_value(done[name])]
    # GP-UCB's first 5 trials are space-filling; every later one carries the GP's prediction.
    assert [t["index"] for t in trials.values() if "prediction" in t] == list(range(5, 21))
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "MaxTrialsReached")
    events = testplane.get_json(
        "events", "-n", namespace, "--field-selector", "involvedObject.name=cifar10-bayes"
    )["items"]
    reasons = {e["reason"] for e in events}
    assert {"TrialStarted", "TrialSucceeded", "NewBest", "MaxTrialsReached"} <= reasons
    assert "TrialFailed" not in reasons
    assert watch.seen == set(trials), "a trial Pod was created twice or under another name"
    assert watch.peak <= 3, f"{watch.peak} trial Pods were active at once"
    assert operator.starts == 2
