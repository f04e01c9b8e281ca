"""A HyperSearch object from the cluster (a dict, as the API server returns it) as a SearchView.

Pure: the caller fetches the object (``kube.api`` or ``kubectl get -o json``). This reads only
what the status already says (each trial's recorded phase, value, curve, prediction) and never
judges an unfinished trial from its Pod: that is the operator's job (``kube.convert``); entries
are decoded by ``kube.record``, the operator's own codec, and a
report must show what the operator decided, not decide again. Must not call the API server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hypersearch.core.conditions import FINAL_PHASES
from hypersearch.core.errors import SpecError
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.times import parse_time
from hypersearch.core.trials import Trial
from hypersearch.kube.record import trial_from_entry
from hypersearch.report.model import SearchView, params_from_space, params_from_trials

log = logging.getLogger(__name__)


def search_phase(status: Mapping[str, Any]) -> tuple[str, str | None]:
    """The search's phase and its message: a final condition that is True decides both;
    otherwise ``status.phase`` when set, else Running once trials exist, else Pending, with
    ``status.message``."""
    summary = status.get("message")
    fallback = summary if isinstance(summary, str) and summary else None
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    for condition in conditions:
        if condition.get("type") in FINAL_PHASES and condition.get("status") == "True":
            message = condition.get("message")
            return str(condition["type"]), message if isinstance(message, str) else fallback
    phase = status.get("phase")
    if isinstance(phase, str) and phase:
        return phase, fallback
    return ("Running" if status.get("trials") else "Pending"), fallback


def _updated_at(obj: Mapping[str, Any], trials: list[Trial]) -> float | None:
    status = obj.get("status") or {}
    times = [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    times += [t.finished_at or t.started_at for t in trials]
    times.append(parse_time((obj.get("metadata") or {}).get("creationTimestamp")))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def view_from_object(obj: Mapping[str, Any]) -> SearchView:
    """The view of one HyperSearch object. Raises SpecError when its spec is not valid (the
    operator would have refused it too), naming the object and the fields."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or "")
    namespace = metadata.get("namespace")
    where = f"{namespace}/{name}" if namespace else name
    spec = parse_manifest(obj, source=f"HyperSearch {where}")
    status = obj.get("status") or {}
    trials = [
        trial
        for entry in status.get("trials") or []
        if isinstance(entry, Mapping)
        and (trial := trial_from_entry(entry, spec.objective.metric)) is not None
    ]
    trials.sort(key=lambda t: t.index)
    phase, message = search_phase(status)
    return SearchView(
        name=spec.name,
        metric=spec.objective.metric,
        goal=spec.objective.goal,
        params=params_from_space(spec.space, spec.parameter_units) or params_from_trials(trials),
        trials=tuple(trials),
        phase=phase,
        updated_at=_updated_at(obj, trials),
        namespace=spec.namespace or (namespace if isinstance(namespace, str) else None),
        algorithm=spec.algorithm.name,
        max_trials=spec.max_trials,
        message=message,
        metric_unit=spec.objective.unit,
        source="cluster",
    )


def views_from_objects(
    objects: Iterable[Mapping[str, Any]],
) -> tuple[list[SearchView], list[SpecError]]:
    """Views of every object whose spec is valid, and the errors of those whose spec is not (a
    list must not go blank because one search in it is broken)."""
    views: list[SearchView] = []
    errors: list[SpecError] = []
    for obj in objects:
        try:
            views.append(view_from_object(obj))
        except SpecError as err:
            errors.append(err)
    return views, errors


def cluster_source(
    list_objects: Callable[[], Iterable[Mapping[str, Any]]],
) -> Callable[[], list[SearchView]]:
    """A web-view source over HyperSearch objects, e.g. ``cluster_source(lambda:
    api.list_searches(namespace))`` for ``serve.make_server``; invalid ones are logged, skipped."""

    def source() -> list[SearchView]:
        views, errors = views_from_objects(list_objects())
        for err in errors:
            log.warning("not shown in the web view: %s", err)
        return views

    return source
