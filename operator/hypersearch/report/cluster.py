"""A HyperSearch object from the cluster (a dict, as the API server returns it) as a SearchView.

Pure: the caller fetches the object (``kube.api`` or ``kubectl get -o json``). This reads only
what the status already says (each trial's recorded phase, value, curve, prediction) and never
judges an unfinished trial from its Pod: that is the operator's job (``kube.convert``), and a
report must show what the operator decided, not decide again. Must not call the API server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hypersearch.core.errors import SpecError
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase
from hypersearch.kube.convert import parse_time
from hypersearch.report.model import SearchView, params_from_space, params_from_trials

_FINAL_CONDITIONS = ("Succeeded", "Failed")

log = logging.getLogger(__name__)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _phase(raw: object) -> TrialPhase:
    try:
        return TrialPhase(str(raw))
    except ValueError:
        return TrialPhase.PENDING


def _observations(entry: Mapping[str, Any], metric: str) -> tuple[Observation, ...]:
    """``curve`` is ``[[step, value], ...]`` of the objective metric (bounded by kube.curve)."""
    found: list[Observation] = []
    for point in entry.get("curve") or []:
        if isinstance(point, list | tuple) and len(point) == 2:
            step, value = point
            number, at = _number(value), _number(step)
            if number is not None and at is not None and at.is_integer():
                found.append(Observation(metric, number, int(at)))
    return tuple(found)


def _prediction(raw: object) -> Prediction | None:
    if not isinstance(raw, Mapping):
        return None
    mean, std, ucb = (_number(raw.get(k)) for k in ("mean", "std", "ucb"))
    if mean is None or std is None or ucb is None:
        return None
    return Prediction(mean, std, ucb)


def trial_from_entry(entry: Mapping[str, Any], metric: str) -> Trial | None:
    """One ``status.trials`` entry as a Trial; None for an entry without name, index or params
    (a sidecar's entry written before the operator recorded the trial)."""
    name, index, params = entry.get("name"), entry.get("index"), entry.get("params")
    if not isinstance(name, str) or not isinstance(index, int) or not isinstance(params, Mapping):
        return None
    reason, message = entry.get("reason"), entry.get("message")
    return Trial(
        name=name,
        index=index,
        params=dict(params),
        phase=_phase(entry.get("phase")),
        value=_number(entry.get("value")),
        reason=reason if isinstance(reason, str) else None,
        message=message if isinstance(message, str) else None,
        observations=_observations(entry, metric),
        prediction=_prediction(entry.get("prediction")),
        started_at=parse_time(entry.get("startedAt")),
        finished_at=parse_time(entry.get("finishedAt")),
    )


def search_phase(status: Mapping[str, Any]) -> tuple[str, str | None]:
    """The search's phase and its message: a final condition that is True decides both;
    otherwise ``status.phase`` when set, else Running once trials exist, else Pending, with
    ``status.message``."""
    summary = status.get("message")
    fallback = summary if isinstance(summary, str) and summary else None
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    for condition in conditions:
        if condition.get("type") in _FINAL_CONDITIONS and condition.get("status") == "True":
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
