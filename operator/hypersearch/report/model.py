"""The report's input: one search as the pictures need it, independent of where it came from.

Shells (the CLI over a local journal, the operator over HyperSearch objects) build a
``SearchView`` from their own records; ``render`` and ``serve`` read nothing else. This module
holds plain values and pure constructors only: it must not read files, call the cluster or know
the journal's or the status's layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

from hypersearch.core.conditions import FINAL_PHASES
from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Value,
)
from hypersearch.core.space import Space
from hypersearch.core.spec import Goal, SearchSpec
from hypersearch.core.trials import Trial

ParamKind: TypeAlias = Literal["int", "float", "categorical", "discrete"]
Axis: TypeAlias = Literal["linear", "log", "category"]

LOG_SPAN_FOR_DISCRETE = 100.0
"""Positive lists spanning at least this ratio (0.001,0.01,0.1) are drawn on a log axis."""


@dataclass(frozen=True, slots=True)
class ParamView:
    """One parameter as a chart axis: its kind, scale, for lists the declared values, and the
    unit its axis titles show (``spec.parameters[i].unit``)."""

    name: str
    kind: ParamKind
    scale: Literal["linear", "log"] = "linear"
    min: float | None = None
    max: float | None = None
    values: tuple[Value, ...] = ()
    unit: str | None = None

    @property
    def axis(self) -> Axis:
        """How charts place this parameter: categories in declared order, or a numeric axis.

        Discrete lists are numeric; they get a log axis when all positive and spanning two decades,
        because such lists are nearly always rates written as powers of ten.
        """
        if self.kind == "categorical":
            return "category"
        if self.kind == "discrete":
            numbers = [float(v) for v in self.values if not isinstance(v, str)]
            if (
                numbers
                and min(numbers) > 0
                and max(numbers) / min(numbers) >= LOG_SPAN_FOR_DISCRETE
            ):
                return "log"
            return "linear"
        return self.scale


@dataclass(frozen=True, slots=True)
class SearchView:
    """Everything the report shows about one search.

    ``phase`` is the search's own phase (Pending, Running, Succeeded, Failed); ``message`` says why
    it finished, when it has. ``updated_at`` is seconds since the epoch. ``namespace`` is set for
    searches read from a cluster; ``source`` names where the data came from (a journal path,
    ``cluster``) so a reader knows what they are looking at. ``metric_unit`` is the objective's
    declared unit (``spec.objective.unit``), shown next to the metric's name.
    """

    name: str
    metric: str
    goal: Goal
    params: tuple[ParamView, ...]
    trials: tuple[Trial, ...]
    phase: str = "Running"
    updated_at: float | None = None
    namespace: str | None = None
    algorithm: str | None = None
    max_trials: int | None = None
    message: str | None = None
    metric_unit: str | None = None
    source: str | None = None

    @property
    def key(self) -> str:
        """The search's identity in URLs and lists: ``namespace/name`` or just ``name``."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def finished(self) -> bool:
        return self.phase in FINAL_PHASES


def param_view(param: Param, unit: str | None = None) -> ParamView:
    """The chart axis for one declared parameter, titled with ``unit`` when it has one."""
    if isinstance(param, IntParam):
        return ParamView(
            param.name, "int", param.scale, float(param.min), float(param.max), unit=unit
        )
    if isinstance(param, FloatParam):
        return ParamView(param.name, "float", param.scale, param.min, param.max, unit=unit)
    if isinstance(param, CategoricalParam):
        return ParamView(param.name, "categorical", values=tuple(param.values), unit=unit)
    if isinstance(param, DiscreteParam):
        numbers = [float(v) for v in param.values]
        return ParamView(
            param.name,
            "discrete",
            min=min(numbers),
            max=max(numbers),
            values=tuple(param.values),
            unit=unit,
        )
    raise TypeError(f"unknown parameter kind {type(param).__name__}")


def params_from_space(
    space: Space, units: Mapping[str, str] | None = None
) -> tuple[ParamView, ...]:
    """Chart axes for every parameter of a space, in declaration order; ``units`` maps a
    parameter's name to its unit (``SearchSpec.parameter_units``)."""
    known = units or {}
    return tuple(param_view(p, known.get(p.name)) for p in space.params)


def params_from_trials(trials: Iterable[Trial]) -> tuple[ParamView, ...]:
    """Chart axes guessed from the values trials received, when no spec is at hand.

    A parameter whose values are all numbers becomes a linear numeric range (int when every value
    is an integer); anything else becomes a categorical in order of first appearance.
    """
    seen: dict[str, list[Value]] = {}
    for trial in trials:
        for name, value in trial.params.items():
            seen.setdefault(name, []).append(value)
    views: list[ParamView] = []
    for name, values in seen.items():
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(values) and all(math.isfinite(float(v)) for v in numbers):
            kind: ParamKind = "int" if all(isinstance(v, int) for v in numbers) else "float"
            views.append(ParamView(name, kind, "linear", float(min(numbers)), float(max(numbers))))
        else:
            distinct = tuple(dict.fromkeys(str(v) for v in values))
            views.append(ParamView(name, "categorical", values=distinct))
    return tuple(views)


def view_from_spec(
    spec: SearchSpec,
    trials: Iterable[Trial],
    *,
    phase: str = "Running",
    updated_at: float | None = None,
    message: str | None = None,
    source: str | None = None,
) -> SearchView:
    """A view of a search whose parsed spec is known (the usual case for both shells)."""
    return SearchView(
        name=spec.name,
        metric=spec.objective.metric,
        goal=spec.objective.goal,
        params=params_from_space(spec.space, spec.parameter_units),
        trials=tuple(sorted(trials, key=lambda t: t.index)),
        phase=phase,
        updated_at=updated_at,
        namespace=spec.namespace,
        algorithm=spec.algorithm.name,
        max_trials=spec.max_trials,
        message=message,
        metric_unit=spec.objective.unit,
        source=source,
    )
