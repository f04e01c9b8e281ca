"""The one idempotent reconcile of a HyperSearch: gather, ask the engine, apply, write status.

Every trigger (a HyperSearch event, a trial Pod event, a requeue timer) ends here, and running it
twice in a row does nothing the second time: trial names are derived (a Pod that exists already
counts as created), status is written only when the operator's view differs from what is stored,
and events are posted only for transitions that this write records.

Order of side effects, chosen for crash safety (SIGKILL at any line): a trial's
HyperSearchTrial object is created before its Pod, and the Pod before the trial is written to
status. A crash after the object leaves an object without a Pod and without a recorded phase,
whose Pod the next reconcile creates (the same derived name, so never twice); a crash after the
Pod leaves a Pod that is adopted. A Pod without an object (started by an earlier version) and a
``status.trials`` entry without one (recorded by an earlier version) get their object on the
next write. Finished trial objects do not change: they are read once (a paginated LIST) into a
per-search cache of Trials, and each reconcile lists only the unfinished ones (a label selector).

A trial runs as a Pod, or as a Job or JobSet (``spec.trial.jobTemplate``/``jobSetTemplate``):
``controller.trial_runs`` renders, creates, reads and deletes either, and a workload is read as
the same ``PodView`` a Pod is, so what is said here of "the Pod" holds for the workload too.

Orchestration only: the status document is ``controller.status``, the Events it tells of
``controller.events``, when to look again ``controller.requeue`` (all pure), the trials
``kube.convert``. Must not sleep, poll or count trials (the engine counts); it returns when to
look again instead.
Blocking (``kube.api`` is synchronous): the kopf shell runs it in a worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from hypersearch.controller import metrics, trial_runs
from hypersearch.controller import status as status_doc
from hypersearch.controller.cluster_api import ClusterApi
from hypersearch.controller.config import OperatorConfig
from hypersearch.controller.event_poster import EventPoster
from hypersearch.controller.events import queue_moves, transition_events
from hypersearch.controller.records import TrialRecordStore
from hypersearch.controller.requeue import CREATE_RETRY, RELOOK, next_look
from hypersearch.core import conditions, reasons
from hypersearch.core.edits import check_objective_kept, recorded_objective
from hypersearch.core.engine import (
    NewTrial,
    Plan,
    apply_stops,
    check_trials_fit,
    count_trials,
    decide,
    rng_for,
)
from hypersearch.core.errors import SpecError
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.spec import SearchSpec
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import convert, manifests, names, queueing, record
from hypersearch.kube.pods import PodView, pod_view
from hypersearch.kube.wire import ApiError

log = logging.getLogger("hypersearch.operator")


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconcile did; ``requeue_after`` (seconds) asks to be called again then."""

    requeue_after: float | None
    wrote_status: bool = False
    started: tuple[str, ...] = ()
    finished: bool = False
    gone: bool = False
    """The search is deleted (or being deleted): nothing is kept about it any more."""


def stall_condition(message: str, meta: Mapping[str, Any]) -> conditions.Condition:
    """``Stalled`` False, reason Recovered: the record of a stall that is over."""
    generation = meta.get("generation")
    return conditions.Condition(
        conditions.STALLED,
        "False",
        conditions.RECOVERED,
        message,
        observed_generation=generation if isinstance(generation, int) else None,
    )


class Reconciler:
    """Holds the API client and configuration; ``reconcile`` is safe to call from any thread,
    for different searches at once (the shell never runs two for the same search)."""

    def __init__(self, api: ClusterApi, config: OperatorConfig, events: Executor | None = None):
        self.api = api
        self.config = config
        self.poster = EventPoster(api, events)
        self._identities: dict[str, bool] = {}
        self._uids: dict[tuple[str, str], str] = {}
        """The uid of each search whose identity was applied (``forget`` drops both)."""
        self._synced: set[tuple[str, str]] = set()
        self.trial_records = TrialRecordStore(api)
        self._refusals: dict[tuple[str, str], str] = {}
        """The last FailedCreate message of each search, so a refusal streak posts one Event."""
        self.written: dict[tuple[str, str], str] = {}
        """resourceVersion of each search as our own last write left it: the watch event that
        write causes need not trigger another reconcile (``is_own_write``)."""

    def _remember(self, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        self.written[key] = str(meta.get("resourceVersion"))

    def is_own_write(self, namespace: str, name: str, resource_version: str | None) -> bool:
        """Whether this version of the search is the one our last write produced."""
        return resource_version is not None and self.written.get((namespace, name)) == str(
            resource_version
        )

    def reconcile(
        self, namespace: str, name: str, now: float, *, recovered: str | None = None
    ) -> Reconciled:
        """Bring one HyperSearch one step closer to done (see the module docstring).

        ``recovered``: the shell's account of a stall that this reconcile ends (its reconciles
        failed for longer than the stall threshold); written as the ``Stalled`` condition."""
        try:
            outcome = self._reconcile(namespace, name, now, recovered)
        except BaseException:
            self._synced.discard((namespace, name))
            raise
        if outcome.gone:
            self.forget(namespace, name)
        else:
            self._synced.add((namespace, name))
        return outcome

    def _pods(
        self, namespace: str, name: str, entries: Mapping[str, Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The search's trial Pods that can matter: all of them on the first look after a start
        or an error (a Pod created just before a crash may be in no record yet), else the
        active ones plus those of trials still recorded unfinished (they just ended)."""
        if (namespace, name) not in self._synced:
            return self.api.list_trial_pods(namespace, name)
        pods = self.api.list_trial_pods(namespace, name, active_only=True)
        seen = {p["metadata"]["name"] for p in pods}
        for trial, entry in entries.items():
            if entry.get("phase") in record.FINISHED_PHASES or trial in seen:
                continue
            found = self.api.get_pod(namespace, trial)
            if found is not None:
                pods.append(found)
        return pods

    def _reconcile(
        self, namespace: str, name: str, now: float, recovered: str | None
    ) -> Reconciled:
        body = self.api.get_search(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            metrics.forget_search(namespace, name)
            return Reconciled(requeue_after=None, gone=True)
        meta = body["metadata"]
        status: dict[str, Any] = body.get("status") or {}
        entries = list(status.get("trials") or [])
        owner = manifests.Owner(name, namespace, str(meta.get("uid")))
        raw_objective = (body.get("spec") or {}).get("objective") or {}
        metric = str(raw_objective.get("metric") or "")
        cached, objects = self.trial_records.read(namespace, name, owner.uid, metric)
        objects = dict(objects)
        merged = convert.merge_entries(
            (e for e in entries if str(e.get("name")) not in cached.finished),
            {trial: record.object_entry(obj) for trial, obj in objects.items()},
        )
        kind = trial_runs.kind_of(body)
        if kind is None:
            views = [pod_view(p) for p in self._pods(namespace, name, merged)]
        else:
            views = trial_runs.workload_views(
                self.api, namespace, name, kind, merged, synced=(namespace, name) in self._synced
            )
        pods = [p for p in views if p.owner_uid == owner.uid]
        # Kueue's words (why a trial waits, why it was evicted), read only when they matter.
        kueue = (
            self._admissions(namespace, queueing.workload_uids(pods))
            if queueing.needs_admissions(pods, merged)
            else {}
        )
        unborn = convert.unborn_trials(merged, objects, pods, now=now)
        born = {t.name for t in unborn}
        timing = self.config.timing
        trials = [
            *cached.finished.values(),
            *unborn,
            *convert.gather_trials(
                (e for trial, e in merged.items() if trial not in born),
                (p for p in pods if p.name not in cached.finished),
                metric=metric,
                now=now,
                timing=timing,
                admissions=kueue,
                kind=kind or "Pod",
            ),
        ]
        trials.sort(key=lambda t: t.index)
        try:
            spec = parse_manifest(body)
            manifests.machine_type(spec, self.config.pods)
            check_trials_fit(spec, trials)
            recorded = recorded_objective(status.get("objective"))
            if recorded is not None:
                check_objective_kept(recorded, spec.objective, trials)
        except SpecError as err:
            return self._invalid(body, trials, err, now)
        legacy = status_doc.legacy_trials(body, trials)
        with metrics.suggestion_latency(spec.algorithm.name):
            plan = decide(spec, trials, now, rng_for(spec, trials))
        trials, early = self._stop(namespace, spec, plan, trials, pods=pods, now=now)
        started: list[Trial] = []
        refusal = None
        # The Pods of trials whose object was created just before a crash, then the plan's.
        wanted = [
            *(NewTrial(t.name, t.index, dict(t.params), t.prediction) for t in unborn),
            *plan.start,
        ]
        if wanted:
            started, error, refusal = self._start(
                body, spec, owner, wanted, now, objects=objects, legacy=bool(legacy)
            )
            if error is not None:
                return self._invalid(body, trials, error, now)
        # A trial whose Pod is still to be created (refused for now) is recorded nowhere yet:
        # recorded without a Pod it would read as a Pod deleted.
        made = {t.name for t in started} | born
        after = sorted(
            [*(t for t in trials if t.name not in made), *started], key=lambda t: t.index
        )
        counts = count_trials(after)
        if plan.finished:
            reason = plan.reason or "Finished"
            message = plan.message or ""
        else:
            reason = conditions.TRIALS_RUNNING
            message = status_doc.progress_message(spec, counts, plan.best)
        desired = status_doc.desired_status(
            body,
            trials=after,
            counts=counts,
            plan=plan,
            reason=reason,
            message=message,
            now=now,
            objective=spec.objective,
            records=merged,
            legacy=legacy,
            queue=spec.trial.queue_name if spec.trial.workload is not None else None,
        )
        if recovered is not None:
            desired = status_doc.with_condition(desired, stall_condition(recovered, meta), now)
        # What the records said before this reconcile, for the Events of what it changes.
        before = [
            *merged.values(),
            *({"name": n, "phase": t.phase.value} for n, t in cached.finished.items()),
        ]
        self.trial_records.write(owner, after, merged, objects, cached)
        wrote = False
        current: Mapping[str, Any] = body
        if status_doc.differs(status, desired):
            current = self.api.apply_status(namespace, name, desired, names.OPERATOR_MANAGER)
            self._remember(current)
            wrote = True
            for event in transition_events(
                body, before=before, after=after, started=started, plan=plan, now=now
            ):
                self.post(body, event.kind, event.reason, event.message, event.at)
            metrics.queue_moves(*queue_moves(before, after))
        self._delete_pods(namespace, early, pods, trial_runs.spec_kind(spec))
        self._refused_for_now(body, (namespace, name), refusal, now)
        self._release_reports(current, desired)
        metrics.observe_search(
            namespace,
            name,
            desired["phase"],
            counts,
            plan.best.value if plan.best is not None else None,
            active_pods=sum(1 for p in pods if p.active) + len(started),
        )
        if plan.finished:
            requeue_after = None
            self.trial_records.done(namespace, name)
        elif refusal is not None:
            requeue_after = min(CREATE_RETRY, self._next_look(spec, after, pods, now))
        elif any(t.phase is TrialPhase.FAILED for t in started):
            # A refused Pod freed its slot at once, and no Pod event will say so: look again
            # now rather than at the resync (the engine's failure budget bounds the repeats).
            requeue_after = RELOOK
        else:
            requeue_after = self._next_look(spec, after, pods, now)
        return Reconciled(
            requeue_after=requeue_after,
            wrote_status=wrote,
            started=tuple(t.name for t in started),
            finished=plan.finished,
        )

    def _release_reports(self, current: Mapping[str, Any], desired: Mapping[str, Any]) -> None:
        """Drop the sidecars' managedFields entries ``status.reports_to_release`` picks; best
        effort: a failed guard is retried next time."""
        meta = current.get("metadata") or {}
        found = status_doc.reports_to_release(current, desired)
        if found:
            patched = self.api.drop_managers(str(meta["namespace"]), str(meta["name"]), found)
            if patched is not None:
                self._remember(patched)

    def _stop(
        self,
        namespace: str,
        spec: SearchSpec,
        plan: Plan,
        trials: list[Trial],
        *,
        pods: Sequence[PodView],
        now: float,
    ) -> tuple[list[Trial], set[str]]:
        """Mark the plan's stopped trials failed (early-stopped ones EarlyStopped, with the value
        of their curve so far) and delete the Pods of every finished trial that still runs
        (stopped, or failed by the operator: Unschedulable, MetricNotReported).

        The Pods of trials early-stopped by this plan are left for ``_delete_pods`` after the
        status write: deleting first, a crash before the write would leave a trial whose Pod
        went away unfinished (PodDeleted, a failure) instead of the decision made again. Returns
        the trials and those names."""
        out, early = apply_stops(spec, trials, plan.stop, now)
        finished = {t.name for t in out if t.phase.finished} - early
        self._delete_pods(namespace, finished, pods, trial_runs.spec_kind(spec))
        return out, early

    def _delete_pods(
        self, namespace: str, trials: set[str], pods: Sequence[PodView], kind: str | None
    ) -> None:
        """Delete the still active Pods (or Jobs, JobSets: ``kind``) of ``trials`` (with the
        Pod's own grace period, so the trainer gets SIGTERM and the sidecar pushes its last
        report)."""
        for pod in pods:
            if pod.name in trials and pod.active and not pod.deleting:
                trial_runs.delete(self.api, kind, namespace, pod.name)

    def _start(
        self,
        body: Mapping[str, Any],
        spec: SearchSpec,
        owner: manifests.Owner,
        new: Sequence[NewTrial],
        now: float,
        *,
        objects: dict[str, dict[str, Any]],
        legacy: bool,
    ) -> tuple[list[Trial], SpecError | None, str | None]:
        """Create the plan's trial objects (into ``objects``) and Pods; a Pod the API refuses
        for good becomes a failed trial.

        A refusal for now (a ResourceQuota, throttling, a server error) stops the creating: the
        trials created so far are recorded as usual, the refusal is said once per streak in a
        Warning Event (as the ReplicaSet controller does: nothing else would show why no trial
        starts): the third value is its message, and asks for a retry. Raising instead left a
        search whose quota held one Pod fewer than ``parallelism`` without any status at all."""
        try:
            rendered = [trial_runs.render(spec, owner, t, self.config.pods) for t in new]
        except SpecError as err:
            return [], err, None
        self._ensure_identity(spec, owner, legacy=legacy)
        started: list[Trial] = []
        reference = owner.reference()
        for trial, pod in zip(new, rendered, strict=True):
            queued = spec.trial.workload is not None and spec.trial.queue_name is not None
            made = Trial(
                name=trial.name,
                index=trial.index,
                params=dict(trial.params),
                # Created suspended, it waits for Kueue from its first moment.
                phase=TrialPhase.QUEUED if queued else TrialPhase.PENDING,
                prediction=trial.prediction,
                created_at=now,
                queued_at=now if queued else None,
                message=queueing.WAITING if queued else None,
            )
            try:
                if trial.name not in objects:
                    obj = record.trial_object(made, owner.name, owner.namespace, reference)
                    objects[trial.name] = self.trial_records.create(obj)
                trial_runs.create(self.api, pod)
            except ApiError as err:
                what = f"trial {pod['kind']} {trial.name}"
                if err.transient and err.status != 0:  # unreachable: status cannot be written
                    refusal = f"could not create {what}, will retry: {err.message}"
                    log.info("HyperSearch %s/%s: %s", owner.namespace, owner.name, refusal)
                    return started, None, refusal
                if err.transient:
                    raise
                made = dataclasses.replace(
                    made,
                    phase=TrialPhase.FAILED,
                    reason=reasons.POD_REJECTED,
                    message=f"the API server refused {what}: {err.message}",
                    finished_at=now,
                )
            started.append(made)
        return started, None, None

    def _admissions(self, namespace: str, uids: Sequence[str]) -> dict[str, queueing.Admission]:
        """Kueue's Workloads of the search's workloads ``uids`` by trial; none when they cannot
        be read (Kueue absent, or no right to: they only add Kueue's messages)."""
        try:
            return queueing.admissions(self.api.list_kueue_workloads(namespace, uids))
        except ApiError as err:
            if err.transient:
                raise
            log.info("cannot read Kueue's Workloads in %s: %s", namespace, err.message)
            return {}

    def _ensure_identity(self, spec: SearchSpec, owner: manifests.Owner, *, legacy: bool) -> None:
        """Apply the search's sidecar ServiceAccount, Role and RoleBinding once per process and
        whenever ``legacy`` (sidecars of an earlier version still report into the search's
        status) changes (``manifests.sidecar_identity``; applying is idempotent, so a restart
        applies again)."""
        if self._identities.get(owner.uid) == legacy:
            return
        template_account = (spec.trial.template.get("spec") or {}).get("serviceAccountName")
        extra = [str(template_account)] if template_account else []
        for obj in manifests.sidecar_identity(owner, extra, legacy=legacy):
            self.api.apply(obj)
        self._identities[owner.uid] = legacy
        self._uids[(owner.namespace, owner.name)] = owner.uid

    def _refused_for_now(
        self, body: Mapping[str, Any], key: tuple[str, str], refusal: str | None, now: float
    ) -> None:
        """A Warning Event for a refusal that differs from the last one of this search (timed
        after this reconcile's other Events)."""
        if refusal is None:
            self._refusals.pop(key, None)
        elif self._refusals.get(key) != refusal:
            self._refusals[key] = refusal
            self.post(body, "Warning", "FailedCreate", refusal, now + 0.001)

    def _invalid(
        self, body: Mapping[str, Any], trials: Sequence[Trial], err: SpecError, now: float
    ) -> Reconciled:
        """A spec the schema let through but the core refuses: Failed with the field path.

        Running trials are left alone; fixing the spec (a new generation) resumes the search."""
        meta = body["metadata"]
        status = body.get("status") or {}
        message = str(err)
        desired = status_doc.desired_status(
            body,
            trials=trials,
            counts=count_trials(trials),
            plan=None,
            reason=conditions.INVALID_SPEC,
            message=message,
            now=now,
            invalid=True,
            legacy=status_doc.legacy_trials(body, trials),
        )
        wrote = False
        if status_doc.differs(status, desired):
            self.api.apply_status(meta["namespace"], meta["name"], desired, names.OPERATOR_MANAGER)
            wrote = True
            self.post(body, "Warning", conditions.INVALID_SPEC, message, now)
        log.warning("HyperSearch %s/%s is invalid: %s", meta["namespace"], meta["name"], message)
        metrics.observe_search(
            meta["namespace"],
            meta["name"],
            conditions.SearchPhase.FAILED.value,
            count_trials(trials),
            None,
        )
        return Reconciled(requeue_after=None, wrote_status=wrote, finished=True)

    def post(
        self, body: Mapping[str, Any], kind: str, reason: str, message: str, now: float
    ) -> None:
        """Post an Event about a search (best effort; ``controller.event_poster``)."""
        self.poster.post(body, kind, reason, message, now)

    def forget(self, namespace: str, name: str) -> None:
        """Drop what is kept about a deleted search (the shell calls it on DELETED)."""
        key = (namespace, name)
        self.written.pop(key, None)
        self._synced.discard(key)
        self._refusals.pop(key, None)
        self._identities.pop(self._uids.pop(key, ""), None)
        self.trial_records.forget(namespace, name)

    def kept(self) -> int:
        """Entries kept about searches, all maps together (zero once every search is gone)."""
        parts = (
            self.written,
            self._synced,
            self._refusals,
            self._uids,
            self._identities,
        )
        return sum(len(part) for part in parts) + self.trial_records.kept()

    def _next_look(
        self, spec: SearchSpec, trials: Sequence[Trial], pods: Sequence[PodView], now: float
    ) -> float:
        return next_look(
            spec,
            trials,
            pods,
            now,
            timing=self.config.timing,
            resync_seconds=self.config.resync_seconds,
        )
