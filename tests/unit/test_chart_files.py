"""The chart's copied files match their sources, and its PromQL names series that exist."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from hypersearch.controller.metrics import OperatorMetrics
from hypersearch.core.engine import Counts

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hypersearch"
SYNC_SCRIPT = REPO / "charts" / "sync-files.py"
DASHBOARD = REPO / "deploy" / "grafana" / "hypersearch.json"
SERIES_NAME = re.compile(r"\bhypersearch_[a-z_]+\b")


def sync_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chart_sync_files", SYNC_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_series() -> set[str]:
    """Every sample name the operator exports once each kind of call has happened."""
    m = OperatorMetrics()
    m.observe_search(
        "ns", "s", "Running", Counts(total=1, pending=0, running=1, succeeded=0, failed=0), 1.0
    )
    with m.suggestion_latency("bayesian"):
        pass
    m.reconcile_error("Conflict", retrying=True)
    m.api_error("PATCH", "Timeout")
    m.stalled("ns", "s", True)
    m.event_dropped("TrialStarted")
    return {sample.name for family in m.registry.collect() for sample in family.samples}


def test_chart_copies_are_identical_to_their_sources() -> None:
    proc = subprocess.run(
        [sys.executable, str(SYNC_SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sync_module().problems() == []


def test_chart_ships_the_hypersearch_crd() -> None:
    crd = yaml.safe_load((CHART / "crds" / "hypersearch.io_hypersearches.yaml").read_text())
    assert crd["metadata"]["name"] == "hypersearches.hypersearch.io"
    assert crd["spec"]["names"]["kind"] == "HyperSearch"


def test_sync_check_names_each_drifted_copy_and_sync_repairs_it(tmp_path: Path) -> None:
    for part in (
        "crds",
        "deploy/grafana",
        "charts/hypersearch/crds",
        "charts/hypersearch/files/grafana",
    ):
        (tmp_path / part).mkdir(parents=True)
    (tmp_path / "crds" / "hypersearch.io_hypersearches.yaml").write_text(
        "kind: CustomResourceDefinition\n"
    )
    shutil.copy(DASHBOARD, tmp_path / "deploy" / "grafana" / "hypersearch.json")
    (tmp_path / "charts/hypersearch/files/grafana/hypersearch.json").write_text("{}\n")
    (tmp_path / "charts/hypersearch/crds/old.yaml").write_text("kind: CustomResourceDefinition\n")
    (tmp_path / "charts/hypersearch/crds/kopf-peering.yaml").write_text(
        "kind: CustomResourceDefinition\n"
    )
    sync = sync_module()

    assert sync.problems(tmp_path) == [
        "charts/hypersearch/crds/hypersearch.io_hypersearches.yaml is missing "
        "(a copy of crds/hypersearch.io_hypersearches.yaml)",
        "charts/hypersearch/files/grafana/hypersearch.json differs from "
        "deploy/grafana/hypersearch.json",
        "charts/hypersearch/crds/old.yaml has no source in crds/",
    ]
    sync.sync(tmp_path)
    assert sync.problems(tmp_path) == []
    assert (tmp_path / "charts/hypersearch/crds/kopf-peering.yaml").exists()


def test_dashboard_queries_name_only_series_the_operator_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = {name for expr in exprs for name in SERIES_NAME.findall(expr)}
    assert used - exported_series() == set()
    assert len(used) >= 7


def test_dashboard_is_a_grafana_dashboard_with_unique_panel_ids_and_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "hypersearch-operator"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["description"], f"panel {panel['title']!r} has no description"


def test_alert_rules_name_only_series_the_operator_exports() -> None:
    template = (CHART / "templates" / "prometheusrule.yaml").read_text()
    exprs = re.findall(r"^\s+expr: (.+)$", template, flags=re.MULTILINE)
    used = {name for expr in exprs for name in SERIES_NAME.findall(expr)}
    assert len(exprs) == 5
    assert used - exported_series() == set()


@pytest.mark.parametrize("path", sorted((CHART / "crds").glob("*.yaml")), ids=lambda p: p.name)
def test_every_chart_crd_is_a_v1_custom_resource_definition(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
        assert doc["kind"] == "CustomResourceDefinition"
        assert doc["metadata"]["name"] == f"{doc['spec']['names']['plural']}.{doc['spec']['group']}"
