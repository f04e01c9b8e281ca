"""Early stopping with ``hyper`` on this machine: real processes whose curves differ.

tests/e2e/scripts/curves.py prints one report per epoch (a larger --x is better at every epoch)
and marks in a record folder when it started and when it printed its last epoch, so the tests
see which processes really ended early.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

CURVES = Path(__file__).parent / "scripts" / "curves.py"
HYPER = [sys.executable, "-m", "hypersearch.cli"]
XS = [0.9, 0.8, 0.3, 0.2, 0.1]
"""Grid order: two good trials first, then three whose curves lie below them from the start."""


@dataclass
class Workspace:
    root: Path

    @property
    def records(self) -> Path:
        return self.root / "records"

    def env(self) -> dict[str, str]:
        return {**os.environ, "HS_RECORD_DIR": str(self.records), "CUDA_VISIBLE_DEVICES": ""}

    def hyper(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HYPER, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def manifest(self, early: dict[str, Any], *, pause: float = 0.2) -> Path:
        doc = {
            "apiVersion": "hypersearch.io/v1alpha1",
            "kind": "HyperSearch",
            "metadata": {"name": "curves"},
            "spec": {
                "algorithm": {"name": "grid"},
                "objective": {"metric": "score", "goal": "maximize"},
                "parameters": [{"name": "x", "type": "discrete", "values": XS}],
                "maxTrials": len(XS),
                "parallelism": 1,
                "maxFailedTrials": 0,
                "earlyStopping": early,
                "trial": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "trainer",
                                    "image": "unused",
                                    "command": [
                                        "python",
                                        str(CURVES),
                                        "--x",
                                        ":x:",
                                        "--pause",
                                        str(pause),
                                    ],
                                }
                            ]
                        }
                    }
                },
            },
        }
        path = self.root / "curves.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    def marks(self, suffix: str) -> set[str]:
        return {p.name.split(".")[0] for p in self.records.glob(f"*.{suffix}")}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "records").mkdir()
    return Workspace(tmp_path)


def test_median_stops_the_processes_of_the_worse_curves_and_keeps_their_last_values(
    ws: Workspace,
) -> None:
    result = ws.hyper(
        "run",
        str(ws.manifest({"algorithm": "median", "gracePeriod": 2, "minTrials": 2})),
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    trials = {t["name"]: t for t in json.loads(result.stdout)["trials"]}
    good, stopped = ["curves-0000", "curves-0001"], ["curves-0002", "curves-0003", "curves-0004"]
    assert [trials[n]["status"] for n in good] == ["Succeeded", "Succeeded"]
    assert [trials[n]["status"] for n in stopped] == ["EarlyStopped"] * 3
    assert all(trials[n]["reason"] == "EarlyStopped" for n in stopped)
    assert trials["curves-0002"]["message"].startswith(
        "score 0.06 at step 2 is worse than the median"
    )
    # The value is the last report before the stop (epoch 2 of 10), and the process ended early.
    assert [trials[n]["value"] for n in stopped] == [0.06, 0.04, 0.02]
    assert ws.marks("done") == set(good)
    assert ws.marks("start") == set(good) | set(stopped)
    best = json.loads(result.stdout)["best"]
    assert (best["name"], best["value"]) == ("curves-0000", 0.9)


def test_status_and_the_table_show_early_stopped_trials(ws: Workspace) -> None:
    path = ws.manifest({"algorithm": "asha", "minResource": 2, "maxResource": 10}, pause=0.1)
    run = ws.hyper("run", str(path))
    assert run.returncode == 0, run.stderr
    status = ws.hyper("status", "curves")
    first, *table = status.stdout.splitlines()
    assert first == (
        "search curves: 2 succeeded, 0 failed, 3 early-stopped, 5/5 trials recorded, "
        "finished: MaxTrialsReached"
    )
    rows = {line.split()[0]: line.split() for line in table if line.startswith("curves-")}
    assert [rows[f"curves-000{i}"][1] for i in range(5)] == [
        "Succeeded",
        "Succeeded",
        "EarlyStopped",
        "EarlyStopped",
        "EarlyStopped",
    ]
    assert rows["curves-0002"][-1] == "EarlyStopped"


def test_a_crash_after_a_stop_resumes_without_running_or_stopping_that_trial_again(
    ws: Workspace,
) -> None:
    path = ws.manifest({"algorithm": "median", "gracePeriod": 2, "minTrials": 2}, pause=0.3)
    journal = ws.root / ".hyper" / "curves" / "journal.sqlite"
    proc = subprocess.Popen(
        [*HYPER, "run", str(path)],
        cwd=ws.root,
        env=ws.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while "EarlyStopped" not in _statuses(journal).values():
            assert proc.poll() is None and time.monotonic() < deadline, "no trial was stopped"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    stopped_before = {n for n, s in _statuses(journal).items() if s == "EarlyStopped"}
    resumed = ws.hyper("run", str(path), "-o", "json")
    assert resumed.returncode == 0, resumed.stderr
    trials = {t["name"]: t for t in json.loads(resumed.stdout)["trials"]}
    for name in stopped_before:
        assert trials[name]["status"] == "EarlyStopped"
        starts = list(ws.records.glob(f"{name}.*.start"))
        assert len(starts) == 1, f"{name} ran again after it was stopped"


def _statuses(journal: Path) -> dict[str, str]:
    if not journal.exists():
        return {}
    try:
        with sqlite3.connect(journal) as db:
            return dict(db.execute("SELECT name, status FROM trials").fetchall())
    except sqlite3.OperationalError:
        return {}
