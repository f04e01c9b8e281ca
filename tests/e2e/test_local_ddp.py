"""The CNN example trained data-parallel under torchrun (Gloo on the CPU), alone and as the
trials of a local search: what examples/k8s/ddp-jobset.yaml runs on each node, short of the
cluster. Stopping a torchrun trial must end every process it started, not only torchrun.

Needs PyTorch (``make torch``); skipped with that reason when torch is not importable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from needs_torch import NEEDS_TORCH

from hypersearch.core.metrics import MetricStream

pytestmark = NEEDS_TORCH

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"
HYPER = [sys.executable, "-m", "hypersearch.cli"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
SMALL = ["--limit", "300", "--conv2_filter", "16", "--conv2_kernel", "3", "--dense_layer", "64"]


def env() -> dict[str, str]:
    # One thread per process: two workers on a small machine, and no GPU even where one is.
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def processes_running(marker: str) -> list[str]:
    """Command lines of the live processes that mention ``marker`` (a path of this test)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = next(
                line for line in (proc / "status").read_text().splitlines() if line[:6] == "State:"
            )
        except (OSError, StopIteration):
            continue
        if marker in cmdline and "Z" not in state.split()[1]:
            found.append(cmdline)
    return found


@pytest.fixture
def train(tmp_path: Path) -> Path:
    """A copy of the example's train.py under this test's own path, so its processes are found
    by their command line."""
    return Path(shutil.copy(EXAMPLE / "train.py", tmp_path / "train.py"))


def test_torchrun_trains_on_two_processes_and_only_the_first_prints_epochs(train: Path) -> None:
    done = subprocess.run(
        [*TORCHRUN, str(train), "--epochs", "2", "--dropout_3", "0.2", "--device", "cpu", *SMALL],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(cpu, rank 0 of 2)" in done.stdout
    # Each process trains on its half; only LOCAL_RANK 0 prints, so each epoch appears once.
    assert done.stdout.count("Epoch 2/2") == 1
    stream = MetricStream()
    val_acc = [o for o in stream.feed(done.stdout) + stream.flush() if o.metric == "val_acc"]
    assert [o.step for o in val_acc] == [1, 2]
    assert all(0.0 <= o.value <= 1.0 for o in val_acc)


def test_a_local_search_runs_torchrun_trials_and_a_timeout_ends_all_their_processes(
    train: Path, tmp_path: Path
) -> None:
    search = subprocess.run(
        [
            *HYPER, "random", "--param", "dropout_3=0.1:0.5", "--num-runs", "2",
            "--metric", "val_acc", "--state-dir", str(tmp_path / "state"), "-o", "json", "--",
            *TORCHRUN, str(train), "--epochs", "2", "--dropout_3", ":dropout_3:",
            "--device", "cpu", *SMALL,
        ],
        capture_output=True, text=True, timeout=600, check=False, env=env(), cwd=tmp_path,
    )  # fmt: skip
    assert search.returncode == 0, search.stderr[-3000:]
    trials = json.loads(search.stdout)["trials"]
    assert [t["status"] for t in trials] == ["Succeeded", "Succeeded"]
    assert all(0.0 <= t["value"] <= 1.0 for t in trials)
    assert processes_running(str(train)) == []

    slow = subprocess.run(
        [
            *HYPER, "random", "--param", "dropout_3=0.1:0.5", "--num-runs", "1",
            "--metric", "val_acc", "--timeout", "25", "--max-failed", "1",
            "--state-dir", str(tmp_path / "slow"), "-o", "json", "--",
            *TORCHRUN, str(train), "--epochs", "100000", "--dropout_3", ":dropout_3:",
            "--device", "cpu", *SMALL,
        ],
        capture_output=True, text=True, timeout=600, check=False, env=env(), cwd=tmp_path,
    )  # fmt: skip
    (trial,) = json.loads(slow.stdout)["trials"]
    assert (trial["status"], trial["reason"]) == ("Failed", "Timeout"), slow.stderr[-3000:]
    # torchrun and both of its workers, not only the process the runner started.
    assert processes_running(str(train)) == []
