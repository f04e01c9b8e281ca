"""The operator's status document, its Events and its managedFields housekeeping (pure parts)."""

from __future__ import annotations

from typing import Any

from hypersearch.controller.events import Event, queue_moves, transition_events
from hypersearch.controller.status import (
    RELEASE_BATCH,
    desired_status,
    differs,
    legacy_trials,
    recent_trials,
    reports_to_release,
)
from hypersearch.core.engine import Counts, Plan, count_trials
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import names

T0 = 1_800_000_000.0


def plan(*, best: Trial | None = None, finished: bool = False) -> Plan:
    return Plan(
        (),
        (),
        finished,
        finished,
        "MaxTrialsReached" if finished else None,
        "",
        best,
        Counts(0, 0, 0, 0, 0),
    )


def test_a_sidecar_only_entry_is_not_a_difference_but_a_changed_report_of_a_finished_one_is() -> (
    None
):
    ours = {"name": "s-0000", "index": 0, "params": {}, "phase": "Succeeded", "value": 0.5}
    current: dict[str, Any] = {"phase": "Running", "trials": [ours, {"name": "s-0001", "value": 1}]}
    assert not differs(current, {"phase": "Running", "trials": [ours]})
    assert differs(current, {"phase": "Running", "trials": [{**ours, "value": 0.6}]})
    assert differs(current, {"phase": "Succeeded", "trials": [ours]})


def test_sidecar_managers_are_released_in_batches_or_when_the_legacy_trials_or_search_end() -> None:
    entries = [
        {"name": f"s-{i:04d}", "phase": "Succeeded", "reportedAt": "x"}
        for i in range(RELEASE_BATCH)
    ]
    fields = [{"manager": names.OPERATOR_MANAGER}] + [
        {"manager": names.sidecar_manager(e["name"])} for e in entries
    ]
    current = {"metadata": {"managedFields": fields}}
    running = {"name": "s-0099", "phase": "Running"}  # an old sidecar still reports
    few = {"phase": "Running", "trials": [*entries[:3], running]}
    assert reports_to_release(current, few) == []
    assert len(reports_to_release(current, {"phase": "Running", "trials": entries[:3]})) == 3
    assert reports_to_release(current, {**few, "phase": "Succeeded"}) == [
        (i + 1, names.sidecar_manager(e["name"])) for i, e in enumerate(entries[:3])
    ]
    assert (
        len(reports_to_release(current, {"phase": "Running", "trials": entries})) == RELEASE_BATCH
    )


def test_events_come_cause_before_effect_a_microsecond_apart() -> None:
    done = Trial("s-0000", 0, {}, TrialPhase.SUCCEEDED, value=0.9)
    new = Trial("s-0001", 1, {}, TrialPhase.PENDING)
    events = transition_events(
        {"status": {}},
        before=[{"name": "s-0000", "phase": "Running"}],
        after=[done, new],
        started=[new],
        plan=plan(best=done),
        now=T0,
    )
    assert events == [
        Event("Normal", "TrialSucceeded", "trial s-0000 succeeded with 0.9", T0),
        Event("Normal", "NewBest", "trial s-0000 is the best so far with 0.9", T0 + 1e-6),
        Event("Normal", "TrialStarted", "started trial s-0001", T0 + 2e-6),
    ]


def test_a_transition_already_recorded_tells_nothing_again() -> None:
    done = Trial("s-0000", 0, {}, TrialPhase.SUCCEEDED, value=0.9)
    status = {"phase": "Succeeded", "best": {"trial": "s-0000"}}
    events = transition_events(
        {"status": status},
        before=[{"name": "s-0000", "phase": "Succeeded"}],
        after=[done],
        started=[],
        plan=plan(best=done, finished=True),
        now=T0,
    )
    assert events == []


def test_docs_list_every_trial_event_reason_the_operator_posts() -> None:
    from pathlib import Path

    from hypersearch.controller.events import EventReason

    text = (Path(__file__).parents[2] / "docs" / "operator.md").read_text()
    assert [r.value for r in EventReason if f"`{r.value}`" not in text] == []


def test_the_last_ten_trials_are_kept_in_short_not_every_trial() -> None:
    trials = [
        Trial(f"s-{i:04d}", i, {}, TrialPhase.SUCCEEDED if i < 11 else TrialPhase.RUNNING, value=i)
        for i in range(12)
    ]
    recent = recent_trials(list(reversed(trials)))
    assert [t["index"] for t in recent] == list(range(2, 12))
    assert recent[-1] == {"name": "s-0011", "index": 11, "phase": "Running", "value": 11}
    failed = Trial("s-0012", 12, {}, TrialPhase.FAILED, value=0.5)
    assert "value" not in recent_trials([failed])[0]


def test_the_list_of_an_earlier_version_stays_while_its_trials_run_or_sidecars_own_fields() -> None:
    body: dict[str, Any] = {
        "metadata": {"managedFields": [{"manager": names.OPERATOR_MANAGER}]},
        "status": {"trials": [{"name": "s-0000", "index": 0}, {"name": "s-0009", "value": 1}]},
    }
    running = [Trial("s-0000", 0, {}, TrialPhase.RUNNING)]
    done = [Trial("s-0000", 0, {}, TrialPhase.SUCCEEDED, value=1.0)]
    assert legacy_trials(body, running) == {"s-0000"}
    assert legacy_trials(body, done) == set()
    body["metadata"]["managedFields"].append({"manager": names.sidecar_manager("s-0000")})
    assert legacy_trials(body, done) == {"s-0000"}
    assert legacy_trials({"metadata": {}, "status": {}}, running) == set()


# --- trials admitted by a queue (Kueue) --------------------------------------------------------

QUOTA = "insufficient unused quota for nvidia.com/gpu in flavor k80, 2 more needed"


def queued(index: int, **fields: Any) -> Trial:
    fields.setdefault("message", f"waiting for the queue's admission: {QUOTA}")
    return Trial(f"s-{index:04d}", index, {}, TrialPhase.QUEUED, **fields)


def test_a_trial_created_queued_is_told_queued_not_started() -> None:
    new = queued(0, message="waiting for the queue's admission")
    events = transition_events(
        {"status": {}}, before=[], after=[new], started=[new], plan=plan(), now=T0
    )
    assert events == [
        Event(
            "Normal",
            "TrialQueued",
            "created trial s-0000, which waits for its queue's admission",
            T0,
        )
    ]


def test_waiting_admission_and_eviction_are_each_told_once_with_kueues_words() -> None:
    evicted = queued(
        2, requeues=1, message=f"evicted by its queue (Preempted to accommodate ...); {QUOTA}"
    )
    admitted = Trial("s-0001", 1, {}, TrialPhase.RUNNING, queued_seconds=42.0)
    events = transition_events(
        {"status": {}},
        before=[
            {"name": "s-0000", "phase": "Pending"},
            {"name": "s-0001", "phase": "Queued"},
            {"name": "s-0002", "phase": "Running"},
            {"name": "s-0003", "phase": "Queued"},
        ],
        after=[queued(0), admitted, evicted, queued(3)],
        started=[],
        plan=plan(),
        now=T0,
    )
    assert [(e.reason, e.message) for e in events] == [
        (
            "TrialQueued",
            f"trial s-0000 waiting for the queue's admission: {QUOTA}",
        ),
        ("TrialAdmitted", "trial s-0001 was admitted by its queue after waiting 42s in all"),
        (
            "TrialRequeued",
            "trial s-0002 was evicted by its queue and runs again with the same parameters "
            f"once admitted (requeue 1): evicted by its queue (Preempted to accommodate ...); "
            f"{QUOTA}",
        ),
    ]


def test_queue_moves_give_each_admitted_trials_wait_and_the_evictions() -> None:
    before: list[dict[str, Any]] = [
        {"name": "s-0000", "phase": "Queued", "queuedSeconds": 10.0},
        {"name": "s-0001", "phase": "Running", "requeues": 1},
        {"name": "s-0002", "phase": "Queued"},
    ]
    after = [
        Trial("s-0000", 0, {}, TrialPhase.RUNNING, queued_seconds=25.0),
        queued(1, requeues=2),
        queued(2),
    ]
    assert queue_moves(before, after) == ([15.0], 1)


def test_a_search_with_a_queue_says_in_a_condition_which_trials_wait_and_why() -> None:
    body: dict[str, Any] = {"metadata": {"generation": 2}, "status": {}}
    trials = [Trial("s-0000", 0, {}, TrialPhase.RUNNING), queued(1), queued(2)]
    desired = desired_status(
        body,
        trials=trials,
        counts=count_trials(trials),
        plan=plan(),
        reason="TrialsRunning",
        message="",
        now=T0,
        queue="trials",
    )
    (cond,) = [c for c in desired["conditions"] if c["type"] == "Queued"]
    assert (cond["status"], cond["reason"]) == ("True", "WaitingForAdmission")
    assert cond["message"] == f"2 trials wait for admission by LocalQueue trials; s-0001: {QUOTA}"
    assert desired["counts"]["queued"] == 2
    admitted = [Trial("s-0000", 0, {}, TrialPhase.RUNNING)]
    later = desired_status(
        {**body, "status": desired},
        trials=admitted,
        counts=count_trials(admitted),
        plan=plan(),
        reason="TrialsRunning",
        message="",
        now=T0 + 60,
        queue="trials",
    )
    (cond,) = [c for c in later["conditions"] if c["type"] == "Queued"]
    assert (cond["status"], cond["reason"]) == ("False", "NoneWaiting")
    assert cond["message"] == "no trial waits for admission by LocalQueue trials"


def test_a_search_without_a_queue_has_no_queued_condition() -> None:
    body: dict[str, Any] = {"metadata": {"generation": 1}, "status": {}}
    trials = [Trial("s-0000", 0, {}, TrialPhase.RUNNING)]
    desired = desired_status(
        body,
        trials=trials,
        counts=count_trials(trials),
        plan=plan(),
        reason="TrialsRunning",
        message="",
        now=T0,
    )
    assert [c["type"] for c in desired["conditions"]] == ["Running", "Succeeded", "Failed"]
