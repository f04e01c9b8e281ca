"""Why a trial failed, read from its Pod: the operator's failure policy. Pure: ``now`` is passed.

A trial whose status entry is not final is judged here from its Pod and the sidecar's report:
still waiting (with a message saying for what), running, succeeded with the reported value, or
failed with one of the operator's reasons (``core.reasons``: public API, never renamed) after
the configured waits (``Timing``), or with the Pod's own reason (Evicted, ErrImagePull, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from hypersearch.core.reasons import (
    METRIC_NOT_FOUND,
    METRIC_NOT_REPORTED,
    OOM_KILLED,
    POD_DELETED,
    TRAINING_FAILED,
    UNSCHEDULABLE,
)
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import names

if TYPE_CHECKING:  # kube.pods imports this module at run time
    from hypersearch.kube.pods import PodView

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


def _trainer_termination(status: Mapping[str, Any]) -> tuple[Mapping[str, Any], str] | None:
    """The terminated state of the first regular container that ended with an error."""
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            return terminated, str(cs.get("name"))
    return None


def pod_failure(status: Mapping[str, Any]) -> tuple[str, str]:
    """(reason, message) of a Pod in phase Failed: the Pod's own reason (evicted, deadline),
    else OOMKilled or TrainingFailed from the container that ended with an error."""
    found = _trainer_termination(status)
    if status.get("reason"):
        reason = str(status["reason"])
        return reason, str(status.get("message") or f"the Pod failed: {reason}")
    if found is not None:
        terminated, container = found
        if terminated.get("reason") == OOM_KILLED:
            return (
                OOM_KILLED,
                f"container {container} was killed for using too much memory (OOMKilled)",
            )
        return (
            TRAINING_FAILED,
            f"container {container} exited with code {terminated.get('exitCode')}",
        )
    return TRAINING_FAILED, "the Pod failed"


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


def judge(
    base: Trial,
    pod: PodView | None,
    *,
    exit_code: int | None,
    metric_message: str | None,
    metric: str,
    now: float,
    timing: Timing,
    kind: str = "Pod",
) -> Trial:
    """``base`` (an unfinished trial as status records it) as its Pod and the sidecar's final
    report (``exit_code``, ``metric_message``) say it stands now. ``kind`` (Pod, Job or JobSet)
    names what ran the trial in the messages users read."""
    name = base.name
    what = f"trial {kind} {name}"
    finished_at = base.finished_at or (pod.finished_at if pod else None) or now
    if pod is None or (pod.deleting and pod.active):
        if exit_code == 0 and base.value is not None:
            return _replace(base, phase=TrialPhase.SUCCEEDED, finished_at=finished_at)
        return _failed(
            base,
            POD_DELETED,
            f"{what} was deleted before the trial finished",
            finished_at,
        )
    if pod.phase == "Pending":
        since = pod.unschedulable_since
        if since is not None and now - since >= timing.unschedulable_seconds:
            return _failed(
                base,
                UNSCHEDULABLE,
                f"{what} could not be scheduled for "
                f"{timing.unschedulable_seconds:.0f}s: {pod.unschedulable_message}",
                now,
            )
        deadline = start_deadline(pod, timing)
        if deadline is not None and now >= deadline:
            detail = f": {pod.stuck_message}" if pod.stuck_message else ""
            return _failed(
                base,
                pod.stuck_reason,
                f"{what} could not start container {pod.stuck_container} for "
                f"{timing.unschedulable_seconds:.0f}s: {pod.stuck_reason}{detail}; check the "
                "image name, the registry and imagePullSecrets, or the container's "
                "configuration",
                now,
            )
        # Still waiting: say why in the trial's entry before the timeout turns it into a failure.
        if since is not None:
            return _replace(
                base,
                message=f"{what} cannot be scheduled yet: {pod.unschedulable_message} "
                f"(fails as {UNSCHEDULABLE} after {timing.unschedulable_seconds:.0f}s)",
            )
        if pod.stuck_reason:
            detail = f": {pod.stuck_message}" if pod.stuck_message else ""
            return _replace(
                base,
                message=f"container {pod.stuck_container} of {what} cannot start yet: "
                f"{pod.stuck_reason}{detail}",
            )
        return base
    if pod.phase == "Succeeded":
        if exit_code is not None:
            if base.value is not None:
                return _replace(base, phase=TrialPhase.SUCCEEDED, finished_at=finished_at)
            why = metric_message or f"no value reported for metric {metric}"
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
            f"{what} succeeded but its metrics sidecar reported no final value within "
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
