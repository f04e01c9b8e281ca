"""The operator's Prometheus series: names, labels, values, and bounded cardinality."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hypersearch.controller.metrics import (
    SEARCH_PHASES,
    OperatorMetrics,
    start_metrics_server,
)
from hypersearch.core.engine import Counts


def counts(pending: int = 0, running: int = 0, succeeded: int = 0, failed: int = 0) -> Counts:
    return Counts(
        total=pending + running + succeeded + failed,
        pending=pending,
        running=running,
        succeeded=succeeded,
        failed=failed,
    )


def value(m: OperatorMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def series_with_label(m: OperatorMetrics, label: str, wanted: str) -> list[str]:
    """Every exported sample that carries ``label=wanted`` (to prove series are gone)."""
    found = []
    for family in m.registry.collect():
        for sample in family.samples:
            if sample.labels.get(label) == wanted:
                found.append(f"{sample.name}{sample.labels}")
    return found


def test_observe_search_exports_per_search_trials_phase_and_best() -> None:
    m = OperatorMetrics()
    m.observe_search("ml", "cifar", "Running", counts(pending=1, running=2, succeeded=5), 0.82)

    assert (
        value(m, "hypersearch_search_trials", namespace="ml", search="cifar", phase="Pending") == 1
    )
    assert (
        value(m, "hypersearch_search_trials", namespace="ml", search="cifar", phase="Running") == 2
    )
    assert (
        value(m, "hypersearch_search_trials", namespace="ml", search="cifar", phase="Succeeded")
        == 5
    )
    assert (
        value(m, "hypersearch_search_trials", namespace="ml", search="cifar", phase="Failed") == 0
    )
    assert value(m, "hypersearch_search_best_value", namespace="ml", search="cifar") == 0.82
    assert (
        value(m, "hypersearch_search_phase", namespace="ml", search="cifar", phase="Running") == 1
    )
    assert value(m, "hypersearch_search_phase", namespace="ml", search="cifar", phase="Failed") == 0
    assert value(m, "hypersearch_trial_pods_active") == 3


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ([], {"Pending": 0, "Running": 0, "Succeeded": 0, "Failed": 0}),
        (
            [("a", "Running"), ("b", "Running")],
            {"Pending": 0, "Running": 2, "Succeeded": 0, "Failed": 0},
        ),
        (
            [("a", "Running"), ("a", "Succeeded")],
            {"Pending": 0, "Running": 0, "Succeeded": 1, "Failed": 0},
        ),
        (
            [("a", "Pending"), ("b", "Failed"), ("c", "Succeeded")],
            {"Pending": 1, "Running": 0, "Succeeded": 1, "Failed": 1},
        ),
    ],
    ids=["none-yet", "two-running", "phase-change-moves-the-search", "one-in-each"],
)
def test_searches_by_phase_counts_each_search_once_in_its_latest_phase(
    observed: list[tuple[str, str]], expected: dict[str, int]
) -> None:
    m = OperatorMetrics()
    for name, phase in observed:
        m.observe_search("ml", name, phase, counts(), None)
    assert {p: value(m, "hypersearch_searches", phase=p) for p in SEARCH_PHASES} == expected


def test_forget_search_removes_every_series_that_names_the_search() -> None:
    m = OperatorMetrics()
    m.observe_search("ml", "gone", "Running", counts(running=2), 0.5)
    m.observe_search("ml", "kept", "Running", counts(running=1), 0.7)

    m.forget_search("ml", "gone")

    assert series_with_label(m, "search", "gone") == []
    assert value(m, "hypersearch_search_best_value", namespace="ml", search="kept") == 0.7
    assert value(m, "hypersearch_searches", phase="Running") == 1
    assert value(m, "hypersearch_trial_pods_active") == 1


def test_forget_search_of_an_unknown_search_changes_nothing() -> None:
    m = OperatorMetrics()
    m.observe_search("ml", "kept", "Running", counts(running=1), None)
    m.forget_search("ml", "never-seen")
    assert value(m, "hypersearch_searches", phase="Running") == 1


def test_best_value_is_absent_until_known_and_removed_when_it_becomes_unknown() -> None:
    m = OperatorMetrics()
    m.observe_search("ml", "s", "Running", counts(running=1), None)
    assert value(m, "hypersearch_search_best_value", namespace="ml", search="s") is None
    m.observe_search("ml", "s", "Running", counts(succeeded=1), 0.25)
    assert value(m, "hypersearch_search_best_value", namespace="ml", search="s") == 0.25
    m.observe_search("ml", "s", "Running", counts(running=1), None)
    assert value(m, "hypersearch_search_best_value", namespace="ml", search="s") is None


def test_active_pods_can_be_given_explicitly_and_sum_over_searches() -> None:
    m = OperatorMetrics()
    m.observe_search("a", "s", "Running", counts(running=3), None, active_pods=1)
    m.observe_search("b", "s", "Running", counts(pending=2), None)
    assert value(m, "hypersearch_trial_pods_active") == 3


def test_unknown_search_phase_is_refused_with_the_valid_ones() -> None:
    m = OperatorMetrics()
    with pytest.raises(ValueError) as err:
        m.observe_search("ml", "s", "Completed", counts(), None)
    assert str(err.value) == (
        "search phase 'Completed' is not one of Pending, Running, Succeeded, Failed; "
        "add it to SEARCH_PHASES in hypersearch/controller/metrics.py first"
    )


def test_suggestion_latency_observes_one_sample_per_block_even_when_it_raises() -> None:
    m = OperatorMetrics()
    with m.suggestion_latency("bayesian"):
        pass
    with pytest.raises(RuntimeError), m.suggestion_latency("bayesian"):
        raise RuntimeError("fit failed")
    assert value(m, "hypersearch_suggestion_duration_seconds_count", algorithm="bayesian") == 2
    total = value(m, "hypersearch_suggestion_duration_seconds_sum", algorithm="bayesian")
    assert total is not None
    assert total >= 0
    inf_bucket = value(
        m, "hypersearch_suggestion_duration_seconds_bucket", algorithm="bayesian", le="+Inf"
    )
    assert inf_bucket == 2


@pytest.mark.parametrize(
    ("calls", "errors", "retries"),
    [
        ([("ApiUnavailable", True)], 1, 1),
        ([("InvalidSpec", False)], 1, 0),
        ([("ApiUnavailable", True), ("ApiUnavailable", True), ("ApiUnavailable", False)], 3, 2),
    ],
    ids=["temporary-is-retried", "permanent-is-not", "counts-accumulate"],
)
def test_reconcile_error_counts_errors_and_the_retried_ones(
    calls: list[tuple[str, bool]], errors: int, retries: int
) -> None:
    m = OperatorMetrics()
    for reason, retrying in calls:
        m.reconcile_error(reason, retrying=retrying)
    reason = calls[0][0]
    assert value(m, "hypersearch_reconcile_errors_total", reason=reason) == errors
    assert (value(m, "hypersearch_reconcile_retries_total", reason=reason) or 0) == retries


@pytest.mark.parametrize(
    "reason",
    ["connection refused by 10.0.0.1", "apiUnavailable", "", "A" * 65, "429"],
    ids=["a-message", "lower-camel", "empty", "too-long", "a-status-code"],
)
def test_reconcile_error_counts_reasons_that_are_not_one_camel_case_word_as_other(
    reason: str,
) -> None:
    m = OperatorMetrics()
    m.reconcile_error(reason, retrying=True)
    assert value(m, "hypersearch_reconcile_errors_total", reason="Other") == 1
    assert value(m, "hypersearch_reconcile_retries_total", reason="Other") == 1
    assert series_with_label(m, "reason", reason) == []


def test_every_series_follows_prometheus_naming_conventions() -> None:
    m = OperatorMetrics()
    m.observe_search("ml", "s", "Running", counts(running=1), 1.0)
    with m.suggestion_latency("grid"):
        pass
    m.reconcile_error("Conflict", retrying=True)
    for family in m.registry.collect():
        assert family.name.startswith("hypersearch_"), family.name
        assert family.documentation, f"{family.name} has no help text"
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name


def test_build_info_names_the_installed_version() -> None:
    m = OperatorMetrics()
    samples = [
        s for f in m.registry.collect() if f.name == "hypersearch_build_info" for s in f.samples
    ]
    assert len(samples) == 1
    assert samples[0].value == 1
    assert samples[0].labels["version"] != ""


def test_metrics_server_serves_the_text_exposition_over_http() -> None:
    m = OperatorMetrics()
    m.observe_search("ml", "served", "Succeeded", counts(succeeded=4), 0.9)
    server = start_metrics_server(0, addr="127.0.0.1", metrics=m)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as resp:
            body = resp.read().decode()
            content_type = resp.headers["Content-Type"]
    finally:
        server.close()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    best = [
        s
        for s in families["hypersearch_search_best_value"].samples
        if s.labels["search"] == "served"
    ]
    assert [s.value for s in best] == [0.9]
    assert families["hypersearch_reconcile_errors"].type == "counter"


def test_early_stopped_trials_have_their_own_phase_series() -> None:
    m = OperatorMetrics()
    stopped = Counts(total=5, pending=0, running=1, succeeded=2, failed=0, early_stopped=2)
    m.observe_search("ml", "cifar", "Running", stopped, 0.9)
    labels = {"namespace": "ml", "search": "cifar"}
    assert value(m, "hypersearch_search_trials", **labels, phase="EarlyStopped") == 2
    assert value(m, "hypersearch_search_trials", **labels, phase="Failed") == 0
    m.forget_search("ml", "cifar")
    assert series_with_label(m, "search", "cifar") == []


def test_queued_trials_have_their_own_phase_series_and_waits_their_histogram() -> None:
    m = OperatorMetrics()
    waiting = Counts(total=5, pending=0, running=2, succeeded=0, failed=0, queued=3)
    m.observe_search("ml", "gpu", "Running", waiting, None)
    labels = {"namespace": "ml", "search": "gpu"}
    assert value(m, "hypersearch_search_trials", **labels, phase="Queued") == 3
    assert value(m, "hypersearch_trial_pods_active") == 2  # queued trials have no Pods
    m.admitted(40.0)
    m.admitted(4000.0)
    m.requeued()
    assert value(m, "hypersearch_trial_queue_seconds_count") == 2
    assert value(m, "hypersearch_trial_queue_seconds_sum") == 4040.0
    assert value(m, "hypersearch_trial_queue_seconds_bucket", le="60.0") == 1
    assert value(m, "hypersearch_trial_requeues_total") == 1
