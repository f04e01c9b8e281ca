"""The HyperSearch spec as frozen dataclasses, parsed and validated from a manifest.

CONTRACT (lead): names and fields below are used by every shell. ``parse_manifest`` accepts a
mapping (an already-loaded YAML document) or YAML text, validates *everything* and raises one
``SpecError`` listing every problem with its field path (``spec.parameters[2].max must be greater
than min, got min=5, max=1``). This module is also the single source of the CRD's OpenAPI schema
(see ``schema``), so defaults and limits live here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from hypersearch.core.space import Space

AlgorithmName: TypeAlias = Literal["grid", "random", "bayesian"]
Goal: TypeAlias = Literal["maximize", "minimize"]
Aggregation: TypeAlias = Literal["last", "min", "max", "avg"]

API_GROUP = "hypersearch.io"
API_VERSION = "v1alpha1"
KIND = "HyperSearch"
PLURAL = "hypersearches"


@dataclass(frozen=True, slots=True)
class Algorithm:
    """Which suggester, its seed, and its own settings (validated per algorithm)."""

    name: AlgorithmName
    seed: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Objective:
    """The metric to read from trial output, which way is better, and how a curve becomes one value.

    ``target``: the search finishes early once a trial reaches it.
    """

    metric: str
    goal: Goal = "maximize"
    aggregation: Aggregation = "last"
    target: float | None = None


@dataclass(frozen=True, slots=True)
class TrialTemplate:
    """How to run one trial: a Pod template (its training container's command/args/env carry
    ``:name:`` placeholders), an optional machine type and a timeout."""

    template: Mapping[str, Any]
    machine_type: str | None = None
    timeout_seconds: float | None = None
    container: str | None = None


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """A whole, valid HyperSearch spec."""

    name: str
    algorithm: Algorithm
    objective: Objective
    space: Space
    trial: TrialTemplate
    max_trials: int
    parallelism: int = 1
    max_failed_trials: int = 3
    namespace: str | None = None
