"""The JSON the report's pictures are drawn from, computed once in Python.

Everything a chart needs that is a decision (the best-so-far line, which axis a parameter gets,
which curve belongs to which metric) is made here, where it is tested, and which trial is best by
the core's ranking rule (``core.ranking``, shared with the engine); the page's script only draws.
Pure: no I/O, no HTML. Values that JSON cannot hold (NaN, infinities) become null, so the output
always passes ``json.dumps(..., allow_nan=False)``.
"""

from __future__ import annotations

import math
from typing import Any

from hypersearch.core.params import Value
from hypersearch.core.ranking import best_of, is_better, scored_value
from hypersearch.core.trials import Trial, TrialPhase, queue_seconds
from hypersearch.report.model import SearchView

PAYLOAD_VERSION = 1


def _finite(value: float | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _json_value(value: Value) -> Value | None:
    if isinstance(value, float):
        return _finite(value)
    return value


def best_trial(view: SearchView) -> Trial | None:
    """The search's best trial, by the core's one ranking rule (the engine's plan uses it too)."""
    return best_of(view.trials, view.goal)


def best_so_far(view: SearchView) -> list[dict[str, Any]]:
    """The best value after each succeeded trial, in trial-number order (a step line)."""
    points: list[dict[str, Any]] = []
    current: float | None = None
    for trial in sorted(view.trials, key=lambda t: t.index):
        value = scored_value(trial)
        if value is None:
            continue
        if current is None or is_better(value, current, view.goal):
            current = value
        points.append({"index": trial.index, "best": current})
    return points


def _curves(trial: Trial) -> dict[str, list[list[float]]]:
    """Observations grouped by metric as [x, y] pairs; x is the step, or the report count when the
    output gave no step. Non-finite values are dropped (a line cannot be drawn through them)."""
    curves: dict[str, list[list[float]]] = {}
    for obs in trial.observations:
        value = _finite(obs.value)
        if value is None:
            continue
        points = curves.setdefault(obs.metric, [])
        x = float(obs.step) if obs.step is not None else float(len(points) + 1)
        points.append([x, value])
    for points in curves.values():
        points.sort(key=lambda p: p[0])
    return curves


def _duration(trial: Trial) -> float | None:
    if trial.started_at is None or trial.finished_at is None:
        return None
    return _finite(trial.finished_at - trial.started_at)


def _queued(trial: Trial, now: float | None) -> float | None:
    """Seconds the trial waited for its queue's admission (None when it never waited); a wait
    still going on counts until ``now`` (the view's time)."""
    if trial.queued_at is None and not trial.queued_seconds and not trial.requeues:
        return None
    at = now if now is not None else trial.queued_at
    return _finite(queue_seconds(trial, at if at is not None else 0.0))


def trial_payload(trial: Trial, best: Trial | None, now: float | None = None) -> dict[str, Any]:
    """One trial as the page reads it: ``duration`` is its (latest) run, ``queued`` apart the
    seconds it waited for admission, ``requeues`` how often the queue evicted it."""
    prediction = None
    if trial.prediction is not None:
        prediction = {
            "mean": _finite(trial.prediction.mean),
            "std": _finite(trial.prediction.std),
            "ucb": _finite(trial.prediction.ucb),
        }
    return {
        "name": trial.name,
        "index": trial.index,
        "phase": trial.phase.value,
        "value": _finite(trial.value),
        "reason": trial.reason,
        "message": trial.message,
        "params": {name: _json_value(v) for name, v in trial.params.items()},
        "curves": _curves(trial),
        "prediction": prediction,
        "duration": _duration(trial),
        "queued": _queued(trial, now),
        "requeues": trial.requeues,
        "best": best is not None and trial.name == best.name,
    }


def _metric_names(view: SearchView) -> list[str]:
    """Every observed metric, the objective first, the rest alphabetically."""
    names = {obs.metric for trial in view.trials for obs in trial.observations}
    names.discard(view.metric)
    return [view.metric, *sorted(names)]


def counts(view: SearchView) -> dict[str, int]:
    """Trials per phase, for the header and the search list."""
    result = {phase.value: 0 for phase in TrialPhase}
    for trial in view.trials:
        result[trial.phase.value] += 1
    result["total"] = len(view.trials)
    return result


def summary(view: SearchView) -> dict[str, Any]:
    """One line of the search list: identity, phase, progress and the best value."""
    best = best_trial(view)
    return {
        "key": view.key,
        "name": view.name,
        "namespace": view.namespace,
        "phase": view.phase,
        "finished": view.finished,
        "metric": view.metric,
        "goal": view.goal,
        "algorithm": view.algorithm,
        "maxTrials": view.max_trials,
        "counts": counts(view),
        "best": None if best is None else {"trial": best.name, "value": _finite(best.value)},
        "updatedAt": _finite(view.updated_at),
        "source": view.source,
    }


def search_payload(view: SearchView) -> dict[str, Any]:
    """The whole search: the summary plus axes, trials and derived series."""
    best = best_trial(view)
    ordered = sorted(view.trials, key=lambda t: t.index)
    return {
        "version": PAYLOAD_VERSION,
        **summary(view),
        "message": view.message,
        "metricUnit": view.metric_unit,
        "metrics": _metric_names(view),
        "stepsReported": any(o.step is not None for t in view.trials for o in t.observations),
        "params": [
            {
                "name": p.name,
                "kind": p.kind,
                "scale": p.scale,
                "axis": p.axis,
                "min": _finite(p.min),
                "max": _finite(p.max),
                "values": [_json_value(v) for v in p.values],
                "unit": p.unit,
            }
            for p in view.params
        ],
        "trials": [trial_payload(t, best, view.updated_at) for t in ordered],
        "bestSoFar": best_so_far(view),
    }
