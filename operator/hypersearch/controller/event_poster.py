"""Posting the Events a reconcile decides on (``controller.events`` decides which).

Events are best effort: a failure to post one must not fail the reconcile. With an executor they
are posted off the reconcile's path (a search's next trial need not wait for the Events of the
last one), at most ``EVENT_BACKLOG`` waiting; more are dropped and counted. Each waiting Event
holds only the search's name, namespace and uid, never its body: a waiting Event once kept a
whole search, status and all, alive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from hypersearch.controller import metrics
from hypersearch.controller.cluster_api import ClusterApi
from hypersearch.kube.wire import ApiError

log = logging.getLogger("hypersearch.operator")

EVENT_BACKLOG = 1000
"""Events waiting to be posted at most; more are dropped and counted (client-go's recorder
drops at 1,000 too). Unbounded, a slow API server let them pile up by the thousand."""


def involved_object(body: Mapping[str, Any]) -> dict[str, Any]:
    """What an Event needs of its search: kind, name, namespace and uid, nothing more."""
    meta = body.get("metadata") or {}
    return {"metadata": {k: meta.get(k) for k in ("name", "namespace", "uid")}}


class EventPoster:
    """Posts Events about searches, at once (no ``executor``) or through it."""

    def __init__(self, api: ClusterApi, executor: Executor | None = None):
        self.api = api
        self.executor = executor
        self._backlog = threading.BoundedSemaphore(EVENT_BACKLOG)

    def post(
        self, body: Mapping[str, Any], kind: str, reason: str, message: str, now: float
    ) -> None:
        """Post (or queue) one Event about the search ``body``; never raises for the API."""
        involved = involved_object(body)
        if self.executor is None:
            self._send(involved, kind, reason, message, now)
        elif self._backlog.acquire(blocking=False):
            self.executor.submit(self._send_queued, involved, kind, reason, message, now)
        else:
            metrics.event_dropped(reason)

    def _send_queued(
        self, involved: Mapping[str, Any], kind: str, reason: str, message: str, now: float
    ) -> None:
        try:
            self._send(involved, kind, reason, message, now)
        finally:
            self._backlog.release()

    def _send(
        self, involved: Mapping[str, Any], kind: str, reason: str, message: str, now: float
    ) -> None:
        try:
            self.api.post_event(involved, kind, reason, message, now)
        except ApiError as err:
            log.info("could not post event %s: %s", reason, err)
