"""HyperSearch and Pod dicts <-> core values. Pure: no API calls, no clock (``now`` is passed).

Reading: ``gather_trials`` rebuilds every trial of a search from two sources, because either can
be ahead of the other after a crash: the status entries (written by the operator and, for their
metric fields, by each trial's sidecar) and the trial Pods (a Pod created just before a crash, not
yet in status, is adopted from its annotations). A finished entry (Succeeded, Failed,
EarlyStopped) is final; otherwise the Pod decides: running, succeeded with the sidecar's value,
or failed with a reason.

Writing: ``trial_entry`` gives the fields the operator owns in a trial's status entry. Every
operator apply must carry the whole list (server-side apply removes fields a manager stops
sending), and it never carries the sidecar's fields of an unfinished trial.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase
from hypersearch.kube import names

FINISHED_PHASES: Final = (
    TrialPhase.SUCCEEDED.value,
    TrialPhase.FAILED.value,
    TrialPhase.EARLY_STOPPED.value,
)
"""Phases of a status entry that are final: the Pod no longer decides anything."""

# Trial failure reasons the operator sets (CamelCase; the engine adds its own, e.g. Timeout).
POD_DELETED: Final = "PodDeleted"
UNSCHEDULABLE: Final = "Unschedulable"
METRIC_NOT_REPORTED: Final = "MetricNotReported"
METRIC_NOT_FOUND: Final = "MetricNotFound"
TRAINING_FAILED: Final = "TrainingFailed"
OOM_KILLED: Final = "OOMKilled"
POD_REJECTED: Final = "PodRejected"
CANNOT_START: Final = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
"""Waiting reasons of a container the kubelet keeps failing to start: the Pod stays Pending for
ever (the image name is misspelt, a pull secret or a referenced ConfigMap is missing)."""


@dataclass(frozen=True, slots=True)
class Timing:
    """How long the operator waits before it calls a trial failed (operator configuration)."""

    unschedulable_seconds: float = 300.0
    metric_grace_seconds: float = 30.0


def parse_time(text: object) -> float | None:
    """An RFC 3339 timestamp as epoch seconds (None when absent or unreadable)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def format_time(when: float) -> str:
    """Epoch seconds as the RFC 3339 form Kubernetes uses (whole seconds, UTC, ``Z``)."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(when: float) -> str:
    """Epoch seconds as a Kubernetes MicroTime (RFC 3339 with microseconds, UTC, ``Z``)."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    """A container the kubelet cannot start (its waiting reason is in ``CANNOT_START``), or ''."""
    stuck_reason: str = ""
    stuck_message: str = ""

    @property
    def active(self) -> bool:
        """Still holds its node's resources (not Succeeded or Failed)."""
        return self.phase not in ("Succeeded", "Failed")


def _json_annotation(annotations: Mapping[str, Any], key: str) -> Any:
    try:
        return json.loads(str(annotations[key])) if key in annotations else None
    except ValueError:
        return None


def _trainer_termination(status: Mapping[str, Any]) -> tuple[Mapping[str, Any], str] | None:
    """The terminated state of the first regular container that ended with an error."""
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            return terminated, str(cs.get("name"))
    return None


def stuck_container(status: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(container, reason, message) of the first container (the sidecar, an init container,
    included) waiting for a reason in ``CANNOT_START``."""
    for cs in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        if reason in CANNOT_START:
            return str(cs.get("name")), reason, str(waiting.get("message") or "")
    return None


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """Read a Pod dict into a PodView (tolerant of missing fields: Pods come from many kubelets)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    annotations = meta.get("annotations") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("kind") == names.KIND]
    raw_prediction = _json_annotation(annotations, names.PREDICTION_ANNOTATION)
    prediction = None
    if isinstance(raw_prediction, dict):
        try:
            prediction = Prediction(
                float(raw_prediction["mean"]),
                float(raw_prediction["std"]),
                float(raw_prediction["ucb"]),
            )
        except (KeyError, TypeError, ValueError):
            prediction = None
    params = _json_annotation(annotations, names.PARAMS_ANNOTATION)
    try:
        index: int | None = int(annotations[names.INDEX_ANNOTATION])
    except (KeyError, ValueError):
        index = None
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
    reason, message = "", ""
    if phase == "Failed":
        found = _trainer_termination(status)
        if status.get("reason"):
            reason = str(status["reason"])
            message = str(status.get("message") or f"the Pod failed: {reason}")
        elif found is not None:
            terminated, container = found
            code = terminated.get("exitCode")
            if terminated.get("reason") == OOM_KILLED:
                reason = OOM_KILLED
                message = f"container {container} was killed for using too much memory (OOMKilled)"
            else:
                reason = TRAINING_FAILED
                message = f"container {container} exited with code {code}"
        else:
            reason, message = TRAINING_FAILED, "the Pod failed"
    return PodView(
        name=str(meta.get("name")),
        phase=phase,
        owner_uid=str(owners[0].get("uid")) if owners else None,
        deleting=bool(meta.get("deletionTimestamp")),
        index=index,
        params=params if isinstance(params, dict) else None,
        prediction=prediction,
        created_at=parse_time(meta.get("creationTimestamp")),
        started_at=parse_time(status.get("startTime")),
        finished_at=finished_at,
        unschedulable_since=unschedulable_since,
        unschedulable_message=unschedulable_message,
        failure_reason=reason,
        failure_message=message,
        scheduled_at=scheduled_at,
        **_stuck_fields(status),
    )


def _stuck_fields(status: Mapping[str, Any]) -> dict[str, str]:
    found = stuck_container(status)
    if found is None:
        return {}
    container, reason, message = found
    return {"stuck_container": container, "stuck_reason": reason, "stuck_message": message}


def _index_from_name(name: str) -> int | None:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _observations(entry: Mapping[str, Any], metric: str) -> tuple[Observation, ...]:
    curve = entry.get("curve") or []
    found = []
    for point in curve:
        if isinstance(point, list) and len(point) == 2:
            step, value = point
            found.append(Observation(metric, curve_value(value), int(step)))
    return tuple(found)


def curve_value(stored: object) -> float:
    """A stored curve value as a number: null (the sidecar's NaN/inf) is NaN, so the
    early-stopping rule sees a diverged report as the local runner does."""
    return math.nan if stored is None else float(stored)  # type: ignore[arg-type]


def _prediction(entry: Mapping[str, Any]) -> Prediction | None:
    raw = entry.get("prediction")
    if not isinstance(raw, Mapping):
        return None
    try:
        return Prediction(float(raw["mean"]), float(raw["std"]), float(raw["ucb"]))
    except (KeyError, TypeError, ValueError):
        return None


def _value(entry: Mapping[str, Any]) -> float | None:
    value = entry.get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def gather_trials(
    entries: Iterable[Mapping[str, Any]],
    pods: Iterable[PodView],
    *,
    metric: str,
    now: float,
    timing: Timing,
) -> list[Trial]:
    """Every trial of a search, from its status entries and its Pods (see the module docstring).

    Entries with no Pod and no index/params (a sidecar's entry whose Pod never got recorded and
    is gone) cannot be rebuilt and are left out.
    """
    by_name = {str(e.get("name")): e for e in entries if e.get("name")}
    pod_by_name = {p.name: p for p in pods}
    trials: list[Trial] = []
    for name in sorted(set(by_name) | set(pod_by_name)):
        entry = by_name.get(name, {})
        pod = pod_by_name.get(name)
        trial = _trial(name, entry, pod, metric=metric, now=now, timing=timing)
        if trial is not None:
            trials.append(trial)
    trials.sort(key=lambda t: t.index)
    return trials


def _trial(
    name: str,
    entry: Mapping[str, Any],
    pod: PodView | None,
    *,
    metric: str,
    now: float,
    timing: Timing,
) -> Trial | None:
    index = entry.get("index")
    if not isinstance(index, int):
        index = pod.index if pod is not None and pod.index is not None else None
    params = entry.get("params")
    if not isinstance(params, Mapping):
        params = pod.params if pod is not None else None
    if index is None or params is None:
        return None
    base = Trial(
        name=name,
        index=index,
        params=dict(params),
        phase=TrialPhase.PENDING,
        value=_value(entry),
        observations=_observations(entry, metric),
        prediction=_prediction(entry) or (pod.prediction if pod else None),
        created_at=pod.created_at if pod else None,
        started_at=parse_time(entry.get("startedAt")) or (pod.started_at if pod else None),
        finished_at=parse_time(entry.get("finishedAt")),
    )
    recorded = str(entry.get("phase") or "")
    if recorded in FINISHED_PHASES:
        return _replace(
            base,
            phase=TrialPhase(recorded),
            reason=entry.get("reason"),
            message=entry.get("message"),
        )
    exit_code = entry.get("exitCode")
    finished_at = base.finished_at or (pod.finished_at if pod else None) or now
    if pod is None or (pod.deleting and pod.active):
        if exit_code == 0 and base.value is not None:
            return _replace(base, phase=TrialPhase.SUCCEEDED, finished_at=finished_at)
        return _failed(
            base,
            POD_DELETED,
            f"trial Pod {name} was deleted before the trial finished",
            finished_at,
        )
    if pod.phase == "Pending":
        since = pod.unschedulable_since
        if since is not None and now - since >= timing.unschedulable_seconds:
            return _failed(
                base,
                UNSCHEDULABLE,
                f"trial Pod {name} could not be scheduled for "
                f"{timing.unschedulable_seconds:.0f}s: {pod.unschedulable_message}",
                now,
            )
        deadline = start_deadline(pod, timing)
        if deadline is not None and now >= deadline:
            detail = f": {pod.stuck_message}" if pod.stuck_message else ""
            return _failed(
                base,
                pod.stuck_reason,
                f"trial Pod {name} could not start container {pod.stuck_container} for "
                f"{timing.unschedulable_seconds:.0f}s: {pod.stuck_reason}{detail}; check the "
                "image name, the registry and imagePullSecrets, or the container's "
                "configuration",
                now,
            )
        # Still waiting: say why in the trial's entry before the timeout turns it into a failure.
        if since is not None:
            return _replace(
                base,
                message=f"trial Pod {name} cannot be scheduled yet: {pod.unschedulable_message} "
                f"(fails as {UNSCHEDULABLE} after {timing.unschedulable_seconds:.0f}s)",
            )
        if pod.stuck_reason:
            detail = f": {pod.stuck_message}" if pod.stuck_message else ""
            return _replace(
                base,
                message=f"container {pod.stuck_container} of trial Pod {name} cannot start yet: "
                f"{pod.stuck_reason}{detail}",
            )
        return base
    if pod.phase == "Succeeded":
        if exit_code is not None:
            if base.value is not None:
                return _replace(base, phase=TrialPhase.SUCCEEDED, finished_at=finished_at)
            why = entry.get("metricMessage") or f"no value reported for metric {metric}"
            return _failed(
                base,
                METRIC_NOT_FOUND,
                f"trial {name} finished but {why}; make the training program print it (for "
                f"example '{metric}=0.93')",
                finished_at,
            )
        ended = pod.finished_at or now
        if now - ended < timing.metric_grace_seconds:
            return _replace(base, phase=TrialPhase.RUNNING)
        return _failed(
            base,
            METRIC_NOT_REPORTED,
            f"trial Pod {name} succeeded but its metrics sidecar reported no final value within "
            f"{timing.metric_grace_seconds:.0f}s; see the logs of container "
            f"{names.SIDECAR_CONTAINER}",
            finished_at,
        )
    if pod.phase == "Failed":
        return _failed(base, pod.failure_reason, pod.failure_message, finished_at)
    return _replace(base, phase=TrialPhase.RUNNING)


def _replace(trial: Trial, **changes: Any) -> Trial:
    return dataclasses.replace(trial, **changes)


def _failed(trial: Trial, reason: str, message: str, when: float) -> Trial:
    return _replace(
        trial,
        phase=TrialPhase.FAILED,
        reason=reason,
        message=message,
        finished_at=trial.finished_at or when,
    )


def metric_grace_deadline(pod: PodView, entry: Mapping[str, Any], timing: Timing) -> float | None:
    """When a succeeded Pod without a final report becomes MetricNotReported (for a requeue)."""
    if pod.phase != "Succeeded" or entry.get("exitCode") is not None:
        return None
    return (pod.finished_at or 0.0) + timing.metric_grace_seconds


def start_deadline(pod: PodView, timing: Timing) -> float | None:
    """When a scheduled Pod whose container cannot start fails (after ``unschedulable_seconds``
    from scheduling, as long as an unschedulable one gets), for a requeue; None unless stuck."""
    if pod.phase != "Pending" or not pod.stuck_reason or pod.scheduled_at is None:
        return None
    return pod.scheduled_at + timing.unschedulable_seconds


def unschedulable_deadline(pod: PodView, timing: Timing) -> float | None:
    """When a Pending, unschedulable Pod becomes an Unschedulable failure (for a requeue)."""
    if pod.phase != "Pending" or pod.unschedulable_since is None:
        return None
    return pod.unschedulable_since + timing.unschedulable_seconds


def trial_entry(trial: Trial, recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """The operator's fields of one status entry. For a finished trial the sidecar's fields
    (``names.REPORT_FIELDS``) are carried too, so the operator takes them over and the sidecar's
    field manager drops out of managedFields (which would otherwise grow by one per trial)."""
    entry: dict[str, Any] = {
        "name": trial.name,
        "index": trial.index,
        "params": dict(trial.params),
        "phase": trial.phase.value,
    }
    if trial.reason:
        entry["reason"] = trial.reason
    if trial.message:
        entry["message"] = trial.message
    if trial.prediction is not None:
        p = trial.prediction
        entry["prediction"] = {"mean": p.mean, "std": p.std, "ucb": p.ucb}
    if trial.started_at is not None:
        entry["startedAt"] = format_time(trial.started_at)
    if trial.finished_at is not None and trial.phase.finished:
        entry["finishedAt"] = format_time(trial.finished_at)
    if trial.phase.finished and recorded:
        for key in names.REPORT_FIELDS:
            if key in recorded:
                entry[key] = recorded[key]
    if trial.phase is TrialPhase.EARLY_STOPPED and "value" not in entry and trial.value is not None:
        # The value of its curve when it was stopped, until its sidecar's last report (made as
        # the Pod stops, over every report it read) replaces it.
        entry["value"] = trial.value
    return entry


def best_entry(best: Trial | None) -> dict[str, Any] | None:
    """``status.best``: the best trial's name, parameters and value."""
    if best is None or best.value is None:
        return None
    return {"trial": best.name, "params": dict(best.params), "value": best.value}
