"""Without PyTorch the CNN example says how to get it instead of ending in a traceback.

A trial's last log lines are what a user sees of a failed trial, so they must name the fix. The
test hides torch behind a module that fails to import, so it runs whether torch is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

TRAIN = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn" / "train.py"


def test_the_cnn_trainer_without_torch_names_the_fix_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "torch.py").write_text("raise ImportError('No module named torch')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(TRAIN), "--epochs", "1"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "train.py: PyTorch is not installed in this Python "
        f"({sys.executable}); install it with `make torch` from the repository root "
        "(a CUDA build of several GB), or `pip install torch`\n"
    )
