"""The layering written in pyproject.toml's import-linter contracts holds (not only in make lint).

cli > shells (controller, local, sidecar, report; independent of each other) > kube > core;
kopf only in the controller; HTTP clients only in kube; the sidecar light even through indirect
imports. docs/architecture.md, "Layers", says why each rule exists.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_linter_contract_is_kept() -> None:
    # In a child process: import-linter changes the logging set-up of the process it runs in.
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(no_logo=True))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout
    assert done.stdout.count("KEPT") == 5, done.stdout


def test_the_contracts_name_every_top_level_part_of_the_package() -> None:
    """A new top-level module or package outside the layers would escape every contract."""
    package = ROOT / "operator" / "hypersearch"
    parts = {p.stem for p in package.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    text = (ROOT / "pyproject.toml").read_text()
    layered = {
        part for part in parts if f'"hypersearch.{part}' in text or f"| hypersearch.{part}" in text
    }
    assert parts - {"__init__"} - layered == set(), sorted(parts - layered)
