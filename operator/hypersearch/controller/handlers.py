"""The kopf handlers: thin triggers that all lead to the one ``Reconciler.reconcile``.

Which kopf features are used, and why (docs/architecture.md has the longer story):

- Only raw event handlers (``kopf.on.event``) for HyperSearches, and for the Pods, Jobs,
  JobSets (when their CRD is installed) and HyperSearchTrials labelled
  ``hypersearch.io/search``. They store no progress and no
  last-handled configuration, add no finalizer and never patch the object, so kopf writes
  nothing into a HyperSearch: GitOps tools see no drift, and kopf never sends a merge patch
  that would replace ``status.trials``. Progress storage is still pointed at our own
  ``hypersearch.io/`` annotation prefix in case a future handler needs it.
- No ``kopf.timer``: timers need a finalizer. Requeues (timeouts, grace periods, the resync
  safety net, error backoff) are the ``Scheduler``'s ``call_later``.
- One login handler (``kopf.on.login``) hands kopf the credentials of the connection the
  reconciles use (``kube.client``, the ``kubernetes`` package), with the exec token's expiry:
  kopf logs in again when it expires or after a 401, and the connection renews the token once
  for both.
- Errors never reach kopf: a ``SpecError`` becomes the Failed condition inside reconcile; API
  errors and bugs are logged, counted and retried with backoff, so nothing crash-loops. A search
  whose reconciles keep failing on the API server for longer than ``timeouts.stallSeconds`` is
  reported as stalled: a gauge and a Warning Event at once, then the ``Stalled`` condition
  (False, Recovered, with how long it lasted) written by the first reconcile that works again.

Must not decide anything: it maps events to search keys and runs reconcile in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import kopf

from hypersearch.controller import metrics
from hypersearch.controller.reconcile import Reconciler
from hypersearch.controller.requeue import ERROR_BACKOFF
from hypersearch.controller.scheduler import Key, Scheduler
from hypersearch.core import conditions
from hypersearch.core.times import format_time
from hypersearch.kube import names
from hypersearch.kube.client import Credentials
from hypersearch.kube.failures import stuck_container
from hypersearch.kube.wire import ApiError

log = logging.getLogger("hypersearch.operator")


class LoginSource(Protocol):
    """Where kopf's login gets credentials: the ``kube.client.Connection`` the reconciles use."""

    def credentials(self, stale: str | None = None) -> Credentials: ...


@dataclass
class Stall:
    """A streak of failed reconciles of one search (API errors), from its first failure."""

    since: float
    errors: int = 0
    last: str = ""
    reported: bool = False
    """The streak passed the stall threshold: the gauge is set and a Warning Event posted."""

    def summary(self, now: float) -> str:
        """How long, how many errors and the last one: the message of the Event and condition."""
        return (
            f"reconciles failed for {_duration(now - self.since)} from {format_time(self.since)}"
            f" ({self.errors} error{'' if self.errors == 1 else 's'}; last: {self.last})"
        )


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


@dataclass
class OperatorState:
    """What the handlers share: the reconciler, the scheduler and each search's error streak."""

    reconciler: Reconciler
    connection: LoginSource
    scheduler: Scheduler | None = None
    failures: dict[Key, int] = field(default_factory=dict)
    stalls: dict[Key, Stall] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    """Wall-clock seconds (tests pass their own)."""
    pod_states: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    workload_states: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    """(namespace, kind/name) of each trial Job or JobSet -> its last ``workload_signature``."""
    logged_in_with: str | None = None
    """The Authorization kopf was last given: when kopf asks again (after a 401 or an expiry)
    and the connection still holds it, the connection renews it first."""

    def login(self) -> kopf.ConnectionInfo:
        """kopf's credentials, from the connection the reconciles use (one place renews them)."""
        found = self.connection.credentials(stale=self.logged_in_with)
        self.logged_in_with = found.authorization
        scheme, _, token = (found.authorization or "").partition(" ")
        return kopf.ConnectionInfo(
            server=found.server,
            ca_path=found.ca_file,
            insecure=found.insecure,
            scheme=scheme or None,
            token=token or None,
            certificate_path=found.cert_file,
            private_key_path=found.key_file,
            proxy_url=found.proxy,
            default_namespace=found.namespace,
            expiration=found.expires,
        )

    async def work(self, key: Key) -> float | None:
        """One reconcile in a worker thread; errors become a backoff, never an exception."""
        namespace, name = key
        began = time.monotonic()
        now = self.clock()
        stall = self.stalls.get(key)
        # A streak that lasted past the threshold is a stall even when no failure in between
        # saw it (one reconcile retrying for the whole time): this reconcile, if it works, ends it.
        long = stall is not None and now - stall.since >= self.reconciler.config.stall_seconds
        recovered = None
        if stall is not None and (stall.reported or long):
            recovered = stall.summary(now) + "; then writes worked again"
        try:
            outcome = await asyncio.to_thread(
                self.reconciler.reconcile, namespace, name, now, recovered=recovered
            )
        except ApiError as err:
            metrics.reconcile_error(
                err.reason if err.reason.isalnum() else "ApiError", retrying=True
            )
            log.warning("reconcile %s/%s: %s", namespace, name, err)
            if err.transient:
                self._stalling(key, now, err)  # the streak began with this reconcile
            return self._backoff(key)
        except Exception as err:
            metrics.reconcile_error(type(err).__name__, retrying=True)
            log.exception("reconcile %s/%s failed", namespace, name)
            return self._backoff(key)
        log.debug(
            "reconciled %s/%s in %.0f ms: wrote status %s, started %s, next look in %s s",
            namespace,
            name,
            (time.monotonic() - began) * 1000,
            outcome.wrote_status,
            list(outcome.started),
            outcome.requeue_after,
        )
        self.failures.pop(key, None)
        if self.stalls.pop(key, None) is not None and recovered is not None:
            metrics.stalled(namespace, name, False)
            log.warning("HyperSearch %s/%s recovered: %s", namespace, name, recovered)
        for trial in outcome.started:  # the ADDED event of a Pod we created changes nothing
            self.pod_states[(namespace, trial)] = CREATED
        return outcome.requeue_after

    def _stalling(self, key: Key, now: float, err: ApiError) -> None:
        """One more failure of a streak; past the threshold, say so once (gauge and Event)."""
        stall = self.stalls.setdefault(key, Stall(since=now))
        stall.errors += 1
        stall.last = str(err)[:500]
        if stall.reported or now - stall.since < self.reconciler.config.stall_seconds:
            return
        stall.reported = True
        namespace, name = key
        metrics.stalled(namespace, name, True)
        message = stall.summary(now) + "; retrying with backoff"
        log.warning("HyperSearch %s/%s stalled: %s", namespace, name, message)
        involved = {"metadata": {"name": name, "namespace": namespace}}
        self.reconciler.post(involved, "Warning", conditions.STALLED, message, now)

    def forget(self, key: Key) -> None:
        """Drop everything kept about a deleted search (handlers, reconciler, metrics)."""
        self.failures.pop(key, None)
        self.stalls.pop(key, None)
        self.reconciler.forget(*key)
        metrics.forget_search(*key)

    def _backoff(self, key: Key) -> float:
        streak = self.failures.get(key, 0) + 1
        self.failures[key] = streak
        return float(min(ERROR_BACKOFF * 2 ** (streak - 1), 300.0))


CREATED = ("Pending", "False", "False", "")
"""The signature of a Pod the operator has just created (see ``pod_signature``)."""


def pod_signature(pod: Any) -> tuple[str, ...]:
    """What about a trial Pod can change a reconcile's outcome: its phase, its deletion,
    whether the scheduler gave up on it (the Unschedulable condition), and whether the kubelet
    cannot start one of its containers (so the reconcile can ask to look again at the timeout)."""
    status = pod.get("status") or {}
    unschedulable = any(
        c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
        for c in status.get("conditions") or []
    )
    stuck = stuck_container(status)
    return (
        str(status.get("phase")),
        str(bool(pod.get("metadata", {}).get("deletionTimestamp"))),
        str(unschedulable),
        stuck[1] if stuck is not None else "",
    )


def workload_signature(body: Any) -> tuple[str, ...]:
    """What about a trial's Job or JobSet can change a reconcile's outcome: its deletion, its
    suspension, whether it started, and its true conditions (Complete, Failed, ...); the
    counts of ready and active Pods, which change often, are left out."""
    meta = body.get("metadata", {})
    status = body.get("status") or {}
    true = sorted(
        str(c.get("type")) for c in status.get("conditions") or [] if c.get("status") == "True"
    )
    return (
        str(bool(meta.get("deletionTimestamp"))),
        str(bool((body.get("spec") or {}).get("suspend"))),
        str(status.get("startTime") or ""),
        *true,
    )


def build_registry(state: OperatorState, *, jobsets: bool = False) -> kopf.OperatorRegistry:
    """A registry with our handlers (a fresh one: nothing registers at import time).

    ``jobsets``: the API server serves JobSets (its CRD is installed), so the JobSets of
    JobSet trials are watched; without it no JobSet handler is registered (kopf would keep
    warning about a resource it cannot find)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        state.scheduler = Scheduler(state.work)
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=names.PREFIX.rstrip("/")
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=names.PREFIX.rstrip("/"), key="last-handled-configuration"
        )
        settings.persistence.finalizer = names.PREFIX + "kopf-finalizer"
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = state.reconciler.config.watch_seconds
        settings.networking.request_timeout = 60

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        if state.scheduler is not None:
            await state.scheduler.close()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return state.login()

    @kopf.on.event(names.API_GROUP, names.API_VERSION, names.PLURAL, registry=registry)
    async def search_event(
        event: kopf.RawEvent, name: str | None, namespace: str | None, **_: Any
    ) -> None:
        """Spec edits, status writes (a sidecar's final value lands here) and the initial list
        after a restart all trigger a reconcile; a deletion only forgets the search."""
        if state.scheduler is None or name is None or namespace is None:
            return
        key = (namespace, name)
        if event.get("type") == "DELETED":
            state.scheduler.forget(key)
            state.forget(key)
            return
        version = (event.get("object") or {}).get("metadata", {}).get("resourceVersion")
        if state.reconciler.is_own_write(namespace, name, version):
            return  # the echo of our own status write: nothing new to look at
        state.scheduler.trigger(key)

    @kopf.on.event(
        names.API_GROUP,
        names.API_VERSION,
        names.TRIAL_PLURAL,
        labels={names.SEARCH_LABEL: kopf.PRESENT},
        registry=registry,
    )
    async def trial_event(
        event: kopf.RawEvent, body: kopf.Body, labels: kopf.Labels, namespace: str | None, **_: Any
    ) -> None:
        """A sidecar reported into a trial object (its curve, its final value); the echoes of
        the operator's own writes of trial objects are skipped."""
        search = labels.get(names.SEARCH_LABEL)
        if state.scheduler is None or not search or not namespace:
            return
        meta = body.get("metadata", {})
        trial = str(meta.get("name"))
        if event.get("type") == "DELETED":
            state.reconciler.trial_records.written.pop((namespace, trial), None)
        elif state.reconciler.trial_records.is_own_write(
            namespace, trial, meta.get("resourceVersion")
        ):
            return
        state.scheduler.trigger((namespace, search))

    @kopf.on.event("", "v1", "pods", labels={names.SEARCH_LABEL: kopf.PRESENT}, registry=registry)
    async def pod_event(
        event: kopf.RawEvent, body: kopf.Body, labels: kopf.Labels, namespace: str | None, **_: Any
    ) -> None:
        """A trial Pod was created, started, finished, became unschedulable or was deleted
        (other changes, such as readiness flips, do not matter to a search and are skipped)."""
        search = labels.get(names.SEARCH_LABEL)
        if state.scheduler is None or not search or not namespace:
            return
        pod = (namespace, str(body.get("metadata", {}).get("name")))
        if event.get("type") == "DELETED":
            state.pod_states.pop(pod, None)
        else:
            signature = pod_signature(body)
            if state.pod_states.get(pod) == signature:
                return
            state.pod_states[pod] = signature
        state.scheduler.trigger((namespace, search))

    async def workload_event(
        event: kopf.RawEvent, body: kopf.Body, labels: kopf.Labels, namespace: str | None, **_: Any
    ) -> None:
        """A trial's Job or JobSet was created, started, suspended, ended or deleted."""
        search = labels.get(names.SEARCH_LABEL)
        if state.scheduler is None or not search or not namespace:
            return
        key = (namespace, f"{body.get('kind')}/{body.get('metadata', {}).get('name')}")
        if event.get("type") == "DELETED":
            state.workload_states.pop(key, None)
        else:
            signature = workload_signature(body)
            if state.workload_states.get(key) == signature:
                return
            state.workload_states[key] = signature
        state.scheduler.trigger((namespace, search))

    labelled = {names.SEARCH_LABEL: kopf.PRESENT}
    kopf.on.event("batch", "v1", "jobs", labels=labelled, registry=registry)(workload_event)
    if jobsets:
        kopf.on.event("jobset.x-k8s.io", "v1alpha2", "jobsets", labels=labelled, registry=registry)(
            workload_event
        )
    return registry
