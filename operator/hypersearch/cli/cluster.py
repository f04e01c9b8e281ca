"""The CLI's cluster side: submit a search as a HyperSearch, show it, follow it to its end.

``hyper bayesian ... --image IMG --submit`` is the hosted-tool habit (the same flags run locally,
print the manifest, or run on a cluster): the manifest ``--manifest`` would print is applied to
the cluster (server-side apply, field manager ``hyper-cli``), then followed until the operator
marks it Succeeded or Failed, printing a line whenever the counts or the best trial change and,
at the end, the same table and best line as a local run. ``hyper status hs/NAME [--watch]``
shows (or follows) any HyperSearch. Following only reads: Ctrl-C stops following, never the
search.

Like ``cli`` this module only moves data: the operator decides, ``report.cluster`` turns the
object into trials, ``core.ranking`` picks the best and ``local.summary`` draws the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from hypersearch.core.conditions import FINAL_PHASES
from hypersearch.core.errors import HyperSearchError
from hypersearch.core.ranking import best_of
from hypersearch.core.trials import TrialPhase
from hypersearch.kube import names
from hypersearch.kube.wire import ApiError
from hypersearch.local.summary import (
    SearchEnd,
    format_value,
    render_best,
    render_failures,
    render_json,
    render_table,
    result_document,
)
from hypersearch.report.cluster import view_from_object
from hypersearch.report.model import SearchView

CLI_MANAGER = "hyper-cli"
"""Field manager of what the CLI applies, so ``kubectl get --show-managed-fields`` says who."""
FOLLOW_INTERVAL_S = 2.0
UNSEEN_HINT_S = 30.0
"""After this long with the spec's generation not yet observed, following says how to check
that an operator runs (a search nobody reconciles would otherwise just stay Pending)."""
FOLLOW_OUTAGE_S = 600.0
"""How long following rides out a cluster it cannot reach (an API server restart, a VPN blip)
before it gives up: a search runs for hours, and one failed poll must not end the watch."""


class ClusterError(HyperSearchError):
    """The cluster refused or could not answer; the message says what to check (exit 1).
    ``transient``: unreachable, throttled or a server error, which may pass by itself."""

    exit_code = 1

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class SearchMissingError(ClusterError):
    """No HyperSearch of that name in that namespace: a mistake in the input (exit 2)."""

    exit_code = 2


class SearchWriter(Protocol):
    """What submitting needs of the cluster (``KubeApi`` has it; tests pass a fake)."""

    def apply(self, obj: Mapping[str, Any], manager: str) -> None: ...


class SearchReader(Protocol):
    """What reading a search needs of the cluster (``KubeApi`` has it; tests pass a fake)."""

    def get_search(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list_trials(self, namespace: str, search: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class ClusterSearch:
    """A HyperSearch as read now: its view, and the reason of its final condition once it has
    one (``MaxTrialsReached``, ``MaxFailedTrialsExceeded``, ...)."""

    view: SearchView
    reason: str | None = None
    unseen_generation: int | None = None
    """The spec's generation while the operator's status does not yet describe it, else None."""


def _final_reason(obj: Mapping[str, Any]) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if (
            isinstance(condition, Mapping)
            and condition.get("type") in FINAL_PHASES
            and condition.get("status") == "True"
            and isinstance(condition.get("reason"), str)
        ):
            return str(condition["reason"])
    return None


def _explain(err: ApiError | OSError, what: str, namespace: str) -> ClusterError:
    if isinstance(err, OSError) or err.status == 0:
        return ClusterError(
            f"cannot reach the cluster to {what}: {err}; check --kubeconfig", transient=True
        )
    if err.status == 401:
        return ClusterError(
            f"cannot {what}: the cluster refused the kubeconfig's credentials ({err.message}); "
            "check that kubectl works with the same --kubeconfig and --context (a login may have "
            "expired: log in again, e.g. with your cloud's CLI)"
        )
    if err.status == 429 or err.status >= 500:
        return ClusterError(f"cannot {what}: {err}", transient=True)
    if err.status == 404 and f'namespaces "{namespace}" not found' in err.message:
        return ClusterError(
            f"cannot {what}: namespace {namespace} does not exist; create it (kubectl create "
            f"namespace {namespace}) or pass another --namespace"
        )
    if err.status == 404:
        return ClusterError(
            f"cannot {what}: the cluster does not know HyperSearch ({names.API}); install the "
            "CRD first (helm install hypersearch charts/hypersearch, or kubectl apply -f crds/), "
            "see docs/install.md"
        )
    if err.status == 403:
        return ClusterError(
            f"cannot {what}: forbidden in namespace {namespace} ({err.message}); ask for a Role "
            f"that may get and patch {names.PLURAL}.{names.API_GROUP} there, or pass --namespace"
        )
    if err.status == 422:
        return ClusterError(f"the API server refused the HyperSearch: {err.message}")
    return ClusterError(f"cannot {what}: {err}")


def submit(api: SearchWriter, manifest: Mapping[str, Any], namespace: str) -> None:
    """Create (or update) the HyperSearch ``manifest`` in ``namespace`` by server-side apply."""
    metadata = dict(manifest.get("metadata") or {})
    metadata["namespace"] = namespace
    obj = {**manifest, "metadata": metadata}
    try:
        api.apply(obj, manager=CLI_MANAGER)
    except (ApiError, OSError) as err:
        raise _explain(
            err, f"submit HyperSearch {namespace}/{metadata['name']}", namespace
        ) from None


def read_search(api: SearchReader, namespace: str, name: str) -> ClusterSearch:
    """The search as the cluster holds it now; ClusterError when it is missing or unreadable."""
    try:
        obj = api.get_search(namespace, name)
    except (ApiError, OSError) as err:
        raise _explain(err, f"read HyperSearch {namespace}/{name}", namespace) from None
    if obj is None:
        raise SearchMissingError(
            f"HyperSearch {namespace}/{name} not found; check the name with "
            f"'kubectl get hs -n {namespace}' or pass --namespace"
        )
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    unseen = generation if isinstance(generation, int) and observed != generation else None
    try:
        records = api.list_trials(namespace, name)
    except (ApiError, OSError) as err:
        raise _explain(
            err, f"list the trials of HyperSearch {namespace}/{name}", namespace
        ) from None
    return ClusterSearch(view_from_object(obj, records), _final_reason(obj), unseen)


def progress_line(view: SearchView) -> str:
    """``[5/21 done, 3 running, 1 failed, best val_acc 0.91 (x-0004), Running]`` (``2 queued,``
    after ``done,`` while trials wait for a queue's admission): what changes
    as the search goes on (a line is printed only when it differs from the last one)."""
    phases = [t.phase.value for t in view.trials]
    done = sum(1 for t in view.trials if t.phase.finished)
    best = best_of(view.trials, view.goal)
    best_text = "-" if best is None else f"{format_value(best.value)} ({best.name})"
    budget = view.max_trials if view.max_trials is not None else "?"
    stopped = phases.count(TrialPhase.EARLY_STOPPED.value)
    early = f" {stopped} early-stopped," if stopped else ""
    queued = phases.count(TrialPhase.QUEUED.value)
    waiting = f" {queued} queued," if queued else ""
    return (
        f"[{done}/{budget} done,{waiting} {phases.count('Running')} running, "
        f"{phases.count('Failed')} failed,{early} best {view.metric} {best_text}, {view.phase}]"
    )


def follow(
    read: Callable[[], ClusterSearch],
    err: TextIO,
    *,
    interval: float = FOLLOW_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    outage: float = FOLLOW_OUTAGE_S,
) -> ClusterSearch:
    """Poll ``read`` until the search has finished, writing each new progress line to ``err``;
    returns the finished search. Transient errors are retried (said once per outage) until
    they have lasted ``outage`` seconds; other errors end the watch at once."""
    last = ""
    down_since: float | None = None
    started, hinted = clock(), False
    while True:
        try:
            search = read()
        except ClusterError as exc:
            if not exc.transient:
                raise
            now = clock()
            if down_since is None:
                down_since = now
                err.write(f"hyper: {exc}; retrying every {interval:g}s\n")
                err.flush()
            elif now - down_since >= outage:
                raise ClusterError(f"{exc} (for {now - down_since:.0f}s; giving up)") from None
            sleep(interval)
            continue
        if down_since is not None:
            err.write("hyper: the cluster answers again\n")
            down_since = None
        unseen = search.unseen_generation
        if unseen is not None and not hinted and clock() - started >= UNSEEN_HINT_S:
            hinted = True
            err.write(
                f"hyper: no operator has reconciled generation {unseen} of this search after "
                f"{UNSEEN_HINT_S:.0f}s; is one running? kubectl get deployments -A -l "
                "app.kubernetes.io/name=hypersearch (docs/install.md)\n"
            )
        line = progress_line(search.view)
        if line != last:
            err.write(line + "\n")
            err.flush()
            last = line
        if search.view.finished:
            return search
        sleep(interval)


def show(search: ClusterSearch, out: TextIO, output: str) -> None:
    """The search's table and best trial (or one JSON document), like the end of a local run."""
    view = search.view
    best = best_of(view.trials, view.goal)
    if output == "json":
        succeeded = view.phase == "Succeeded"
        end = SearchEnd(view.name, view.finished, succeeded, search.reason, view.message)
        out.write(render_json(result_document(view.trials, best, search=end)) + "\n")
        return
    state = view.phase + (f": {view.message}" if view.message else "")
    out.write(
        f"search {view.key}: {len(view.trials)}/{view.max_trials} trials, {state}\n"
        + render_table(view.trials, view.metric, view.goal, [p.name for p in view.params])
        + "\n"
    )
    failures = render_failures(view.trials)
    if failures:
        out.write(failures.replace("hyper status NAME", f"hyper status hs/{view.name}") + "\n")
    out.write(render_best(best, view.metric) + "\n")
