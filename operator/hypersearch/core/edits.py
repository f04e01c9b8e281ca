"""Whether a search may go on under an edited spec, and what the edit changed.

A search's history is its trials; an edit is acceptable while that history still means the same
under the new spec: every trial is still a point of the new space (``check_trials_fit``) and,
once trials have values, they are values of the same objective. Budget, parallelism, timeouts,
the trial template and display-only fields may change freely. ``hyper run`` resuming a journal
compares with the spec the journal keeps; the operator keeps no copy of the previous spec, so it
compares the space with its trials and the objective with the one it records in
``status.objective`` (``objective_record``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypersearch.core.engine import check_trials_fit
from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.spec import AGGREGATIONS, GOALS, Objective, SearchSpec
from hypersearch.core.trials import Trial

MAX_SHOWN_VALUE = 60


def _objective_words(objective: Objective) -> str:
    return f"metric={objective.metric}, goal={objective.goal}, aggregation={objective.aggregation}"


def check_spec_edit(old: SearchSpec, new: SearchSpec, trials: Sequence[Trial]) -> None:
    """Refuse (SpecError) an edit under which the trials run so far would mean something else."""
    check_trials_fit(new, trials)
    check_objective_kept(old.objective, new.objective, trials)


def objective_record(objective: Objective) -> dict[str, str]:
    """What the operator keeps in ``status.objective``: the fields that give values meaning."""
    return {
        "metric": objective.metric,
        "goal": objective.goal,
        "aggregation": objective.aggregation,
    }


def recorded_objective(raw: object) -> Objective | None:
    """``status.objective`` back as an Objective; None when absent or not well-formed."""
    if not isinstance(raw, Mapping):
        return None
    metric, goal, aggregation = raw.get("metric"), raw.get("goal"), raw.get("aggregation")
    if not isinstance(metric, str) or goal not in GOALS or aggregation not in AGGREGATIONS:
        return None
    return Objective(metric=metric, goal=goal, aggregation=aggregation)


def check_objective_kept(old: Objective, new: Objective, trials: Sequence[Trial]) -> None:
    """Refuse (SpecError) another objective once trials hold values of the old one."""
    valued = [t for t in trials if t.value is not None]
    if valued and _objective_words(old) != _objective_words(new):
        raise SpecError(
            [
                Problem(
                    "spec.objective",
                    f"changed from {_objective_words(old)} to "
                    f"{_objective_words(new)}, but {len(valued)} trials already hold "
                    "values of the old objective, and mixing them would rank unlike numbers; "
                    "restore the objective",
                )
            ]
        )


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."


def describe_changes(old: Any, new: Any, path: str = "spec") -> list[str]:
    """The leaf fields that differ between two spec documents, as ``path: old -> new`` lines
    (``(none)`` for a field that is absent on one side), in a stable order."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        lines: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}"
            if key not in old:
                lines.append(f"{where}: (none) -> {_show(new[key])}")
            elif key not in new:
                lines.append(f"{where}: {_show(old[key])} -> (none)")
            else:
                lines.extend(describe_changes(old[key], new[key], where))
        return lines
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            line
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for line in describe_changes(a, b, f"{path}[{i}]")
        ]
    return [] if old == new else [f"{path}: {_show(old)} -> {_show(new)}"]
