"""Which spec edits a search survives (its trials still mean the same), and how an edit reads."""

from __future__ import annotations

from typing import Any

import pytest
from builders import search_spec

from hypersearch.core.edits import (
    check_spec_edit,
    describe_changes,
    objective_record,
    recorded_objective,
)
from hypersearch.core.errors import SpecError
from hypersearch.core.spec import SearchSpec
from hypersearch.core.trials import Trial, TrialPhase

PARAMS: dict[str, Any] = {"conv2_filter": 64, "dropout_3": 0.5, "lr": 0.01, "optimizer": "adam"}


def ran(spec: SearchSpec, value: float | None, phase: TrialPhase = TrialPhase.SUCCEEDED) -> Trial:
    return Trial(name=f"{spec.name}-0000", index=0, params=PARAMS, phase=phase, value=value)


def with_param(index: int, **changes: Any) -> list[dict[str, Any]]:
    """The builders' parameters (tests/unit/builders.py) with one of them changed."""
    params: list[dict[str, Any]] = [
        {"name": "conv2_filter", "type": "int", "min": 16, "max": 128},
        {"name": "dropout_3", "type": "float", "min": 0.001, "max": 0.999},
        {"name": "lr", "type": "float", "min": 1.0e-4, "max": 1.0e-1, "scale": "log"},
        {"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]},
    ]
    params[index].update(changes)
    return params


@pytest.mark.parametrize(
    "edit",
    [
        {"maxTrials": 40},
        {"parallelism": 1},
        {"maxFailedTrials": 10},
        {"parameters": with_param(0, max=256)},
        {"parameters": with_param(3, values=["adam", "sgd", "rmsprop"])},
        {"algorithm": {"name": "random", "seed": 3}},
    ],
    ids=["budget", "parallelism", "failure budget", "wider range", "more values", "algorithm"],
)
def test_budget_and_widening_edits_keep_the_history(edit: dict[str, Any]) -> None:
    old = search_spec()
    check_spec_edit(old, search_spec(**edit), [ran(old, 0.9)])


def test_a_range_narrowed_past_a_tried_value_is_refused_naming_the_trial() -> None:
    old = search_spec()
    with pytest.raises(SpecError) as err:
        check_spec_edit(old, search_spec(parameters=with_param(0, max=32)), [ran(old, 0.9)])
    assert "trial cifar10-bayes-0000 ran with" in str(err.value)
    assert "params.conv2_filter" in str(err.value)


def test_another_objective_is_refused_once_trials_hold_values() -> None:
    old = search_spec()
    new = search_spec(objective={"metric": "val_loss", "goal": "minimize"})
    with pytest.raises(SpecError) as err:
        check_spec_edit(old, new, [ran(old, 0.9)])
    assert str(err.value) == (
        "spec.objective changed from metric=val_acc, goal=maximize, aggregation=last to "
        "metric=val_loss, goal=minimize, aggregation=last, but 1 trials already hold values of "
        "the old objective, and mixing them would rank unlike numbers; restore the objective"
    )


def test_a_misspelt_metric_may_be_corrected_while_no_trial_has_a_value() -> None:
    old = search_spec(objective={"metric": "val_accc"})
    failed = ran(old, None, TrialPhase.FAILED)
    check_spec_edit(old, search_spec(objective={"metric": "val_acc"}), [failed])


def test_changes_are_listed_as_leaf_paths_old_to_new_in_a_stable_order() -> None:
    old = {"maxTrials": 21, "objective": {"metric": "acc"}, "parameters": [{"min": 1, "max": 2}]}
    new = {
        "maxTrials": 30,
        "objective": {"metric": "acc", "target": 0.99},
        "parameters": [{"min": 0, "max": 2}],
        "parallelism": 4,
    }
    assert describe_changes(old, new) == [
        "spec.maxTrials: 21 -> 30",
        "spec.objective.target: (none) -> 0.99",
        "spec.parallelism: (none) -> 4",
        "spec.parameters[0].min: 1 -> 0",
    ]


def test_a_list_of_another_length_is_one_change_and_long_values_are_cut() -> None:
    old = {"values": list(range(40))}
    new = {"values": list(range(41))}
    [line] = describe_changes(old, new)
    assert line.startswith("spec.values: [0, 1, 2")
    assert line.endswith("...")
    assert describe_changes(old, old) == []


def test_a_recorded_objective_reads_back_and_a_malformed_one_is_ignored() -> None:
    objective = search_spec().objective
    assert recorded_objective(objective_record(objective)) == objective
    for raw in (None, "val_acc", {"metric": "x", "goal": "up", "aggregation": "last"}, {}):
        assert recorded_objective(raw) is None
