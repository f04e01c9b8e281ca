"""The trial record: a HyperSearchTrial object or a ``status.trials`` entry <-> core values.

The one codec of the record, used by the operator (``kube.convert`` reads, the reconciler
writes, ``kube.manifests`` annotates Pods with the prediction), the report (``report.cluster``
shows what status says) and the sidecar (``report_entry``: its fields,
``names.REPORT_FIELDS``, applied through the same ``kube.status`` as the operator's). A
HyperSearchTrial holds the fields of an entry split into ``spec`` (``SPEC_FIELDS``: decided at
creation) and ``status`` (the rest); ``object_entry`` flattens one back into an entry, so one
decoder (``read_entry``) reads both, and ``trial_object``/``object_status`` write one. Reading
is tolerant: an entry written by any earlier version, by a sidecar before the operator
recorded its trial, or edited by hand decodes to what it holds, and a field of the wrong type
reads as absent rather than raising.

Stdlib only (the sidecar imports it; ``core.trials`` keeps numpy out behind TYPE_CHECKING) and
pure: no API calls, no clock. It must not judge an unfinished trial from its Pod; that policy is
``kube.failures``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hypersearch.core.times import format_time, parse_time
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase
from hypersearch.kube import names

FINISHED_PHASES: Final = (
    TrialPhase.SUCCEEDED.value,
    TrialPhase.FAILED.value,
    TrialPhase.EARLY_STOPPED.value,
)
"""Phases of a status entry that are final: the Pod no longer decides anything."""
SPEC_FIELDS: Final = ("index", "params", "prediction")
"""Fields of an entry that a HyperSearchTrial keeps in ``spec`` (the rest, but ``name``, are in
``status``)."""
SUMMARY_LENGTH: Final = 256


def number(value: object) -> float | None:
    """A finite JSON number as a float; None for anything else (bools included)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def prediction_from(raw: object) -> Prediction | None:
    """``{"mean", "std", "ucb"}`` (a status entry's ``prediction``) as a Prediction, else None."""
    if not isinstance(raw, Mapping):
        return None
    mean, std, ucb = (number(raw.get(k)) for k in ("mean", "std", "ucb"))
    if mean is None or std is None or ucb is None:
        return None
    return Prediction(mean, std, ucb)


def prediction_fields(prediction: Prediction) -> dict[str, float]:
    """A Prediction as the mapping ``prediction_from`` reads."""
    return {"mean": prediction.mean, "std": prediction.std, "ucb": prediction.ucb}


def prediction_annotation(prediction: Prediction) -> str:
    """The trial Pod's prediction annotation (compact JSON of ``prediction_fields``)."""
    return json.dumps(prediction_fields(prediction), separators=(",", ":"))


def prediction_from_annotation(text: object) -> Prediction | None:
    """The prediction annotation of a trial Pod, or None when absent or unreadable."""
    return prediction_from(json_annotation(text))


def json_annotation(text: object) -> Any:
    """An annotation holding JSON, decoded; None when absent or not JSON."""
    if text is None:
        return None
    try:
        return json.loads(str(text))
    except ValueError:
        return None


def observations(entry: Mapping[str, Any], metric: str) -> tuple[Observation, ...]:
    """``curve`` is ``[[step, value], ...]`` of the objective metric (bounded by kube.curve);
    a null value is the sidecar's NaN/inf report and reads as NaN, so the early-stopping rule
    sees a diverged trial as the local runner does; other points that are not a whole step with
    a number are skipped."""
    found: list[Observation] = []
    for point in entry.get("curve") or []:
        if isinstance(point, list | tuple) and len(point) == 2:
            step, value = point
            reading = math.nan if value is None else number(value)
            at = number(step)
            if reading is not None and at is not None and at.is_integer():
                found.append(Observation(metric, reading, int(at)))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Entry:
    """What one ``status.trials`` entry says, each field None when absent or unreadable.

    ``phase`` is None for an entry without a phase the core knows (a sidecar's entry written
    before the operator's); ``exit_code`` and ``metric_message`` are the sidecar's final report.
    """

    name: str | None
    index: int | None
    params: dict[str, Any] | None
    phase: TrialPhase | None
    value: float | None
    reason: str | None
    message: str | None
    observations: tuple[Observation, ...]
    prediction: Prediction | None
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    metric_message: str | None
    requeues: int = 0
    queued_seconds: float = 0.0
    queued_at: float | None = None

    @property
    def finished(self) -> bool:
        """The recorded phase is final (``FINISHED_PHASES``)."""
        return self.phase is not None and self.phase.finished


def read_entry(entry: Mapping[str, Any], metric: str) -> Entry:
    """Decode one entry (see the module docstring on tolerance)."""
    index, params, exit_code = entry.get("index"), entry.get("params"), entry.get("exitCode")
    requeues = entry.get("requeues")
    try:
        phase: TrialPhase | None = TrialPhase(str(entry.get("phase")))
    except ValueError:
        phase = None
    return Entry(
        name=_text(entry.get("name")),
        index=index if isinstance(index, int) and not isinstance(index, bool) else None,
        params=dict(params) if isinstance(params, Mapping) else None,
        phase=phase,
        value=number(entry.get("value")),
        reason=_text(entry.get("reason")),
        message=_text(entry.get("message")),
        observations=observations(entry, metric),
        prediction=prediction_from(entry.get("prediction")),
        started_at=parse_time(entry.get("startedAt")),
        finished_at=parse_time(entry.get("finishedAt")),
        exit_code=exit_code
        if isinstance(exit_code, int) and not isinstance(exit_code, bool)
        else None,
        metric_message=_text(entry.get("metricMessage")),
        requeues=requeues
        if isinstance(requeues, int) and not isinstance(requeues, bool) and requeues > 0
        else 0,
        queued_seconds=max(0.0, number(entry.get("queuedSeconds")) or 0.0),
        queued_at=parse_time(entry.get("queuedAt")),
    )


def trial_from_entry(entry: Mapping[str, Any], metric: str) -> Trial | None:
    """One entry as the Trial it records (an unknown phase reads Pending); None for an entry
    without name, index or params (a sidecar's entry written before the operator recorded the
    trial). It does not look at the Pod: ``kube.convert`` does that for the operator."""
    read = read_entry(entry, metric)
    if read.name is None or read.index is None or read.params is None:
        return None
    return Trial(
        name=read.name,
        index=read.index,
        params=read.params,
        phase=read.phase or TrialPhase.PENDING,
        value=read.value,
        reason=read.reason,
        message=read.message,
        observations=read.observations,
        prediction=read.prediction,
        started_at=read.started_at,
        finished_at=read.finished_at,
        requeues=read.requeues,
        queued_seconds=read.queued_seconds,
        queued_at=read.queued_at,
    )


def trial_entry(trial: Trial, recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """The operator's fields of one status entry. For a finished trial the sidecar's fields
    (``names.REPORT_FIELDS``) are carried too, so the operator takes them over and the sidecar's
    field manager drops out of managedFields (which would otherwise grow by one per trial)."""
    entry: dict[str, Any] = {
        "name": trial.name,
        "index": trial.index,
        "params": dict(trial.params),
        "phase": trial.phase.value,
    }
    if trial.reason:
        entry["reason"] = trial.reason
    if trial.message:
        entry["message"] = trial.message
    if trial.prediction is not None:
        entry["prediction"] = prediction_fields(trial.prediction)
    if trial.started_at is not None:
        entry["startedAt"] = format_time(trial.started_at)
    if trial.finished_at is not None and trial.phase.finished:
        entry["finishedAt"] = format_time(trial.finished_at)
    if trial.requeues:
        entry["requeues"] = trial.requeues
    if trial.queued_seconds:
        entry["queuedSeconds"] = round(trial.queued_seconds, 3)
    if trial.queued_at is not None and trial.phase is TrialPhase.QUEUED:
        entry["queuedAt"] = format_time(trial.queued_at)
    if trial.phase.finished and recorded:
        for key in names.REPORT_FIELDS:
            if key in recorded:
                entry[key] = recorded[key]
    if trial.phase is TrialPhase.EARLY_STOPPED and "value" not in entry and trial.value is not None:
        # The value of its curve when it was stopped, until its sidecar's last report (made as
        # the Pod stops, over every report it read) replaces it.
        entry["value"] = trial.value
    return entry


def report_entry(
    name: str,
    curve: list[list[float | None]],
    observed: int,
    now: float,
    *,
    exit_code: int | None = None,
    value: float | None = None,
    metric_message: str | None = None,
) -> dict[str, Any]:
    """The sidecar's fields of its trial's entry (``names.REPORT_FIELDS``): the bounded
    ``curve`` of ``observed`` reports, when it reported, and once the training process has
    ended its ``exit_code`` with the final ``value`` or why there is none."""
    entry: dict[str, Any] = {
        "name": name,
        "observed": observed,
        "curve": curve,
        "reportedAt": format_time(now),
    }
    if exit_code is not None:
        entry["exitCode"] = exit_code
        if value is not None:
            entry["value"] = value
        elif metric_message is not None:
            entry["metricMessage"] = metric_message
    return entry


def best_entry(best: Trial | None) -> dict[str, Any] | None:
    """``status.best``: the best trial's name, parameters and value."""
    if best is None or best.value is None:
        return None
    return {"trial": best.name, "params": dict(best.params), "value": best.value}


def params_summary(params: Mapping[str, Any]) -> str:
    """``lr=0.01 layers=3``: the parameter values in one line (``kubectl get hst``'s Params)."""
    text = " ".join(f"{key}={_short(value)}" for key, value in sorted(params.items()))
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 3] + "..."


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trial_object(
    trial: Trial, search: str, namespace: str, owner: Mapping[str, Any]
) -> dict[str, Any]:
    """The HyperSearchTrial the operator creates for ``trial`` (before its Pod): named as the
    trial, labelled with its search, owned by the search (``owner`` is the ownerReference), its
    ``spec`` what was decided. Its status is written afterwards (``object_status``)."""
    spec: dict[str, Any] = {
        "search": search,
        "index": trial.index,
        "params": dict(trial.params),
        "summary": params_summary(trial.params),
    }
    if trial.prediction is not None:
        spec["prediction"] = prediction_fields(trial.prediction)
    return {
        "apiVersion": names.API,
        "kind": names.TRIAL_KIND,
        "metadata": {
            "name": trial.name,
            "namespace": namespace,
            "labels": {
                names.SEARCH_LABEL: search,
                names.TRIAL_LABEL: trial.name,
                names.MANAGED_BY_LABEL: names.MANAGED_BY,
            },
            "ownerReferences": [dict(owner)],
        },
        "spec": spec,
    }


def object_entry(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A HyperSearchTrial flattened into the ``status.trials`` entry it records (its name, the
    ``SPEC_FIELDS`` of its spec, its status), which ``read_entry`` decodes."""
    spec = obj.get("spec") or {}
    entry: dict[str, Any] = {"name": (obj.get("metadata") or {}).get("name")}
    entry.update({key: spec[key] for key in SPEC_FIELDS if key in spec})
    status = obj.get("status")
    if isinstance(status, Mapping):
        entry.update(status)
    return entry


def object_status(trial: Trial, recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """The operator's fields of a HyperSearchTrial's status (its verdict): ``trial_entry``
    without the name and the ``SPEC_FIELDS``; for a finished trial the sidecar's report is
    carried as ``trial_entry`` carries it."""
    entry = trial_entry(trial, recorded)
    return {k: v for k, v in entry.items() if k != "name" and k not in SPEC_FIELDS}


def object_finished(obj: Mapping[str, Any]) -> bool:
    """Whether a HyperSearchTrial carries the finished label (its record is final)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(names.FINISHED_LABEL) == "true"


def object_owner_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the HyperSearch that controls a HyperSearchTrial (None without one)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == names.KIND and ref.get("controller"):
            return str(ref.get("uid"))
    return None
