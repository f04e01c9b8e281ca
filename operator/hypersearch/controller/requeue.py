"""When the reconciler looks at a search again without an event. Pure: ``now`` is passed.

Something changes without an event when a timeout or grace period ends (``kube.failures``'
waits, ``spec.trial.timeoutSeconds``); the resync interval is the safety net for a missed event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from hypersearch.core.spec import SearchSpec
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.kube import failures
from hypersearch.kube.pods import PodView

ERROR_BACKOFF: Final = 5.0
"""Seconds before the first retry of a reconcile that raised; doubled per failure in a row."""
CREATE_RETRY: Final = 30.0
"""Seconds until a trial Pod the API server refused for now (a quota) is tried again; a trial
that ends (a Pod event) retries sooner."""
RELOOK: Final = 0.05
"""Seconds until the next look when this reconcile changed something no event will report."""


def next_look(
    spec: SearchSpec,
    trials: Sequence[Trial],
    pods: Sequence[PodView],
    now: float,
    *,
    timing: failures.Timing,
    resync_seconds: float,
) -> float:
    """Seconds until the earliest deadline of an unfinished trial, else the resync interval."""
    deadlines = [now + resync_seconds]
    by_name = {t.name: t for t in trials}
    for pod in pods:
        trial = by_name.get(pod.name)
        if trial is None or trial.phase.finished:
            continue
        for deadline in (
            failures.unschedulable_deadline(pod, timing),
            failures.start_deadline(pod, timing),
            failures.metric_grace_deadline(pod, {}, timing)
            if trial.phase is TrialPhase.RUNNING and pod.phase == "Succeeded"
            else None,
        ):
            if deadline is not None:
                deadlines.append(deadline)
        limit = spec.trial.timeout_seconds
        since = trial.started_at or trial.created_at
        if limit is not None and since is not None:
            deadlines.append(since + limit)
    return max(RELOOK, min(deadlines) - now + RELOOK)
