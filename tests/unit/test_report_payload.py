"""The report's decisions: the best-so-far line, curves, axes, JSON safety (which trial is best:
tests/unit/test_ranking.py, one table for the core, the engine and the report)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from hypersearch.core.params import CategoricalParam, DiscreteParam, FloatParam, IntParam, Param
from hypersearch.core.space import Space
from hypersearch.core.spec import Goal
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase
from hypersearch.report.model import (
    ParamView,
    SearchView,
    param_view,
    params_from_space,
    params_from_trials,
)
from hypersearch.report.payload import best_so_far, counts, search_payload

OK, FAILED, RUNNING, PENDING = (
    TrialPhase.SUCCEEDED,
    TrialPhase.FAILED,
    TrialPhase.RUNNING,
    TrialPhase.PENDING,
)
QUEUED = TrialPhase.QUEUED


def trial(
    index: int,
    phase: TrialPhase = OK,
    value: float | None = None,
    *,
    observations: tuple[Observation, ...] = (),
    prediction: Prediction | None = None,
    params: dict[str, int | float | str] | None = None,
) -> Trial:
    return Trial(
        name=f"s-{index:04d}",
        index=index,
        params=params if params is not None else {"x": index},
        phase=phase,
        value=value,
        observations=observations,
        prediction=prediction,
    )


def view(*trials: Trial, goal: Goal = "maximize") -> SearchView:
    return SearchView(
        name="s",
        metric="acc",
        goal=goal,
        params=(ParamView("x", "int", "linear", 0, 10),),
        trials=trials,
    )


def test_best_so_far_steps_only_on_improvement_and_skips_unfinished_trials() -> None:
    v = view(
        trial(0, value=0.5),
        trial(1, FAILED),
        trial(2, value=0.4),
        trial(3, RUNNING),
        trial(4, value=0.8),
        trial(5, value=0.6),
    )
    assert best_so_far(v) == [
        {"index": 0, "best": 0.5},
        {"index": 2, "best": 0.5},
        {"index": 4, "best": 0.8},
        {"index": 5, "best": 0.8},
    ]


def test_best_so_far_goes_down_when_minimizing() -> None:
    v = view(trial(0, value=3.0), trial(1, value=1.0), trial(2, value=2.0), goal="minimize")
    assert [p["best"] for p in best_so_far(v)] == [3.0, 1.0, 1.0]


def test_queue_time_is_shown_apart_from_run_time_with_the_requeues() -> None:
    requeued = dataclasses.replace(
        trial(0, value=0.9), started_at=1_100.0, finished_at=1_160.0, queued_seconds=40.0,
        requeues=1,
    )  # fmt: skip
    waiting = dataclasses.replace(trial(1, QUEUED), queued_seconds=5.0, queued_at=1_190.0)
    never = trial(2, value=0.5)
    v = dataclasses.replace(view(requeued, waiting, never), updated_at=1_200.0)
    rows = {t["name"]: t for t in search_payload(v)["trials"]}
    assert (rows["s-0000"]["duration"], rows["s-0000"]["queued"]) == (60.0, 40.0)
    assert rows["s-0000"]["requeues"] == 1
    assert (rows["s-0001"]["queued"], rows["s-0001"]["requeues"]) == (15.0, 0)
    assert rows["s-0002"]["queued"] is None


def test_counts_hold_every_phase_and_the_total() -> None:
    v = view(trial(0, value=1.0), trial(1, FAILED), trial(2, RUNNING), trial(3, PENDING))
    assert counts(v) == {
        "Queued": 0,
        "Pending": 1,
        "Running": 1,
        "Succeeded": 1,
        "Failed": 1,
        "EarlyStopped": 0,
        "total": 4,
    }


def test_curves_group_by_metric_sort_by_step_and_number_reports_without_steps() -> None:
    observations = (
        Observation("acc", 0.2, 2),
        Observation("acc", 0.1, 1),
        Observation("loss", 3.0),
        Observation("loss", 2.0),
        Observation("acc", math.nan, 3),
    )
    payload = search_payload(view(trial(0, value=0.2, observations=observations)))
    assert payload["trials"][0]["curves"] == {
        "acc": [[1.0, 0.1], [2.0, 0.2]],
        "loss": [[1.0, 3.0], [2.0, 2.0]],
    }
    assert payload["metrics"] == ["acc", "loss"]
    assert payload["stepsReported"] is True


def test_the_objective_metric_is_listed_first_even_before_any_report() -> None:
    payload = search_payload(view(trial(0, RUNNING, observations=(Observation("a_loss", 1.0),))))
    assert payload["metrics"] == ["acc", "a_loss"]
    assert payload["stepsReported"] is False


def test_payload_marks_the_best_trial_and_carries_the_gp_prediction() -> None:
    payload = search_payload(
        view(trial(0, value=0.5), trial(1, value=0.9, prediction=Prediction(0.7, 0.1, 0.9)))
    )
    assert [t["best"] for t in payload["trials"]] == [False, True]
    assert payload["trials"][1]["prediction"] == {"mean": 0.7, "std": 0.1, "ucb": 0.9}
    assert payload["best"] == {"trial": "s-0001", "value": 0.9}


def test_payload_is_strict_json_when_values_are_not_finite() -> None:
    payload = search_payload(
        view(
            trial(0, value=math.inf, prediction=Prediction(math.nan, math.inf, 1.0)),
            trial(1, value=0.3, params={"x": math.nan}),
        )
    )
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["trials"][0]["prediction"] == {"mean": None, "std": None, "ucb": 1.0}
    assert payload["trials"][0]["value"] is None
    assert payload["trials"][1]["params"] == {"x": None}


@pytest.mark.parametrize(
    ("param", "axis"),
    [
        (IntParam("n", 1, 8), "linear"),
        (IntParam("n", 1, 1024, "log"), "log"),
        (FloatParam("lr", 1e-4, 1e-1, "log"), "log"),
        (FloatParam("dropout", 0.0, 0.9), "linear"),
        (CategoricalParam("opt", ("adam", "sgd")), "category"),
        (DiscreteParam("rate", (0.001, 0.01, 0.1)), "log"),
        (DiscreteParam("batch", (16, 32, 64)), "linear"),
        (DiscreteParam("shift", (-1, 0, 100)), "linear"),
    ],
    ids=[
        "int linear",
        "int log",
        "float log",
        "float linear",
        "categorical",
        "discrete powers of ten",
        "discrete narrow",
        "discrete with non-positive values",
    ],
)
def test_each_parameter_kind_gets_its_axis(param: Param, axis: str) -> None:
    assert param_view(param).axis == axis


def test_params_from_space_keep_declaration_order_and_declared_values() -> None:
    views = params_from_space(Space((CategoricalParam("b", ("x", "y")), IntParam("a", 1, 3))))
    assert views == (
        ParamView("b", "categorical", values=("x", "y")),
        ParamView("a", "int", "linear", 1.0, 3.0),
    )


def test_params_from_trials_guess_numbers_and_categories_without_a_spec() -> None:
    trials = [
        trial(0, params={"n": 2, "lr": 0.5, "opt": "adam"}),
        trial(1, params={"n": 8, "lr": 1, "opt": "sgd"}),
    ]
    assert params_from_trials(trials) == (
        ParamView("n", "int", "linear", 2.0, 8.0),
        ParamView("lr", "float", "linear", 0.5, 1.0),
        ParamView("opt", "categorical", values=("adam", "sgd")),
    )


def test_search_key_includes_the_namespace_only_when_there_is_one() -> None:
    local = view()
    assert local.key == "s"
    cluster = SearchView("s", "acc", "maximize", (), (), namespace="team-a")
    assert cluster.key == "team-a/s"


def test_params_from_space_carry_each_parameters_declared_unit() -> None:
    space = Space((FloatParam("t", 0.1, 2.0), IntParam("n", 1, 3), DiscreteParam("px", (8, 16))))
    views = params_from_space(space, {"t": "s", "px": "px"})
    assert [(p.name, p.unit) for p in views] == [("t", "s"), ("n", None), ("px", "px")]
    assert [p.unit for p in params_from_space(space)] == [None, None, None]


def test_payload_sends_the_metric_unit_and_each_parameters_unit() -> None:
    with_units = SearchView(
        name="s",
        metric="latency",
        goal="minimize",
        params=(ParamView("t", "float", "log", 0.1, 2.0, unit="s"), ParamView("n", "int")),
        trials=(trial(0, value=0.2, params={"t": 0.5, "n": 2}),),
        metric_unit="ms",
    )
    payload = json.loads(json.dumps(search_payload(with_units), allow_nan=False))
    assert payload["metricUnit"] == "ms"
    assert [(p["name"], p["unit"]) for p in payload["params"]] == [("t", "s"), ("n", None)]


def test_a_view_from_a_spec_takes_the_units_the_manifest_declares() -> None:
    from hypersearch.core.manifest import parse_manifest
    from hypersearch.report.model import view_from_spec

    spec = parse_manifest(
        {
            "apiVersion": "hypersearch.io/v1alpha1",
            "kind": "HyperSearch",
            "metadata": {"name": "units"},
            "spec": {
                "algorithm": {"name": "random"},
                "objective": {"metric": "acc", "unit": "%"},
                "parameters": [
                    {"name": "lr", "type": "float", "min": 0.001, "max": 0.1, "unit": "1/step"},
                    {"name": "opt", "type": "categorical", "values": ["adam", "sgd"]},
                ],
                "maxTrials": 2,
                "trial": {"template": {"spec": {"containers": [{"name": "t", "command": ["x"]}]}}},
            },
        }
    )
    shown = view_from_spec(spec, [trial(0, value=50.0, params={"lr": 0.01, "opt": "sgd"})])
    assert shown.metric_unit == "%"
    assert [(p.name, p.unit) for p in shown.params] == [("lr", "1/step"), ("opt", None)]
    payload = search_payload(shown)
    assert (payload["metricUnit"], payload["params"][0]["unit"]) == ("%", "1/step")
