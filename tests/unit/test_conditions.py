"""Kubernetes-shaped conditions: transitions keep their time, and a search always has three."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hypersearch.core.conditions import (
    FAILED,
    INVALID_SPEC,
    RUNNING,
    SUCCEEDED,
    TRIALS_RUNNING,
    Condition,
    find,
    from_dicts,
    is_true,
    search_conditions,
    set_condition,
    to_dicts,
)
from hypersearch.core.times import format_time

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
T1 = T0 + 60


def test_format_time_is_rfc3339_utc_with_whole_seconds() -> None:
    assert format_time(T0) == "2023-11-14T22:13:20Z"
    assert format_time(T0 + 0.9) == "2023-11-14T22:13:20Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2024, 1, 1, 2, 0, 5, tzinfo=plus_two)) == "2024-01-01T00:00:05Z"


def test_format_time_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        format_time(datetime(2024, 1, 1))


def test_set_condition_appends_a_new_type_stamped_now() -> None:
    got = set_condition((), Condition(RUNNING, "True", TRIALS_RUNNING, "0 of 5 done"), T0)
    assert got == (
        Condition(RUNNING, "True", TRIALS_RUNNING, "0 of 5 done", "2023-11-14T22:13:20Z"),
    )


def test_same_status_keeps_transition_time_but_takes_new_reason_and_message() -> None:
    first = set_condition((), Condition(RUNNING, "True", TRIALS_RUNNING, "0 of 5"), T0)
    second = set_condition(
        first, Condition(RUNNING, "True", "Waiting", "3 of 5", observed_generation=2), T1
    )
    assert second == (Condition(RUNNING, "True", "Waiting", "3 of 5", "2023-11-14T22:13:20Z", 2),)


def test_changed_status_moves_transition_time_and_keeps_order() -> None:
    start = (
        Condition(RUNNING, "True", TRIALS_RUNNING, "", "2023-11-14T22:13:20Z"),
        Condition(SUCCEEDED, "False", TRIALS_RUNNING, "", "2023-11-14T22:13:20Z"),
    )
    got = set_condition(start, Condition(RUNNING, "False", "MaxTrialsReached", "done"), T1)
    assert got == (
        Condition(RUNNING, "False", "MaxTrialsReached", "done", "2023-11-14T22:14:20Z"),
        start[1],
    )


@pytest.mark.parametrize(
    ("finished", "succeeded", "reason", "expected"),
    [
        (False, False, TRIALS_RUNNING, {RUNNING: "True", SUCCEEDED: "False", FAILED: "False"}),
        (True, True, "MaxTrialsReached", {RUNNING: "False", SUCCEEDED: "True", FAILED: "False"}),
        (True, True, "TargetReached", {RUNNING: "False", SUCCEEDED: "True", FAILED: "False"}),
        (
            True,
            False,
            "MaxFailedTrialsExceeded",
            {RUNNING: "False", SUCCEEDED: "False", FAILED: "True"},
        ),
        (True, False, INVALID_SPEC, {RUNNING: "False", SUCCEEDED: "False", FAILED: "True"}),
    ],
)
def test_search_conditions_always_hold_running_succeeded_and_failed(
    finished: bool, succeeded: bool, reason: str, expected: dict[str, str]
) -> None:
    got = search_conditions(
        (),
        finished=finished,
        succeeded=succeeded,
        reason=reason,
        message="why",
        generation=3,
        now=T0,
    )
    assert {c.type: c.status for c in got} == expected
    assert {(c.reason, c.message, c.observed_generation) for c in got} == {(reason, "why", 3)}


def test_search_conditions_are_unchanged_when_the_state_is_unchanged() -> None:
    def running(previous: tuple[Condition, ...], now: float) -> tuple[Condition, ...]:
        return search_conditions(
            previous,
            finished=False,
            succeeded=False,
            reason=TRIALS_RUNNING,
            message="1 of 4",
            generation=1,
            now=now,
        )

    first = running((), T0)
    again = running(first, T1)
    assert again == first


def test_finishing_moves_only_the_conditions_whose_status_changed() -> None:
    running = search_conditions(
        (), finished=False, succeeded=False, reason=TRIALS_RUNNING, message="", generation=1, now=T0
    )
    done = search_conditions(
        running,
        finished=True,
        succeeded=True,
        reason="MaxTrialsReached",
        message="",
        generation=1,
        now=T1,
    )
    times = {c.type: c.last_transition_time for c in done}
    assert times == {
        RUNNING: "2023-11-14T22:14:20Z",
        SUCCEEDED: "2023-11-14T22:14:20Z",
        FAILED: "2023-11-14T22:13:20Z",
    }
    assert is_true(done, SUCCEEDED) and not is_true(done, FAILED)


def test_other_condition_types_are_kept() -> None:
    other = Condition("Paused", "False", "NotPaused", "", "2023-01-01T00:00:00Z")
    got = search_conditions(
        (other,),
        finished=False,
        succeeded=False,
        reason=TRIALS_RUNNING,
        message="",
        generation=None,
        now=T0,
    )
    assert got[0] == other
    assert [c.type for c in got] == ["Paused", RUNNING, SUCCEEDED, FAILED]


def test_dicts_round_trip_in_the_kubernetes_shape() -> None:
    condition = Condition(
        FAILED, "True", INVALID_SPEC, "spec.maxTrials is required", "2023-11-14T22:13:20Z", 4
    )
    assert to_dicts([condition]) == [
        {
            "type": "Failed",
            "status": "True",
            "reason": "InvalidSpec",
            "message": "spec.maxTrials is required",
            "lastTransitionTime": "2023-11-14T22:13:20Z",
            "observedGeneration": 4,
        }
    ]
    assert from_dicts(to_dicts([condition])) == (condition,)


def test_from_dicts_tolerates_partial_and_foreign_entries() -> None:
    got = from_dicts(
        [
            {"type": "Running", "status": "Maybe", "reason": "not camel case"},
            {"status": "True"},
            "junk",
        ]
    )
    assert got == (Condition("Running", "Unknown", "Unknown"),)
    assert from_dicts(None) == ()


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        ("Yes", "Fine", "condition status must be True, False or Unknown, got 'Yes'"),
        ("True", "has spaces", "condition reason must be CamelCase, got 'has spaces'"),
        ("True", "", "condition reason must be CamelCase, got ''"),
    ],
)
def test_condition_refuses_values_kubernetes_would_reject(
    status: str, reason: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        Condition("Running", status, reason)  # type: ignore[arg-type]  # statuses it must refuse
    assert str(caught.value) == message


def test_find_returns_none_for_a_missing_type() -> None:
    assert find((), RUNNING) is None
    assert not is_true((), RUNNING)
