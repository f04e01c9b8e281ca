"""What runs a trial, whatever its kind: a Pod, a ``batch/v1`` Job or a JobSet.

The reconcile speaks of one trial run per trial (rendered, created, seen, deleted); this module
picks the Pod or the workload calls for each, so ``reconcile`` stays orchestration. A workload
is seen as the ``PodView`` the trial verdict reads (``kube.workloads.trial_view``); a failed
one is read together with its failed Pod, whose reason says why.

Must not decide anything about the search (the engine does) or the trial's verdict
(``kube.failures``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypersearch.controller.cluster_api import ClusterApi
from hypersearch.core.engine import NewTrial
from hypersearch.core.spec import JOB_TEMPLATE, JOBSET_TEMPLATE, SearchSpec
from hypersearch.kube import manifests, names, record, workloads
from hypersearch.kube.pods import PodView, pod_view


def kind_of(body: Mapping[str, Any]) -> str | None:
    """``Job`` or ``JobSet`` for a search whose trials run as workloads, None for Pods (read
    from the raw manifest: the trials are gathered before the spec is parsed)."""
    trial = (body.get("spec") or {}).get("trial") or {}
    if not isinstance(trial, Mapping):
        return None
    if trial.get(JOB_TEMPLATE) is not None:
        return "Job"
    if trial.get(JOBSET_TEMPLATE) is not None:
        return "JobSet"
    return None


def spec_kind(spec: SearchSpec) -> str | None:
    """``kind_of`` for a parsed spec."""
    return None if spec.trial.workload is None else spec.trial.workload.kind


def render(
    spec: SearchSpec,
    owner: manifests.Owner,
    trial: NewTrial,
    settings: manifests.PodSettings,
) -> dict[str, Any]:
    """The Pod, Job or JobSet that runs ``trial``."""
    if spec.trial.workload is None:
        return manifests.trial_pod(spec, owner, trial, settings)
    return workloads.trial_workload(spec, owner, trial, settings)


def create(api: ClusterApi, obj: Mapping[str, Any]) -> bool:
    """Create a rendered trial run (False: it exists already)."""
    if obj["kind"] == "Pod":
        return api.create_pod(obj)
    return api.create_workload(obj)


def delete(api: ClusterApi, kind: str | None, namespace: str, name: str) -> None:
    """Delete a trial's run: the Pod, or the whole workload in the foreground."""
    if kind is None:
        api.delete_pod(namespace, name)
    else:
        api.delete_workload(kind, namespace, name)


def workload_views(
    api: ClusterApi,
    namespace: str,
    search: str,
    kind: str,
    entries: Mapping[str, Mapping[str, Any]],
    *,
    synced: bool,
) -> list[PodView]:
    """The search's trial workloads that can matter, as PodViews: all of them on the first look
    after a start or an error (one created just before a crash may be in no record yet), else
    those of the trials recorded unfinished, one GET each (at most about ``parallelism``; a
    LIST would read every finished trial's workload again and again: Jobs have no field
    selector for "still running"). A failed workload of a trial whose record is not final yet
    is read with its Pods, for the failed Pod's reason and message."""
    if synced:
        found = [
            api.get_workload(kind, namespace, trial)
            for trial, entry in entries.items()
            if entry.get("phase") not in record.FINISHED_PHASES
        ]
        objs = [{**obj, "kind": kind} for obj in found if obj is not None]
    else:
        objs = api.list_trial_workloads(kind, namespace, search)
    found_views = [workloads.workload_view(obj) for obj in objs]
    pending = _pending_pods(api, namespace, found_views)
    views = []
    for view in found_views:
        failing = None
        entry = entries.get(view.name) or {}
        if view.outcome == "Failed" and entry.get("phase") not in record.FINISHED_PHASES:
            pods = [pod_view(p) for p in api.list_pods(namespace, workloads.pods_selector(view))]
            failing = next((p for p in pods if p.phase == "Failed"), None)
        stuck = workloads.stuck_pod(pending.get(view.name, []))
        views.append(workloads.trial_view(view, failing, stuck))
    return views


def _pending_pods(
    api: ClusterApi, namespace: str, views: list[workloads.WorkloadView]
) -> dict[str, list[PodView]]:
    """The Pending Pods of the running workloads, by trial: one LIST of the namespace's Pending
    trial Pods (label and field selector), and only when a workload runs unfinished."""
    running = {v.name for v in views if not v.outcome and not v.suspended and v.started_at}
    if not running:
        return {}
    out: dict[str, list[PodView]] = {}
    for pod in api.list_pods(namespace, names.TRIAL_LABEL, pending_only=True):
        trial = str((pod["metadata"].get("labels") or {}).get(names.TRIAL_LABEL))
        if trial in running:
            out.setdefault(trial, []).append(pod_view(pod))
    return out
