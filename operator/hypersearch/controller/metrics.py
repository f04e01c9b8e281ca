"""Prometheus metrics of the operator: what cluster admins watch and alert on.

The reconcile code reports facts through a few small calls (``observe_search``,
``forget_search``, ``suggestion_latency``, ``reconcile_error``); this module turns them into
series and serves them with ``start_metrics_server``. Names follow Prometheus conventions: the
``hypersearch_`` prefix, ``_total`` counters, ``_seconds`` histograms in base units.

Cardinality stays bounded: only the per-search gauges carry ``namespace`` and ``search``
labels, and ``forget_search`` removes them when the HyperSearch is deleted; every other label
takes values from a small fixed set (phases, algorithm names, CamelCase reasons; any other
reason is counted as ``Other``).

This module must NOT decide anything about a search (the engine does), call the API server,
or be imported by the sidecar (prometheus-client is an operator-only dependency).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from hypersearch.core import conditions
from hypersearch.core.engine import Counts
from hypersearch.core.trials import TrialPhase

#: The phases a HyperSearch reports; ``hypersearch_searches`` has one series per phase.
SEARCH_PHASES: tuple[str, ...] = conditions.SEARCH_PHASES
#: The trial phases of ``core.trials.TrialPhase``, in the order they are exported.
TRIAL_PHASES: tuple[str, ...] = tuple(phase.value for phase in TrialPhase)
#: Suggestion latency buckets: a grid step takes microseconds, a GP fit on 200 trials seconds.
SUGGESTION_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
#: Queue wait buckets: Kueue admits at once when quota is free; a busy GPU cluster takes hours.
QUEUE_BUCKETS: tuple[float, ...] = (
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
)  # fmt: skip
_REASON = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")
#: The ``reason`` label of reconcile errors whose reason is not one CamelCase word.
OTHER_REASON = "Other"


@dataclass(frozen=True, slots=True)
class _SearchState:
    """The last reported facts of one search, kept to compute the cluster-wide gauges."""

    phase: str
    active_pods: int


class OperatorMetrics:
    """Every series of the operator, in its own registry (tests make a fresh one each)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build_info = Gauge(
            "hypersearch_build_info",
            "Always 1; the version label says which hypersearch operator is running.",
            ["version"],
            registry=r,
        )
        self.searches = Gauge(
            "hypersearch_searches",
            "HyperSearches this operator knows, by phase.",
            ["phase"],
            registry=r,
        )
        self.search_phase = Gauge(
            "hypersearch_search_phase",
            "1 for the phase a HyperSearch is in, 0 for the others.",
            ["namespace", "search", "phase"],
            registry=r,
        )
        self.search_trials = Gauge(
            "hypersearch_search_trials",
            "Trials of one HyperSearch, by trial phase.",
            ["namespace", "search", "phase"],
            registry=r,
        )
        self.search_best = Gauge(
            "hypersearch_search_best_value",
            "Objective value of the best trial of one HyperSearch so far (absent until known).",
            ["namespace", "search"],
            registry=r,
        )
        self.active_pods = Gauge(
            "hypersearch_trial_pods_active",
            "Trial Pods that exist and have not finished, over all searches.",
            registry=r,
        )
        self.suggestion_seconds = Histogram(
            "hypersearch_suggestion_duration_seconds",
            "Time to compute new trial suggestions, by algorithm.",
            ["algorithm"],
            buckets=SUGGESTION_BUCKETS,
            registry=r,
        )
        self.queue_seconds = Histogram(
            "hypersearch_trial_queue_seconds",
            "Time a trial waited for its queue's admission (spec.trial.queueName, Kueue), "
            "observed each time one is admitted (a requeued trial once per wait).",
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.requeues = Counter(
            "hypersearch_trial_requeues",
            "Trials the queue (Kueue) evicted after they had started and that wait again.",
            registry=r,
        )
        self.reconcile_errors = Counter(
            "hypersearch_reconcile_errors",
            "Reconciles that ended in an error, by CamelCase reason.",
            ["reason"],
            registry=r,
        )
        self.reconcile_retries = Counter(
            "hypersearch_reconcile_retries",
            "Reconcile errors that will be retried (temporary errors), by CamelCase reason.",
            ["reason"],
            registry=r,
        )
        self.api_errors = Counter(
            "hypersearch_api_errors",
            "Requests to the API server that failed (each attempt, retried or not), by HTTP "
            "method and CamelCase reason (Timeout, Unreachable, TooManyRequests, ...).",
            ["verb", "reason"],
            registry=r,
        )
        self.search_stalled = Gauge(
            "hypersearch_search_stalled",
            "1 while a HyperSearch's reconciles have failed for longer than the stall threshold "
            "(timeouts.stallSeconds), because the API server failed or did not answer in time.",
            ["namespace", "search"],
            registry=r,
        )
        self.events_dropped = Counter(
            "hypersearch_events_dropped",
            "Events not posted because too many were waiting (the API server is slow), by reason.",
            ["reason"],
            registry=r,
        )
        self._lock = threading.Lock()
        self._searches: dict[tuple[str, str], _SearchState] = {}
        self.build_info.labels(version=_version()).set(1)
        self._recount()

    def observe_search(
        self,
        namespace: str,
        name: str,
        phase: str,
        counts: Counts,
        best: float | None,
        *,
        active_pods: int | None = None,
    ) -> None:
        """Record one search's state after a reconcile; call it every time, it is idempotent.

        ``active_pods`` defaults to the pending plus running trials (each has one Pod).
        """
        if phase not in SEARCH_PHASES:
            raise ValueError(
                f"search phase {phase!r} is not one of {', '.join(SEARCH_PHASES)}; "
                "add it to SEARCH_PHASES in hypersearch/controller/metrics.py first"
            )
        pods = counts.pending + counts.running if active_pods is None else active_pods
        with self._lock:
            self._searches[(namespace, name)] = _SearchState(phase=phase, active_pods=pods)
            for each in SEARCH_PHASES:
                self.search_phase.labels(namespace, name, each).set(1 if each == phase else 0)
            per_phase = {
                TrialPhase.QUEUED: counts.queued,
                TrialPhase.PENDING: counts.pending,
                TrialPhase.RUNNING: counts.running,
                TrialPhase.SUCCEEDED: counts.succeeded,
                TrialPhase.FAILED: counts.failed,
                TrialPhase.EARLY_STOPPED: counts.early_stopped,
            }
            for trial_phase in TrialPhase:
                number = per_phase[trial_phase]
                self.search_trials.labels(namespace, name, trial_phase.value).set(number)
            if best is None:
                _remove(self.search_best, namespace, name)
            else:
                self.search_best.labels(namespace, name).set(best)
            self._recount()

    def admitted(self, queued_seconds: float) -> None:
        """One trial left its queue after waiting ``queued_seconds``."""
        self.queue_seconds.observe(max(0.0, queued_seconds))

    def requeued(self) -> None:
        """The queue evicted one started trial, which waits again."""
        self.requeues.inc()

    def forget_search(self, namespace: str, name: str) -> None:
        """Drop every series of a deleted search (unknown searches are ignored)."""
        with self._lock:
            self._searches.pop((namespace, name), None)
            for phase in SEARCH_PHASES:
                _remove(self.search_phase, namespace, name, phase)
            for phase in TRIAL_PHASES:
                _remove(self.search_trials, namespace, name, phase)
            _remove(self.search_best, namespace, name)
            _remove(self.search_stalled, namespace, name)
            self._recount()

    def series(self) -> int:
        """How many series the registry exports now (tests check it stays bounded)."""
        return sum(len(m.samples) for m in self.registry.collect())

    def api_error(self, verb: str, reason: str) -> None:
        """Count one failed request (``verb`` an HTTP method; odd reasons count as Other)."""
        label = reason if _REASON.match(reason) else OTHER_REASON
        self.api_errors.labels(verb if verb.isalpha() else OTHER_REASON, label).inc()

    def stalled(self, namespace: str, name: str, stalled: bool) -> None:
        """Whether a search's reconciles have failed for longer than the stall threshold."""
        if stalled:
            self.search_stalled.labels(namespace, name).set(1)
        else:
            _remove(self.search_stalled, namespace, name)

    def event_dropped(self, reason: str) -> None:
        """Count an Event dropped because the backlog was full."""
        self.events_dropped.labels(reason if _REASON.match(reason) else OTHER_REASON).inc()

    @contextmanager
    def suggestion_latency(self, algorithm: str) -> Iterator[None]:
        """Time the block that computes suggestions (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.suggestion_seconds.labels(algorithm).observe(time.perf_counter() - start)

    def reconcile_error(self, reason: str, *, retrying: bool) -> None:
        """Count a failed reconcile; ``retrying`` when kopf will try again (a temporary error).

        ``reason`` should be one CamelCase word (an exception class name, an API Status reason);
        anything else, such as a message, is counted under ``OTHER_REASON``: the label set stays
        bounded, and an odd answer from the API server never turns into a crash here.
        """
        label = reason if _REASON.match(reason) else OTHER_REASON
        self.reconcile_errors.labels(label).inc()
        if retrying:
            self.reconcile_retries.labels(label).inc()

    def _recount(self) -> None:
        """Recompute the cluster-wide gauges from the per-search states (lock held)."""
        by_phase = dict.fromkeys(SEARCH_PHASES, 0)
        for state in self._searches.values():
            by_phase[state.phase] += 1
        for phase, number in by_phase.items():
            self.searches.labels(phase).set(number)
        self.active_pods.set(sum(s.active_pods for s in self._searches.values()))


def _remove(gauge: Gauge, *labels: str) -> None:
    """Remove one labelled series if present (prometheus-client raises KeyError otherwise)."""
    with suppress(KeyError):
        gauge.remove(*labels)


def _version() -> str:
    try:
        return metadata.version("hypersearch")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running /metrics endpoint; ``port`` is the bound port (useful when 0 was asked)."""

    port: int
    _server: Any

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()


#: The operator process's metrics; reconcile code uses the module-level functions below.
METRICS = OperatorMetrics()


def start_metrics_server(
    port: int, addr: str = "0.0.0.0", metrics: OperatorMetrics | None = None
) -> MetricsServer:
    """Serve /metrics over HTTP from a daemon thread (port 0 picks a free port)."""
    registry = (metrics or METRICS).registry
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(port=int(server.server_port), _server=server)


def observe_search(
    namespace: str,
    name: str,
    phase: str,
    counts: Counts,
    best: float | None,
    *,
    active_pods: int | None = None,
) -> None:
    """See ``OperatorMetrics.observe_search``; records into the process's ``METRICS``."""
    METRICS.observe_search(namespace, name, phase, counts, best, active_pods=active_pods)


def forget_search(namespace: str, name: str) -> None:
    """See ``OperatorMetrics.forget_search``."""
    METRICS.forget_search(namespace, name)


def suggestion_latency(algorithm: str) -> AbstractContextManager[None]:
    """See ``OperatorMetrics.suggestion_latency``."""
    return METRICS.suggestion_latency(algorithm)


def reconcile_error(reason: str, *, retrying: bool) -> None:
    """See ``OperatorMetrics.reconcile_error``."""
    METRICS.reconcile_error(reason, retrying=retrying)


def api_error(verb: str, reason: str) -> None:
    """See ``OperatorMetrics.api_error``."""
    METRICS.api_error(verb, reason)


def stalled(namespace: str, name: str, stalled: bool) -> None:
    """See ``OperatorMetrics.stalled``."""
    METRICS.stalled(namespace, name, stalled)


def event_dropped(reason: str) -> None:
    """See ``OperatorMetrics.event_dropped``."""
    METRICS.event_dropped(reason)


def queue_moves(waits: list[float], requeues: int) -> None:
    """Trials admitted after these waits, and ``requeues`` trials evicted (``queue_moves`` of
    ``controller.events``)."""
    for wait in waits:
        METRICS.admitted(wait)
    for _ in range(requeues):
        METRICS.requeued()
