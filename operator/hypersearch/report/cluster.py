"""A HyperSearch object from the cluster and its HyperSearchTrials (dicts, as the API server
returns them) as a SearchView.

Pure: the caller fetches the objects (``kube.api`` or ``kubectl get -o json``). This reads only
what the records already say (each trial's recorded phase, value, curve, prediction: its
HyperSearchTrial, and for searches of earlier versions the entries of ``status.trials``, merged
as the operator merges them, ``kube.convert.merge_entries``) and never judges an unfinished
trial from its Pod: that is the operator's job (``kube.convert``); records are decoded by
``kube.record``, the operator's own codec, and a report must show what the operator decided,
not decide again. Must not call the API server.
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
from hypersearch.kube import names
from hypersearch.kube.convert import merge_entries
from hypersearch.kube.record import object_entry, object_owner_uid, trial_from_entry
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
    counts = status.get("counts") or {}
    started = status.get("trials") or (isinstance(counts, Mapping) and counts.get("trials"))
    return ("Running" if started else "Pending"), fallback


def _updated_at(obj: Mapping[str, Any], trials: list[Trial]) -> float | None:
    status = obj.get("status") or {}
    times = [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    times += [t.finished_at or t.started_at for t in trials]
    times.append(parse_time((obj.get("metadata") or {}).get("creationTimestamp")))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def view_from_object(
    obj: Mapping[str, Any], records: Iterable[Mapping[str, Any]] = ()
) -> SearchView:
    """The view of one HyperSearch object with its HyperSearchTrials (``records``; those owned
    by another object of the same name are left out). Raises SpecError when its spec is not
    valid (the operator would have refused it too), naming the object and the fields."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or "")
    namespace = metadata.get("namespace")
    where = f"{namespace}/{name}" if namespace else name
    spec = parse_manifest(obj, source=f"HyperSearch {where}")
    status = obj.get("status") or {}
    uid = metadata.get("uid")
    objects = {
        str(record["metadata"]["name"]): object_entry(record)
        for record in records
        if uid is None or object_owner_uid(record) == str(uid)
    }
    legacy = [e for e in status.get("trials") or [] if isinstance(e, Mapping)]
    trials = [
        trial
        for entry in merge_entries(legacy, objects).values()
        if (trial := trial_from_entry(entry, spec.objective.metric)) is not None
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


def records_by_search(
    records: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """HyperSearchTrials grouped by (namespace, search label)."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        meta = record.get("metadata") or {}
        search = (meta.get("labels") or {}).get(names.SEARCH_LABEL)
        if search:
            grouped.setdefault((str(meta.get("namespace")), str(search)), []).append(record)
    return grouped


def views_from_objects(
    objects: Iterable[Mapping[str, Any]], records: Iterable[Mapping[str, Any]] = ()
) -> tuple[list[SearchView], list[SpecError]]:
    """Views of every object (with its trials among ``records``) whose spec is valid, and the
    errors of those whose spec is not (a list must not go blank because one search in it is
    broken)."""
    views: list[SearchView] = []
    errors: list[SpecError] = []
    grouped = records_by_search(records)
    for obj in objects:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        try:
            views.append(view_from_object(obj, grouped.get(key, ())))
        except SpecError as err:
            errors.append(err)
    return views, errors


def cluster_source(
    list_objects: Callable[[], Iterable[Mapping[str, Any]]],
    list_records: Callable[[], Iterable[Mapping[str, Any]]] = lambda: (),
) -> Callable[[], list[SearchView]]:
    """A web-view source over HyperSearch objects and their HyperSearchTrials, e.g.
    ``cluster_source(lambda: api.list_searches(ns), lambda: api.list_all_trials(ns))`` for
    ``serve.make_server``; invalid ones are logged, skipped."""

    def source() -> list[SearchView]:
        views, errors = views_from_objects(list_objects(), list_records())
        for err in errors:
            log.warning("not shown in the web view: %s", err)
        return views

    return source
