"""The local search loop: ask the engine, carry out its plan with processes, record every event.

Each turn gathers the trials (in memory, mirrored write-through into the journal), calls
``engine.decide``, stops what the plan stops, records and starts what it starts, then waits for
output or exits (a selector, so an exit is seen at once) and turns them into observations and
finished trials. The search ends when the plan says it is finished and nothing runs any more.

This module must NOT hold search logic: it never picks parameters, counts trials toward a budget,
judges a timeout or chooses the best trial; ``decide`` does. It only moves data in and out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from hypersearch.core.early_stopping import EARLY_STOPPED
from hypersearch.core.engine import NewTrial, Plan, decide, rng_for
from hypersearch.core.metrics import MetricStream, final_value, metric_matches
from hypersearch.core.reasons import INTERRUPTED as INTERRUPTED_REASON
from hypersearch.core.reasons import NO_METRIC, PROCESS_FAILED, START_FAILED
from hypersearch.core.spec import SearchSpec
from hypersearch.core.trials import Observation, Trial, TrialPhase
from hypersearch.local.gpus import GpuSlots, discover_gpus, gpu_env
from hypersearch.local.journal import INTERRUPTED
from hypersearch.local.launch import (
    TrialCommand,
    default_environment,
    trial_argv,
    trial_command,
    trial_env,
)
from hypersearch.local.progress import Progress, Totals
from hypersearch.local.runner import Exited, Launch, Output, ProcessRunner, StartError
from hypersearch.local.state import OpenState

DEFAULT_TICK_S = 1.0
TAIL_IN_MESSAGE = 5


@dataclass(frozen=True, slots=True)
class LocalOptions:
    """How to run locally. ``gpus`` None: discover them."""

    workdir: Path
    grace_s: float = 5.0
    tick_s: float = DEFAULT_TICK_S
    gpus: tuple[str, ...] | None = None
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """How the run ended. ``interrupted``: Ctrl-C/SIGTERM stopped it before the search finished."""

    trials: tuple[Trial, ...]
    statuses: Mapping[str, str]
    best: Trial | None
    finished: bool
    succeeded: bool
    reason: str | None
    message: str | None
    interrupted: bool = False
    signal: int | None = None
    """The signal that interrupted the run (SIGINT or SIGTERM)."""


@dataclass
class _Stopping:
    reason: str
    message: str
    interrupt: bool = False
    recorded: bool = False
    """The trial's end is already in the journal (early-stopped): its exit changes nothing."""


@dataclass
class _Search:
    spec: SearchSpec
    state: OpenState
    options: LocalOptions
    progress: Progress
    command: TrialCommand
    runner: ProcessRunner
    slots: GpuSlots
    have_gpus: bool
    parallelism: int
    environ: Mapping[str, str]
    clock: Callable[[], float] = time.time
    trials: dict[str, Trial] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    streams: dict[str, MetricStream] = field(default_factory=dict)
    observed: dict[str, list[Observation]] = field(default_factory=dict)
    """Observations of running trials (a list: appending to Trial.observations is quadratic)."""
    stopping: dict[str, _Stopping] = field(default_factory=dict)
    interrupts: int = 0
    first_signal: int | None = None

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> RunResult:
        plan = self.decide()
        while True:
            if self.interrupts:
                return self.interrupt(plan)
            for stop in plan.stop:
                if stop.reason == EARLY_STOPPED and stop.name in self.runner.running:
                    self.early_stop(stop.name, stop.message)
                    continue
                self.stop(stop.name, _Stopping(stop.reason, stop.message))
                if self.trials[stop.name].phase is TrialPhase.PENDING:
                    # Decided but never started here (e.g. left from a resumed run): it ends now.
                    self.finish(stop.name, TrialPhase.FAILED.value, None, stop.reason, stop.message)
            if plan.finished:
                for name in self.runner.running - self.stopping.keys():
                    self.stop(
                        name,
                        _Stopping(
                            "SearchFinished",
                            f"stopped because the search finished ({plan.reason})",
                        ),
                    )
                if not self.runner.running:
                    self.progress.update(self.totals(plan))
                    return self.outcome(plan)
            else:
                for new in plan.start:
                    self.add(new)
                tried = self.launch_pending()
                if not self.runner.running and tried:
                    plan = self.decide()  # every start failed at once: those trials are over
                    continue
                if not self.runner.running:
                    raise RuntimeError(
                        "the engine started no trial, none is running and the search is not "
                        f"finished (counts: {plan.counts}); this is a bug in hypersearch"
                    )
            self.progress.update(self.totals(plan))
            self.wait()
            plan = self.decide()

    def wait(self) -> None:
        """Handle output until a trial exits, a signal arrives or a tick passes, or, with early
        stopping, a trial reports its objective (the engine needs a new look only then: other
        output changes nothing it decides on)."""
        tick_end = time.monotonic() + self.options.tick_s
        while True:
            events = self.runner.poll(max(0.0, tick_end - time.monotonic()))
            exited = reported = False
            for event in events:
                if isinstance(event, Output):
                    reported = self.output(event) or reported
                else:
                    self.exited(event)
                    exited = True
            self.progress.tick()
            if reported and self.spec.early_stopping is not None:
                return
            if exited or self.interrupts or time.monotonic() >= tick_end:
                return

    def decide(self) -> Plan:
        trials = [
            dataclasses.replace(t, observations=tuple(self.observed[t.name]))
            if t.name in self.observed
            else t
            for t in sorted(self.trials.values(), key=lambda t: t.index)
        ]
        return decide(self.spec_for_engine(), trials, self.clock(), rng_for(self.spec, trials))

    def spec_for_engine(self) -> SearchSpec:
        """The spec with parallelism capped by the GPUs when trials need one each."""
        if self.parallelism == self.spec.parallelism:
            return self.spec
        return dataclasses.replace(self.spec, parallelism=self.parallelism)

    def totals(self, plan: Plan) -> Totals:
        best = plan.best
        return Totals(
            total=self.spec.max_trials,
            done=plan.counts.succeeded + plan.counts.failed + plan.counts.early_stopped,
            running=len(self.runner.running),
            failed=plan.counts.failed,
            early_stopped=plan.counts.early_stopped,
            best_name=None if best is None else best.name,
            best_value=None if best is None else best.value,
        )

    # -- carrying out the plan ------------------------------------------------------------------

    def add(self, new: NewTrial) -> None:
        now = self.clock()
        self.state.journal.add_trial(new.name, new.index, new.params, new.prediction, now)
        self.trials[new.name] = Trial(
            name=new.name,
            index=new.index,
            params=dict(new.params),
            phase=TrialPhase.PENDING,
            prediction=new.prediction,
            created_at=now,
        )
        self.statuses[new.name] = TrialPhase.PENDING.value

    def launch_pending(self) -> int:
        """Start pending trials while slots are free; returns how many starts were tried."""
        waiting = sorted(
            (
                t
                for t in self.trials.values()
                if t.phase is TrialPhase.PENDING and t.name not in self.runner.running
            ),
            key=lambda t: t.index,
        )
        tried = 0
        for trial in waiting:
            if len(self.runner.running) >= self.parallelism:
                break
            self.launch(trial)
            tried += 1
        return tried

    def launch(self, trial: Trial) -> None:
        gpu = self.slots.acquire(trial.name) if self.have_gpus else None
        extra = {
            **gpu_env(gpu, self.have_gpus),
            "HYPERSEARCH_SEARCH": self.spec.name,
            "HYPERSEARCH_TRIAL": trial.name,
        }
        launch = Launch(
            name=trial.name,
            argv=tuple(trial_argv(self.command, trial.params)),
            env=trial_env(self.command, trial.params, self.environ, extra),
            cwd=self.options.workdir,
            log_path=self.state.log_path(trial.name),
        )
        now = self.clock()
        self.state.journal.start_trial(trial.name, now)
        self.trials[trial.name] = dataclasses.replace(
            trial,
            phase=TrialPhase.RUNNING,
            started_at=now,
            finished_at=None,
            value=None,
            reason=None,
            message=None,
            observations=(),
        )
        self.statuses[trial.name] = TrialPhase.RUNNING.value
        self.streams[trial.name] = MetricStream()
        self.observed[trial.name] = []
        try:
            self.runner.start(launch)
        except StartError as err:
            self.slots.release(trial.name)
            self.finish(trial.name, TrialPhase.FAILED.value, None, START_FAILED, str(err))
            return
        self.progress.trial_started(trial.name, trial.params, gpu)

    def early_stop(self, name: str, message: str) -> None:
        """Record the trial as early-stopped with the reports it made so far, then end its process
        (SIGTERM, SIGKILL after the grace period). The journal holds the decision before any signal
        is sent, so a crash in between resumes with the trial stopped, never run or stopped again;
        output after the decision is logged but not read as reports."""
        self.streams.pop(name, None)
        observations = tuple(self.observed.pop(name, []))
        self.trials[name] = dataclasses.replace(self.trials[name], observations=observations)
        value, _ = final_value(observations, self.spec.objective)
        self.finish(name, TrialPhase.EARLY_STOPPED.value, value, EARLY_STOPPED, message)
        self.stop(name, _Stopping(EARLY_STOPPED, message, recorded=True))

    def stop(self, name: str, why: _Stopping) -> None:
        if name in self.runner.running and name not in self.stopping:
            self.stopping[name] = why
            self.runner.stop(name)

    # -- what the processes did -----------------------------------------------------------------

    def output(self, event: Output) -> bool:
        """Read a line of a trial's output; True when it reported the objective metric."""
        stream = self.streams.get(event.name)
        if stream is None:
            return False
        new = stream.feed_line(event.line)
        if not new:
            return False
        for observation in new:
            self.state.journal.add_observation(event.name, observation)
        self.observed[event.name].extend(new)
        return any(metric_matches(self.spec.objective.metric, o.metric) for o in new)

    def exited(self, event: Exited) -> None:
        self.slots.release(event.name)
        self.streams.pop(event.name, None)
        why = self.stopping.get(event.name)
        if why is not None and why.recorded:
            del self.stopping[event.name]
            return
        observations = tuple(self.observed.pop(event.name, []))
        self.trials[event.name] = dataclasses.replace(
            self.trials[event.name], observations=observations
        )
        why = self.stopping.pop(event.name, None)
        log = self.state.log_path(event.name)
        if why is not None and why.interrupt:
            self.finish(event.name, INTERRUPTED, None, INTERRUPTED_REASON, why.message)
            return
        if why is not None:
            message = why.message + _tail_text(event.tail, log)
            self.finish(event.name, TrialPhase.FAILED.value, None, why.reason, message)
            return
        if event.returncode != 0:
            if event.returncode < 0:
                what = f"was killed by signal {_signal_name(-event.returncode)}"
            else:
                what = f"exited with code {event.returncode}"
            message = f"the trial's process {what}" + _tail_text(event.tail, log)
            self.finish(event.name, TrialPhase.FAILED.value, None, PROCESS_FAILED, message)
            return
        value, problem = final_value(observations, self.spec.objective)
        if value is None:
            message = (problem or "no usable metric") + _tail_text(event.tail, log)
            self.finish(event.name, TrialPhase.FAILED.value, None, NO_METRIC, message)
            return
        self.finish(event.name, TrialPhase.SUCCEEDED.value, value, None, None)

    def finish(
        self, name: str, status: str, value: float | None, reason: str | None, message: str | None
    ) -> None:
        now = self.clock()
        self.state.journal.finish_trial(
            name, status, now=now, value=value, reason=reason, message=message
        )
        trial = self.trials[name]
        phase = TrialPhase.PENDING if status == INTERRUPTED else TrialPhase(status)
        self.trials[name] = dataclasses.replace(
            trial, phase=phase, value=value, reason=reason, message=message, finished_at=now
        )
        self.statuses[name] = status
        started = trial.started_at if trial.started_at is not None else now
        self.progress.trial_finished(name, status, value, reason, now - started, message=message)

    # -- the end --------------------------------------------------------------------------------

    def interrupt(self, plan: Plan) -> RunResult:
        self.progress.note("interrupted: stopping running trials (Ctrl-C again to kill them)")
        for name in self.runner.running:
            if name in self.stopping and self.stopping[name].recorded:
                continue  # early-stopped: its end is in the journal already, it stays stopped
            self.stopping[name] = _Stopping(
                INTERRUPTED_REASON, "interrupted by the user; it runs again on resume", True
            )
            self.runner.stop(name)
        killed = False
        while self.runner.running:
            if self.interrupts > 1 and not killed:
                self.runner.kill_all()
                killed = True
            for event in self.runner.poll(self.options.tick_s):
                if isinstance(event, Exited):
                    self.exited(event)
        final = self.decide()
        return dataclasses.replace(
            self.outcome(final), interrupted=True, finished=False, signal=self.first_signal
        )

    def outcome(self, plan: Plan) -> RunResult:
        return RunResult(
            trials=tuple(sorted(self.trials.values(), key=lambda t: t.index)),
            statuses=dict(self.statuses),
            best=plan.best,
            finished=plan.finished,
            succeeded=plan.succeeded,
            reason=plan.reason,
            message=plan.message,
        )


def _tail_text(tail: tuple[str, ...], log: Path) -> str:
    lines = [line for line in tail if line.strip()][-TAIL_IN_MESSAGE:]
    if not lines:
        return f" (no output; log: {log})"
    return f"; last lines of {log}:\n" + "\n".join(f"  | {line}" for line in lines)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


@contextlib.contextmanager
def _interrupt_handlers(on_signal: Callable[[int], None]) -> Iterator[int | None]:
    """SIGINT/SIGTERM set a flag and wake the loop through a pipe; yields the pipe's read end."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)

    def handler(signum: int, frame: FrameType | None) -> None:
        on_signal(signum)
        with contextlib.suppress(BlockingIOError):
            os.write(write_fd, b"x")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield read_fd
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        os.close(read_fd)
        os.close(write_fd)


def run_search(
    spec: SearchSpec, state: OpenState, options: LocalOptions, progress: Progress
) -> RunResult:
    """Run (or resume) ``spec`` with the journal in ``state`` until the engine says it is done or
    the user interrupts. Raises SpecError when the trial template has nothing to run locally."""
    command = trial_command(spec)
    environ = dict(options.environ) if options.environ is not None else default_environment()
    gpus = options.gpus if options.gpus is not None else discover_gpus(environ)
    parallelism = spec.parallelism
    if command.wants_gpu and gpus:
        parallelism = min(parallelism, len(gpus))
        if parallelism < spec.parallelism:
            progress.note(
                f"{len(gpus)} GPU(s) found: at most {parallelism} trials run at once, one per GPU"
            )
    elif command.wants_gpu:
        progress.note(
            f"machineType {spec.trial.machine_type!r} asks for a GPU but this machine has none "
            "(no nvidia-smi, CUDA_VISIBLE_DEVICES unset): trials run on the CPU"
        )
    search = _Search(
        spec=spec,
        state=state,
        options=options,
        progress=progress,
        command=command,
        runner=ProcessRunner(grace_s=options.grace_s),
        slots=GpuSlots(gpus),
        have_gpus=bool(gpus),
        parallelism=parallelism,
        environ=environ,
    )
    for record in state.journal.records():
        search.trials[record.trial.name] = record.trial
        search.statuses[record.trial.name] = record.status
    unfinished = [t for t in search.trials.values() if not t.phase.finished]
    if search.trials:
        progress.note(
            f"resuming search {spec.name!r} from {state.directory}: "
            f"{len(search.trials) - len(unfinished)} trial(s) finished, "
            f"{len(unfinished)} to run again"
        )

    def on_signal(signum: int) -> None:
        search.interrupts += 1
        if search.first_signal is None:
            search.first_signal = signum

    with _interrupt_handlers(on_signal) as wake_fd:
        try:
            if wake_fd is not None:
                search.runner.add_wakeup(wake_fd, lambda: None)
            return search.run()
        finally:
            search.runner.close()
            progress.close()
