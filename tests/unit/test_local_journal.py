"""The journal and state directory: what is written comes back, a crash leaves trials to re-run,
a changed spec and a second run are refused with messages that say what to do."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.params import Params
from hypersearch.core.trials import Observation, Prediction, TrialPhase
from hypersearch.local.journal import INTERRUPTED, Journal, TrialRecord
from hypersearch.local.state import SPEC_FILE, AlreadyRunningError, SpecChangedError, open_state

SPEC = {"algorithm": {"name": "random"}, "maxTrials": 3}


def test_trial_round_trips_with_params_prediction_and_observations(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    params: Params = {"lr": 0.001, "layers": 3, "opt": "a b;rm -rf x"}
    journal.add_trial("s-0000", 0, params, Prediction(0.5, 0.1, 0.7), now=10.0)
    journal.start_trial("s-0000", now=11.0)
    journal.add_observation("s-0000", Observation("acc", 0.5, step=1))
    journal.add_observation("s-0000", Observation("acc", math.nan, step=2))
    journal.finish_trial("s-0000", "Succeeded", value=0.5, now=12.0)
    journal.close()

    [record] = Journal(tmp_path / "j.sqlite").records()
    trial = record.trial
    assert (trial.name, trial.index, trial.params, trial.phase) == (
        "s-0000",
        0,
        params,
        TrialPhase.SUCCEEDED,
    )
    assert type(trial.params["layers"]) is int
    assert trial.prediction == Prediction(0.5, 0.1, 0.7)
    assert (trial.value, trial.created_at, trial.started_at, trial.finished_at) == (
        0.5,
        10.0,
        11.0,
        12.0,
    )
    assert trial.observations[0] == Observation("acc", 0.5, step=1)
    assert math.isnan(trial.observations[1].value)
    assert record.attempts == 1


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("Running", TrialPhase.PENDING),
        ("Pending", TrialPhase.PENDING),
        (INTERRUPTED, TrialPhase.PENDING),
        ("Failed", TrialPhase.FAILED),
        ("Succeeded", TrialPhase.SUCCEEDED),
        ("EarlyStopped", TrialPhase.EARLY_STOPPED),
    ],
)
def test_unfinished_trials_come_back_pending_to_be_run_again(
    tmp_path: Path, status: str, phase: TrialPhase
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.add_trial("s-0000", 0, {"x": 1}, None, now=1.0)
    journal.start_trial("s-0000", now=2.0)
    if status != "Running":
        journal.finish_trial("s-0000", status, now=3.0)
    [record] = journal.records()
    assert (record.status, record.trial.phase) == (status, phase)


def test_restarting_a_trial_forgets_the_earlier_attempts_observations(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.add_trial("s-0000", 0, {"x": 1}, None, now=1.0)
    journal.start_trial("s-0000", now=2.0)
    journal.add_observation("s-0000", Observation("acc", 0.1))
    journal.finish_trial("s-0000", INTERRUPTED, reason="Interrupted", now=3.0)
    journal.start_trial("s-0000", now=4.0)
    [record] = journal.records()
    assert (record.trial.observations, record.attempts, record.status) == ((), 2, "Running")


def test_reopening_the_same_spec_resumes(tmp_path: Path) -> None:
    state = open_state(tmp_path / "s", "s", SPEC)
    state.journal.add_trial("s-0000", 0, {"x": 1}, None, now=1.0)
    state.close()
    again = open_state(tmp_path / "s", "s", dict(reversed(list(SPEC.items()))))
    assert again.resumed
    assert [r.trial.name for r in again.journal.records()] == ["s-0000"]
    again.close()


def test_a_different_container_image_still_resumes_because_images_are_ignored_locally(
    tmp_path: Path,
) -> None:
    def with_image(image: str) -> dict[str, Any]:
        container = {"name": "trainer", "image": image, "command": ["python", "t.py"]}
        return {**SPEC, "trial": {"template": {"spec": {"containers": [container]}}}}

    state = open_state(tmp_path / "s", "s", with_image("a:1"))
    state.journal.add_trial("s-0000", 0, {"x": 1}, None, now=1.0)
    state.close()
    again = open_state(tmp_path / "s", "s", with_image("b:2"))
    resumed = again.resumed
    again.close()
    assert resumed
    with pytest.raises(SpecChangedError):
        changed = with_image("a:1")
        changed["trial"]["template"]["spec"]["containers"][0]["command"] = ["python", "u.py"]
        open_state(tmp_path / "s", "s", changed)


def test_a_changed_spec_is_refused_with_the_fix(tmp_path: Path) -> None:
    open_state(tmp_path / "s", "s", SPEC).close()
    with pytest.raises(SpecChangedError) as err:
        open_state(tmp_path / "s", "s", {**SPEC, "maxTrials": 4})
    assert str(err.value) == (
        f"{tmp_path / 's'}: the journal of search 's' was written for a different spec; run with "
        "--fresh to discard it and start over, or give the changed search another --name "
        "(or --state-dir)"
    )


def test_an_accepted_edit_is_recorded_so_the_next_run_resumes_it_unchanged(
    tmp_path: Path,
) -> None:
    state = open_state(tmp_path / "s", "s", SPEC)
    state.journal.add_trial("s-0000", 0, {"x": 1}, None, now=1.0)
    state.close()
    seen: list[tuple[object, list[str]]] = []

    def accept(stored: object, records: list[TrialRecord]) -> list[str]:
        seen.append((stored, [r.trial.name for r in records]))
        return ["spec.maxTrials: 3 -> 4"]

    edited = {**SPEC, "maxTrials": 4}
    state = open_state(tmp_path / "s", "s", edited, accept_edit=accept)
    state.close()
    assert (state.changes, state.resumed, seen) == (
        ("spec.maxTrials: 3 -> 4",),
        True,
        [(SPEC, ["s-0000"])],
    )
    assert json.loads((tmp_path / "s" / SPEC_FILE).read_text()) == edited
    again = open_state(tmp_path / "s", "s", edited, accept_edit=accept)
    again.close()
    assert (again.changes, len(seen)) == ((), 1)


def test_a_refused_edit_says_why_and_how_to_start_over(tmp_path: Path) -> None:
    open_state(tmp_path / "s", "s", SPEC).close()

    def refuse(stored: object, records: list[TrialRecord]) -> list[str]:
        raise SpecError([Problem("spec.parameters", "no longer describe the trials")])

    with pytest.raises(SpecChangedError) as err:
        open_state(tmp_path / "s", "s", {**SPEC, "maxTrials": 4}, accept_edit=refuse)
    assert str(err.value) == (
        f"{tmp_path / 's'}: search 's' cannot go on under the changed spec: spec.parameters no "
        "longer describe the trials; or run with --fresh to discard it and start over, or give "
        "the changed search another --name (or --state-dir)"
    )
    assert json.loads((tmp_path / "s" / SPEC_FILE).read_text()) == SPEC


def test_fresh_discards_the_old_journal_and_logs(tmp_path: Path) -> None:
    state = open_state(tmp_path / "s", "s", SPEC)
    state.journal.add_trial("s-0000", 0, {"x": 1}, None, now=1.0)
    state.log_path("s-0000").write_text("old")
    state.close()
    fresh = open_state(tmp_path / "s", "s", {**SPEC, "maxTrials": 4}, fresh=True)
    assert (fresh.resumed, fresh.journal.records(), list(fresh.log_dir.iterdir())) == (
        False,
        [],
        [],
    )
    fresh.close()


def test_a_second_concurrent_run_is_refused(tmp_path: Path) -> None:
    first = open_state(tmp_path / "s", "s", SPEC)
    with pytest.raises(AlreadyRunningError) as err:
        open_state(tmp_path / "s", "s", SPEC)
    assert str(err.value).startswith("search 's' is already running in another process")
    first.close()
    open_state(tmp_path / "s", "s", SPEC).close()
