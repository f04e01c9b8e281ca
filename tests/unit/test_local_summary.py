"""The end-of-search table, JSON document and live progress lines."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import pytest

from hypersearch.core.trials import Prediction, Trial, TrialPhase
from hypersearch.local.progress import Progress, Totals, format_elapsed
from hypersearch.local.summary import (
    SearchEnd,
    render_best,
    render_failures,
    render_json,
    render_table,
    result_document,
)


def trial(index: int, phase: TrialPhase, value: float | None, reason: str | None = None) -> Trial:
    return Trial(
        name=f"s-{index:04d}",
        index=index,
        params={"lr": 0.1 * (index + 1), "opt": "adam"},
        phase=phase,
        value=value,
        reason=reason,
        started_at=100.0,
        finished_at=102.5,
    )


TRIALS = [
    trial(0, TrialPhase.SUCCEEDED, 0.5),
    trial(1, TrialPhase.FAILED, None, "ProcessFailed"),
    trial(2, TrialPhase.SUCCEEDED, 0.9),
    trial(3, TrialPhase.SUCCEEDED, math.nan),
]


@pytest.mark.parametrize(
    ("goal", "order"),
    [
        ("maximize", ["s-0002", "s-0000", "s-0003", "s-0001"]),
        ("minimize", ["s-0000", "s-0002", "s-0003", "s-0001"]),
    ],
)
def test_table_lists_succeeded_trials_best_first_then_the_rest(goal: str, order: list[str]) -> None:
    lines = render_table(TRIALS, "acc", goal, ["lr", "opt"]).splitlines()
    assert lines[0].split() == ["trial", "status", "acc", "lr", "opt", "seconds", "reason"]
    assert [line.split()[0] for line in lines[1:]] == order


def test_table_row_shows_status_value_params_duration_and_reason() -> None:
    lines = render_table(TRIALS, "acc", "maximize", ["lr", "opt"]).splitlines()
    assert lines[4].split() == ["s-0001", "Failed", "-", "0.2", "adam", "2.5", "ProcessFailed"]


def test_trials_that_waited_in_a_cluster_queue_show_queue_time_apart_from_run_time() -> None:
    requeued = dataclasses.replace(TRIALS[0], queued_seconds=40.0, requeues=2)
    lines = render_table([requeued, TRIALS[1]], "acc", "maximize", ["lr"]).splitlines()
    assert lines[0].split() == ["trial", "status", "acc", "lr", "seconds", "queued", "requeues",
                                "reason"]  # fmt: skip
    assert lines[1].split() == ["s-0000", "Succeeded", "0.5", "0.1", "2.5", "40.0", "2"]
    doc = json.loads(render_json(result_document([requeued, TRIALS[1]], requeued)))
    assert [(t.get("queuedSeconds"), t.get("requeues")) for t in doc["trials"]] == [
        (40.0, 2),
        (None, None),
    ]


def test_journal_statuses_override_the_phase_in_the_table() -> None:
    pending = trial(4, TrialPhase.PENDING, None, "Interrupted")
    table = render_table([pending], "acc", "maximize", [], {"s-0004": "Interrupted"})
    assert table.splitlines()[1].split()[:2] == ["s-0004", "Interrupted"]


@pytest.mark.parametrize(
    ("best", "line"),
    [
        (TRIALS[2], "best: s-0002 acc=0.9 lr=0.3 opt=adam"),
        (None, "best: none (no trial succeeded)"),
    ],
)
def test_best_line(best: Trial | None, line: str) -> None:
    assert render_best(best, "acc") == line


def test_json_document_has_best_and_every_trial_with_nan_as_null() -> None:
    doc = json.loads(render_json(result_document(TRIALS, TRIALS[2])))
    assert doc["best"] == {"name": "s-0002", "params": {"lr": 0.30000000000000004, "opt": "adam"},
                           "value": 0.9}  # fmt: skip
    assert [(t["name"], t["status"], t["value"], t["reason"]) for t in doc["trials"]] == [
        ("s-0000", "Succeeded", 0.5, None),
        ("s-0001", "Failed", None, "ProcessFailed"),
        ("s-0002", "Succeeded", 0.9, None),
        ("s-0003", "Succeeded", None, None),
    ]
    assert {t["prediction"] for t in doc["trials"]} == {None}


def test_json_trials_carry_the_gp_prediction_they_were_chosen_with() -> None:
    chosen = dataclasses.replace(TRIALS[2], prediction=Prediction(0.8, 0.05, 0.9))
    doc = json.loads(render_json(result_document([chosen], chosen)))
    assert doc["trials"][0]["prediction"] == {"mean": 0.8, "std": 0.05, "ucb": 0.9}


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00"), (75.9, "01:15"), (3725, "1:02:05")])
def test_elapsed_time_format(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


def test_plain_progress_prints_events_and_totals_after_each_finished_trial() -> None:
    out = io.StringIO()
    now = [0.0]
    progress = Progress(out, "acc", tty=False, clock=lambda: now[0])
    progress.update(Totals(3, 0, 1, 0, None, None))
    progress.trial_started("s-0000", {"lr": 0.1}, None)
    now[0] = 65.0
    progress.trial_finished("s-0000", "Succeeded", 0.91, None, 2.0)
    progress.update(Totals(3, 1, 0, 0, "s-0000", 0.91))
    progress.trial_finished("s-0001", "Failed", None, "Timeout", 4.0)
    progress.update(Totals(3, 2, 0, 1, "s-0000", 0.91))
    progress.close()
    assert out.getvalue().splitlines() == [
        "start     s-0000: lr=0.1",
        "succeeded s-0000 after 2.0s: acc=0.91",
        "[1/3 done, 0 running, 0 failed, best acc 0.91 (s-0000), 01:05]",
        "failed    s-0001 after 4.0s: Timeout",
        "[2/3 done, 0 running, 1 failed, best acc 0.91 (s-0000), 01:05]",
    ]


def test_terminal_progress_redraws_one_status_line_in_place() -> None:
    out = io.StringIO()
    progress = Progress(out, "acc", tty=True, clock=lambda: 10.0)
    progress.update(Totals(2, 0, 1, 0, None, None))
    progress.trial_started("s-0000", {"lr": 0.1}, "1")
    progress.close()
    text = out.getvalue()
    assert "\r\x1b[Kstart     s-0000 on GPU 1: lr=0.1\n" in text
    assert text.endswith("\r\x1b[K[0/2 done, 1 running, 0 failed, best acc -, 00:00]\n")


FAILED_WITH_TAIL = Trial(
    name="s-0005",
    index=5,
    params={"lr": 0.5},
    phase=TrialPhase.FAILED,
    reason="ProcessFailed",
    message="the trial's process exited with code 1; last lines of /s/logs/s-0005.log:\n"
    "  | loading data\n"
    "  | boom: cannot open data.csv",
)


def test_failures_section_shows_each_failed_trials_reason_and_log_tail() -> None:
    succeeded = trial(0, TrialPhase.SUCCEEDED, 0.5)
    assert render_failures([succeeded, FAILED_WITH_TAIL]).splitlines() == [
        "failed trials:",
        "  s-0005 ProcessFailed: the trial's process exited with code 1; last lines of "
        "/s/logs/s-0005.log:",
        "    | loading data",
        "    | boom: cannot open data.csv",
    ]


def test_failures_section_is_empty_without_failed_trials() -> None:
    assert render_failures([trial(0, TrialPhase.SUCCEEDED, 0.5)]) == ""


def test_failures_section_keeps_the_latest_and_says_where_the_rest_are() -> None:
    failed = [
        Trial(f"s-{i:04d}", i, {}, TrialPhase.FAILED, reason="NoMetric", message=f"m{i}")
        for i in range(5)
    ]
    assert render_failures(failed, limit=2).splitlines() == [
        "failed trials (the latest 2 of 5; every message: hyper status NAME -o json):",
        "  s-0003 NoMetric: m3",
        "  s-0004 NoMetric: m4",
    ]


def test_json_document_carries_each_trials_message_and_how_the_search_ended() -> None:
    end = SearchEnd(
        name="s", finished=True, succeeded=False, reason="MaxTrialsReached", message="all done"
    )
    doc = json.loads(render_json(result_document([FAILED_WITH_TAIL], None, search=end)))
    assert doc["search"] == {
        "name": "s",
        "finished": True,
        "succeeded": False,
        "reason": "MaxTrialsReached",
        "message": "all done",
    }
    assert doc["trials"][0]["message"] == FAILED_WITH_TAIL.message


def test_a_failed_trials_progress_line_says_why_in_one_line_ending_with_the_last_log_line() -> None:
    out = io.StringIO()
    progress = Progress(out, "acc", tty=False)
    progress.trial_finished(
        "s-0005", "Failed", None, "ProcessFailed", 0.5, message=FAILED_WITH_TAIL.message
    )
    assert out.getvalue().splitlines() == [
        "failed    s-0005 after 0.5s: ProcessFailed: the trial's process exited with code 1; "
        "last lines of /s/logs/s-0005.log: | boom: cannot open data.csv"
    ]


def test_an_interrupted_trials_progress_line_keeps_a_space_after_the_status() -> None:
    out = io.StringIO()
    progress = Progress(out, "acc", tty=False)
    progress.trial_finished("s-0003", "Interrupted", None, "Interrupted", 4.9)
    assert out.getvalue() == "interrupted s-0003 after 4.9s: Interrupted\n"


def test_an_infinite_value_is_listed_after_the_finite_ones_like_nan() -> None:
    rows = [trial(0, TrialPhase.SUCCEEDED, math.inf), trial(1, TrialPhase.SUCCEEDED, 0.2)]
    lines = render_table(rows, "acc", "maximize", []).splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["s-0001", "s-0000"]
