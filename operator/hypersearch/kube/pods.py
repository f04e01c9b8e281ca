"""A trial Pod dict as a PodView: what the operator reads from a Pod. Pure: no API calls.

Tolerant of missing fields (Pods come from many kubelets). Why a failed Pod failed, and when a
waiting one counts as failed, is ``kube.failures``' policy; this module only reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypersearch.core.times import parse_time
from hypersearch.core.trials import Prediction
from hypersearch.kube import failures, names, record


@dataclass(frozen=True, slots=True)
class PodView:
    """What the operator needs from a trial Pod."""

    name: str
    phase: str
    owner_uid: str | None
    deleting: bool
    index: int | None
    params: dict[str, Any] | None
    prediction: Prediction | None
    created_at: float | None
    started_at: float | None
    finished_at: float | None
    unschedulable_since: float | None
    unschedulable_message: str
    failure_reason: str
    failure_message: str
    scheduled_at: float | None = None
    stuck_container: str = ""
    """A container the kubelet cannot start (its waiting reason is in ``failures.CANNOT_START``),
    or ''."""
    stuck_reason: str = ""
    stuck_message: str = ""
    uid: str | None = None
    """The uid of the object read (the Pod's, or the Job's / JobSet's)."""
    queued: bool | None = None
    """For a Job or JobSet admitted by a queue (Kueue): True while it waits for admission
    (suspended, not ended), False once admitted; None for everything else (a Pod)."""

    @property
    def active(self) -> bool:
        """Still holds its node's resources (not Succeeded or Failed)."""
        return self.phase not in ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class TrialMarks:
    """What the operator wrote on a trial's Pod or workload (``manifests.trial_annotations``
    and the owner reference), read back: enough to adopt it after a crash."""

    owner_uid: str | None
    index: int | None
    params: dict[str, Any] | None
    prediction: Prediction | None


def trial_marks(meta: Mapping[str, Any]) -> TrialMarks:
    """Read a trial Pod's or workload's metadata into TrialMarks (tolerant of missing fields)."""
    annotations = meta.get("annotations") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("kind") == names.KIND]
    params = record.json_annotation(annotations.get(names.PARAMS_ANNOTATION))
    try:
        index: int | None = int(annotations[names.INDEX_ANNOTATION])
    except (KeyError, ValueError):
        index = None
    return TrialMarks(
        owner_uid=str(owners[0].get("uid")) if owners else None,
        index=index,
        params=params if isinstance(params, dict) else None,
        prediction=record.prediction_from_annotation(annotations.get(names.PREDICTION_ANNOTATION)),
    )


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """Read a Pod dict into a PodView."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    marks = trial_marks(meta)
    unschedulable_since, unschedulable_message = None, ""
    scheduled_at = None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "True":
            scheduled_at = parse_time(cond.get("lastTransitionTime"))
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            unschedulable_since = parse_time(cond.get("lastTransitionTime"))
            unschedulable_message = str(cond.get("message") or "")
    finished_at = None
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        finished_at = max(
            filter(None, [finished_at, parse_time(terminated.get("finishedAt"))]), default=None
        )
    phase = str(status.get("phase") or "Pending")
    reason, message = failures.pod_failure(status) if phase == "Failed" else ("", "")
    stuck = failures.stuck_container(status) or ("", "", "")
    return PodView(
        name=str(meta.get("name")),
        phase=phase,
        owner_uid=marks.owner_uid,
        deleting=bool(meta.get("deletionTimestamp")),
        index=marks.index,
        params=marks.params,
        prediction=marks.prediction,
        created_at=parse_time(meta.get("creationTimestamp")),
        started_at=parse_time(status.get("startTime")),
        finished_at=finished_at,
        unschedulable_since=unschedulable_since,
        unschedulable_message=unschedulable_message,
        failure_reason=reason,
        failure_message=message,
        scheduled_at=scheduled_at,
        uid=str(meta["uid"]) if meta.get("uid") else None,
        stuck_container=stuck[0],
        stuck_reason=stuck[1],
        stuck_message=stuck[2],
    )
