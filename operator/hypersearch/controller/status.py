"""The operator's part of a HyperSearch's status, built from what the engine decided. Pure.

``desired_status`` is the whole document the operator applies (server-side apply drops the
fields a manager stops sending, so it is always whole); ``differs`` says whether applying it
would change anything, so an unchanged search costs no write; ``reports_to_release`` picks the
sidecars' managedFields entries that can go. Must not call the API server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from hypersearch.core import conditions
from hypersearch.core.conditions import FINAL_PHASES, SearchPhase
from hypersearch.core.edits import objective_record, recorded_objective
from hypersearch.core.engine import Counts, Plan
from hypersearch.core.spec import Objective, SearchSpec
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import names, queueing, record, schema_status

OPERATOR_TRIAL_FIELDS: Final = (
    "name",
    "index",
    "params",
    "phase",
    "reason",
    "message",
    "prediction",
    "startedAt",
    "finishedAt",
    "requeues",
    "queuedSeconds",
    "queuedAt",
)
SIDECAR_MANAGER_PREFIX: Final = names.sidecar_manager("")
RECENT_TRIALS: Final = schema_status.RECENT_TRIALS
"""How many trials ``status.recentTrials`` lists (the highest indexes): what ``kubectl get hs -o
yaml`` shows at a glance; every trial is in its HyperSearchTrial."""
RELEASE_BATCH: Final = 10
"""Sidecar managedFields entries are dropped in batches of this many (or when the search ends):
each drop is one more write, so doing it per trial would double the writes per trial."""


def counts_dict(counts: Counts) -> dict[str, int]:
    """``status.counts``."""
    return {
        "trials": counts.total,
        "queued": counts.queued,
        "pending": counts.pending,
        "running": counts.running,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        "earlyStopped": counts.early_stopped,
    }


def progress_message(spec: SearchSpec, counts: Counts, best: Trial | None) -> str:
    """``status.message`` of a running search: how far it is, and the best so far."""
    done = counts.succeeded + counts.failed + counts.early_stopped
    planned = max(spec.max_trials, counts.total)
    active = counts.queued + counts.pending + counts.running
    text = f"{done} of {planned} trials finished, {active} active"
    if counts.queued:
        text += f" ({counts.queued} waiting in the queue)"
    if best is not None and best.value is not None:
        text += f"; best {spec.objective.metric} {best.value:g} from trial {best.name}"
    return text


def differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether writing ``desired`` would change the operator's part of ``current`` status."""
    for key, value in desired.items():
        if key == "trials":
            continue
        if current.get(key) != value:
            return True
    stored = {str(e.get("name")): e for e in current.get("trials") or []}
    wanted = desired.get("trials") or []
    names_wanted = {e["name"] for e in wanted}
    ours = {name for name, e in stored.items() if "index" in e}  # sidecar-only entries aside
    if names_wanted - set(stored) or ours - names_wanted:
        return True
    for entry in wanted:
        old = stored[entry["name"]]
        keys = set(OPERATOR_TRIAL_FIELDS) | set(entry)
        if entry.get("phase") in record.FINISHED_PHASES:
            keys |= set(names.REPORT_FIELDS)
        if any(old.get(k) != entry.get(k) for k in keys):
            return True
    return False


def object_status_differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether applying ``desired`` (``record.object_status``) to a HyperSearchTrial whose
    status is ``current`` would change the operator's part of it: its verdict fields, and once
    the trial is finished the report it carries too."""
    keys = (set(OPERATOR_TRIAL_FIELDS) - {"name", *record.SPEC_FIELDS}) | set(desired)
    if desired.get("phase") in record.FINISHED_PHASES:
        keys |= set(names.REPORT_FIELDS)
    return any(current.get(k) != desired.get(k) for k in keys)


def recent_trials(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """``status.recentTrials``: the ``RECENT_TRIALS`` trials of the highest indexes, each its
    name, index, phase and value (when it has one)."""
    found = []
    for trial in sorted(trials, key=lambda t: t.index)[-RECENT_TRIALS:]:
        entry: dict[str, Any] = {
            "name": trial.name,
            "index": trial.index,
            "phase": trial.phase.value,
        }
        if trial.value is not None and trial.phase is not TrialPhase.FAILED:
            entry["value"] = trial.value
        found.append(entry)
    return found


def legacy_trials(body: Mapping[str, Any], trials: Sequence[Trial]) -> set[str]:
    """The trials whose ``status.trials`` entries must stay for now: every entry the operator
    recorded (one with an index; earlier versions kept every trial there) while one of them
    is unfinished (its Pod's sidecar, of an earlier version, still reports into the list) or
    a sidecar still owns fields of the search (the operator first takes the reports over and
    drops those managers: ``reports_to_release``). Then none: the list goes."""
    entries = [e for e in (body.get("status") or {}).get("trials") or [] if isinstance(e, Mapping)]
    recorded = {str(e.get("name")) for e in entries if "index" in e}
    if not recorded:
        return set()
    unfinished = any(t.name in recorded and not t.phase.finished for t in trials)
    managers = ((body.get("metadata") or {}).get("managedFields")) or []
    sidecars = any(str(m.get("manager")).startswith(SIDECAR_MANAGER_PREFIX) for m in managers)
    return recorded if unfinished or sidecars else set()


def desired_status(
    body: Mapping[str, Any],
    *,
    trials: Sequence[Trial],
    counts: Counts,
    plan: Plan | None,
    reason: str,
    message: str,
    now: float,
    invalid: bool = False,
    objective: Objective | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
    legacy: Collection[str] = (),
    queue: str | None = None,
) -> dict[str, Any]:
    """The operator's whole part of status (server-side apply drops what it leaves out).

    ``queue`` (``spec.trial.queueName``): the search's trials wait for that LocalQueue's
    admission, and the ``Queued`` condition says whether any does and why.

    ``objective`` (the spec's, None for an invalid spec) becomes ``status.objective`` until a
    trial has a value; from then on the recorded one stays (``check_objective_kept``).
    ``legacy``: the trials whose ``status.trials`` entries (written by an earlier version) are
    still kept, each with what ``records`` (the merged records by name) holds of it; without
    any, the list is left out, and server-side apply removes the entries the operator alone
    owns."""
    status: dict[str, Any] = body.get("status") or {}
    recorded = {str(e.get("name")): e for e in status.get("trials") or []}
    recorded.update(records or {})
    finished = invalid or (plan is not None and plan.finished)
    succeeded = plan is not None and plan.succeeded and not invalid
    generation = body["metadata"].get("generation")
    conds = conditions.search_conditions(
        conditions.from_dicts(status.get("conditions")),
        finished=finished,
        succeeded=succeeded,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )
    if queue is not None:
        waiting = queueing.waiting_summary(trials, queue)
        conds = conditions.set_condition(
            conds, conditions.queue_condition(waiting, queue, generation), now
        )
    phase = SearchPhase.RUNNING
    if finished:
        phase = SearchPhase.SUCCEEDED if succeeded else SearchPhase.FAILED
    desired: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase.value,
        "message": message,
        "counts": counts_dict(counts),
        "conditions": conditions.to_dicts(conds),
        "recentTrials": recent_trials(trials),
    }
    if legacy:
        desired["trials"] = [
            record.trial_entry(t, recorded.get(t.name)) for t in trials if t.name in legacy
        ]
    kept = status.get("objective")
    valued = any(t.value is not None for t in trials)
    if recorded_objective(kept) is not None and (valued or objective is None):
        desired["objective"] = kept  # the values' objective, whatever the spec says now
    elif objective is not None:
        desired["objective"] = objective_record(objective)
    best = record.best_entry(plan.best if plan is not None else None)
    if best is None and invalid and isinstance(status.get("best"), dict):
        best = status["best"]
    if best is not None:
        desired["best"] = best
    return desired


def reports_to_release(
    current: Mapping[str, Any], desired: Mapping[str, Any]
) -> list[tuple[int, str]]:
    """(position, manager) of the managedFields entries of sidecars whose finished trial's
    report the operator now owns too (its last apply carried the same values), once there are
    ``RELEASE_BATCH`` of them or the search has ended; else none. Dropping them keeps
    managedFields from holding one entry per trial for ever."""
    meta = current.get("metadata") or {}
    taken = {
        names.sidecar_manager(e["name"])
        for e in desired.get("trials") or []
        if e.get("phase") in record.FINISHED_PHASES and "reportedAt" in e
    }
    found = [
        (i, str(m.get("manager")))
        for i, m in enumerate(meta.get("managedFields") or [])
        if m.get("manager") in taken
    ]
    done = desired.get("phase") in FINAL_PHASES or all(
        e.get("phase") in record.FINISHED_PHASES for e in desired.get("trials") or []
    )
    if len(found) >= RELEASE_BATCH or (found and done):
        return found
    return []


def with_condition(
    desired: Mapping[str, Any], condition: conditions.Condition, now: float
) -> dict[str, Any]:
    """``desired`` with one more condition set (kept in later writes, as every condition of a
    type other than Running, Succeeded and Failed is)."""
    found = conditions.from_dicts(desired.get("conditions"))
    return {
        **desired,
        "conditions": conditions.to_dicts(conditions.set_condition(found, condition, now)),
    }
