"""The sidecar's status entry: bounded curve, final value, and why a value is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hypersearch.kube import curve
from hypersearch.sidecar.collector import Collector, Objective

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def collect(text: str, aggregation: str = "last") -> Collector:
    collector = Collector("s-0001", Objective("val_acc", aggregation))
    collector.feed(text)
    return collector


def test_running_entry_has_the_curve_but_no_value() -> None:
    entry = collect("epoch=1 val_acc=0.5\nepoch=2 val_acc=0.6\n").entry(NOW)
    assert entry == {
        "name": "s-0001",
        "observed": 2,
        "curve": [[1, 0.5], [2, 0.6]],
        "reportedAt": "2027-01-15T08:00:00Z",
    }


@pytest.mark.parametrize(
    ("aggregation", "value"), [("last", 0.6), ("max", 0.7), ("min", 0.5), ("avg", 0.6)]
)
def test_final_entry_aggregates_the_objective(aggregation: str, value: float) -> None:
    collector = collect("val_acc=0.5\nval_acc=0.7\nval_acc=0.6", aggregation)
    collector.finish()
    entry = collector.entry(NOW, exit_code=0)
    assert entry["exitCode"] == 0
    assert entry["value"] == pytest.approx(value)
    assert entry["observed"] == 3


def test_unfinished_last_line_counts_only_after_finish() -> None:
    collector = collect("val_acc=0.5\nval_acc=0.9")
    assert collector.entry(NOW)["observed"] == 1
    collector.finish()
    assert collector.entry(NOW, exit_code=0)["value"] == 0.9


def test_missing_metric_names_the_metrics_that_were_seen() -> None:
    collector = collect("loss=0.3 acc=0.9\n")
    entry = collector.entry(NOW, exit_code=0)
    assert "value" not in entry
    assert entry["metricMessage"] == "no value reported for metric val_acc (saw metrics: loss, acc)"


def test_keras_output_feeds_the_curve_with_epochs() -> None:
    text = (
        "Epoch 1/2\n10/10 [===] - loss: 0.9 - val_acc: 0.41\n"
        "Epoch 2/2\n10/10 [===] - val_acc: 0.52\n"
    )
    assert collect(text).entry(NOW)["curve"] == [[1, 0.41], [2, 0.52]]


def test_hundred_epochs_keep_a_bounded_curve_with_first_and_last() -> None:
    text = "".join(f"epoch={e} val_acc={e / 1000 + 0.123456789}\n" for e in range(1, 101))
    entry = collect(text).entry(NOW)
    assert entry["observed"] == 100
    assert len(entry["curve"]) == curve.CURVE_LIMIT
    assert entry["curve"][0] == [1, 0.1245]
    assert entry["curve"][-1] == [100, 0.2235]


def test_only_the_objective_metric_is_kept() -> None:
    collector = collect("".join(f"step={i} loss={i}\n" for i in range(1000)) + "val_acc=0.1\n")
    assert collector.version == 1


@pytest.mark.parametrize(
    ("count", "limit", "indices"),
    [(3, 5, [0, 1, 2]), (5, 5, [0, 1, 2, 3, 4]), (10, 4, [0, 3, 6, 9]), (7, 2, [0, 6])],
)
def test_spread_indices_keep_first_and_last_evenly(
    count: int, limit: int, indices: list[int]
) -> None:
    assert curve.spread_indices(count, limit) == indices


@pytest.mark.parametrize(
    ("value", "rounded"),
    [(0.123456, 0.1235), (12345.6, 12350.0), (1.23456e-7, 1.235e-07), (0.0, 0.0)],
)
def test_curve_values_keep_four_significant_digits(value: float, rounded: float) -> None:
    assert curve.round_value(value) == rounded


def test_sidecar_imports_no_numpy_scipy_sklearn_or_kopf() -> None:
    code = (
        "import sys, hypersearch.sidecar.main; "
        "heavy = {'numpy', 'scipy', 'sklearn', 'kopf', 'kubernetes', 'yaml'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_nan_report_reaches_status_as_null_so_the_rule_sees_it() -> None:
    entry = collect("epoch=1 val_acc=0.5\nepoch=2 val_acc=nan\nepoch=3 val_acc=inf\n").entry(NOW)
    assert entry["observed"] == 3
    assert entry["curve"] == [[1, 0.5], [2, None], [3, None]]


def test_the_rule_steps_are_kept_exactly_beside_the_spread_points() -> None:
    collector = Collector("s-0001", Objective("val_acc", "last"), keep_steps=(3, 9, 27, 81))
    collector.feed("".join(f"epoch={e} val_acc={e / 100}\n" for e in range(1, 101)))
    kept = [step for step, _ in collector.entry(NOW)["curve"]]
    assert {3, 9, 27, 81} <= set(kept)
    assert set(
        curve.downsample([(e, e / 100) for e in range(1, 101)])[i][0] for i in range(24)
    ) <= set(kept)
    assert kept == sorted(kept)


def test_a_rule_step_between_reports_keeps_the_reports_on_both_sides() -> None:
    points = [(2 * k, float(k)) for k in range(1, 101)]  # reported every other step
    kept = [step for step, _ in curve.downsample_keeping(points, keep_steps=(51,))]
    assert 50 in kept and 52 in kept
    assert len(kept) <= 24 + 2
