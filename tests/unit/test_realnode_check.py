"""`e2e/realnode check`: where a real node cannot run, one line says why (the real-node tests
skip with it and `make test` prints it first)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "e2e" / "realnode"


def test_check_names_in_one_line_what_keeps_a_real_node_from_running(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id"):  # what the script needs to get as far as the check
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    result = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT), "check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(bin_dir)},
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    expected = (
        "containerd is not installed (see e2e/system-packages.txt)"
        if os.geteuid() == 0
        else "needs root (containerd, kubelet, iptables)"
    )
    assert result.stdout == expected + "\n"
