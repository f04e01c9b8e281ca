"""``spec.trial`` with a Job or JobSet template: parsing, the reporter, queueName, the round trip
through ``spec_to_manifest``, and ``hyper run``'s refusal."""

from __future__ import annotations

from typing import Any

import pytest
from builders import job_trial, jobset_trial, manifest, pod_template

from hypersearch.core.errors import SpecError
from hypersearch.core.manifest import parse_manifest, spec_to_manifest
from hypersearch.core.spec import Reporter, pod_templates, reporter_job, training_path
from hypersearch.local.launch import trial_command

PARAMS = [{"name": "lr", "type": "float", "min": 0.001, "max": 0.1}]


def workload_manifest(trial: dict[str, Any]) -> dict[str, Any]:
    return manifest(parameters=PARAMS, trial=trial)


def problems_of(trial: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_manifest(workload_manifest(trial))
    return [str(p) for p in caught.value.problems]


def test_indexed_job_trial_parses_with_index_zero_reporting() -> None:
    spec = parse_manifest(workload_manifest(job_trial(pods=2, queueName="team-a")))
    workload = spec.trial.workload
    assert workload is not None and workload.kind == "Job"
    assert workload.reporter == Reporter()
    assert workload.template["spec"]["completions"] == 2
    assert spec.trial.template == workload.template["spec"]["template"]
    assert spec.trial.queue_name == "team-a"
    assert training_path(spec.trial) == "spec.trial.jobTemplate.spec.template.spec.containers[0]"


def test_jobset_trial_reports_from_the_first_replicated_job_by_default() -> None:
    spec = parse_manifest(workload_manifest(jobset_trial(workers=2)))
    assert reporter_job(spec.trial) == "leader"
    assert [rjob for _, rjob, _ in pod_templates(spec.trial)] == ["leader", "worker"]
    assert spec.trial.template["spec"]["containers"][0]["command"][3] == "leader"


def test_jobset_reporter_names_its_replicated_job_and_indexes() -> None:
    trial = jobset_trial(workers=2, reporter={"replicatedJob": "worker", "jobIndex": 1})
    spec = parse_manifest(workload_manifest(trial))
    assert reporter_job(spec.trial) == "worker"
    assert spec.trial.workload is not None
    assert spec.trial.workload.reporter == Reporter("worker", 1, 0)
    assert training_path(spec.trial).startswith("spec.trial.jobSetTemplate.spec.replicatedJobs[1]")


@pytest.mark.parametrize(
    ("trial", "expected"),
    [
        (
            {**job_trial(), "template": pod_template()},
            "spec.trial sets template and jobTemplate: set exactly one of template (one Pod per "
            "trial), jobTemplate (a batch/v1 Job) or jobSetTemplate (a JobSet)",
        ),
        (
            {"jobTemplate": {"spec": {"completionMode": "NonIndexed", "template": pod_template()}}},
            "spec.trial.jobTemplate.spec.completionMode must be Indexed (the default for "
            "trials), got 'NonIndexed' (completions 1, parallelism 1): the Pod that reports the "
            "trial's metrics is picked, and admitted to its trial's record, by its completion "
            "index; remove completionMode or set it to Indexed",
        ),
        (
            job_trial(pods=2, reporter={"podIndex": 2}),
            "spec.trial.reporter.podIndex is 2 but the Job has 2 completion indexes (0 to 1); "
            "pick one of them",
        ),
        (
            job_trial(pods=1, reporter={"replicatedJob": "leader"}),
            "spec.trial.reporter sets replicatedJob or jobIndex, which only a jobSetTemplate "
            "trial has; a Job trial's reporter is chosen by podIndex alone",
        ),
        (
            jobset_trial(reporter={"replicatedJob": "driver"}),
            "spec.trial.reporter.replicatedJob names no replicated job, got 'driver' "
            "(replicated jobs: leader, worker)",
        ),
        (
            jobset_trial(workers=2, reporter={"replicatedJob": "worker", "jobIndex": 2}),
            "spec.trial.reporter.jobIndex is 2 but replicated job worker has 2 replicas; pick "
            "one from 0 to 1",
        ),
        (
            {"template": pod_template(), "queueName": "team-a"},
            "spec.trial.queueName applies only to a jobTemplate or jobSetTemplate trial (a Pod "
            "trial's one Pod reports, and Kueue admits Jobs and JobSets); use jobTemplate, or "
            "remove it",
        ),
        (
            {"jobTemplate": {"spec": {"template": pod_template("--x", ":nope:")}}},
            "spec.trial.jobTemplate.spec.template.spec.containers[0].command[3] uses "
            "placeholder :nope:, which no parameter declares (parameters: lr); "
            "declare it in spec.parameters or correct the placeholder",
        ),
    ],
)
def test_invalid_workload_trials_name_the_field_and_the_fix(
    trial: dict[str, Any], expected: str
) -> None:
    assert expected in problems_of(trial)


def test_placeholders_are_checked_in_every_container_of_every_replicated_job() -> None:
    trial = jobset_trial()
    worker = trial["jobSetTemplate"]["spec"]["replicatedJobs"][1]["template"]["spec"]["template"]
    worker["spec"]["containers"].append({"name": "helper", "image": "x", "args": [":batch:"]})
    assert any(
        p.startswith(
            "spec.trial.jobSetTemplate.spec.replicatedJobs[1].template.spec.template.spec."
            "containers[1].args[0] uses placeholder :batch:"
        )
        for p in problems_of(trial)
    )


@pytest.mark.parametrize(
    "trial",
    [
        job_trial(pods=2, queueName="team-a"),
        jobset_trial(reporter={"replicatedJob": "worker", "podIndex": 0, "jobIndex": 0}),
    ],
)
def test_workload_trials_survive_the_round_trip_through_a_manifest(trial: dict[str, Any]) -> None:
    spec = parse_manifest(workload_manifest(trial))
    assert parse_manifest(spec_to_manifest(spec)).trial == spec.trial


def test_hyper_run_refuses_a_job_trial_and_says_what_to_use() -> None:
    spec = parse_manifest(workload_manifest(job_trial()))
    with pytest.raises(SpecError) as caught:
        trial_command(spec)
    assert str(caught.value.problems[0]).startswith(
        "spec.trial.jobTemplate is a Job trial, which runs only on a cluster"
    )
