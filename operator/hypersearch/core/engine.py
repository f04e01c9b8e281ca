"""The search state machine: the only place that decides what a search does next.

``decide(spec, trials, now, rng) -> Plan`` is pure and deterministic: the same
spec, trials, now and seed give the same plan, so a restarted process suggests the same thing.
Shells gather ``trials`` (every trial so far, any phase), call ``decide``, then carry out
``plan.start`` (create these, with exactly these names and params) and ``plan.stop`` (stop these,
marking them failed with the given reason, except reason ``EarlyStopped``: phase EarlyStopped,
with the objective's value aggregated over the reports made until then), and report
``plan.finished``/``plan.reason``.
``rng_for(spec, trials)`` gives the generator shells should pass (derived from the spec's seed and
the trial count, so it does not depend on process lifetime).

How ``decide`` reads the trials (in this order; the first that applies ends the search):

1. ``TargetReached`` (succeeded): the best value reached ``objective.target`` (>= when
   maximising, <= when minimising); pending and running trials are stopped.
2. ``MaxFailedTrialsExceeded`` (not succeeded): more than ``maxFailedTrials`` trials failed
   (timeouts included); pending and running trials are stopped. Checked after the target, so the
   trials a finished search stops (marked failed) never turn a success into a failure later.
3. Running trials past ``trial.timeout_seconds`` (from ``started_at``, their latest start; else
   ``created_at`` for a trial that never waited in a queue) are stopped with reason ``Timeout``;
   that frees their slots in the same plan. Queued and pending trials never time out.
   Running trials that ``spec.earlyStopping``'s rule stops (``core.early_stopping``) are stopped
   with reason ``EarlyStopped``, and free their slots the same way. Early-stopped trials count
   toward ``maxTrials`` (they were created), never toward ``maxFailedTrials``, and never rank as
   the best; the suggester sees them as ``STOPPED_IN_MODEL`` says.
4. New trials fill the free slots: ``min(parallelism - active, maxTrials - created)``, where
   ``created`` counts every trial that ever existed. ``active`` includes Queued trials (a
   workload waiting for a queue's admission, `spec.trial.queueName`): the queue (Kueue), not the
   engine, decides when a created workload is admitted, and it may admit every one it holds at
   once, so capping what exists is the only way ``parallelism`` caps what is admitted. A trial
   the queue evicts is Queued again with its parameters: it is neither failed nor new. The
   suggester is called only when that number is positive; indices continue from the largest
   existing one.
5. ``SpaceExhausted`` (succeeded when a trial has a value): nothing is active and the suggester
   had nothing new (a finite space is used up), or a grid's every point was created.
   ``MaxTrialsReached`` (likewise): ``maxTrials`` trials were created and all have finished.

The best trial is the succeeded one with the best finite value by goal; ties go to the lower index.
The suggester sees values to maximise (negated for ``minimize``) and returns predictions in those
units; predictions are turned back here (for ``minimize`` the recorded ``ucb`` is the lower
confidence bound of the objective). ``rng_for`` derives the generator from
``SeedSequence([seed mod 2**64, number of trials])``: a restart with the same trials gets the same
generator, and every new trial count a fresh stream.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hypersearch.core.early_stopping import EARLY_STOPPED, EarlyStop, early_stops
from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.fidelity import fidelity_views, projected_values
from hypersearch.core.metrics import final_value
from hypersearch.core.params import Params
from hypersearch.core.ranking import best_of, scored_value
from hypersearch.core.spec import SearchSpec
from hypersearch.core.suggest import suggester_for
from hypersearch.core.suggest.base import Outcome, tried_keys
from hypersearch.core.suggest.gp_ucb import GPUCBSuggester
from hypersearch.core.suggest.model import full_fidelity_bounds
from hypersearch.core.trials import Prediction, Trial, TrialPhase, trial_name

TARGET_REACHED = "TargetReached"
MAX_FAILED_TRIALS_EXCEEDED = "MaxFailedTrialsExceeded"
MAX_TRIALS_REACHED = "MaxTrialsReached"
SPACE_EXHAUSTED = "SpaceExhausted"
TIMEOUT = "Timeout"


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
    early_stopped: int = 0
    queued: int = 0


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


def rng_for(spec: SearchSpec, trials: Sequence[Trial]) -> np.random.Generator:
    """The generator for deciding after ``trials``: from the spec's seed and the trial count."""
    return np.random.default_rng(np.random.SeedSequence([spec.algorithm.seed % 2**64, len(trials)]))


def _sign(spec: SearchSpec) -> float:
    return 1.0 if spec.objective.goal == "maximize" else -1.0


def _has_value(trial: Trial) -> bool:
    return scored_value(trial) is not None


def best_trial(spec: SearchSpec, trials: Sequence[Trial]) -> Trial | None:
    """The succeeded trial with the best finite value by goal; ties go to the lower index."""
    return best_of(trials, spec.objective.goal)


def check_trials_fit(spec: SearchSpec, trials: Sequence[Trial]) -> None:
    """Refuse a spec whose parameter space no longer holds the trials already run.

    The engine would otherwise feed points of another space to the suggester (a renamed,
    added or removed parameter, a narrowed range): the search continues only on a space that
    still holds its history, like ``hyper run`` resuming a journal. Raises SpecError."""
    misfits = [(t, spec.space.problems(t.params)) for t in trials]
    misfits = [(t, found) for t, found in misfits if found]
    if not misfits:
        return
    trial, found = misfits[0]
    more = f" ({len(misfits)} trials do not fit)" if len(misfits) > 1 else ""
    raise SpecError(
        [
            Problem(
                "spec.parameters",
                f"no longer describe the trials this search ran: trial {trial.name} ran with "
                f"{json.dumps(dict(trial.params))}, and {'; '.join(map(str, found))}{more}; "
                "restore the parameters, or create a new HyperSearch under another name for the "
                "new space (widening a range or adding values keeps the trials valid)",
            )
        ]
    )


def count_trials(trials: Sequence[Trial]) -> Counts:
    """Trials by phase: the one count that plans, status and progress displays all show."""
    phases = [t.phase for t in trials]
    return Counts(
        total=len(trials),
        pending=phases.count(TrialPhase.PENDING),
        running=phases.count(TrialPhase.RUNNING),
        succeeded=phases.count(TrialPhase.SUCCEEDED),
        failed=phases.count(TrialPhase.FAILED),
        early_stopped=phases.count(TrialPhase.EARLY_STOPPED),
        queued=phases.count(TrialPhase.QUEUED),
    )


def apply_stops(
    spec: SearchSpec, trials: Sequence[Trial], stops: Sequence[StopTrial], now: float
) -> tuple[list[Trial], set[str]]:
    """The trials as the plan's ``stops`` leave them: an early-stopped running trial is
    EarlyStopped with the value its curve has so far (it ranks and informs the model by it),
    any other stopped trial Failed with the stop's reason. Also returns the names of the
    early-stopped ones, whose runs a shell stops only after recording this (so a crash in
    between makes the same decision again rather than losing the trial)."""
    by_name = {s.name: s for s in stops}
    out: list[Trial] = []
    early: set[str] = set()
    for trial in trials:
        stop = by_name.get(trial.name)
        if stop is None:
            out.append(trial)
            continue
        finished_at = trial.finished_at or now
        if stop.reason == EARLY_STOPPED and trial.phase is TrialPhase.RUNNING:
            value, _ = final_value(trial.observations, spec.objective)
            early.add(trial.name)
            phase, kept = TrialPhase.EARLY_STOPPED, value
        else:
            phase, kept = TrialPhase.FAILED, trial.value
        out.append(
            dataclasses.replace(
                trial,
                phase=phase,
                value=kept,
                reason=stop.reason,
                message=stop.message,
                finished_at=finished_at,
            )
        )
    return out, early


def _reached(spec: SearchSpec, best: Trial | None) -> bool:
    target = spec.objective.target
    if target is None or best is None or best.value is None:
        return False
    return best.value >= target if spec.objective.goal == "maximize" else best.value <= target


def _timed_out(spec: SearchSpec, trial: Trial, now: float) -> bool:
    """A running trial past ``trial.timeoutSeconds`` since its (latest) start. A trial that
    waited in a queue never falls back to its creation time: the wait is not its run."""
    limit = spec.trial.timeout_seconds
    waited = trial.requeues > 0 or trial.queued_seconds > 0 or trial.queued_at is not None
    since = trial.started_at if trial.started_at is not None or waited else trial.created_at
    return (
        trial.phase is TrialPhase.RUNNING
        and limit is not None
        and since is not None
        and now - since > limit
    )


def _finish(
    reason: str,
    message: str,
    *,
    succeeded: bool,
    active: Sequence[Trial],
    best: Trial | None,
    counts: Counts,
) -> Plan:
    """A finished plan that stops every active trial, citing the search's reason."""
    stop = tuple(
        StopTrial(t.name, reason, f"stopped because the search finished: {message}") for t in active
    )
    return Plan((), stop, True, succeeded, reason, message, best, counts)


def _describe(best: Trial | None) -> str:
    if best is None:
        return "no trial reported a value"
    return f"best value {best.value:g} from trial {best.name}"


def decide(spec: SearchSpec, trials: Sequence[Trial], now: float, rng: np.random.Generator) -> Plan:
    """What the search does next, given every trial so far (see the module docstring)."""
    counts = count_trials(trials)
    best = best_trial(spec, trials)
    active = [t for t in trials if not t.phase.finished]
    if _reached(spec, best):
        assert best is not None
        message = (
            f"trial {best.name} reached the target {spec.objective.metric} "
            f"{spec.objective.target:g} with {best.value:g}"
        )
        return _finish(
            TARGET_REACHED, message, succeeded=True, active=active, best=best, counts=counts
        )
    if counts.failed > spec.max_failed_trials:
        message = (
            f"{counts.failed} trials failed, more than maxFailedTrials={spec.max_failed_trials}; "
            "look at the failed trials' messages and logs, fix the cause, and raise "
            "maxFailedTrials if failures are expected"
        )
        return _finish(
            MAX_FAILED_TRIALS_EXCEEDED,
            message,
            succeeded=False,
            active=active,
            best=best,
            counts=counts,
        )

    timeout = spec.trial.timeout_seconds
    stop = tuple(
        StopTrial(
            t.name,
            TIMEOUT,
            f"ran longer than trial.timeoutSeconds={timeout:g}; raise it if trials need longer",
        )
        for t in active
        if _timed_out(spec, t, now)
    )
    timed_out = {s.name for s in stop}
    early = early_stops(spec, trials)
    if MODEL_GUARD and early:
        early = _model_guarded(spec, trials, early)
    stop += tuple(
        StopTrial(e.name, EARLY_STOPPED, e.message) for e in early if e.name not in timed_out
    )
    stopping = {s.name for s in stop}
    still_active = [t for t in active if t.name not in stopping]

    room = min(spec.parallelism - len(still_active), spec.max_trials - len(trials))
    start: tuple[NewTrial, ...] = ()
    exhausted = _grid_done(spec, trials)
    if room > 0 and not exhausted:
        # Trials stopped in this plan are still tried points: pending, so none is suggested again.
        start = _new_trials(spec, trials, room, active, rng)
        exhausted = len(start) < room
    if not still_active and not start:
        if len(trials) >= spec.max_trials:
            message = (
                f"all {spec.max_trials} trials finished; {_describe(best)}"
                if len(trials) == spec.max_trials
                else f"all {len(trials)} trials finished, maxTrials={spec.max_trials} was "
                f"lowered below them; {_describe(best)}"
            )
            return Plan((), stop, True, best is not None, MAX_TRIALS_REACHED, message, best, counts)
        if exhausted:
            message = f"every point of the search space was tried; {_describe(best)}"
            return Plan((), stop, True, best is not None, SPACE_EXHAUSTED, message, best, counts)
    return Plan(start, stop, False, False, None, None, best, counts)


STOPPED_IN_MODEL = "project"
"""How the suggester sees an early-stopped trial: ``project``, its value where it stopped plus the
median gain the completed trials made from that step to their end
(``early_stopping.projected_values``; its last value when no completed trial reached that step);
``last``, its value when it was stopped (a lower-fidelity observation, pessimistic for curves
that still improve); ``exclude`` (tried, no value, as a failed trial); or ``fidelity``, every
finished trial at the fidelity it reached plus a few points of its curve, for a GP over (point,
fidelity) that predicts at fidelity 1 (``early_stopping.fidelity_views``). Measured on
bench/early_stopping.py (docs/benchmarks.md, docs/algorithms.md)."""


def _model_value(
    trial: Trial, sign: float, projected: dict[str, float] | None = None
) -> float | None:
    """The value a finished trial gives the suggester (to maximise), None when it gives none."""
    if _has_value(trial) and trial.value is not None:
        return sign * trial.value
    if projected and trial.name in projected:
        return projected[trial.name]
    if (
        trial.phase is TrialPhase.EARLY_STOPPED
        and STOPPED_IN_MODEL in ("last", "project")
        and trial.value is not None
        and math.isfinite(trial.value)
    ):
        return sign * trial.value
    return None


MODEL_GUARD = False
"""Whether a trial the early-stopping rule would stop runs on while the fidelity model's upper
bound at fidelity 1 (``model.full_fidelity_bounds``) reaches the best completed value. A bench
variant (bench/early_stopping.py, ``-g``); measured in docs/algorithms.md."""


def _model_guarded(
    spec: SearchSpec, trials: Sequence[Trial], early: list[EarlyStop]
) -> list[EarlyStop]:
    """The rule's stops less those the search's own model still expects could beat the best
    completed trial (bayesian searches only; others, or no model yet, stop as the rule says)."""
    suggester = suggester_for(spec.algorithm, horizon=spec.max_trials, noisy=spec.objective.noisy)
    sign = _sign(spec)
    done = [sign * t.value for t in trials if _has_value(t) and t.value is not None]
    if not isinstance(suggester, GPUCBSuggester) or not done:
        return early
    views = fidelity_views(spec, trials, running=True)
    history = [
        Outcome(t.params, v.value, v.fidelity, v.curve)
        for t in trials
        if (v := views.get(t.name)) is not None
    ]
    by_name = {t.name: t for t in trials}
    # Its own generator: the guard must not move the suggestions' random stream.
    rng = np.random.default_rng(np.random.SeedSequence([spec.algorithm.seed % 2**64, 1]))
    bounds = full_fidelity_bounds(
        suggester, spec.space, history, [by_name[e.name].params for e in early], rng
    )
    if bounds is None:
        return early
    # A trial without a finite score (diverged: no view) could only fail; it stops regardless.
    return [
        e
        for e, bound in zip(early, bounds, strict=True)
        if e.name not in views or bound < max(done)
    ]


def _grid_done(spec: SearchSpec, trials: Sequence[Trial]) -> bool:
    """True when a grid search already created a trial for every grid point."""
    if spec.algorithm.name != "grid":
        return False
    size = spec.space.grid_size()
    return size is not None and len(tried_keys(spec.space, [], [t.params for t in trials])) >= size


def _new_trials(
    spec: SearchSpec,
    trials: Sequence[Trial],
    n: int,
    active: Sequence[Trial],
    rng: np.random.Generator,
) -> tuple[NewTrial, ...]:
    """Ask the algorithm's suggester for up to ``n`` points and name them."""
    sign = _sign(spec)
    projected = projected_values(spec, trials) if STOPPED_IN_MODEL == "project" else None
    views = fidelity_views(spec, trials) if STOPPED_IN_MODEL == "fidelity" else {}
    history = [
        Outcome(t.params, view.value, view.fidelity, view.curve)
        if (view := views.get(t.name)) is not None
        else Outcome(t.params, _model_value(t, sign, projected))
        for t in trials
        if t.phase.finished
    ]
    pending: list[Params] = [t.params for t in active]
    suggester = suggester_for(spec.algorithm, horizon=spec.max_trials, noisy=spec.objective.noisy)
    suggestions = suggester.suggest(spec.space, history, pending, n, rng)
    first = max((t.index for t in trials), default=-1) + 1
    out: list[NewTrial] = []
    for offset, suggestion in enumerate(suggestions):
        index = first + offset
        p = suggestion.prediction
        prediction = None if p is None else Prediction(sign * p.mean, p.std, sign * p.ucb)
        out.append(NewTrial(trial_name(spec.name, index), index, suggestion.params, prediction))
    return tuple(out)
