#!/usr/bin/env python3
"""Copy the files the chart ships from their source of truth into charts/hypersearch.

Helm can only read files inside the chart folder, so the chart carries copies:
  crds/*.yaml                   -> charts/hypersearch/crds/      (the generated HyperSearch CRD)
  deploy/grafana/hypersearch.json -> charts/hypersearch/files/grafana/hypersearch.json
The chart's own crds/kopf-peering.yaml (kopf's peering CRDs) has no source outside the chart
and is kept. `--check` changes nothing and exits 1 listing every copy that differs (the unit
test tests/unit/test_chart_files.py runs the same comparison). Standard library only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "hypersearch"
CHART_OWNED_CRDS = frozenset({"kopf-peering.yaml"})


def planned_copies(repo: Path = REPO) -> list[tuple[Path, Path]]:
    """(source, copy) pairs: every CRD in crds/ and the Grafana dashboard."""
    chart = repo / "charts" / "hypersearch"
    pairs = [(src, chart / "crds" / src.name) for src in sorted((repo / "crds").glob("*.yaml"))]
    dashboard = repo / "deploy" / "grafana" / "hypersearch.json"
    pairs.append((dashboard, chart / "files" / "grafana" / dashboard.name))
    return pairs


def stale_copies(repo: Path = REPO) -> list[Path]:
    """Chart CRDs with no source in crds/ any more (deleted or renamed there)."""
    sources = {src.name for src in (repo / "crds").glob("*.yaml")}
    chart_crds = (repo / "charts" / "hypersearch" / "crds").glob("*.yaml")
    return sorted(p for p in chart_crds if p.name not in sources | CHART_OWNED_CRDS)


def problems(repo: Path = REPO) -> list[str]:
    """What differs between the sources and the chart's copies, one line each."""
    found = []
    for src, dst in planned_copies(repo):
        source, copy = src.relative_to(repo), dst.relative_to(repo)
        if not src.is_file():
            found.append(f"{source} is missing (the source of {copy})")
        elif not dst.is_file():
            found.append(f"{copy} is missing (a copy of {source})")
        elif src.read_bytes() != dst.read_bytes():
            found.append(f"{copy} differs from {source}")
    found += [f"{p.relative_to(repo)} has no source in crds/" for p in stale_copies(repo)]
    return found


def sync(repo: Path = REPO) -> list[str]:
    """Make the copies identical to their sources; returns what changed."""
    changed = []
    for src, dst in planned_copies(repo):
        if src.is_file() and (not dst.is_file() or src.read_bytes() != dst.read_bytes()):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            changed.append(f"copied {src.relative_to(repo)} -> {dst.relative_to(repo)}")
    for stale in stale_copies(repo):
        stale.unlink()
        changed.append(f"removed {stale.relative_to(repo)}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("run charts/sync-files.py to update the chart's copies", file=sys.stderr)
        return 1 if found else 0
    for line in sync():
        print(line)
    missing = [line for line in problems() if "is missing" in line]
    for line in missing:
        print(line, file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
