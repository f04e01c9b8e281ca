"""Job and JobSet trials: render a trial's workload, and read one back. Pure: dicts in, dicts out.

A Job or JobSet trial is the user's template with what a trial Pod gets today (``manifests``):
the trial's values substituted in every container of every Pod template, the machine type on
each template's training container, and the trial's labels and annotations on the workload (so
a workload created just before a crash is adopted from them, as a Pod is). Only the Pods that
may report get the training wrapper and the metrics sidecar: in a Job all Pods share one
template, and in a JobSet the reporter's replicated job's Pods do; the sidecar of every other
Pod of that template is told, through ``--report-if-*`` and the Pod's completion index and job
index (downward API), that it is not the reporter, and waits quietly until it is terminated.

Deleting and stopping are the API's (owner references, foreground deletion); why a workload
ended is read from its own conditions (``workload_view``), and handed to the rest of the
operator as a ``PodView`` (``trial_view``) so that the trial's verdict follows the one rule
Pods have: a terminal workload plus the reporter's final report.

Must not call the API server (``kube.api`` does) or decide anything about the search.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hypersearch.core.engine import NewTrial
from hypersearch.core.placeholders import substitute
from hypersearch.core.spec import Reporter, SearchSpec, reporter_job
from hypersearch.core.times import parse_time
from hypersearch.core.trials import Prediction
from hypersearch.kube import names
from hypersearch.kube.manifests import (
    Owner,
    PodSettings,
    machine_resources,
    machine_type,
    place,
    reporting_pod_spec,
    substitute_env,
    trial_annotations,
    trial_labels,
)
from hypersearch.kube.pods import PodView, trial_marks

JOB_API: Final = "batch/v1"
JOBSET_GROUP: Final = "jobset.x-k8s.io"
JOBSET_API: Final = f"{JOBSET_GROUP}/v1alpha2"
QUEUE_LABEL: Final = "kueue.x-k8s.io/queue-name"
COMPLETION_INDEX_ANNOTATION: Final = "batch.kubernetes.io/job-completion-index"
JOB_INDEX_LABEL: Final = "jobset.sigs.k8s.io/job-index"
JOB_NAME_LABEL: Final = "batch.kubernetes.io/job-name"
JOBSET_NAME_LABEL: Final = "jobset.sigs.k8s.io/jobset-name"
TERMINAL: Final[Mapping[str, tuple[str, str]]] = {
    "Job": ("Complete", "Failed"),
    "JobSet": ("Completed", "Failed"),
}
"""The conditions that end a workload (success, failure), per kind."""


def trial_workload(
    spec: SearchSpec, owner: Owner, trial: NewTrial, settings: PodSettings
) -> dict[str, Any]:
    """The Job or JobSet that runs ``trial``, named after it (creating it twice is harmless)."""
    workload = spec.trial.workload
    if workload is None:
        raise ValueError("trial_workload needs a Job or JobSet trial")
    template = copy.deepcopy(dict(workload.template))
    meta: dict[str, Any] = dict(template.get("metadata") or {})
    body: dict[str, Any] = dict(template["spec"])
    labels = {**(meta.get("labels") or {}), **trial_labels(owner, trial)}
    if spec.trial.queue_name is not None:
        labels[QUEUE_LABEL] = spec.trial.queue_name
        body["suspend"] = True
    if workload.kind == "Job":
        api = JOB_API
        body = _job_spec(spec, owner, trial, settings, body, reporter=workload.reporter)
    else:
        api = JOBSET_API
        wanted = reporter_job(spec.trial)
        rjobs = []
        for original in body["replicatedJobs"]:
            rjob = dict(original)
            job = dict(rjob["template"])
            job["spec"] = _job_spec(
                spec,
                owner,
                trial,
                settings,
                dict(job["spec"]),
                reporter=workload.reporter if rjob["name"] == wanted else None,
                jobset=True,
            )
            rjob["template"] = job
            rjobs.append(rjob)
        body["replicatedJobs"] = rjobs
    return {
        "apiVersion": api,
        "kind": workload.kind,
        "metadata": {
            "name": trial.name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": {**(meta.get("annotations") or {}), **trial_annotations(trial)},
            "ownerReferences": [owner.reference()],
        },
        "spec": body,
    }


def _job_spec(
    spec: SearchSpec,
    owner: Owner,
    trial: NewTrial,
    settings: PodSettings,
    job_spec: dict[str, Any],
    *,
    reporter: Reporter | None,
    jobset: bool = False,
) -> dict[str, Any]:
    """A Job spec of the trial: no retries unless the template asks (a failed trial is not
    run again by the Job), its Pod template rendered: with the sidecar where ``reporter`` is
    given (the Pods of this template may report), else plain."""
    job_spec.setdefault("backoffLimit", 0)
    if not jobset:
        # Indexed always (the parser refuses NonIndexed): the reporter is found by its completion
        # index, and the sidecar policy admits a Job Pod by its name, <job>-<index>-<random>,
        # which a NonIndexed Job's Pods (<job>-<random>) do not have.
        job_spec.setdefault("completionMode", "Indexed")
    pod = dict(job_spec["template"])
    pod_meta = dict(pod.get("metadata") or {})
    # The trial label and no search label: the trial's Pods are the workload's business, and
    # the operator's Pod path (which lists Pods by the search label) must not adopt them.
    pod_meta["labels"] = {
        **(pod_meta.get("labels") or {}),
        names.TRIAL_LABEL: trial.name,
        names.MANAGED_BY_LABEL: names.MANAGED_BY,
    }
    pod["metadata"] = pod_meta
    index = _training_index(spec, pod)
    containers = [
        dict(c) if i == index and reporter is not None else _substituted(dict(c), trial)
        for i, c in enumerate(pod["spec"]["containers"])
    ]
    pod["spec"] = {**pod["spec"], "containers": containers}
    if reporter is not None:
        extra, env = _reporter_selection(reporter, job_spec, jobset=jobset)
        pod["spec"] = reporting_pod_spec(
            spec, owner, trial, settings, pod, sidecar_extra=extra, sidecar_env=env
        )
    else:
        machine = machine_type(spec, settings)
        containers[index] = machine_resources(containers[index], machine)
        pod_spec = dict(pod["spec"])
        pod_spec.setdefault("restartPolicy", "Never")
        pod["spec"] = place(pod_spec, machine)
    job_spec["template"] = pod
    return job_spec


def _training_index(spec: SearchSpec, pod: Mapping[str, Any]) -> int:
    """``trial.container`` applied to one Pod template (the parser made sure it is in each)."""
    wanted = spec.trial.container
    if wanted is None:
        return 0
    return next(i for i, c in enumerate(pod["spec"]["containers"]) if c.get("name") == wanted)


def _substituted(container: dict[str, Any], trial: NewTrial) -> dict[str, Any]:
    """A container with the trial's values in its command, args and env values."""
    for key in ("command", "args"):
        if isinstance(container.get(key), list):
            container[key] = substitute([str(a) for a in container[key]], trial.params)
    return substitute_env(container, trial.params)


def _reporter_selection(
    reporter: Reporter, job_spec: Mapping[str, Any], *, jobset: bool
) -> tuple[list[str], list[dict[str, Any]]]:
    """The sidecar's arguments and environment that make it report only in the reporter Pod:
    the wanted completion index (an Indexed Job's Pods, a JobSet's always) and job index (a
    JobSet's), and the Pod's own, from the downward API."""
    extra: list[str] = []
    env: list[dict[str, Any]] = []
    if jobset or job_spec.get("completionMode") == "Indexed":
        extra.append(f"--report-if-pod-index={reporter.pod_index}")
        env.append(
            _field_env(
                names.POD_INDEX_ENV, f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"
            )
        )
    if jobset:
        extra.append(f"--report-if-job-index={reporter.job_index}")
        env.append(_field_env(names.JOB_INDEX_ENV, f"metadata.labels['{JOB_INDEX_LABEL}']"))
    return extra, env


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


@dataclass(frozen=True, slots=True)
class WorkloadView:
    """What the operator needs from a trial's Job or JobSet."""

    name: str
    kind: str
    owner_uid: str | None
    deleting: bool
    suspended: bool
    index: int | None
    params: dict[str, Any] | None
    prediction: Prediction | None
    created_at: float | None
    started_at: float | None
    """Job: ``status.startTime`` (removed while suspended, set anew on each start); JobSet:
    when it was last resumed, else its creation if it never was suspended."""
    finished_at: float | None
    outcome: str
    """``Succeeded``, ``Failed`` or '' while it runs or waits."""
    reason: str = ""
    message: str = ""
    queue: str | None = None
    """The LocalQueue of its ``kueue.x-k8s.io/queue-name`` label: Kueue admits it."""
    uid: str | None = None

    @property
    def active(self) -> bool:
        """Not yet Complete/Completed or Failed."""
        return not self.outcome


def workload_view(obj: Mapping[str, Any]) -> WorkloadView:
    """Read a Job or JobSet dict into a WorkloadView."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    kind = str(obj.get("kind") or "Job")
    marks = trial_marks(meta)
    conditions = {
        str(c.get("type")): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    success, failure = TERMINAL.get(kind, TERMINAL["Job"])
    outcome, reason, message, finished_at = "", "", "", None
    for kind_of_end, ended in (("Failed", failure), ("Succeeded", success)):
        cond = conditions.get(ended)
        if cond is not None:
            outcome = kind_of_end
            reason = str(cond.get("reason") or ended)
            message = str(cond.get("message") or "")
            finished_at = parse_time(cond.get("lastTransitionTime"))
            break
    if outcome == "Succeeded" and status.get("completionTime"):
        finished_at = parse_time(status.get("completionTime"))
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    created_at = parse_time(meta.get("creationTimestamp"))
    if kind == "Job":
        started_at = parse_time(status.get("startTime"))
    else:
        said = [c for c in status.get("conditions") or [] if c.get("type") == "Suspended"]
        resumed = [c for c in said if c.get("status") == "False"]
        if suspended or (said and not resumed):
            # Unsuspended but not yet said so (the JobSet controller's condition lags the
            # spec): the start is not known yet, and its creation is not it (a queue's JobSet
            # was created suspended; taking its creation would make a new start appear later).
            started_at = None
        elif resumed:
            started_at = parse_time(resumed[-1].get("lastTransitionTime"))
        else:
            started_at = created_at
    return WorkloadView(
        name=str(meta.get("name")),
        kind=kind,
        owner_uid=marks.owner_uid,
        deleting=bool(meta.get("deletionTimestamp")),
        suspended=suspended,
        index=marks.index,
        params=marks.params,
        prediction=marks.prediction,
        created_at=created_at,
        started_at=started_at,
        finished_at=finished_at,
        outcome=outcome,
        reason=reason,
        message=message,
        queue=(meta.get("labels") or {}).get(QUEUE_LABEL),
        uid=str(meta["uid"]) if meta.get("uid") else None,
    )


def stuck_pod(pods: Sequence[PodView]) -> PodView | None:
    """The first of a running workload's Pending Pods that cannot be scheduled or whose
    container cannot start (``failures`` decides when that fails the trial), else None."""
    return next(
        (p for p in pods if p.phase == "Pending" and (p.unschedulable_since or p.stuck_reason)),
        None,
    )


def trial_view(
    view: WorkloadView, failing_pod: PodView | None = None, stuck: PodView | None = None
) -> PodView:
    """The workload as the PodView the trial verdict reads (``failures.judge``): Pending while
    suspended or not started, Running, then Succeeded or Failed with the workload's own reason
    and message, followed by the failing Pod's when one is known. A workload Kueue admits (it
    has a queue) says whether it waits for admission (``queued``: ``kube.queueing`` reads it).

    A started workload with a ``stuck`` Pod (``stuck_pod``) reads as that Pod, Pending with its
    scheduling or container trouble, so a Job whose Pod can never be placed or started fails as
    a trial Pod would (Unschedulable, ErrImagePull, ...) instead of running until its timeout:
    the Job controller itself never fails a Pending Pod."""
    if view.outcome:
        phase = view.outcome
    elif view.suspended or view.started_at is None:
        phase = "Pending"
    else:
        phase = "Running"
    if phase == "Running" and stuck is not None:
        return dataclasses.replace(
            trial_view(view, failing_pod),
            phase="Pending",
            unschedulable_since=stuck.unschedulable_since,
            unschedulable_message=f"Pod {stuck.name}: {stuck.unschedulable_message}",
            scheduled_at=stuck.scheduled_at,
            stuck_container=stuck.stuck_container,
            stuck_reason=stuck.stuck_reason,
            stuck_message=f"Pod {stuck.name}: {stuck.stuck_message}",
        )
    message = ""
    if view.outcome == "Failed":
        message = f"{view.kind} {view.name} failed: {view.message or view.reason}"
        if failing_pod is not None:
            message += (
                f"; Pod {failing_pod.name}: {failing_pod.failure_reason}: "
                f"{failing_pod.failure_message}"
            )
    return PodView(
        name=view.name,
        phase=phase,
        owner_uid=view.owner_uid,
        deleting=view.deleting,
        index=view.index,
        params=view.params,
        prediction=view.prediction,
        created_at=view.created_at,
        started_at=view.started_at,
        finished_at=view.finished_at,
        unschedulable_since=None,
        unschedulable_message="",
        failure_reason=view.reason if view.outcome == "Failed" else "",
        failure_message=message,
        uid=view.uid,
        queued=(view.suspended and view.active) if view.queue else None,
    )


def pods_selector(view: WorkloadView) -> str:
    """The label selector of a workload's Pods (the Job or JobSet controller sets it)."""
    label = JOB_NAME_LABEL if view.kind == "Job" else JOBSET_NAME_LABEL
    return f"{label}={view.name}"
