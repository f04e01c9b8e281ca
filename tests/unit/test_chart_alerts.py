"""The chart's alert rules fire when they should, and only then (Prometheus's own promtool).

The PrometheusRule is rendered by helm, its groups written as a rules file, and promtool's rule
unit tests replay synthetic series through them. promtool comes with Debian's `prometheus`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hypersearch"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not on PATH: install Debian's prometheus (apt-get install -y prometheus)"
        )
    return found


def rendered_rules(tmp_path: Path, *flags: str) -> Path:
    helm = subprocess.run(
        [str(REPO / "charts" / "get-helm")], capture_output=True, text=True, timeout=600, check=True
    ).stdout.strip()
    proc = subprocess.run(
        [
            helm,
            "template",
            "hs",
            str(CHART),
            "--set",
            "metrics.prometheusRule.enabled=true",
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rule = next(d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "PrometheusRule")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def annotations_for(
    rules: Path, alert: str, labels: dict[str, str], value: str = ""
) -> dict[str, str]:
    """The annotations promtool will expect: the rule's templates with these labels filled in."""
    groups = yaml.safe_load(rules.read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == alert)
    filled = {}
    for key, template in rule["annotations"].items():
        text = template.replace("{{ $value }}", value)
        filled[key] = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
    return filled


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    """One promtool input series, e.g. series("up", "1x20", job="x")."""
    inner = ",".join(f'{key}="{val}"' for key, val in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def silent(alert: str, at: str) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": []}


def fires(
    rules: Path, alert: str, at: str, labels: dict[str, str], value: str = ""
) -> dict[str, Any]:
    """The alert fires at ``at`` with exactly these labels and the rule's annotations filled in."""
    expected = {
        "exp_labels": labels,
        "exp_annotations": annotations_for(rules, alert, labels, value),
    }
    return {"eval_time": at, "alertname": alert, "exp_alerts": [expected]}


def run_promtool_tests(tmp_path: Path, rules: Path, tests: list[dict[str, Any]]) -> None:
    spec = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = subprocess.run(
        [promtool(), "test", "rules", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_rendered_rules_pass_promtool_check(tmp_path: Path) -> None:
    rules = rendered_rules(tmp_path)
    proc = subprocess.run(
        [promtool(), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 5 rules found" in proc.stdout


def test_search_failed_alert_fires_once_the_search_is_failed_and_names_it(tmp_path: Path) -> None:
    labels = {"severity": "warning", "namespace": "ml", "search": "cifar", "phase": "Failed"}
    rules = rendered_rules(tmp_path)
    phase = "hypersearch_search_phase"
    inputs = [
        series(phase, "0 0 1 1", namespace="ml", search="cifar", phase="Failed"),
        series(phase, "0 0 0 0", namespace="ml", search="ok", phase="Failed"),
    ]
    firing = fires(rules, "HyperSearchFailed", "3m", labels)
    run_promtool_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": inputs,
                "alert_rule_test": [silent("HyperSearchFailed", "1m"), firing],
            }
        ],
    )
    assert firing["exp_alerts"][0]["exp_annotations"] == {
        "summary": "HyperSearch ml/cifar failed",
        "description": "The search stopped in phase Failed (for example more failed trials than "
        "spec.maxFailedTrials). Run: kubectl describe hypersearch -n ml cifar",
    }


def test_stalled_alert_fires_while_the_search_is_stalled_and_names_it(tmp_path: Path) -> None:
    labels = {"severity": "warning", "namespace": "ml", "search": "cifar"}
    rules = rendered_rules(tmp_path)
    inputs = [series("hypersearch_search_stalled", "_ _ 1 1 stale", namespace="ml", search="cifar")]
    firing = fires(rules, "HyperSearchStalled", "3m", labels)
    run_promtool_tests(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": inputs,
                "alert_rule_test": [
                    silent("HyperSearchStalled", "1m"),
                    firing,
                    silent("HyperSearchStalled", "5m"),
                ],
            }
        ],
    )
    assert firing["exp_alerts"][0]["exp_annotations"]["summary"] == (
        "HyperSearch ml/cifar is stalled: the operator cannot reach or write to the API server"
    )


def test_pending_trials_alert_waits_for_the_configured_duration(tmp_path: Path) -> None:
    rules = rendered_rules(tmp_path, "--set", "metrics.prometheusRule.trialsPendingFor=20m")
    trials = "hypersearch_search_trials"
    inputs = [
        series(trials, "2x40", namespace="ml", search="cifar", phase="Pending"),
        series(trials, "0x40", namespace="ml", search="done", phase="Pending"),
    ]
    alert = "HyperSearchTrialsStuckPending"
    labels = {"severity": "warning", "namespace": "ml", "search": "cifar"}
    tests = [silent(alert, "15m"), fires(rules, alert, "25m", labels, value="2")]
    run_promtool_tests(
        tmp_path, rules, [{"interval": "1m", "input_series": inputs, "alert_rule_test": tests}]
    )
    assert annotations_for(rules, alert, labels)["summary"] == (
        "HyperSearch ml/cifar has had trials Pending for 20m"
    )


def test_reconcile_errors_alert_fires_on_a_sustained_error_rate_per_reason(tmp_path: Path) -> None:
    rules = rendered_rules(tmp_path)
    errors = "hypersearch_reconcile_errors_total"
    inputs = [
        series(errors, "0+1x40", reason="ApiUnavailable"),
        series(errors, "3x40", reason="Conflict"),
    ]
    alert = "HyperSearchReconcileErrors"
    labels = {"severity": "warning", "reason": "ApiUnavailable"}
    tests = [silent(alert, "10m"), fires(rules, alert, "30m", labels)]
    run_promtool_tests(
        tmp_path, rules, [{"interval": "1m", "input_series": inputs, "alert_rule_test": tests}]
    )


def test_operator_absent_alert_fires_only_without_any_operator_series(tmp_path: Path) -> None:
    rules = rendered_rules(tmp_path)
    alert = "HyperSearchOperatorAbsent"
    without = {
        "interval": "1m",
        "input_series": [series("up", "1x20", job="other")],
        "alert_rule_test": [fires(rules, alert, "15m", {"severity": "warning"})],
    }
    with_operator = {
        "interval": "1m",
        "input_series": [series("hypersearch_build_info", "1x20", version="0.1.0")],
        "alert_rule_test": [silent(alert, "15m")],
    }
    run_promtool_tests(tmp_path, rules, [without, with_operator])
