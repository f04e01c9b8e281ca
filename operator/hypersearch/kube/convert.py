"""Every trial of a search, gathered from its status entries and its Pods. Pure: no API calls,
no clock (``now`` is passed).

``gather_trials`` rebuilds the trials from two sources, because either can be ahead of the other
after a crash: the status entries (decoded by ``kube.record``; written by the operator and, for
their metric fields, by each trial's sidecar) and the trial Pods (``kube.pods``; a Pod created
just before a crash, not yet in status, is adopted from its annotations). A finished entry
(Succeeded, Failed, EarlyStopped) is final; otherwise ``kube.failures`` judges it from the Pod:
running, succeeded with the sidecar's value, or failed with a reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import failures, queueing, record
from hypersearch.kube.failures import Timing
from hypersearch.kube.pods import PodView
from hypersearch.kube.queueing import Admission


def merge_entries(
    legacy: Iterable[Mapping[str, Any]], objects: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """One entry per trial name from both records a search may hold: ``status.trials`` entries
    (written by earlier versions, and by the sidecars of Pods they started) and HyperSearchTrial
    objects flattened by ``record.object_entry``. A field the object holds wins; a field only
    the status entry holds (the report of an old sidecar) is kept."""
    merged = {str(e["name"]): dict(e) for e in legacy if e.get("name")}
    for name, entry in objects.items():
        merged[name] = {**merged.get(name, {}), **entry}
    return merged


def unborn_trials(
    entries: Mapping[str, Mapping[str, Any]],
    objects: Mapping[str, Any],
    pods: Iterable[PodView],
    *,
    now: float,
) -> list[Trial]:
    """Trials whose HyperSearchTrial exists but whose Pod was never created: the operator
    creates the object before the Pod, so a crash in between leaves an object without a Pod
    and without a recorded phase. They are Pending trials whose Pod is still to be created
    (a Pod that was created and then deleted shows as a recorded phase without a Pod, which
    ``failures`` judges as PodDeleted)."""
    with_pods = {p.name for p in pods}
    found = []
    for name in objects:
        entry = entries.get(name)
        if entry is None or name in with_pods or entry.get("phase") is not None:
            continue
        decoded = record.trial_from_entry(entry, metric="")
        if decoded is not None:
            found.append(dataclasses.replace(decoded, created_at=now))
    return found


def gather_trials(
    entries: Iterable[Mapping[str, Any]],
    pods: Iterable[PodView],
    *,
    metric: str,
    now: float,
    timing: Timing,
    admissions: Mapping[str, Admission] | None = None,
    kind: str = "Pod",
) -> list[Trial]:
    """Every trial of a search, from its status entries and its Pods (see the module docstring).

    Entries with no Pod and no index/params (a sidecar's entry whose Pod never got recorded and
    is gone) cannot be rebuilt and are left out. A workload a queue admits (``PodView.queued``
    is not None) is read with ``kube.queueing`` too: Queued, admitted or requeued, with Kueue's
    words from ``admissions`` (its Workloads by trial name) when known.
    """
    by_name = {str(e.get("name")): e for e in entries if e.get("name")}
    pod_by_name = {p.name: p for p in pods}
    trials: list[Trial] = []
    for name in sorted(set(by_name) | set(pod_by_name)):
        entry = by_name.get(name, {})
        pod = pod_by_name.get(name)
        trial = _trial(
            name,
            entry,
            pod,
            metric=metric,
            now=now,
            timing=timing,
            admissions=admissions or {},
            kind=kind,
        )
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
    admissions: Mapping[str, Admission],
    kind: str,
) -> Trial | None:
    recorded = record.read_entry(entry, metric)
    index = recorded.index if recorded.index is not None else (pod.index if pod else None)
    params = recorded.params if recorded.params is not None else (pod.params if pod else None)
    if index is None or params is None:
        return None
    base = Trial(
        name=name,
        index=index,
        params=dict(params),
        phase=TrialPhase.PENDING,
        value=recorded.value,
        observations=recorded.observations,
        prediction=recorded.prediction or (pod.prediction if pod else None),
        created_at=pod.created_at if pod else None,
        started_at=recorded.started_at or (pod.started_at if pod else None),
        finished_at=recorded.finished_at,
        requeues=recorded.requeues,
        queued_seconds=recorded.queued_seconds,
        queued_at=recorded.queued_at,
    )
    if recorded.phase is not None and recorded.finished:
        return dataclasses.replace(
            base, phase=recorded.phase, reason=recorded.reason, message=recorded.message
        )
    judged = failures.judge(
        base,
        pod,
        exit_code=recorded.exit_code,
        metric_message=recorded.metric_message,
        metric=metric,
        now=now,
        timing=timing,
        kind=kind,
    )
    if pod is None or pod.queued is None:
        return judged
    return queueing.account(
        judged,
        recorded,
        waiting=pod.queued,
        started_at=pod.started_at,
        created_at=pod.created_at,
        kueue=admissions.get(name),
        now=now,
    )
