"""`hyper bayesian|random|grid ... --submit` and `hyper status hs/NAME --watch` on a real API
server with the operator running: the flags that run a search here run it on the cluster, and
the CLI follows it to its end like a local run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypersearch.cli import main
from hypersearch.core.manifest import parse_manifest, spec_to_manifest

from .operator_harness import (
    finish_trial,
    install_crd,
    operator_with,
    search_manifest,
    search_when,
    trial_phase,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration

HYPER = [sys.executable, "-m", "hypersearch.cli"]


def dialect(name: str, *extra: str) -> list[str]:
    return [
        "random",
        "--param", "units=8:512:int", "--param", "lr=0.0001:0.1:log",
        "-n", "2", "-P", "1", "-m", "val_acc", "--name", name, "--image", "trainer:test",
        *extra,
        "--", "python", "train.py", "--units", ":units:", "--lr=:lr:",
    ]  # fmt: skip


def cluster(testplane: ControlPlane, namespace: str) -> list[str]:
    return ["--namespace", namespace, "--kubeconfig", str(testplane.kubeconfig)]


def same_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The spec as the parser reads it (the API server adds defaults the manifest leaves out)."""
    spec: dict[str, Any] = spec_to_manifest(parse_manifest(obj))["spec"]
    return spec


def test_submit_detach_creates_the_search_that_manifest_prints(
    testplane: ControlPlane, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    install_crd(testplane)
    assert main(dialect("sub", "--manifest")) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert main(dialect("sub", "--submit", "--detach", *cluster(testplane, namespace))) == 0
    assert capsys.readouterr().err == (
        f"submitted HyperSearch {namespace}/sub; follow it with: hyper status hs/sub --namespace "
        f"{namespace} --watch (or kubectl get hs -n {namespace})\n"
    )
    obj = testplane.get_json("hs", "sub", "-n", namespace, "--show-managed-fields")
    assert same_spec(obj) == same_spec(printed)
    assert "hyper-cli" in {m["manager"] for m in obj["metadata"]["managedFields"]}
    # The same command again changes nothing; a raised --num-runs edits the search.
    assert main(dialect("sub", "--submit", "--detach", *cluster(testplane, namespace))) == 0
    again = testplane.get_json("hs", "sub", "-n", namespace)
    assert again["metadata"]["generation"] == obj["metadata"]["generation"] == 1
    raised = dialect("sub", "--submit", "--detach", *cluster(testplane, namespace))
    raised[raised.index("-n") + 1] = "5"
    assert main(raised) == 0
    edited = testplane.get_json("hs", "sub", "-n", namespace)
    assert (edited["metadata"]["generation"], edited["spec"]["maxTrials"]) == (2, 5)


def test_run_submit_applies_the_manifest_file_in_the_namespace(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    install_crd(testplane)
    path = tmp_path / "search.yaml"
    doc = search_manifest("from-file", max_trials=3)
    doc["metadata"]["namespace"] = namespace  # no --namespace: the manifest's, as kubectl does
    path.write_text(yaml.safe_dump(doc))
    argv = ["run", str(path), "--submit", "--detach", "--kubeconfig", str(testplane.kubeconfig)]
    assert main(argv) == 0
    obj = testplane.get_json("hs", "from-file", "-n", namespace)
    assert same_spec(obj) == same_spec(search_manifest("from-file", max_trials=3))
    assert not (Path.cwd() / ".hyper" / "from-file").exists()  # nothing ran here


def test_submit_to_a_namespace_that_does_not_exist_says_so(
    testplane: ControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    install_crd(testplane)
    argv = dialect("x", "--submit", *cluster(testplane, "no-such-namespace"))
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        "hyper: cannot submit HyperSearch no-such-namespace/x: namespace no-such-namespace does "
        "not exist; create it (kubectl create namespace no-such-namespace) or pass another "
        "--namespace\n"
    )


def test_submit_follows_the_search_to_a_failed_end_and_exits_1(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    # kwok ends each Pod Succeeded after 1s and no sidecar reports a value, so every trial fails
    # and with --max-failed 0 the first failure ends the search.
    where = cluster(testplane, namespace)
    with operator_with(testplane, namespace, tmp_path):
        done = subprocess.run(
            [*HYPER, *dialect("doomed", "--max-failed", "0", "--submit", *where)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"submitted HyperSearch {namespace}/doomed")
    assert lines[-1].startswith("[1/2 done, 0 running, 1 failed, best val_acc -, Failed]")
    assert done.stdout.startswith(f"search {namespace}/doomed: 1/2 trials, Failed")
    assert "\nfailed trials:\n  doomed-0000 " in done.stdout
    assert done.stdout.endswith("best: none (no trial succeeded)\n")


def test_status_watch_follows_a_search_until_it_succeeds(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("watched", max_trials=2, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest):
        search_when(
            testplane,
            namespace,
            "watched",
            lambda s: trial_phase(s, "watched-0000") == trial_phase(s, "watched-0001") == "Running",
            "two trials running",
        )
        watch = subprocess.Popen(
            [
                *HYPER,
                "status",
                "hs/watched",
                "--watch",
                "-o",
                "json",
                *cluster(testplane, namespace),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert watch.stderr is not None
            first = watch.stderr.readline()  # the watcher is reading before the trials end
            for trial, value in (("watched-0000", 0.5), ("watched-0001", 0.7)):
                finish_trial(
                    testplane, namespace, search="watched", pod=trial, value=value, workdir=tmp_path
                )
            out, err = watch.communicate(timeout=120)
        finally:
            watch.kill()
    assert watch.returncode == 0, err
    progress = [first.rstrip("\n"), *err.splitlines()]
    assert progress[0] == "[0/2 done, 2 running, 0 failed, best val_acc -, Running]"
    assert progress[-1] == (
        "[2/2 done, 0 running, 0 failed, best val_acc 0.7 (watched-0001), Succeeded]"
    )
    doc = yaml.safe_load(out)
    assert doc["search"]["reason"] == "MaxTrialsReached"
    assert doc["best"]["name"] == "watched-0001"
    assert [t["status"] for t in doc["trials"]] == ["Succeeded", "Succeeded"]
