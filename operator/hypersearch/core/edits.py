"""Whether a search may go on under an edited spec, and what the edit changed.

A search's history is its trials; an edit is acceptable while that history still means the same
under the new spec: every trial is still a point of the new space (``check_trials_fit``) and,
once trials have values, they are values of the same objective. Budget, parallelism, timeouts,
the trial template and display-only fields may change freely. ``hyper run`` resuming a journal
applies this; the operator, which keeps no copy of the previous spec, applies the space part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypersearch.core.engine import check_trials_fit
from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.spec import Objective, SearchSpec
from hypersearch.core.trials import Trial

MAX_SHOWN_VALUE = 60


def _objective_words(objective: Objective) -> str:
    return f"metric={objective.metric}, goal={objective.goal}, aggregation={objective.aggregation}"


def check_spec_edit(old: SearchSpec, new: SearchSpec, trials: Sequence[Trial]) -> None:
    """Refuse (SpecError) an edit under which the trials run so far would mean something else."""
    check_trials_fit(new, trials)
    valued = [t for t in trials if t.value is not None]
    if valued and _objective_words(old.objective) != _objective_words(new.objective):
        raise SpecError(
            [
                Problem(
                    "spec.objective",
                    f"changed from {_objective_words(old.objective)} to "
                    f"{_objective_words(new.objective)}, but {len(valued)} trials already hold "
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
