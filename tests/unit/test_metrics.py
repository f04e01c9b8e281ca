"""Reading metric reports from training output, and turning them into a trial's value."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from hypersearch.core.metrics import (
    MetricStream,
    aggregate,
    curve,
    final_value,
    metric_matches,
    parse_line,
    strip_ansi,
)
from hypersearch.core.spec import Objective
from hypersearch.core.trials import Observation as Obs

NAN = float("nan")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("val_acc=0.8230", [Obs("val_acc", 0.823)]),
        ("loss=0.31 val_acc=0.8230", [Obs("loss", 0.31), Obs("val_acc", 0.823)]),
        ("epoch=3 loss=0.31, acc = 0.5", [Obs("loss", 0.31, 3), Obs("acc", 0.5, 3)]),
        ("step=120 epoch=2 loss=1e-3", [Obs("loss", 0.001, 120)]),
        ("lr=1.5E+2 x=-.5 y=+3", [Obs("lr", 150.0), Obs("x", -0.5), Obs("y", 3.0)]),
        ("train/loss=0.5 eval.acc=0.25", [Obs("train/loss", 0.5), Obs("eval.acc", 0.25)]),
        ('{"val_acc": 0.8, "epoch": 3}', [Obs("val_acc", 0.8, 3)]),
        ('{"loss": 0.5, "name": "run", "ok": true, "nested": {"a": 1}}', [Obs("loss", 0.5)]),
        ('{"iteration": 7, "loss": NaN}', [Obs("loss", NAN, 7)]),
        ('{"epoch": 1.5, "loss": 0.5}', [Obs("loss", 0.5)]),
        ("[1, 2]", []),
        (
            "10/10 [==============================] - 1s 5ms/step - loss: 0.31 - val_acc: 0.8230",
            [Obs("loss", 0.31), Obs("val_acc", 0.823)],
        ),
        (
            "782/782 ━━━━━━━━━━━━━━━━━━━━ 9s 11ms/step - accuracy: 0.41 - loss: 1.6 "
            "- val_accuracy: 0.52 - val_loss: 1.3",
            [
                Obs("accuracy", 0.41),
                Obs("loss", 1.6),
                Obs("val_accuracy", 0.52),
                Obs("val_loss", 1.3),
            ],
        ),
        (
            "313/313 - 2s - loss: 0.3000 - accuracy: 0.9100 - 2s/epoch - 6ms/step",
            [Obs("loss", 0.3), Obs("accuracy", 0.91)],
        ),
        ("4/10 [=========>....................] - ETA: 2s - loss: 0.5123", []),
        ("Epoch 3/25", []),
        ("Note: 5 files copied", []),
        ("loss: 0.3", []),
        ("python train.py --lr=0.1 --epochs=3", []),
        (
            "acc=nan loss=inf gain=-Infinity",
            [Obs("acc", NAN), Obs("loss", math.inf), Obs("gain", -math.inf)],
        ),
        ("\x1b[32mval_acc=0.5\x1b[0m", [Obs("val_acc", 0.5)]),
        ("version=1.2.3 ratio=3x", []),
        ("", []),
    ],
)
def test_parse_line_finds_reports_in_every_supported_form(line: str, expected: list[Obs]) -> None:
    got = parse_line(line)
    assert [(o.metric, o.step) for o in got] == [(o.metric, o.step) for o in expected]
    for g, e in zip(got, expected, strict=True):
        assert g.value == e.value or (math.isnan(g.value) and math.isnan(e.value))


def test_strip_ansi_removes_colour_and_cursor_codes() -> None:
    assert strip_ansi("\x1b[1m\x1b[32mok\x1b[0m \x1b[2K\x1b[1Gdone\x1b]0;title\x07") == "ok done"


def test_keras_epochs_set_the_step_of_the_lines_that_follow() -> None:
    stream = MetricStream()
    output = (
        "Epoch 1/2\n"
        "1/3 [=>....] - ETA: 1s - loss: 0.9\r"
        "2/3 [===>..] - ETA: 0s - loss: 0.85\r"
        "3/3 [======] - 1s 5ms/step - loss: 0.8 - val_acc: 0.6\n"
        "Epoch 2/2\n"
        "3/3 [======] - 1s 5ms/step - loss: 0.7 - val_accuracy: 0.65\n"
    )
    assert stream.feed(output) == [
        Obs("loss", 0.8, 1),
        Obs("val_acc", 0.6, 1),
        Obs("loss", 0.7, 2),
        Obs("val_accuracy", 0.65, 2),
    ]


def test_reports_without_a_step_count_per_metric_from_one() -> None:
    stream = MetricStream()
    got = stream.feed("loss=0.9\nloss=0.8 acc=0.1\nacc=0.2\n")
    assert got == [Obs("loss", 0.9, 1), Obs("loss", 0.8, 2), Obs("acc", 0.1, 1), Obs("acc", 0.2, 2)]


def test_explicit_steps_win_over_the_keras_epoch() -> None:
    stream = MetricStream()
    assert stream.feed('Epoch 4/9\n{"step": 400, "loss": 0.1}\nloss=0.2\n') == [
        Obs("loss", 0.1, 400),
        Obs("loss", 0.2, 4),
    ]


@pytest.mark.parametrize(
    "chunks",
    [
        ["val_acc=0.5\r\nval_acc=0.6\r\n"],
        ["val_acc=0.5\r", "\nval_acc=0.6\r\n"],
        ["val_", "acc=0.5\r", "\n", "val_acc=0.", "6\n"],
        ["val_acc=0.5\rval_acc=0.6", "\n"],
    ],
)
def test_chunks_split_anywhere_give_the_same_reports(chunks: list[str]) -> None:
    stream = MetricStream()
    got = [obs for chunk in chunks for obs in stream.feed(chunk)]
    assert got == [Obs("val_acc", 0.5, 1), Obs("val_acc", 0.6, 2)]


def test_unfinished_last_line_is_read_on_flush() -> None:
    stream = MetricStream()
    assert stream.feed("val_acc=0.5\nval_acc=0.7") == [Obs("val_acc", 0.5, 1)]
    assert stream.flush() == [Obs("val_acc", 0.7, 2)]
    assert stream.flush() == []


def test_feed_line_splits_carriage_returns_itself() -> None:
    stream = MetricStream()
    assert stream.feed_line("acc=0.1\racc=0.2") == [Obs("acc", 0.1, 1), Obs("acc", 0.2, 2)]


@pytest.mark.parametrize(
    ("wanted", "reported", "matches"),
    [
        ("val_acc", "val_acc", True),
        ("keras/val_acc", "val_acc", True),
        ("val_acc", "val_accuracy", True),
        ("val_accuracy", "val_acc", True),
        ("acc", "accuracy", True),
        ("keras/acc", "accuracy", True),
        ("train/loss", "train/loss", True),
        ("val_acc", "acc", False),
        ("acc", "val_acc", False),
        ("loss", "val_loss", False),
        ("val_acc", "keras/val_acc", False),
        ("top_accuracy_5", "top_acc_5", False),
    ],
)
def test_metric_names_match_across_prefixes_and_keras_spellings(
    wanted: str, reported: str, matches: bool
) -> None:
    assert metric_matches(wanted, reported) is matches


@pytest.mark.parametrize(
    ("values", "how", "expected"),
    [
        ([0.1, 0.5, 0.3], "last", 0.3),
        ([0.1, 0.5, 0.3], "min", 0.1),
        ([0.1, 0.5, 0.3], "max", 0.5),
        ([0.1, 0.5, 0.3], "avg", 0.3),
        ([0.1, NAN, math.inf], "last", 0.1),
        ([NAN, 0.2, -math.inf, 0.4], "avg", pytest.approx(0.3)),
        ([NAN, math.inf], "max", None),
        ([], "last", None),
    ],
)
def test_aggregate_skips_non_finite_values(
    values: list[float], how: str, expected: float | None
) -> None:
    assert aggregate(values, how) == expected


def test_aggregate_refuses_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="aggregation must be last, min, max or avg, got 'median'"):
        aggregate([1.0], "median")


def test_curve_keeps_the_latest_value_of_a_repeated_step() -> None:
    observations = [
        Obs("loss", 0.9, 1),
        Obs("val_acc", 0.5, 1),
        Obs("val_accuracy", 0.6, 1),
        Obs("val_acc", 0.7, 2),
    ]
    assert curve(observations, "val_acc") == [(1, 0.6), (2, 0.7)]


@pytest.mark.parametrize(
    ("observations", "objective", "expected"),
    [
        ([Obs("val_acc", 0.5, 1), Obs("val_acc", 0.7, 2)], Objective("val_acc"), (0.7, None)),
        (
            [Obs("val_accuracy", 0.5, 1), Obs("val_accuracy", 0.4, 2)],
            Objective("keras/val_acc", aggregation="max"),
            (0.5, None),
        ),
        (
            [Obs("loss", 0.5, 1), Obs("acc", 0.4, 1), Obs("loss", 0.4, 2)],
            Objective("val_acc"),
            (None, "no value reported for metric val_acc (saw metrics: loss, acc)"),
        ),
        (
            [],
            Objective("val_acc"),
            (
                None,
                "no value reported for metric val_acc (saw no metrics; print lines such as "
                'val_acc=0.93 or {"val_acc": 0.93})',
            ),
        ),
        (
            [Obs("val_acc", NAN, 1), Obs("val_acc", math.inf, 2)],
            Objective("val_acc"),
            (None, "metric val_acc reported only NaN/inf (2 values)"),
        ),
        (
            [Obs("val_acc", 0.8, 1), Obs("val_acc", NAN, 2)],
            Objective("val_acc", aggregation="last"),
            (
                None,
                "metric val_acc's last value is nan at step 2: the training diverged or reported "
                "no number at the end; use aggregation max or min to score its best step instead",
            ),
        ),
        (
            [Obs("val_acc", 0.8, 1), Obs("val_acc", NAN, 2)],
            Objective("val_acc", aggregation="max"),
            (0.8, None),
        ),
    ],
)
def test_final_value_or_the_reason_there_is_none(
    observations: list[Obs], objective: Objective, expected: tuple[float | None, str | None]
) -> None:
    assert final_value(observations, objective) == expected


@pytest.mark.parametrize(
    "module",
    ["hypersearch.core.metrics", "hypersearch.core.placeholders", "hypersearch.core.conditions"],
)
def test_light_modules_import_without_numpy(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('numpy', 'scipy', 'sklearn', 'yaml') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
