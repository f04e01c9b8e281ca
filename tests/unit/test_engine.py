"""engine.decide: what a search does next, as tables of trial histories and the plan they give."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from builders import search_spec

from hypersearch.core import engine
from hypersearch.core.early_stopping import EARLY_STOPPED
from hypersearch.core.engine import Plan, StopTrial, decide, rng_for
from hypersearch.core.errors import SpecError
from hypersearch.core.params import Params
from hypersearch.core.space import Space
from hypersearch.core.spec import SearchSpec
from hypersearch.core.suggest.base import Outcome, Suggestion
from hypersearch.core.trials import Observation, Trial, TrialPhase, queue_seconds

P, R, S, F = TrialPhase.PENDING, TrialPhase.RUNNING, TrialPhase.SUCCEEDED, TrialPhase.FAILED
Q = TrialPhase.QUEUED
NOW = 1_000.0
GRID_PARAMETERS = [
    # The builders' template references these four placeholders; three get a single value.
    {"name": "conv2_filter", "type": "int", "min": 16, "max": 17},
    {"name": "dropout_3", "type": "categorical", "values": [0.5]},
    {"name": "lr", "type": "categorical", "values": [0.01]},
    {"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]},
]


def spec(**overrides: Any) -> SearchSpec:
    """The builders' manifest with a random search (fast) unless an override says otherwise."""
    overrides.setdefault("algorithm", {"name": "random", "seed": 7})
    return search_spec(**overrides)


def grid_spec(**overrides: Any) -> SearchSpec:
    """A grid search over 4 points."""
    return search_spec(algorithm={"name": "grid"}, parameters=GRID_PARAMETERS, **overrides)


def point(space: Space, i: int) -> Params:
    return space.sample(np.random.default_rng(i), 1)[0]


def trial(
    s: SearchSpec,
    index: int,
    phase: TrialPhase,
    value: float | None = None,
    *,
    started_at: float | None = None,
    params: Params | None = None,
) -> Trial:
    return Trial(
        name=f"{s.name}-{index:04d}",
        index=index,
        params=params if params is not None else point(s.space, index),
        phase=phase,
        value=value,
        started_at=started_at,
    )


def trials(s: SearchSpec, *rows: tuple[TrialPhase, float | None]) -> list[Trial]:
    return [trial(s, i, phase, value) for i, (phase, value) in enumerate(rows)]


def plan_for(s: SearchSpec, ts: Sequence[Trial], now: float = NOW) -> Plan:
    return decide(s, ts, now, rng_for(s, ts))


def test_an_empty_search_starts_parallelism_trials_with_derived_names() -> None:
    s = spec(parallelism=3)
    plan = plan_for(s, [])
    assert [(t.name, t.index) for t in plan.start] == [
        ("cifar10-bayes-0000", 0),
        ("cifar10-bayes-0001", 1),
        ("cifar10-bayes-0002", 2),
    ]
    assert all(s.space.contains(t.params) for t in plan.start)
    assert (plan.finished, plan.reason, plan.stop) == (False, None, ())


@pytest.mark.parametrize(
    ("rows", "parallelism", "max_trials", "starts"),
    [
        ([], 3, 21, 3),
        ([(R, None)], 3, 21, 2),
        ([(P, None), (R, None)], 3, 21, 1),
        ([(P, None), (R, None), (R, None)], 3, 21, 0),
        ([(S, 0.5), (F, None), (R, None)], 3, 21, 2),
        ([(S, 0.5), (S, 0.6)], 3, 4, 2),  # maxTrials leaves room for 2
        ([(S, 0.5), (F, None), (S, 0.6)], 3, 4, 1),  # the failed one counts too
        ([(S, 0.5), (F, None), (R, None), (S, 0.6)], 3, 4, 0),
        ([(S, 0.5)] * 5, 1, 21, 1),
    ],
)
def test_starts_fill_free_slots_within_the_trial_budget(
    rows: list[tuple[TrialPhase, float | None]], parallelism: int, max_trials: int, starts: int
) -> None:
    s = spec(parallelism=parallelism, maxTrials=max_trials)
    assert len(plan_for(s, trials(s, *rows)).start) == starts


def test_indices_continue_after_the_largest_existing_one() -> None:
    s = spec(parallelism=2)
    ts = [trial(s, 0, S, 0.1), trial(s, 5, S, 0.2)]
    assert [t.index for t in plan_for(s, ts).start] == [6, 7]
    assert [t.name for t in plan_for(s, ts).start] == ["cifar10-bayes-0006", "cifar10-bayes-0007"]


def test_the_suggester_is_not_asked_when_no_slot_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_algorithm: object, **_k: object) -> object:
        raise AssertionError("suggester asked with nothing to start")

    monkeypatch.setattr(engine, "suggester_for", refuse)
    s = spec(parallelism=2, maxTrials=3)
    assert plan_for(s, trials(s, (R, None), (R, None))).start == ()
    assert plan_for(s, trials(s, (S, 1.0), (S, 1.0), (R, None))).start == ()


def test_the_suggester_sees_maximised_values_failures_and_running_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[list[Outcome], list[Params], int]] = []

    class Spy:
        def suggest(
            self,
            space: Space,
            history: Sequence[Outcome],
            pending: Sequence[Params],
            n: int,
            rng: np.random.Generator,
        ) -> list[Suggestion]:
            calls.append((list(history), list(pending), n))
            return []

    monkeypatch.setattr(engine, "suggester_for", lambda _a, **_k: Spy())
    s = spec(objective={"metric": "loss", "goal": "minimize"}, parallelism=3)
    ts = trials(s, (S, 2.0), (F, None), (R, None), (P, None))
    plan_for(s, ts)
    (history, pending, n) = calls[0]
    assert [o.value for o in history] == [-2.0, None]
    assert pending == [ts[2].params, ts[3].params]
    assert n == 1


def test_the_suggester_is_told_the_searchs_budget_of_trials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    horizons: list[int | None] = []

    class Empty:
        def suggest(self, *_args: object) -> list[Suggestion]:
            return []

    def record(_algorithm: object, horizon: int | None = None, *, noisy: bool = False) -> Empty:
        horizons.append(horizon)
        noise.append(noisy)
        return Empty()

    noise: list[bool] = []
    monkeypatch.setattr(engine, "suggester_for", record)
    s = spec(parallelism=2, maxTrials=17)
    plan_for(s, trials(s, (S, 1.0)))
    assert horizons == [17]
    assert noise == [False]
    s = spec(parallelism=2, maxTrials=17, objective={"metric": "val_acc", "noisy": True})
    plan_for(s, trials(s, (S, 1.0)))
    assert noise == [False, True]


def test_all_trials_finished_ends_the_search_with_max_trials_reached() -> None:
    s = spec(maxTrials=3)
    plan = plan_for(s, trials(s, (S, 0.5), (F, None), (S, 0.7)))
    assert (plan.finished, plan.succeeded, plan.reason) == (True, True, "MaxTrialsReached")
    assert plan.message == "all 3 trials finished; best value 0.7 from trial cifar10-bayes-0002"
    assert plan.start == ()


def test_lowering_max_trials_below_the_trials_run_ends_the_search_saying_so() -> None:
    s = spec(maxTrials=2)
    plan = plan_for(s, trials(s, (S, 0.5), (S, 0.9), (S, 0.7)))
    assert (plan.finished, plan.reason, plan.start) == (True, "MaxTrialsReached", ())
    assert plan.message == (
        "all 3 trials finished, maxTrials=2 was lowered below them; "
        "best value 0.9 from trial cifar10-bayes-0001"
    )


def test_the_last_trials_running_keep_the_search_going() -> None:
    s = spec(maxTrials=3)
    plan = plan_for(s, trials(s, (S, 0.5), (R, None), (S, 0.7)))
    assert (plan.finished, plan.reason, plan.start) == (False, None, ())


def test_max_trials_without_any_value_is_finished_but_not_succeeded() -> None:
    s = spec(maxTrials=2, maxFailedTrials=5)
    plan = plan_for(s, trials(s, (F, None), (F, None)))
    assert (plan.finished, plan.succeeded, plan.reason) == (True, False, "MaxTrialsReached")
    assert plan.message == "all 2 trials finished; no trial reported a value"


@pytest.mark.parametrize(("failed", "finished"), [(3, False), (4, True)])
def test_more_failures_than_allowed_end_the_search(failed: int, finished: bool) -> None:
    s = spec(maxFailedTrials=3, parallelism=3)
    ts = trials(s, *([(F, None)] * failed), (S, 0.4), (R, None), (P, None))
    plan = plan_for(s, ts)
    assert plan.finished is finished
    if finished:
        assert (plan.succeeded, plan.reason, plan.start) == (False, "MaxFailedTrialsExceeded", ())
        assert plan.message == (
            "4 trials failed, more than maxFailedTrials=3; look at the failed trials' messages "
            "and logs, fix the cause, and raise maxFailedTrials if failures are expected"
        )
        assert [(t.name, t.reason) for t in plan.stop] == [
            ("cifar10-bayes-0005", "MaxFailedTrialsExceeded"),
            ("cifar10-bayes-0006", "MaxFailedTrialsExceeded"),
        ]
    else:
        assert len(plan.start) == 1


@pytest.mark.parametrize(
    ("goal", "target", "values", "reached"),
    [
        ("maximize", 0.9, [0.5, 0.9], True),
        ("maximize", 0.9, [0.5, 0.89], False),
        ("minimize", 0.1, [0.5, 0.1], True),
        ("minimize", 0.1, [0.5, 0.11], False),
    ],
)
def test_reaching_the_target_ends_the_search_and_stops_the_rest(
    goal: str, target: float, values: list[float], reached: bool
) -> None:
    s = spec(objective={"metric": "m", "goal": goal, "target": target})
    ts = trials(s, *[(S, v) for v in values], (R, None))
    plan = plan_for(s, ts)
    assert plan.finished is reached
    if reached:
        assert (plan.succeeded, plan.reason) == (True, "TargetReached")
        assert (
            plan.message
            == f"trial cifar10-bayes-0001 reached the target m {target:g} with {target:g}"
        )
        assert plan.stop == (
            StopTrial(
                "cifar10-bayes-0002",
                "TargetReached",
                f"stopped because the search finished: {plan.message}",
            ),
        )


def test_a_reached_target_stays_a_success_after_the_stopped_trials_fail() -> None:
    s = spec(objective={"metric": "m", "target": 0.9}, maxFailedTrials=0)
    ts = trials(s, (S, 0.95), (F, None))  # the trial the plan above stopped
    plan = plan_for(s, ts)
    assert (plan.succeeded, plan.reason) == (True, "TargetReached")


def test_a_trial_running_past_its_timeout_is_stopped_and_replaced() -> None:
    s = spec(trial={**_template(), "timeoutSeconds": 60}, parallelism=2)
    ts = [
        trial(s, 0, R, started_at=NOW - 61),
        trial(s, 1, R, started_at=NOW - 59),
    ]
    plan = plan_for(s, ts)
    assert plan.stop == (
        StopTrial(
            "cifar10-bayes-0000",
            "Timeout",
            "ran longer than trial.timeoutSeconds=60; raise it if trials need longer",
        ),
    )
    assert [t.index for t in plan.start] == [2]


def _template() -> dict[str, Any]:
    from builders import manifest

    trial_section: dict[str, Any] = manifest()["spec"]["trial"]
    return trial_section


def test_a_used_up_grid_ends_the_search_once_the_last_trial_finishes() -> None:
    s = grid_spec(parallelism=3, maxTrials=10)
    grid = list(s.space.grid())
    first = plan_for(s, [])
    assert [t.params for t in first.start] == grid[:3]
    running = [trial(s, i, S, 0.1, params=p) for i, p in enumerate(grid[:3])]
    running.append(trial(s, 3, R, params=grid[3]))
    middle = plan_for(s, running)
    assert (middle.start, middle.finished) == ((), False)
    done = [*running[:3], trial(s, 3, S, 0.3, params=grid[3])]
    plan = plan_for(s, done)
    assert (plan.finished, plan.succeeded, plan.reason) == (True, True, "SpaceExhausted")
    assert plan.message == (
        "every point of the search space was tried; best value 0.3 from trial cifar10-bayes-0003"
    )


def test_a_finite_random_search_ends_when_its_space_is_used_up() -> None:
    s = grid_spec()
    s = dataclasses.replace(s, algorithm=dataclasses.replace(s.algorithm, name="random"))
    ts = [trial(s, i, S, 0.1, params=p) for i, p in enumerate(s.space.grid())]
    plan = plan_for(s, ts)
    assert (plan.finished, plan.reason) == (True, "SpaceExhausted")


@pytest.mark.parametrize(
    ("goal", "values", "best_index"),
    [
        ("maximize", [0.3, 0.9, 0.1], 1),
        ("minimize", [0.3, 0.9, 0.1], 2),
        ("maximize", [0.9, 0.3, 0.9], 0),  # ties go to the lower index
        ("minimize", [0.5, 0.1, 0.1], 1),
    ],
)
def test_the_best_trial_follows_the_goal(goal: str, values: list[float], best_index: int) -> None:
    s = spec(objective={"metric": "m", "goal": goal})
    ts = [*trials(s, *[(S, v) for v in values]), trial(s, 3, F, None)]
    best = plan_for(s, ts).best
    assert best is not None
    assert best.index == best_index


def test_nan_values_never_become_the_best() -> None:
    s = spec()
    best = plan_for(s, trials(s, (S, float("nan")), (S, 0.2))).best
    assert best is not None
    assert best.index == 1


def test_the_same_history_and_seed_give_the_same_plan() -> None:
    s = spec(algorithm={"name": "bayesian", "seed": 3, "settings": {"initialPoints": 3}})
    ts = trials(s, (S, 0.1), (S, 0.5), (S, 0.3), (S, 0.7), (R, None))
    first, again = plan_for(s, ts), plan_for(s, ts)
    assert first == again
    assert first.start[0].prediction is not None


def test_a_different_seed_gives_different_points() -> None:
    a = spec(algorithm={"name": "random", "seed": 1})
    b = spec(algorithm={"name": "random", "seed": 2})
    assert plan_for(a, []).start[0].params != plan_for(b, []).start[0].params


def test_a_minimised_objective_gets_predictions_in_its_own_units() -> None:
    s = spec(
        algorithm={"name": "bayesian", "seed": 3, "settings": {"initialPoints": 3}},
        objective={"metric": "loss", "goal": "minimize"},
        parallelism=1,
    )
    ts = [trial(s, i, S, 100.0 + i) for i in range(5)]
    (new,) = plan_for(s, ts).start
    assert new.prediction is not None
    assert 90.0 < new.prediction.mean < 110.0
    assert new.prediction.ucb < new.prediction.mean  # a lower bound for a loss


def test_counts_tally_each_phase() -> None:
    s = spec()
    counts = plan_for(
        s, trials(s, (S, 1.0), (F, None), (F, None), (R, None), (P, None), (Q, None), (Q, None))
    ).counts
    tally = (counts.total, counts.queued, counts.pending, counts.running)
    assert (*tally, counts.succeeded, counts.failed) == (7, 2, 1, 1, 1, 2)


# --- trials waiting for a queue's admission (Kueue) ---------------------------------------------


def _queued(s: SearchSpec, index: int, **fields: Any) -> Trial:
    return dataclasses.replace(trial(s, index, Q), **fields)


def test_queued_trials_hold_their_slots_so_no_more_than_parallelism_can_be_admitted() -> None:
    s = spec(parallelism=3, maxTrials=20)
    ts = [trial(s, 0, R), _queued(s, 1), _queued(s, 2)]
    plan = plan_for(s, ts)
    assert plan.start == ()
    assert plan.stop == ()
    assert not plan.finished


def test_a_finished_admitted_trial_frees_one_slot_however_many_wait_in_the_queue() -> None:
    s = spec(parallelism=3, maxTrials=20)
    ts = [trial(s, 0, S, 0.5), _queued(s, 1), _queued(s, 2)]
    plan = plan_for(s, ts)
    assert [t.index for t in plan.start] == [3]


def test_queued_points_are_pending_for_the_suggester(monkeypatch: pytest.MonkeyPatch) -> None:
    s = spec(parallelism=2, maxTrials=5)
    ts = [_queued(s, 0)]
    seen: list[list[Params]] = []

    class Recording:
        def suggest(
            self,
            space: Space,
            history: Sequence[Outcome],
            pending: Sequence[Params],
            n: int,
            rng: np.random.Generator,
        ) -> list[Suggestion]:
            seen.append(list(pending))
            return []

    monkeypatch.setattr(engine, "suggester_for", lambda algorithm, **_k: Recording())
    plan_for(s, ts)
    assert seen == [[ts[0].params]]


def test_a_trial_queued_longer_than_its_timeout_is_not_timed_out() -> None:
    s = spec(trial={**_template(), "timeoutSeconds": 60}, parallelism=1)
    waiting = _queued(s, 0, created_at=NOW - 3600, queued_at=NOW - 3600)
    plan = plan_for(s, [waiting])
    assert plan.stop == ()
    assert plan.start == ()


def test_a_requeued_trial_times_out_from_its_latest_start_not_its_creation() -> None:
    s = spec(trial={**_template(), "timeoutSeconds": 60}, parallelism=2)
    restarted = dataclasses.replace(
        trial(s, 0, R, started_at=NOW - 30), created_at=NOW - 3600, requeues=1
    )
    overdue = dataclasses.replace(
        trial(s, 1, R, started_at=NOW - 61), created_at=NOW - 3600, requeues=1
    )
    plan = plan_for(s, [restarted, overdue])
    assert [stop.name for stop in plan.stop] == [overdue.name]


def test_a_running_trial_that_waited_in_a_queue_without_a_known_start_is_not_timed_out() -> None:
    s = spec(trial={**_template(), "timeoutSeconds": 60}, parallelism=1)
    waited = dataclasses.replace(trial(s, 0, R), created_at=NOW - 3600, queued_seconds=3000.0)
    assert plan_for(s, [waited]).stop == ()


def test_requeues_are_not_failures_and_do_not_use_up_max_failed_trials() -> None:
    s = spec(parallelism=2, maxTrials=10, maxFailedTrials=0)
    ts = [_queued(s, 0, requeues=5), dataclasses.replace(trial(s, 1, R), requeues=3)]
    plan = plan_for(s, ts)
    assert not plan.finished
    assert plan.counts.failed == 0


def test_a_finished_search_stops_its_queued_trials_too() -> None:
    s = spec(parallelism=2, objective={"metric": "val_acc", "goal": "maximize", "target": 0.9})
    ts = [trial(s, 0, S, 0.95), _queued(s, 1)]
    plan = plan_for(s, ts)
    assert plan.reason == "TargetReached"
    assert [stop.name for stop in plan.stop] == [ts[1].name]


def test_the_last_trials_waiting_in_a_queue_keep_the_search_going() -> None:
    s = spec(parallelism=2, maxTrials=2)
    plan = plan_for(s, [trial(s, 0, S, 0.5), _queued(s, 1)])
    assert not plan.finished
    assert plan.start == ()


def test_queue_seconds_add_the_current_wait_to_the_finished_ones() -> None:
    s = spec()
    waiting = _queued(s, 0, queued_seconds=30.0, queued_at=NOW - 12, requeues=1)
    assert queue_seconds(waiting, NOW) == 42.0
    admitted = dataclasses.replace(trial(s, 1, R), queued_seconds=30.0)
    assert queue_seconds(admitted, NOW) == 30.0


# --- an edited spec must still hold the trials already run ------------------------------------


def test_trials_that_fit_the_edited_space_pass_the_check() -> None:
    s = grid_spec()
    engine.check_trials_fit(s, [trial(s, 0, S, 0.5), trial(s, 1, R)])


def test_a_trial_outside_the_edited_space_is_refused_naming_it_and_the_fix() -> None:
    s = grid_spec()
    ran = trial(s, 0, S, 0.5, params={**point(s.space, 0), "optimizer": "rmsprop"})
    with pytest.raises(SpecError) as err:
        engine.check_trials_fit(s, [ran, trial(s, 1, S, 0.4)])
    [problem] = err.value.problems
    assert problem.path == "spec.parameters"
    assert problem.message.startswith(
        f"no longer describe the trials this search ran: trial {ran.name} ran with "
    )
    assert "rmsprop" in problem.message
    assert problem.message.endswith(
        "restore the parameters, or create a new HyperSearch under another name for the new "
        "space (widening a range or adding values keeps the trials valid)"
    )


def test_stops_early_stop_a_running_trial_with_its_curve_value_and_fail_the_rest() -> None:
    s = spec()
    metric = s.objective.metric
    curve = (Observation(metric, 0.61, 1), Observation(metric, 0.64, 2))
    running = dataclasses.replace(trial(s, 0, R, started_at=NOW - 60), observations=curve)
    slow = trial(s, 1, R, started_at=NOW - 900)
    waiting = trial(s, 2, P)
    untouched = trial(s, 3, R)
    stops = [
        StopTrial(running.name, EARLY_STOPPED, "below the median at step 2"),
        StopTrial(slow.name, "Timeout", "ran longer than 600s"),
        StopTrial(waiting.name, EARLY_STOPPED, "stopped before it ran"),
    ]
    out, early = engine.apply_stops(s, [running, slow, waiting, untouched], stops, NOW)
    assert early == {running.name}
    got = {t.name: (t.phase, t.value, t.reason, t.finished_at) for t in out}
    assert got[running.name] == (TrialPhase.EARLY_STOPPED, 0.64, EARLY_STOPPED, NOW)
    assert got[slow.name] == (F, None, "Timeout", NOW)
    # Only a running trial has a curve to be judged by: anything else stopped is a failure.
    assert got[waiting.name] == (F, None, EARLY_STOPPED, NOW)
    assert out[3] is untouched
