"""The trial record codec (kube.record): status entries <-> Trials, the prediction, the times."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hypersearch.core.times import format_time, parse_time
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase
from hypersearch.kube import record

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z

PREVIOUS_VERSION_ENTRY: dict[str, Any] = {
    # As the previous release's operator (convert.trial_entry) and sidecar wrote it, verbatim.
    "name": "digits-0003",
    "index": 3,
    "params": {"C": 12.5, "kernel": "rbf"},
    "phase": "Succeeded",
    "prediction": {"mean": 0.91, "std": 0.02, "ucb": 0.95},
    "startedAt": "2027-01-15T08:00:00Z",
    "finishedAt": "2027-01-15T08:01:40Z",
    "value": 0.93,
    "exitCode": 0,
    "observed": 3,
    "curve": [[1, 0.8], [2, 0.9], [3, 0.93]],
    "reportedAt": "2027-01-15T08:01:39Z",
}


def test_a_status_entry_of_the_previous_version_decodes_to_its_trial() -> None:
    assert record.trial_from_entry(PREVIOUS_VERSION_ENTRY, "accuracy") == Trial(
        name="digits-0003",
        index=3,
        params={"C": 12.5, "kernel": "rbf"},
        phase=TrialPhase.SUCCEEDED,
        value=0.93,
        observations=(
            Observation("accuracy", 0.8, 1),
            Observation("accuracy", 0.9, 2),
            Observation("accuracy", 0.93, 3),
        ),
        prediction=Prediction(0.91, 0.02, 0.95),
        started_at=T0,
        finished_at=T0 + 100,
    )


def test_encoding_the_decoded_previous_entry_gives_it_back() -> None:
    trial = record.trial_from_entry(PREVIOUS_VERSION_ENTRY, "accuracy")
    assert trial is not None
    assert record.trial_entry(trial, PREVIOUS_VERSION_ENTRY) == PREVIOUS_VERSION_ENTRY


@pytest.mark.parametrize(
    "trial",
    [
        Trial("s-0000", 0, {"lr": 0.1}, TrialPhase.PENDING),
        Trial("s-0001", 1, {"lr": 0.2}, TrialPhase.RUNNING, started_at=T0),
        Trial(
            "s-0002",
            2,
            {"lr": 0.3, "opt": "adam"},
            TrialPhase.FAILED,
            reason="TrainingFailed",
            message="container trainer exited with code 1",
            prediction=Prediction(0.5, 0.1, 0.7),
            started_at=T0,
            finished_at=T0 + 60,
        ),
        Trial("s-0003", 3, {"lr": 0.4}, TrialPhase.EARLY_STOPPED, value=0.4, finished_at=T0),
        Trial("s-0004", 4, {"lr": 0.5}, TrialPhase.QUEUED, queued_at=T0),
        Trial(
            "s-0005",
            5,
            {"lr": 0.6},
            TrialPhase.QUEUED,
            requeues=2,
            queued_seconds=125.5,
            queued_at=T0 + 600,
        ),
        Trial(
            "s-0006",
            6,
            {"lr": 0.7},
            TrialPhase.RUNNING,
            started_at=T0,
            requeues=1,
            queued_seconds=30.0,
        ),
    ],
    ids=["pending", "running", "failed", "early-stopped", "queued", "requeued", "readmitted"],
)
def test_a_trial_survives_encoding_and_decoding(trial: Trial) -> None:
    assert record.trial_from_entry(record.trial_entry(trial, None), "m") == trial


def test_odd_queue_fields_read_as_a_trial_that_never_waited() -> None:
    read = record.read_entry(
        {"name": "s-0001", "requeues": -3, "queuedSeconds": "long", "queuedAt": 5}, "m"
    )
    assert (read.requeues, read.queued_seconds, read.queued_at) == (0, 0.0, None)
    assert record.read_entry({"requeues": True, "queuedSeconds": -2.0}, "m").requeues == 0


def test_the_read_ignores_fields_of_the_wrong_type_instead_of_raising() -> None:
    read = record.read_entry(
        {
            "name": "s-0001",
            "index": True,
            "params": ["not", "a", "map"],
            "phase": "Exploded",
            "value": float("nan"),
            "exitCode": "0",
            "prediction": {"mean": 1, "std": "wide"},
            "curve": [[1, 0.5], [1.5, 0.6], ["x", 0.7], [2, "0.8"], [3]],
            "startedAt": "yesterday",
        },
        "m",
    )
    assert (read.index, read.params, read.phase, read.value, read.exit_code) == (None,) * 5
    assert (read.prediction, read.started_at) == (None, None)
    assert read.observations == (Observation("m", 0.5, 1),)


def test_a_null_curve_value_reads_as_nan_so_a_diverged_report_reaches_the_rule() -> None:
    read = record.read_entry({"name": "s-0001", "curve": [[1, 0.5], [2, None]]}, "m")
    first, diverged = read.observations
    assert (first.step, first.value) == (1, 0.5)
    assert diverged.step == 2 and math.isnan(diverged.value)


def test_an_entry_without_index_or_params_is_not_a_trial_yet() -> None:
    assert record.trial_from_entry({"name": "s-0001", "value": 0.5}, "m") is None


def test_the_prediction_annotation_round_trips_and_a_broken_one_reads_as_none() -> None:
    prediction = Prediction(0.25, 0.5, 1.25)
    text = record.prediction_annotation(prediction)
    assert text == '{"mean":0.25,"std":0.5,"ucb":1.25}'
    assert record.prediction_from_annotation(text) == prediction
    assert record.prediction_from_annotation("{not json") is None
    assert record.prediction_from_annotation(None) is None


def test_times_are_whole_second_rfc3339_in_utc_and_read_back() -> None:
    assert format_time(T0 + 0.7) == "2027-01-15T08:00:00Z"
    assert parse_time(format_time(T0)) == T0
    assert parse_time("2027-01-15T09:00:00+01:00") == T0
    assert parse_time(None) is None


def test_the_sidecars_report_decodes_with_the_operators_reader() -> None:
    running = record.report_entry("s-0001", [[1, 0.5], [2, 0.7]], 2, T0)
    assert running == {
        "name": "s-0001",
        "observed": 2,
        "curve": [[1, 0.5], [2, 0.7]],
        "reportedAt": "2027-01-15T08:00:00Z",
    }
    final = record.read_entry(
        record.report_entry("s-0001", [[2, 0.7]], 2, T0, exit_code=0, value=0.7), "m"
    )
    assert (final.exit_code, final.value, final.observations) == (
        0,
        0.7,
        (Observation("m", 0.7, 2),),
    )
    missing = record.read_entry(
        record.report_entry("s-0001", [], 0, T0, exit_code=0, metric_message="no m"), "m"
    )
    assert (missing.exit_code, missing.value, missing.metric_message) == (0, None, "no m")


OWNER = {
    "apiVersion": "hypersearch.io/v1alpha1",
    "kind": "HyperSearch",
    "name": "digits",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}


def test_a_trial_object_holds_the_decision_in_spec_and_the_verdict_in_status() -> None:
    trial = record.trial_from_entry(PREVIOUS_VERSION_ENTRY, "accuracy")
    assert trial is not None
    obj = record.trial_object(trial, "digits", "ns", OWNER)
    assert obj["kind"] == "HyperSearchTrial"
    assert obj["metadata"]["name"] == "digits-0003"
    assert obj["metadata"]["labels"]["hypersearch.io/search"] == "digits"
    assert "hypersearch.io/finished" not in obj["metadata"]["labels"]
    assert obj["metadata"]["ownerReferences"] == [OWNER]
    assert obj["spec"] == {
        "search": "digits",
        "index": 3,
        "params": {"C": 12.5, "kernel": "rbf"},
        "summary": "C=12.5 kernel=rbf",
        "prediction": {"mean": 0.91, "std": 0.02, "ucb": 0.95},
    }
    obj["status"] = record.object_status(trial, PREVIOUS_VERSION_ENTRY)
    assert set(obj["status"]) & set(record.SPEC_FIELDS) == set()
    assert record.object_entry(obj) == PREVIOUS_VERSION_ENTRY
    assert record.trial_from_entry(record.object_entry(obj), "accuracy") == trial
    assert record.object_owner_uid(obj) == "u-1"


def test_a_trial_object_without_status_reads_as_a_pending_trial_of_its_spec() -> None:
    trial = Trial("s-0001", 1, {"lr": 0.1}, TrialPhase.PENDING)
    entry = record.object_entry(record.trial_object(trial, "s", "ns", OWNER))
    assert record.read_entry(entry, "m").phase is None
    assert record.trial_from_entry(entry, "m") == trial


def test_the_params_summary_is_sorted_short_and_bounded() -> None:
    assert record.params_summary({"lr": 0.0123456, "b": 3, "k": "rbf"}) == "b=3 k=rbf lr=0.01235"
    long = record.params_summary({f"p{i}": "x" * 40 for i in range(20)})
    assert len(long) == record.SUMMARY_LENGTH
    assert long.endswith("...")
