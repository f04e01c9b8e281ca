"""The end of a local search for people and for programs: the table of trials and the JSON document.

The table lists succeeded trials best first (by the objective's goal), then the others by index.
This module must NOT decide which trial is best for the search (the engine's plan says so); the
sort here only orders rows for reading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypersearch.core.params import Value
from hypersearch.core.ranking import scored_value
from hypersearch.core.trials import Trial, TrialPhase

_MAX_CELL = 40
FAILURES_SHOWN = 3
"""Failed trials whose messages the end of a run prints (the latest ones); the rest are in
``hyper status NAME -o json`` and the logs."""


@dataclass(frozen=True, slots=True)
class SearchEnd:
    """How the search stands, as the engine's plan said: for the JSON document's ``search``."""

    name: str
    finished: bool
    succeeded: bool
    reason: str | None
    message: str | None


def status_of(trial: Trial, statuses: dict[str, str] | None = None) -> str:
    """The status to show: the journal's word (which knows Interrupted) or the core phase."""
    if statuses and trial.name in statuses:
        return statuses[trial.name]
    return trial.phase.value


def sort_trials(trials: Sequence[Trial], goal: str) -> list[Trial]:
    """Succeeded trials with a value best first (the core's ranking rule, so the first row is the
    best trial), then succeeded ones without a finite value, then every other trial, by index."""
    sign = -1.0 if goal == "maximize" else 1.0

    def key(trial: Trial) -> tuple[int, float, int]:
        value = scored_value(trial)
        if value is not None:
            return (0, sign * value, trial.index)
        return (1 if trial.phase is TrialPhase.SUCCEEDED else 2, 0.0, trial.index)

    return sorted(trials, key=key)


def format_value(value: Value | float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _cell(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def render_table(
    trials: Sequence[Trial],
    metric: str,
    goal: str,
    param_names: Sequence[str],
    statuses: dict[str, str] | None = None,
) -> str:
    """A plain-text table of every trial, sorted by the metric (see ``sort_trials``). ``seconds``
    is the (latest) run; when trials waited for a cluster queue's admission, ``queued`` (their
    finished waits, in seconds) and ``requeues`` show apart from it."""
    queue = any(_waited(t) for t in trials)
    header = ["trial", "status", metric, *param_names, "seconds"]
    header += ["queued", "requeues"] if queue else []
    header.append("reason")
    rows = [header]
    for trial in sort_trials(trials, goal):
        seconds = "-"
        if trial.started_at is not None and trial.finished_at is not None:
            seconds = f"{trial.finished_at - trial.started_at:.1f}"
        waits = [f"{trial.queued_seconds:.1f}", str(trial.requeues)] if queue else []
        rows.append(
            [
                trial.name,
                status_of(trial, statuses),
                format_value(trial.value),
                *(format_value(trial.params.get(name)) for name in param_names),
                seconds,
                *waits,
                trial.reason or "",
            ]
        )
    rows = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _waited(trial: Trial) -> bool:
    """Whether a trial ever waited for a cluster queue (never true of a local trial)."""
    return bool(trial.queued_seconds or trial.requeues or trial.queued_at is not None)


def render_best(best: Trial | None, metric: str) -> str:
    """One line naming the best trial, its value and its parameters."""
    if best is None or best.value is None:
        return "best: none (no trial succeeded)"
    params = " ".join(f"{k}={format_value(v)}" for k, v in best.params.items())
    return f"best: {best.name} {metric}={format_value(best.value)} {params}".rstrip()


def render_failures(trials: Sequence[Trial], limit: int = FAILURES_SHOWN) -> str:
    """Why the latest failed trials failed (reason and message, e.g. the log's last lines), so a
    user sees the cause without opening the logs; empty when nothing failed."""
    failed = sorted(
        (t for t in trials if t.phase is TrialPhase.FAILED), key=lambda t: t.finished_at or 0.0
    )
    if not failed:
        return ""
    shown = failed[-limit:]
    head = "failed trials:"
    if len(shown) < len(failed):
        head = (
            f"failed trials (the latest {len(shown)} of {len(failed)}; every message: "
            "hyper status NAME -o json):"
        )
    lines = [head]
    for trial in sorted(shown, key=lambda t: t.index):
        text = f"{trial.reason or 'Failed'}: {trial.message}" if trial.message else trial.reason
        first, *rest = (text or "Failed").splitlines()
        lines.append(f"  {trial.name} {first}")
        lines.extend(f"  {line}" for line in rest)
    return "\n".join(lines)


def _json_number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def result_document(
    trials: Sequence[Trial],
    best: Trial | None,
    statuses: dict[str, str] | None = None,
    *,
    search: SearchEnd | None = None,
) -> dict[str, Any]:
    """``{"search": {name, finished, succeeded, reason, message}, "best": {name, params, value} |
    null, "trials": [{name, params, status, value, reason, message, prediction}]}`` with every
    trial in index order (a trial that waited for a cluster queue also has ``queuedSeconds`` and
    ``requeues``); ``prediction`` is the GP's {mean, std, ucb} when the trial was suggested
    (Bayesian trials after the initial points; null otherwise), so a program can see why a trial
    was chosen. Non-finite values become null (JSON has no NaN). ``search`` only when given."""
    best_doc = None
    if best is not None:
        best_doc = {"name": best.name, "params": best.params, "value": _json_number(best.value)}
    head: dict[str, Any] = {}
    if search is not None:
        head["search"] = {
            "name": search.name,
            "finished": search.finished,
            "succeeded": search.succeeded,
            "reason": search.reason,
            "message": search.message,
        }
    return {
        **head,
        "best": best_doc,
        "trials": [
            {
                **(
                    {"queuedSeconds": t.queued_seconds, "requeues": t.requeues}
                    if _waited(t)
                    else {}
                ),
                "name": t.name,
                "params": t.params,
                "status": status_of(t, statuses),
                "value": _json_number(t.value),
                "reason": t.reason,
                "message": t.message,
                "prediction": None
                if t.prediction is None
                else {
                    "mean": _json_number(t.prediction.mean),
                    "std": _json_number(t.prediction.std),
                    "ucb": _json_number(t.prediction.ucb),
                },
            }
            for t in sorted(trials, key=lambda t: t.index)
        ],
    }


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, allow_nan=False)
