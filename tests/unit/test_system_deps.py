"""`e2e/system-deps`: `make test` stops in its first seconds, in one line, when a system program
the tests drive is missing, and names the command that installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "e2e" / "system-deps"


def run_check(path_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(path_dir)},
        timeout=30,
        check=False,
    )


def tools_dir(tmp_path: Path, *present: str) -> Path:
    """A PATH holding only the helpers the script itself uses, plus fake ``present`` commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    for name in present:
        fake = bin_dir / name
        fake.write_text("#!/bin/sh\n")
        fake.chmod(0o755)
    return bin_dir


def test_missing_programs_are_named_in_one_line_with_the_install_command(tmp_path: Path) -> None:
    result = run_check(tools_dir(tmp_path, "setpriv"))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    sudo = "" if os.geteuid() == 0 else "sudo "
    assert lines[0] == (
        "system-deps: missing chromium promtool prometheus; install with: "
        f"{sudo}apt-get update && {sudo}apt-get install -y chromium prometheus"
    )


def test_nothing_is_printed_when_every_program_is_present(tmp_path: Path) -> None:
    result = run_check(tools_dir(tmp_path, "chromium", "promtool", "prometheus", "setpriv"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
