"""The table of failures the two shells name differently (core.reasons.SAME_FAILURE) is true."""

from __future__ import annotations

from hypersearch.core import reasons
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import failures
from hypersearch.kube.pods import pod_view


def test_a_non_zero_exit_is_process_failed_locally_and_training_failed_on_a_cluster() -> None:
    status = {
        "phase": "Failed",
        "containerStatuses": [{"name": "trainer", "state": {"terminated": {"exitCode": 3}}}],
    }
    reason, message = failures.pod_failure(status)
    assert (reason, message) == (reasons.TRAINING_FAILED, "container trainer exited with code 3")
    assert reasons.SAME_FAILURE[reasons.PROCESS_FAILED] == reason


def test_no_value_of_the_metric_is_no_metric_locally_and_metric_not_found_on_a_cluster() -> None:
    pod = pod_view({"metadata": {"name": "s-0000"}, "status": {"phase": "Succeeded"}})
    trial = failures.judge(
        Trial("s-0000", 0, {}, TrialPhase.RUNNING),
        pod,
        exit_code=0,
        metric_message=None,
        metric="acc",
        now=0.0,
        timing=failures.Timing(),
    )
    assert trial.reason == reasons.METRIC_NOT_FOUND
    assert reasons.SAME_FAILURE[reasons.NO_METRIC] == trial.reason


def test_the_shells_names_are_distinct_so_a_reason_says_which_shell_set_it() -> None:
    assert set(reasons.SAME_FAILURE).isdisjoint(reasons.SAME_FAILURE.values())
