"""What `hyper grid|random|bayesian --manifest` prints is accepted by a real API server.

The dialect's promise is "the same flags can run locally, print the equivalent manifest, or submit
it to a cluster": each printed manifest is applied with `kubectl apply --dry-run=server`, so the
generated CRD's schema and CEL rules judge it, and `hyper run` reads the same file back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hypersearch.core.manifest import parse_manifest
from integration.operator_harness import install_crd
from integration.plane import ControlPlane

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

HYPER = [sys.executable, "-m", "hypersearch.cli"]
IMAGE = ["--image", "registry.example.com/team/train:1.0", "--manifest"]

COMMANDS = {
    "the README's bayesian CNN search": [
        "bayesian", "-t", "K80",
        "--param", "conv2_filter=16:128:int", "--param", "conv2_kernel=2:8:int",
        "--param", "dense_layer=64:1024:int", "--param", "dropout_3=0.001:0.999",
        "--num-runs", "21", "--parallel-runs", "3", "--metric", "keras/val_acc",
        "--metric-agg", "last", *IMAGE,
        "--", "python", "train.py", "--epochs", "25", "--conv2_filter", ":conv2_filter:",
        "--conv2_kernel", ":conv2_kernel:", "--dense_layer", ":dense_layer:",
        "--dropout_3", ":dropout_3:",
    ],
    "a grid of lists, categories and an int range": [
        "grid", "--param", "rate=0.001,0.01,0.1", "--param", "opt=adam,sgd",
        "--param", "layers=1:3:int", "-m", "loss", "--goal", "minimize", "--timeout", "60",
        "--max-failed", "0", *IMAGE, "--", "python", "train.py", "--rate=:rate:", "--opt", ":opt:",
        "--layers", ":layers:",
    ],
    "a random search of log ranges": [
        "random", "--param", "lr=0.0001:0.1:log", "--param", "batch=16:512:log:int",
        "-n", "8", "-P", "4", "-m", "val_acc", "--metric-agg", "max", "--seed", "7",
        "--name", "lr-batch", *IMAGE, "--", "./train.sh", ":lr:", ":batch:",
    ],
}  # fmt: skip


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_printed_manifest_passes_the_api_servers_validation_and_reads_back(
    argv: list[str],
    testplane: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> None:
    install_crd(testplane)
    done = subprocess.run(
        [*HYPER, *argv], capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    path = tmp_path / "search.yaml"
    path.write_text(done.stdout)
    applied = testplane.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path))
    name = yaml.safe_load(done.stdout)["metadata"]["name"]
    assert applied.stdout == f"hypersearch.hypersearch.io/{name} created (server dry run)\n"
    spec = parse_manifest(path.read_text(), source=str(path))
    assert spec.name == name
