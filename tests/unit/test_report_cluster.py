"""A HyperSearch object's status becomes a SearchView showing what the operator recorded."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from hypersearch.core.errors import SpecError
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase
from hypersearch.kube.record import trial_from_entry
from hypersearch.report.cluster import (
    cluster_source,
    search_phase,
    view_from_object,
    views_from_objects,
)
from hypersearch.report.model import ParamView


def at(hour: int, minute: int, second: int = 0) -> float:
    return datetime(2026, 11, 27, hour, minute, second, tzinfo=UTC).timestamp()


OBJECT: dict[str, Any] = {
    "apiVersion": "hypersearch.io/v1alpha1",
    "kind": "HyperSearch",
    "metadata": {
        "name": "cifar",
        "namespace": "team-a",
        "creationTimestamp": "2026-11-27T10:00:00Z",
    },
    "spec": {
        "algorithm": {"name": "bayesian", "seed": 7},
        "objective": {"metric": "val_acc", "goal": "maximize"},
        "parameters": [
            {"name": "lr", "type": "float", "min": 1e-4, "max": 0.1, "scale": "log"},
            {"name": "opt", "type": "categorical", "values": ["adam", "sgd"]},
        ],
        "maxTrials": 4,
        "trial": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "trainer", "image": "t:1", "command": ["python", "t.py", ":lr:"]}
                    ]
                }
            }
        },
    },
    "status": {
        "trials": [
            {
                "name": "cifar-0001",
                "index": 1,
                "params": {"lr": 0.01, "opt": "sgd"},
                "phase": "Failed",
                "reason": "OOMKilled",
                "message": "the trainer ran out of memory",
                "startedAt": "2026-11-27T10:01:00Z",
                "finishedAt": "2026-11-27T10:02:00Z",
            },
            {
                "name": "cifar-0000",
                "index": 0,
                "params": {"lr": 0.001, "opt": "adam"},
                "phase": "Succeeded",
                "value": 0.81,
                "curve": [[1, 0.5], [2, 0.81]],
                "prediction": {"mean": 0.7, "std": 0.1, "ucb": 0.9},
                "startedAt": "2026-11-27T10:00:10Z",
                "finishedAt": "2026-11-27T10:05:00Z",
            },
            {"name": "cifar-0002", "index": 2, "params": {"lr": 0.05, "opt": "adam"}},
            {"name": "cifar-0003", "curve": [[1, 0.4]]},
        ],
        "conditions": [
            {
                "type": "Running",
                "status": "True",
                "lastTransitionTime": "2026-11-27T10:00:05Z",
            }
        ],
    },
}


def test_a_cluster_search_becomes_a_view_with_its_spec_and_recorded_trials() -> None:
    view = view_from_object(OBJECT)
    assert (view.key, view.metric, view.goal, view.algorithm, view.max_trials) == (
        "team-a/cifar",
        "val_acc",
        "maximize",
        "bayesian",
        4,
    )
    assert view.params == (
        ParamView("lr", "float", "log", 1e-4, 0.1),
        ParamView("opt", "categorical", values=("adam", "sgd")),
    )
    assert [(t.name, t.phase) for t in view.trials] == [
        ("cifar-0000", TrialPhase.SUCCEEDED),
        ("cifar-0001", TrialPhase.FAILED),
        ("cifar-0002", TrialPhase.PENDING),
    ]
    assert (view.phase, view.source) == ("Running", "cluster")
    assert view.updated_at == at(10, 5)  # the latest finishedAt


def test_a_cluster_view_reads_the_units_of_the_objective_and_parameters_from_the_spec() -> None:
    assert view_from_object(OBJECT).metric_unit is None
    with_units = copy.deepcopy(OBJECT)
    with_units["spec"]["objective"]["unit"] = "%"
    with_units["spec"]["parameters"][0]["unit"] = "1/step"
    view = view_from_object(with_units)
    assert view.metric_unit == "%"
    assert view.params == (
        ParamView("lr", "float", "log", 1e-4, 0.1, unit="1/step"),
        ParamView("opt", "categorical", values=("adam", "sgd")),
    )


def test_a_status_entry_keeps_value_curve_prediction_and_times() -> None:
    entry = OBJECT["status"]["trials"][1]
    assert trial_from_entry(entry, "val_acc") == Trial(
        name="cifar-0000",
        index=0,
        params={"lr": 0.001, "opt": "adam"},
        phase=TrialPhase.SUCCEEDED,
        value=0.81,
        observations=(Observation("val_acc", 0.5, 1), Observation("val_acc", 0.81, 2)),
        prediction=Prediction(0.7, 0.1, 0.9),
        started_at=at(10, 0, 10),
        finished_at=at(10, 5),
    )


def test_a_failed_entry_keeps_its_reason_and_message() -> None:
    trial = trial_from_entry(OBJECT["status"]["trials"][0], "val_acc")
    assert trial is not None
    assert (trial.phase, trial.reason, trial.message) == (
        TrialPhase.FAILED,
        "OOMKilled",
        "the trainer ran out of memory",
    )


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x-0003", "curve": [[1, 0.4]]},
        {"index": 3, "params": {}},
        {"name": "x-0003", "index": "3", "params": {}},
    ],
    ids=["a sidecar's entry alone", "no name", "index not a number"],
)
def test_an_entry_that_cannot_be_a_trial_is_left_out(entry: dict[str, Any]) -> None:
    assert trial_from_entry(entry, "val_acc") is None


def test_unreadable_curve_points_and_predictions_are_dropped() -> None:
    entry = {
        "name": "x-0000",
        "index": 0,
        "params": {},
        "phase": "Running",
        "curve": [[1, 0.5], ["2", 0.6], [3], [4, "x"], [5, 0.7], [6.0, 0.8], [6.5, 0.9]],
        "prediction": {"mean": 0.5, "std": "wide"},
    }
    trial = trial_from_entry(entry, "m")
    assert trial is not None
    assert trial.observations == (
        Observation("m", 0.5, 1),
        Observation("m", 0.7, 5),
        Observation("m", 0.8, 6),
    )
    assert trial.prediction is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {"conditions": [{"type": "Succeeded", "status": "True", "message": "21 trials ran"}]},
            ("Succeeded", "21 trials ran"),
        ),
        (
            {
                "conditions": [
                    {"type": "Succeeded", "status": "False"},
                    {"type": "Failed", "status": "True", "message": "too many failed trials"},
                ]
            },
            ("Failed", "too many failed trials"),
        ),
        ({"phase": "Running", "conditions": []}, ("Running", None)),
        (
            {"phase": "Running", "message": "3 of 21 trials done"},
            ("Running", "3 of 21 trials done"),
        ),
        ({"trials": [{"name": "a"}]}, ("Running", None)),
        ({}, ("Pending", None)),
    ],
    ids=[
        "succeeded condition",
        "failed condition",
        "status phase",
        "status phase and message",
        "trials but no phase",
        "nothing yet",
    ],
)
def test_search_phase_comes_from_final_conditions_first(
    status: dict[str, Any], expected: tuple[str, str | None]
) -> None:
    assert search_phase(status) == expected


def test_an_invalid_spec_is_refused_naming_the_object_and_field() -> None:
    broken = copy.deepcopy(OBJECT)
    broken["spec"]["maxTrials"] = 0
    with pytest.raises(SpecError) as err:
        view_from_object(broken)
    assert str(err.value).startswith("HyperSearch team-a/cifar: spec.maxTrials")


def test_one_broken_search_does_not_blank_the_list() -> None:
    broken = copy.deepcopy(OBJECT)
    broken["metadata"]["name"] = "broken"
    broken["spec"]["parameters"] = []
    views, errors = views_from_objects([broken, OBJECT])
    assert [v.key for v in views] == ["team-a/cifar"]
    assert [str(e).split(":")[0] for e in errors] == ["HyperSearch team-a/broken"]


def test_the_cluster_source_lists_objects_on_every_call_and_logs_the_broken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = copy.deepcopy(OBJECT)
    broken["spec"]["maxTrials"] = 0
    calls: list[int] = []

    def list_objects() -> list[dict[str, Any]]:
        calls.append(1)
        return [OBJECT, broken]

    source = cluster_source(list_objects)
    assert [v.key for v in source()] == ["team-a/cifar"]
    assert [v.key for v in source()] == ["team-a/cifar"]
    assert len(calls) == 2
    assert "not shown in the web view: HyperSearch team-a/cifar: spec.maxTrials" in caplog.text


def trial_record(name: str, index: int, status: dict[str, Any], uid: str = "u-1") -> dict[str, Any]:
    """A HyperSearchTrial of OBJECT as the operator and a sidecar leave it."""
    return {
        "apiVersion": "hypersearch.io/v1alpha1",
        "kind": "HyperSearchTrial",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "labels": {"hypersearch.io/search": "cifar"},
            "ownerReferences": [
                {"kind": "HyperSearch", "name": "cifar", "uid": uid, "controller": True}
            ],
        },
        "spec": {"search": "cifar", "index": index, "params": {"lr": 0.02, "opt": "sgd"}},
        "status": status,
    }


def test_trial_objects_are_read_with_the_status_entries_and_win_over_them() -> None:
    obj = {**OBJECT, "metadata": {**OBJECT["metadata"], "uid": "u-1"}}
    records = [
        trial_record("cifar-0002", 2, {"phase": "Succeeded", "value": 0.9}),
        trial_record("cifar-0004", 4, {"phase": "Running", "curve": [[1, 0.3]]}),
        trial_record("cifar-0005", 5, {"phase": "Succeeded", "value": 1.0}, uid="old"),
    ]
    view = view_from_object(obj, records)
    found = {t.name: (t.phase, t.value) for t in view.trials}
    assert found == {
        "cifar-0000": (TrialPhase.SUCCEEDED, 0.81),
        "cifar-0001": (TrialPhase.FAILED, None),
        "cifar-0002": (TrialPhase.SUCCEEDED, 0.9),
        "cifar-0004": (TrialPhase.RUNNING, None),
    }
    (running,) = [t for t in view.trials if t.name == "cifar-0004"]
    assert [o.value for o in running.observations] == [0.3]


def test_a_search_whose_status_has_no_trial_list_reads_its_trials_from_the_objects() -> None:
    status = {k: v for k, v in OBJECT["status"].items() if k != "trials"}
    obj = {**OBJECT, "status": {**status, "counts": {"trials": 1}}}
    view = view_from_object(obj, [trial_record("cifar-0000", 0, {"phase": "Running"})])
    assert [(t.name, t.phase) for t in view.trials] == [("cifar-0000", TrialPhase.RUNNING)]


def test_the_web_views_records_are_grouped_by_their_search() -> None:
    other = trial_record("other-0000", 0, {"phase": "Running"})
    other["metadata"]["labels"] = {"hypersearch.io/search": "other"}
    views, errors = views_from_objects([OBJECT], [trial_record("cifar-0009", 9, {}), other])
    assert errors == []
    assert "cifar-0009" in [t.name for t in views[0].trials]
    assert "other-0000" not in [t.name for t in views[0].trials]
