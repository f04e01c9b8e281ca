"""`e2e/system-deps`: `make test` stops in its first seconds, in one line, when a system program
the tests drive is missing, and names the command that installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "e2e" / "system-deps"
LIST = SCRIPT.parent / "system-packages.txt"
# (command, package) of the lines only root needs (the real node's programs).
ROOT_ONLY = [
    (line.split()[0].removeprefix("root:"), line.split()[1])
    for line in LIST.read_text().splitlines()
    if line.startswith("root:")
]
IS_ROOT = os.geteuid() == 0


def root_only_fakes() -> list[str]:
    """Root-only commands a fake can stand for (absolute paths are checked where they are)."""
    return [cmd for cmd, _ in ROOT_ONLY if "/" not in cmd] if IS_ROOT else []


def missing_root_paths() -> list[tuple[str, str]]:
    return [(c, p) for c, p in ROOT_ONLY if "/" in c and not Path(c).exists()] if IS_ROOT else []


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
    result = run_check(tools_dir(tmp_path, "setpriv", *root_only_fakes()))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    sudo = "" if IS_ROOT else "sudo "
    cmds = " ".join(["chromium promtool prometheus", *(c for c, _ in missing_root_paths())])
    pkgs = " ".join(["chromium prometheus", *(p for _, p in missing_root_paths())])
    assert lines[0] == (
        f"system-deps: missing {cmds}; install with: "
        f"{sudo}apt-get update && {sudo}apt-get install -y {pkgs}"
    )


def test_nothing_is_printed_when_every_program_is_present(tmp_path: Path) -> None:
    if missing_root_paths():
        pytest.skip(f"{missing_root_paths()} missing here; the first test covers that case")
    result = run_check(
        tools_dir(tmp_path, "chromium", "promtool", "prometheus", "setpriv", *root_only_fakes())
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_real_nodes_programs_are_asked_for_only_when_running_as_root(tmp_path: Path) -> None:
    result = run_check(tools_dir(tmp_path, "chromium", "promtool", "prometheus", "setpriv"))
    if not IS_ROOT:
        # The real-node tests skip without root: other users are not stopped for their programs.
        assert (result.returncode, result.stderr) == (0, "")
        return
    assert result.returncode == 1
    assert result.stderr.startswith("system-deps: missing containerd ctr runc ")
    assert "apt-get install -y containerd runc" in result.stderr
