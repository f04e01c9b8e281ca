"""The CNN example runs and reports Keras-style val_acc that the metric parser reads.

Needs PyTorch (``make torch``); skipped with that reason when torch is not importable.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from needs_torch import NEEDS_TORCH

from hypersearch.core.manifest import parse_manifest
from hypersearch.core.metrics import MetricStream, final_value

pytestmark = NEEDS_TORCH

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"


def test_cnn_quick_check_prints_epochs_that_give_a_val_acc() -> None:
    spec = parse_manifest((EXAMPLE / "search.yaml").read_text())
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--epochs", "2", "--limit", "300",
         "--conv2_filter", "16", "--conv2_kernel", "8", "--dense_layer", "64", "--dropout_3", "0.2",
         "--device", "cpu"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Epoch 2/2" in done.stdout
    stream = MetricStream()
    observations = stream.feed(done.stdout) + stream.flush()
    val_acc = [o for o in observations if o.metric == "val_acc"]
    assert [o.step for o in val_acc] == [1, 2]
    value, problem = final_value(observations, spec.objective)
    assert problem is None
    assert value == val_acc[-1].value
    assert 0.0 <= val_acc[-1].value <= 1.0
