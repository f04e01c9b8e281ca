"""The search state machine: the only place that decides what a search does next.

CONTRACT (lead): ``decide(spec, trials, now, rng) -> Plan`` is pure and deterministic: the same
spec, trials, now and seed give the same plan, so a restarted process suggests the same thing.
Shells gather ``trials`` (every trial so far, any phase), call ``decide``, then carry out
``plan.start`` (create these, with exactly these names and params) and ``plan.stop`` (stop these,
marking them failed with the given reason), and report ``plan.finished``/``plan.reason``.
``rng_for(spec, trials)`` gives the generator shells should pass (derived from the spec's seed and
the trial count, so it does not depend on process lifetime).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypersearch.core.space import Params
from hypersearch.core.trials import Prediction, Trial


@dataclass(frozen=True, slots=True)
class NewTrial:
    """A trial the shell must start now."""

    name: str
    index: int
    params: Params
    prediction: Prediction | None = None


@dataclass(frozen=True, slots=True)
class StopTrial:
    """A running trial the shell must stop, and why (e.g. reason ``Timeout``)."""

    name: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Counts:
    """How many trials are in each state, for status and progress displays."""

    total: int
    pending: int
    running: int
    succeeded: int
    failed: int


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do now. ``reason`` (CamelCase, e.g. MaxTrialsReached, TargetReached,
    MaxFailedTrialsExceeded, SpaceExhausted) and ``message`` are set once ``finished``;
    ``succeeded`` says whether the finished search counts as a success."""

    start: tuple[NewTrial, ...]
    stop: tuple[StopTrial, ...]
    finished: bool
    succeeded: bool
    reason: str | None
    message: str | None
    best: Trial | None
    counts: Counts
