"""spec.earlyStopping: parsing, and which running trials decide() stops, as tables of curves."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from builders import manifest, search_spec

from hypersearch.core import early_stopping, engine
from hypersearch.core.curve_fit import extrapolated
from hypersearch.core.curves import curve_of
from hypersearch.core.early_stopping import early_stops, median_steps, rule_steps, rungs
from hypersearch.core.engine import StopTrial, decide, rng_for
from hypersearch.core.errors import SpecError
from hypersearch.core.fidelity import fidelity, fidelity_views, projected_values
from hypersearch.core.manifest import parse_manifest, spec_to_manifest
from hypersearch.core.params import Params
from hypersearch.core.rank_agreement import rung_agreement
from hypersearch.core.space import Space
from hypersearch.core.spec import EarlyStopping, SearchSpec
from hypersearch.core.suggest.base import Outcome, Suggestion
from hypersearch.core.trials import Observation, Trial, TrialPhase

P, R, S, F, E = (
    TrialPhase.PENDING,
    TrialPhase.RUNNING,
    TrialPhase.SUCCEEDED,
    TrialPhase.FAILED,
    TrialPhase.EARLY_STOPPED,
)
NOW = 1_000.0
MEDIAN = {"algorithm": "median"}
ASHA = {"algorithm": "asha", "reductionFactor": 3, "minResource": 1, "maxResource": 27}


def spec(early: dict[str, Any] | None, **overrides: Any) -> SearchSpec:
    overrides.setdefault("algorithm", {"name": "random", "seed": 7})
    overrides.setdefault("parallelism", 3)
    return search_spec(earlyStopping=early, **overrides)


def trial(
    s: SearchSpec,
    index: int,
    phase: TrialPhase,
    values: Sequence[float],
    *,
    steps: Sequence[int | None] | None = None,
    value: float | None = None,
) -> Trial:
    at = list(steps) if steps is not None else list(range(1, len(values) + 1))
    return Trial(
        name=f"{s.name}-{index:04d}",
        index=index,
        params=s.space.sample(np.random.default_rng(index), 1)[0],
        phase=phase,
        value=value,
        observations=tuple(
            Observation(s.objective.metric, v, step) for v, step in zip(values, at, strict=True)
        ),
    )


def stopped(s: SearchSpec, ts: Sequence[Trial]) -> dict[str, str]:
    return {stop.name: stop.message for stop in early_stops(s, ts)}


# --- parsing ---------------------------------------------------------------------------------


def test_absent_early_stopping_is_none_and_every_trial_runs_on() -> None:
    s = spec(None)
    assert s.early_stopping is None
    ts = [trial(s, 0, S, [0.9] * 5), trial(s, 1, S, [0.9] * 5), trial(s, 2, S, [0.9] * 5)]
    assert early_stops(s, [*ts, trial(s, 3, R, [0.1] * 5)]) == []


@pytest.mark.parametrize(
    ("written", "settings"),
    [
        ({"algorithm": "median"}, {"gracePeriod": 3, "minTrials": 3, "extrapolate": False}),
        (
            {"algorithm": "median", "gracePeriod": 10},
            {"gracePeriod": 10, "minTrials": 3, "extrapolate": False},
        ),
        (
            {"algorithm": "asha"},
            {"reductionFactor": 3, "minResource": 3, "maxResource": 100},
        ),
        (
            {"algorithm": "asha", "reductionFactor": 2, "maxResource": 30},
            {"reductionFactor": 2.0, "minResource": 3, "maxResource": 30},
        ),
        (
            {"algorithm": "median", "extrapolate": True},
            {"gracePeriod": 3, "minTrials": 3, "extrapolate": True},
        ),
    ],
)
def test_settings_not_written_take_their_defaults(
    written: dict[str, Any], settings: dict[str, Any]
) -> None:
    rule = spec(written).early_stopping
    assert rule is not None
    assert (rule.algorithm, dict(rule.settings)) == (written["algorithm"], settings)


@pytest.mark.parametrize(
    ("written", "problems"),
    [
        (
            {"algorithm": "hyperband"},
            ["spec.earlyStopping.algorithm must be one of median, asha, got 'hyperband'"],
        ),
        (
            {"gracePeriod": 3},
            [
                "spec.earlyStopping.algorithm is required (median or asha; leave earlyStopping "
                "out to run every trial to its end)"
            ],
        ),
        (
            "median",
            [
                "spec.earlyStopping must be a mapping, got 'median': e.g. earlyStopping: "
                "{algorithm: median}"
            ],
        ),
        (
            {"algorithm": "median", "reductionFactor": 3},
            [
                "spec.earlyStopping.reductionFactor is not a setting of the median rule (a "
                "setting of asha, not of median; its settings: gracePeriod, minTrials, "
                "extrapolate)"
            ],
        ),
        (
            {"algorithm": "asha", "gracePeriod": 3},
            [
                "spec.earlyStopping.gracePeriod is not a setting of the asha rule (a setting of "
                "median, not of asha; its settings: reductionFactor, minResource, maxResource)"
            ],
        ),
        (
            {"algorithm": "median", "gracePeriod": 0, "minTrials": 1.5},
            [
                "spec.earlyStopping.gracePeriod must be >= 1, got 0",
                "spec.earlyStopping.minTrials must be an integer, got 1.5",
            ],
        ),
        (
            {"algorithm": "asha", "reductionFactor": 1},
            ["spec.earlyStopping.reductionFactor must be > 1, got 1"],
        ),
        (
            {"algorithm": "asha", "minResource": 50, "maxResource": 50},
            [
                "spec.earlyStopping.minResource must be less than maxResource, got "
                "minResource=50, maxResource=50: the first rung lies below a full trial's steps "
                "(set maxResource to the epochs your script runs)"
            ],
        ),
    ],
)
def test_invalid_early_stopping_names_the_field_the_value_and_the_fix(
    written: Any, problems: list[str]
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_manifest(manifest(earlyStopping=written))
    assert [str(p) for p in caught.value.problems] == problems


def test_early_stopping_round_trips_through_the_manifest() -> None:
    s = spec({"algorithm": "asha", "minResource": 2, "maxResource": 50})
    written = spec_to_manifest(s)
    assert written["spec"]["earlyStopping"] == {
        "algorithm": "asha",
        "reductionFactor": 3,
        "minResource": 2,
        "maxResource": 50,
    }
    assert parse_manifest(written) == s


def test_asha_rungs_grow_by_the_reduction_factor_while_the_next_fits_the_max_resource() -> None:
    assert rungs(EarlyStopping("asha", {"minResource": 1, "maxResource": 27})) == [1, 3, 9]
    assert rungs(EarlyStopping("asha", {"minResource": 3, "maxResource": 30})) == [3, 9]
    # 16 is not a rung: a trial past 8 runs to 20 rather than being judged again at 16.
    assert rungs(
        EarlyStopping("asha", {"minResource": 2, "maxResource": 20, "reductionFactor": 2})
    ) == [2, 4, 8]


# --- the median rule ---------------------------------------------------------------------------

FINISHED = [0.6, 0.7, 0.8]
"""Three finished trials' values at every step of their ten-step curves."""


def median_case(
    running: Sequence[float], *, others: Sequence[float] = FINISHED, **early: Any
) -> dict[str, str]:
    s = spec({**MEDIAN, **early})
    ts = [trial(s, i, S, [v] * 10, value=v) for i, v in enumerate(others)]
    return stopped(s, [*ts, trial(s, len(others), R, running)])


def test_median_stops_a_trial_worse_than_the_median_at_its_step() -> None:
    assert median_case([0.5, 0.5, 0.5]) == {
        "cifar10-bayes-0003": "val_acc 0.5 at step 3 is worse than the median 0.7 of the 3 "
        "completed trials at that step (earlyStopping: median, gracePeriod 3, minTrials 3)"
    }


@pytest.mark.parametrize(
    ("case", "running", "others", "early"),
    [
        ("within the grace period", [0.1, 0.1], FINISHED, {}),
        ("equal to the median", [0.7, 0.7, 0.7], FINISHED, {}),
        ("better than the median", [0.1, 0.1, 0.75], FINISHED, {}),
        ("fewer completed trials than minTrials", [0.1] * 3, FINISHED[:2], {}),
        ("minTrials raised above the trials seen", [0.1] * 3, FINISHED, {"minTrials": 4}),
        ("gracePeriod raised past its step", [0.1] * 5, FINISHED, {"gracePeriod": 6}),
    ],
)
def test_median_lets_a_trial_run_on(
    case: str, running: list[float], others: list[float], early: dict[str, Any]
) -> None:
    assert median_case(running, others=others, **early) == {}


def test_median_compares_only_with_trials_whose_curves_reach_the_step() -> None:
    s = spec(MEDIAN)
    short = [trial(s, i, S, [0.95] * 2, value=0.95) for i in range(3)]
    ts = [*short, trial(s, 3, R, [0.1] * 4)]
    assert stopped(s, ts) == {}
    long = trial(s, 4, S, [0.9] * 4, value=0.9)
    assert stopped(s, [*ts, long, trial(s, 5, S, [0.2] * 9), trial(s, 6, S, [0.3] * 9)]) == {
        "cifar10-bayes-0003": "val_acc 0.1 at step 4 is worse than the median 0.3 of the 3 "
        "completed trials at that step (earlyStopping: median, gracePeriod 3, minTrials 3)"
    }


def test_median_compares_only_with_completed_trials_not_running_or_stopped_ones() -> None:
    s = spec(MEDIAN)
    others = [trial(s, 0, R, [0.9] * 4), trial(s, 1, R, [0.8] * 4), trial(s, 2, E, [0.7] * 3)]
    others += [trial(s, 3, F, [0.9] * 4), trial(s, 4, S, [0.95] * 10)]
    # Four trials are ahead of it at step 3, but only one of them ran to its end.
    assert stopped(s, [*others, trial(s, 5, R, [0.1] * 3)]) == {}


def test_median_minimising_stops_the_higher_loss_and_reads_the_aggregation() -> None:
    s = spec(MEDIAN, objective={"metric": "loss", "goal": "minimize", "aggregation": "min"})
    ts = [trial(s, i, S, [v, v, v, v]) for i, v in enumerate([0.4, 0.5, 0.6])]
    # min aggregation: the running trial's score at step 4 is its best, 0.45 (not the last 0.9).
    assert stopped(s, [*ts, trial(s, 3, R, [0.8, 0.45, 0.9, 0.9])]) == {}
    assert stopped(s, [*ts, trial(s, 3, R, [0.8, 0.55, 0.9, 0.9])]) == {
        "cifar10-bayes-0003": "loss 0.55 at step 4 is worse than the median 0.5 of the 3 "
        "completed trials at that step (earlyStopping: median, gracePeriod 3, minTrials 3)"
    }


DIVERGED = (
    "val_acc has no finite value at step {step} (NaN/inf: the training diverged), so the trial "
    "could only end without a value (earlyStopping: {rule}, from step {first})"
)


def test_median_stops_a_diverged_trial_and_says_it_has_no_finite_value() -> None:
    assert median_case([math.nan] * 3) == {
        "cifar10-bayes-0003": DIVERGED.format(step=3, rule="median", first=3)
    }


def test_a_nan_after_finite_reports_is_diverged_with_aggregation_last() -> None:
    # Its last value is NaN: it could only end without a value (core.metrics.final_value fails
    # it), so it stops at the grace period even before any trial completed.
    s = spec(MEDIAN)
    assert stopped(s, [trial(s, 0, R, [0.9, 0.9, math.nan])]) == {
        "cifar10-bayes-0000": DIVERGED.format(step=3, rule="median", first=3)
    }
    assert stopped(s, [trial(s, 0, R, [0.9, math.nan])]) == {}  # before the grace period


def test_a_nan_after_finite_reports_keeps_its_best_with_aggregation_max() -> None:
    s = spec(MEDIAN, objective={"metric": "val_acc", "goal": "maximize", "aggregation": "max"})
    assert stopped(s, [trial(s, 0, R, [0.9, 0.9, math.nan])]) == {}


def test_asha_stops_a_diverged_trial_from_its_first_rung() -> None:
    s = spec(ASHA)
    assert stopped(s, [trial(s, 0, R, [0.5, 0.6, math.inf])]) == {
        "cifar10-bayes-0000": DIVERGED.format(step=3, rule="asha", first=1)
    }


def test_median_judges_at_its_check_steps_the_last_one_reached() -> None:
    s = spec(MEDIAN)
    rule = s.early_stopping
    assert rule is not None
    assert median_steps(rule, 30) == [3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 20, 24, 29]
    ts = [trial(s, i, S, [0.5] * 8 + [v] * 22) for i, v in enumerate(FINISHED)]
    # At step 9 the trial is judged at step 8, where it was level with the completed ones.
    assert stopped(s, [*ts, trial(s, 3, R, [0.5] * 8 + [0.1])]) == {}
    assert list(stopped(s, [*ts, trial(s, 3, R, [0.5] * 8 + [0.1, 0.1])])) == ["cifar10-bayes-0003"]


def test_rule_steps_are_the_median_check_steps_or_the_asha_rungs() -> None:
    median_rule, asha_rule = spec(MEDIAN).early_stopping, spec(ASHA).early_stopping
    assert median_rule is not None and asha_rule is not None
    assert rule_steps(median_rule, 10) == [3, 4, 5, 6, 7, 8, 10]
    assert rule_steps(asha_rule, 1000) == rungs(asha_rule)


def test_steps_default_to_the_report_position_when_reports_carry_none() -> None:
    s = spec(MEDIAN)
    ts = [trial(s, i, S, [v] * 3, steps=[None] * 3) for i, v in enumerate(FINISHED)]
    running = trial(s, 3, R, [0.5] * 3, steps=[None] * 3)
    assert list(stopped(s, [*ts, running])) == ["cifar10-bayes-0003"]


def test_only_running_trials_are_stopped() -> None:
    s = spec(MEDIAN)
    ts = [trial(s, i, S, [v] * 10) for i, v in enumerate(FINISHED)]
    bad = [trial(s, 3, P, [0.1] * 5), trial(s, 4, S, [0.1] * 5), trial(s, 5, F, [0.1] * 5)]
    assert stopped(s, [*ts, *bad]) == {}


# --- ASHA ----------------------------------------------------------------------------------------


def asha_case(*curves: tuple[TrialPhase, list[float]]) -> dict[str, str]:
    s = spec(ASHA)
    return stopped(s, [trial(s, i, phase, values) for i, (phase, values) in enumerate(curves)])


def test_asha_stops_a_trial_outside_the_best_third_of_its_rung() -> None:
    assert asha_case((S, [0.9] * 27), (S, [0.8] * 27), (R, [0.5])) == {
        "cifar10-bayes-0002": "val_acc 0.5 at rung 1 ranks 3 of the 3 trials that reached it "
        "before; only the best 1 (1/3, down to 0.9) continue (earlyStopping: asha, rungs 1, 3, 9)"
    }


def test_asha_never_stops_the_first_trial() -> None:
    assert asha_case((R, [0.01] * 5), (S, [0.9] * 27), (S, [0.8] * 27)) == {}


@pytest.mark.parametrize(
    ("case", "curves"),
    [
        ("fewer trials at the rung than the reduction factor", [(S, [0.9] * 27), (R, [0.1])]),
        ("the best at its rung", [(S, [0.5] * 27), (S, [0.6] * 27), (R, [0.95])]),
        ("before the first rung", [(S, [0.9] * 27), (S, [0.8] * 27), (R, [])]),
        (
            "judged at its highest rung only, which holds too few",
            [(E, [0.9]), (E, [0.8]), (R, [0.1, 0.1, 0.1])],
        ),
        (
            "at or past maxResource (no rung there)",
            [(S, [0.9] * 27), (S, [0.8] * 27), (S, [0.7] * 27), (R, [0.9] * 9 + [0.1] * 20)],
        ),
    ],
)
def test_asha_lets_a_trial_run_on(case: str, curves: list[tuple[TrialPhase, list[float]]]) -> None:
    assert asha_case(*curves) == {}


def test_asha_judges_each_trial_against_the_trials_created_before_it() -> None:
    # Trial 2 went on past rung 1 as the best of the three there; the better trials 4 and 5
    # came later and do not take that back. Trial 3 is judged now, without waiting for a
    # full rung, against trials 0-2: it is outside their best quarter.
    got = asha_case(
        (S, [0.5] * 27), (S, [0.4] * 27), (R, [0.6]), (R, [0.45]), (S, [0.9] * 27), (S, [0.95] * 27)
    )
    assert got == {
        "cifar10-bayes-0003": "val_acc 0.45 at rung 1 ranks 3 of the 4 trials that reached it "
        "before; only the best 1 (1/3, down to 0.6) continue (earlyStopping: asha, rungs 1, 3, 9)"
    }


def test_asha_ties_rank_the_lower_index_first() -> None:
    got = asha_case((S, [0.5] * 27), (S, [0.5] * 27), (R, [0.5]))
    assert list(got) == ["cifar10-bayes-0002"]


# --- the engine ----------------------------------------------------------------------------------


def plan_for(s: SearchSpec, ts: Sequence[Trial]) -> engine.Plan:
    return decide(s, ts, NOW, rng_for(s, ts))


def test_decide_stops_with_reason_early_stopped_and_refills_the_slot() -> None:
    s = spec(MEDIAN, parallelism=1, maxTrials=10)
    ts = [trial(s, i, S, [v] * 10, value=v) for i, v in enumerate(FINISHED)]
    plan = plan_for(s, [*ts, trial(s, 3, R, [0.5] * 3)])
    assert plan.stop == (
        StopTrial(
            "cifar10-bayes-0003",
            "EarlyStopped",
            "val_acc 0.5 at step 3 is worse than the median 0.7 of the 3 completed trials at that "
            "step (earlyStopping: median, gracePeriod 3, minTrials 3)",
        ),
    )
    assert [new.name for new in plan.start] == ["cifar10-bayes-0004"]


def test_a_timed_out_trial_is_stopped_once_for_the_timeout() -> None:
    s = spec(MEDIAN, trial={**manifest()["spec"]["trial"], "timeoutSeconds": 10})
    ts = [trial(s, i, S, [v] * 10, value=v) for i, v in enumerate(FINISHED)]
    late = Trial(**{**_fields(trial(s, 3, R, [0.5] * 3)), "started_at": NOW - 60})
    assert [(stop.name, stop.reason) for stop in plan_for(s, [*ts, late]).stop] == [
        ("cifar10-bayes-0003", "Timeout")
    ]


def _fields(t: Trial) -> dict[str, Any]:
    return {name: getattr(t, name) for name in Trial.__slots__}


def test_early_stopped_trials_count_toward_max_trials_not_max_failed_trials() -> None:
    s = spec(MEDIAN, maxTrials=4, maxFailedTrials=0)
    ts = [trial(s, i, S, [v] * 10, value=v) for i, v in enumerate(FINISHED)]
    plan = plan_for(s, [*ts, trial(s, 3, E, [0.1] * 3, value=0.1)])
    assert (plan.finished, plan.succeeded, plan.reason) == (True, True, "MaxTrialsReached")
    assert (plan.counts.succeeded, plan.counts.failed, plan.counts.early_stopped) == (3, 0, 1)


def test_an_early_stopped_trial_never_ranks_as_the_best() -> None:
    s = spec(MEDIAN)
    plan = plan_for(s, [trial(s, 0, S, [0.5], value=0.5), trial(s, 1, E, [0.99], value=0.99)])
    assert plan.best is not None and plan.best.name == "cifar10-bayes-0000"


@pytest.mark.parametrize(
    ("policy", "seen"),
    [("last", [-0.5, -0.9]), ("exclude", [-0.5, None]), ("project", [-0.5, -0.7])],
)
def test_the_suggester_sees_an_early_stopped_trial_as_the_policy_says(
    monkeypatch: pytest.MonkeyPatch, policy: str, seen: list[float | None]
) -> None:
    calls: list[list[Outcome]] = []

    class Spy:
        def suggest(
            self,
            space: Space,
            history: Sequence[Outcome],
            pending: Sequence[Params],
            n: int,
            rng: np.random.Generator,
        ) -> list[Suggestion]:
            calls.append(list(history))
            return []

    monkeypatch.setattr(engine, "suggester_for", lambda _a, **_k: Spy())
    monkeypatch.setattr(engine, "STOPPED_IN_MODEL", policy)
    s = spec(MEDIAN, objective={"metric": "loss", "goal": "minimize"})
    # The completed trial went from 0.7 at step 1 to 0.5: projected, the stopped 0.9 ends at 0.7.
    plan_for(s, [trial(s, 0, S, [0.7, 0.5], value=0.5), trial(s, 1, E, [0.9], value=0.9)])
    assert [o.value for o in calls[0]] == pytest.approx(seen)


def test_the_same_trials_give_the_same_stops() -> None:
    s = spec(ASHA)
    ts = [trial(s, i, S, [0.1 * i] * 27) for i in range(5)]
    ts.append(trial(s, 5, R, [0.05, 0.1, 0.15]))
    first = plan_for(s, ts).stop
    assert first == plan_for(s, list(ts)).stop
    assert [stop.name for stop in first] == ["cifar10-bayes-0005"]


def test_a_point_stopped_in_this_plan_is_not_suggested_again_in_its_place() -> None:
    s = spec(
        MEDIAN,
        algorithm={"name": "grid"},
        parameters=[{"name": "conv2_filter", "type": "discrete", "values": [1, 2, 3, 4, 5]}],
        trial={"template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}},
        parallelism=1,
        maxTrials=5,
    )
    ts = [
        Trial(f"cifar10-bayes-{i:04d}", i, {"conv2_filter": i + 1}, phase, value=v, observations=o)
        for i, (phase, v, o) in enumerate(
            [
                (S, 0.9, tuple(Observation("val_acc", 0.9, k) for k in (1, 2, 3))),
                (S, 0.8, tuple(Observation("val_acc", 0.8, k) for k in (1, 2, 3))),
                (S, 0.7, tuple(Observation("val_acc", 0.7, k) for k in (1, 2, 3))),
                (R, None, tuple(Observation("val_acc", 0.1, k) for k in (1, 2, 3))),
            ]
        )
    ]
    plan = plan_for(s, ts)
    assert [stop.name for stop in plan.stop] == ["cifar10-bayes-0003"]
    assert [new.params for new in plan.start] == [{"conv2_filter": 5}]


def test_projection_adds_the_completed_trials_median_gain_from_the_stop_step() -> None:
    s = spec(MEDIAN)
    done = [
        trial(s, 0, S, [0.2, 0.3, 0.4, 0.5], value=0.5),  # gains 0.2 from step 2
        trial(s, 1, S, [0.1, 0.2, 0.5, 0.6], value=0.6),  # 0.4
        trial(s, 2, S, [0.5, 0.6, 0.6, 0.6], value=0.6),  # 0
        trial(s, 3, S, [0.5], value=0.5),  # too short to say anything about step 2
    ]
    stopped_at_2 = trial(s, 4, E, [0.1, 0.25], value=0.25)
    diverged = trial(s, 5, E, [0.1, math.nan])
    nobody_reached = trial(s, 6, E, [0.1] * 5, value=0.1)
    found = projected_values(s, [*done, stopped_at_2, diverged, nobody_reached])
    assert found == {"cifar10-bayes-0004": pytest.approx(0.25 + 0.2)}


def test_projection_is_in_units_to_maximise_when_minimising() -> None:
    s = spec(MEDIAN, objective={"metric": "loss", "goal": "minimize"})
    done = [trial(s, 0, S, [0.9, 0.5], value=0.5)]
    found = projected_values(s, [*done, trial(s, 1, E, [0.8], value=0.8)])
    assert found == {"cifar10-bayes-0001": pytest.approx(-0.8 + 0.4)}


# --- fidelity --------------------------------------------------------------------------------


def test_fidelity_is_the_log_step_over_the_log_horizon() -> None:
    assert fidelity(1, 27) == 0.0
    assert fidelity(3, 27) == pytest.approx(1 / 3)
    assert fidelity(27, 27) == 1.0
    assert fidelity(40, 27) == 1.0
    assert fidelity(5, 1) == 1.0


def test_fidelity_views_put_completed_trials_at_1_and_stopped_ones_where_they_stopped() -> None:
    s = spec(ASHA, objective={"metric": "loss", "goal": "minimize"})
    done = trial(s, 0, S, [0.9 - 0.02 * k for k in range(27)], value=0.38)
    stopped_at_3 = trial(s, 1, E, [0.95, 0.9, 0.85], value=0.85)
    failed = trial(s, 2, F, [math.nan])
    running = trial(s, 3, R, [0.5])
    views = fidelity_views(s, [done, stopped_at_3, failed, running])
    assert set(views) == {"cifar10-bayes-0000", "cifar10-bayes-0001"}
    full, early = views["cifar10-bayes-0000"], views["cifar10-bayes-0001"]
    # Units to maximise; the completed curve is seen at the rungs 1, 3 and 9 before its end.
    assert full.value == pytest.approx(-0.38)
    assert full.fidelity == 1.0
    np.testing.assert_allclose(full.curve, [(0.0, -0.9), (1 / 3, -0.86), (2 / 3, -0.74)])
    assert early.value == pytest.approx(-0.85)
    assert early.fidelity == pytest.approx(1 / 3)
    np.testing.assert_allclose(early.curve, [(0.0, -0.95)])


def test_fidelity_views_keep_at_most_curve_points_of_a_long_curve() -> None:
    s = spec(MEDIAN)
    done = trial(s, 0, S, [0.01 * k for k in range(1, 31)], value=0.3)
    (view,) = fidelity_views(s, [done]).values()
    # Check steps 3, 4, ..., 10, ..., 24, 29 before the end at 30: the first, middle and last.
    assert [round(v, 2) for _, v in view.curve] == [0.03, 0.1, 0.29]
    assert fidelity_views(spec(None), [done]) == {}


def test_the_fidelity_policy_gives_the_suggester_each_trial_at_its_fidelity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[Outcome]] = []

    class Spy:
        def suggest(
            self,
            space: Space,
            history: Sequence[Outcome],
            pending: Sequence[Params],
            n: int,
            rng: np.random.Generator,
        ) -> list[Suggestion]:
            calls.append(list(history))
            return []

    monkeypatch.setattr(engine, "suggester_for", lambda _a, **_k: Spy())
    monkeypatch.setattr(engine, "STOPPED_IN_MODEL", "fidelity")
    s = spec(ASHA)
    plan_for(
        s,
        [
            trial(s, 0, S, [0.5] * 27, value=0.5),
            trial(s, 1, E, [0.2, 0.3, 0.3], value=0.3),
            trial(s, 2, F, [math.nan]),
        ],
    )
    seen = [(o.value, o.fidelity, len(o.curve)) for o in calls[0]]
    assert seen == [(0.5, 1.0, 3), (0.3, pytest.approx(1 / 3), 1), (None, 1.0, 0)]


def test_without_early_stopping_the_fidelity_policy_suggests_bit_identical_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = spec(None, algorithm={"name": "bayesian", "seed": 3}, parallelism=3)
    ts = [trial(s, i, S, [0.1 * i, 0.05 * i * i % 1], value=0.05 * i * i % 1) for i in range(8)]
    ts.append(trial(s, 8, R, [0.2]))
    plans = {}
    for policy in ("project", "fidelity"):
        monkeypatch.setattr(engine, "STOPPED_IN_MODEL", policy)
        plans[policy] = plan_for(s, ts).start
    assert len(plans["project"]) == 2
    assert plans["fidelity"] == plans["project"]


def test_the_model_guard_keeps_a_trial_whose_full_fidelity_bound_reaches_the_best(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine, "STOPPED_IN_MODEL", "fidelity")
    s = spec(
        ASHA,
        algorithm={"name": "bayesian", "seed": 1},
        parameters=[{"name": "x", "type": "float", "min": 0.0, "max": 1.0}],
        trial={"template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}},
    )

    def rising(final: float, steps: int) -> list[float]:
        return [final * math.sqrt(k / 27) for k in range(1, steps + 1)]

    done = [
        dataclasses.replace(trial(s, i, S, rising(f, 27), value=f), params={"x": x})
        for i, (f, x) in enumerate(
            [(0.3, 0.05), (0.5, 0.25), (0.7, 0.45), (0.9, 0.6), (0.4, 0.85), (0.6, 0.95)]
        )
    ]
    # Both rank low at rung 3; one where the best trial ended (0.9), one where the worst did.
    near_best = dataclasses.replace(trial(s, 6, R, [0.12, 0.17, 0.2]), params={"x": 0.6})
    near_worst = dataclasses.replace(trial(s, 7, R, [0.03, 0.05, 0.06]), params={"x": 0.05})
    # A diverged trial could only fail: it stops wherever it is.
    diverged = dataclasses.replace(trial(s, 8, R, [0.1, math.nan, math.nan]), params={"x": 0.6})
    ts = [*done, near_best, near_worst, diverged]
    assert set(stopped(s, ts)) == {"cifar10-bayes-0006", "cifar10-bayes-0007", "cifar10-bayes-0008"}
    assert len(plan_for(s, ts).stop) == 3  # the guard is off by default
    monkeypatch.setattr(engine, "MODEL_GUARD", True)
    assert [stop.name for stop in plan_for(s, ts).stop] == [
        "cifar10-bayes-0007",
        "cifar10-bayes-0008",
    ]


# --- extrapolate -----------------------------------------------------------------------------

MEDIAN_X = {**MEDIAN, "minTrials": 2, "extrapolate": True}
SLOW = [0.95 * (1 - math.exp(-t / 4)) for t in range(1, 28)]
"""A slow starter: 0.21, 0.37, 0.5 at steps 1-3, 0.95 at its end."""


def asha_x() -> SearchSpec:
    """ASHA with the extrapolation guard: not a manifest setting of asha (only the median rule
    offers it), but the core's guard is the same and the bench measures it."""
    s = spec(ASHA)
    assert s.early_stopping is not None
    settings = {**s.early_stopping.settings, "extrapolate": True}
    return dataclasses.replace(s, early_stopping=EarlyStopping("asha", settings))


def test_extrapolation_recovers_the_end_of_a_saturating_curve() -> None:
    points = [(float(t), 0.9 - 0.8 * math.exp(-t / 5)) for t in range(1, 10)]
    assert extrapolated(points, 30) == pytest.approx(0.9 - 0.8 * math.exp(-6), abs=0.01)


def test_extrapolation_of_a_straight_start_stays_bounded_and_needs_three_points() -> None:
    # tau is at most horizon / 3, so a line does not extrapolate to 0.1 * 30 = 3.
    line = [(1.0, 0.1), (2.0, 0.2), (3.0, 0.3)]
    assert extrapolated(line, 30) == pytest.approx(1.14, abs=0.01)
    assert extrapolated(line[:2], 30) is None


def test_asha_is_not_offered_extrapolate_in_the_manifest() -> None:
    with pytest.raises(SpecError) as caught:
        parse_manifest(manifest(earlyStopping={**ASHA, "extrapolate": True}))
    assert "extrapolate is not a setting of the asha rule" in str(caught.value.problems[0])


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("median", {"cifar10-bayes-0002", "cifar10-bayes-0003"}),
        ("median+extrapolate", {"cifar10-bayes-0003"}),
        ("asha", {"cifar10-bayes-0002", "cifar10-bayes-0003"}),
        ("asha+extrapolate", {"cifar10-bayes-0003"}),
    ],
)
def test_extrapolate_keeps_a_slow_starter_whose_curve_reaches_the_best_and_only_it(
    rule: str, expected: set[str]
) -> None:
    s = {
        "median": lambda: spec({**MEDIAN, "minTrials": 2}),
        "median+extrapolate": lambda: spec(MEDIAN_X),
        "asha": lambda: spec(ASHA),
        "asha+extrapolate": asha_x,
    }[rule]()
    ts = [
        trial(s, 0, S, [0.8] * 27),
        trial(s, 1, S, [0.7] * 27),
        trial(s, 2, R, SLOW[:3]),  # last at step 3; its fitted end, ~0.93, beats 0.8
        trial(s, 3, R, [0.3, 0.4, 0.42]),  # flattens out near 0.42: stopped either way
    ]
    assert set(stopped(s, ts)) == expected


def test_extrapolate_has_the_rule_keep_every_step_it_fits() -> None:
    median_x = EarlyStopping("median", {"extrapolate": True})
    assert rule_steps(median_x, 12) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12]
    asha = asha_x().early_stopping
    assert asha is not None
    assert rule_steps(asha, 1e6) == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # up to the last rung, 9


@pytest.mark.parametrize("rule", ["median", "asha"])
def test_extrapolate_decides_the_same_from_a_curve_thinned_to_the_rule_steps(rule: str) -> None:
    s = spec(MEDIAN_X) if rule == "median" else asha_x()
    assert s.early_stopping is not None
    rng = np.random.default_rng(3)
    full = [
        trial(s, 0, S, [0.8] * 27),
        trial(s, 1, S, [0.7 - 0.1 * math.exp(-t / 2) for t in range(1, 28)]),
        trial(s, 2, R, [v + rng.normal(0, 0.01) for v in SLOW[:11]]),
        trial(s, 3, R, [0.3, 0.4, 0.42, 0.43, 0.43, 0.44, 0.44, 0.44, 0.45, 0.45, 0.45]),
        trial(s, 4, R, [v * 0.8 for v in SLOW[:7]]),
    ]
    kept = set(rule_steps(s.early_stopping, 1e6))

    def thinned(t: Trial) -> Trial:
        at = [i for i, o in enumerate(t.observations) if o.step in kept]
        obs = tuple(t.observations[i] for i in sorted({*at, len(t.observations) - 1}))
        return Trial(t.name, t.index, t.params, t.phase, value=t.value, observations=obs)

    decided = stopped(s, full)
    assert decided  # the case stops someone, so the comparison says something
    assert stopped(s, [thinned(t) for t in full]) == decided


def test_extrapolate_projects_a_stopped_trial_to_its_fitted_end() -> None:
    s = spec(MEDIAN_X)
    done = [trial(s, 0, S, [0.8] * 27, value=0.8)]
    slow = trial(s, 1, E, SLOW[:3], value=SLOW[2])
    found = projected_values(s, [*done, slow])
    points = [(float(t), v) for t, v in zip(range(1, 4), SLOW[:3], strict=True)]
    assert found == {"cifar10-bayes-0001": pytest.approx(extrapolated(points, 27))}
    assert found["cifar10-bayes-0001"] > 0.9  # not the completed trial's gain from step 3: 0


# --- adaptive rungs --------------------------------------------------------------------------


def completed(
    at_rung1: Sequence[float], finals: Sequence[float]
) -> list[tuple[TrialPhase, list[float]]]:
    """Completed 27-step curves with these scores at rung 1 (step 1) and these final values."""
    return [(S, [a] + [f] * 26) for a, f in zip(at_rung1, finals, strict=True)]


AGREEING = completed([0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.6, 0.7, 0.8, 0.9])
CROSSING = completed([0.5, 0.4, 0.3, 0.2, 0.1], [0.5, 0.6, 0.7, 0.8, 0.9])


def test_rung_agreement_is_the_rank_correlation_of_rung_scores_and_final_values() -> None:
    s = spec(ASHA)
    for curves, rho in ((AGREEING, 1.0), (CROSSING, -1.0)):
        ts = [trial(s, i, phase, values) for i, (phase, values) in enumerate(curves)]
        got = rung_agreement(1.0, ts, {t.name: curve_of(t, s) for t in ts})
        assert got == pytest.approx((rho, 5))


@pytest.mark.parametrize(
    ("case", "curves"),
    [
        ("fewer completed trials than MIN_RANKED", completed([0.1, 0.2], [0.5, 0.6])),
        ("no spread in the final values", completed([0.1, 0.2, 0.3, 0.4, 0.5], [0.7] * 5)),
    ],
)
def test_rung_agreement_says_nothing_without_evidence(
    case: str, curves: list[tuple[TrialPhase, list[float]]]
) -> None:
    s = spec(ASHA)
    ts = [trial(s, i, phase, values) for i, (phase, values) in enumerate(curves)]
    assert rung_agreement(1.0, ts, {t.name: curve_of(t, s) for t in ts}) is None


def test_adaptive_rungs_stop_only_where_the_rung_ranks_predicted_the_final_ranks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    late = (R, [0.01])
    assert (
        list(asha_case(*AGREEING, late))
        == list(asha_case(*CROSSING, late))
        == ["cifar10-bayes-0005"]
    )
    monkeypatch.setattr(early_stopping, "ADAPTIVE_RUNGS", True)
    assert asha_case(*CROSSING, late) == {}
    assert asha_case(*AGREEING, late) == {
        "cifar10-bayes-0005": "val_acc 0.01 at rung 1 ranks 6 of the 6 trials that reached it "
        "before; only the best 2 (1/3, down to 0.4) continue (earlyStopping: asha, rungs 1, 3, "
        "9; ranks there agree with the final ranks of the 5 completed trials, rank correlation "
        "1.00)"
    }


def test_adaptive_rungs_stop_as_plain_asha_before_there_is_evidence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    curves = (*completed([0.5, 0.4], [0.5, 0.6]), (R, [0.3]), (R, [0.01]))
    plain = asha_case(*curves)
    monkeypatch.setattr(early_stopping, "ADAPTIVE_RUNGS", True)
    assert asha_case(*curves) == plain != {}
