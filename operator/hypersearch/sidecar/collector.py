"""What a trial's sidecar reports: its output's metric curve and, at the end, the final value.

Pure: text in, a status entry out (no files, no network, no clock: ``now`` is passed). Keeps only
the objective metric's observations (a trainer logging every batch must not grow the sidecar's
memory with every other metric) plus the names of the metrics it saw, for the error message when
the objective never appears.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypersearch.core.metrics import MetricStream, curve, final_value, metric_matches
from hypersearch.core.trials import Observation
from hypersearch.kube.curve import downsample_keeping
from hypersearch.kube.record import report_entry


@dataclass(frozen=True, slots=True)
class Objective:
    """The objective as ``core.metrics.final_value`` needs it (core.spec would load numpy)."""

    metric: str
    aggregation: str


class Collector:
    """Feeds output to the core's parser and builds this trial's status entry."""

    def __init__(self, trial: str, objective: Objective, keep_steps: Sequence[float] = ()):
        self.trial = trial
        self.objective = objective
        self.keep_steps = tuple(keep_steps)
        """The early-stopping rule's steps (``core.early_stopping.rule_steps``): kept exactly."""
        self._stream = MetricStream()
        self._kept: list[Observation] = []
        self._others: dict[str, None] = {}
        self.version = 0
        """Grows whenever a kept observation arrives, so callers push only on change."""

    def feed(self, text: str) -> None:
        """A chunk of output (any size; an unfinished last line waits for the next chunk)."""
        self._keep(self._stream.feed(text))

    def finish(self) -> None:
        """The output is over: take the unfinished last line too."""
        self._keep(self._stream.flush())

    def _keep(self, observations: list[Observation]) -> None:
        for obs in observations:
            if metric_matches(self.objective.metric, obs.metric):
                self._kept.append(obs)
                self.version += 1
            elif len(self._others) < 50:
                self._others.setdefault(obs.metric, None)

    def entry(self, now: float, exit_code: int | None = None) -> dict[str, Any]:
        """The sidecar's fields of its trial's status entry; with ``exit_code`` (the training
        process has ended) also the final value, or the reason there is none."""
        points = [
            (step if step is not None else position, value)
            for position, (step, value) in enumerate(
                curve(self._kept, self.objective.metric), start=1
            )
        ]
        value, why = None, None
        if exit_code is not None:
            value, why = final_value(self._kept, self.objective)
            if value is None and not self._kept and self._others:
                why = (
                    f"no value reported for metric {self.objective.metric} "
                    f"(saw metrics: {', '.join(self._others)})"
                )
        return report_entry(
            self.trial,
            downsample_keeping(points, self.keep_steps),
            len(points),
            now,
            exit_code=exit_code,
            value=value,
            metric_message=why or f"no value for {self.objective.metric}",
        )
