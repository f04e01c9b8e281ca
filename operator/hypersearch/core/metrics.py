"""Metric reports read from training output, and how a trial's reports become one value.

Training code reports metrics in any of three ways, all recognised on any line of its output:

- ``name=value`` pairs, several per line: ``epoch=3 loss=0.31 val_acc=0.8230``;
- JSON objects, one per line: ``{"epoch": 3, "val_acc": 0.823}``;
- Keras progress output: ``Epoch 3/25`` sets the step of the lines that follow, and
  ``... - loss: 0.31 - val_acc: 0.8230`` reports (``name: value`` is only read after `` - ``,
  the Keras separator, so ordinary log text such as ``Note: 5 files`` is not a metric). Of the
  batch progress redraws (``4/10 [==>...]``) only the epoch's final one (``10/10``) counts.

Keys named epoch, step, iteration, iter or global_step set the report's step instead of being
metrics. Output is split on ``\\r`` as well as newlines (progress bars) and ANSI escapes are
removed. Values may be ``nan``/``inf`` or in scientific notation; aggregation skips non-finite ones.

Stdlib only: the sidecar imports this module and must stay light (no numpy). It reads no files
and no processes: callers feed it text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Protocol

from hypersearch.core.trials import Observation

STEP_KEYS = ("step", "epoch", "iteration", "iter", "global_step")
"""Keys that say when a report was made rather than what was measured, in order of preference."""

_NUMBER = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"
_NAME = r"[A-Za-z_][\w./-]*"
_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_PAIR_RE = re.compile(rf"(?<![\w./-])({_NAME})\s*=\s*({_NUMBER})(?![\w.])", re.IGNORECASE)
_KERAS_PAIR_RE = re.compile(rf"(?:^|\s)-\s+({_NAME}):\s*({_NUMBER})(?![\w.])", re.IGNORECASE)
_KERAS_EPOCH_RE = re.compile(r"^\s*Epoch\s+(\d+)\s*/\s*\d+\s*$")
_KERAS_BATCH_RE = re.compile(r"^\s*(\d+)/(\d+)\s")
_LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")
_ACCURACY_RE = re.compile(r"(^|_)accuracy$")


class ObjectiveLike(Protocol):
    """What ``final_value`` needs of ``spec.Objective`` (not imported here: spec loads numpy)."""

    @property
    def metric(self) -> str: ...

    @property
    def aggregation(self) -> str: ...


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor escapes."""
    return _ANSI_RE.sub("", text)


def _step_of(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _from_pairs(pairs: Iterable[tuple[str, float]]) -> list[Observation]:
    """Observations of ``pairs``; a step key among them sets the step of the others."""
    metrics: list[tuple[str, float]] = []
    found_steps: dict[str, int] = {}
    step: int | None = None
    for name, value in pairs:
        if name.lower() in STEP_KEYS:
            as_step = _step_of(value)
            if as_step is not None:
                found_steps[name.lower()] = as_step
            continue
        metrics.append((name, value))
    for key in STEP_KEYS:
        if key in found_steps:
            step = found_steps[key]
            break
    return [Observation(name, value, step) for name, value in metrics]


def _json_pairs(text: str) -> list[tuple[str, float]] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return [
        (str(key), float(value))
        for key, value in data.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def _parse(line: str) -> tuple[list[Observation], int | None]:
    """(observations with explicit steps only, the epoch if the line is a Keras epoch header)."""
    text = strip_ansi(line).strip()
    if not text:
        return [], None
    epoch = _KERAS_EPOCH_RE.match(text)
    if epoch:
        return [], int(epoch.group(1))
    if text.startswith("{") and text.endswith("}"):
        pairs = _json_pairs(text)
        if pairs is not None:
            return _from_pairs(pairs), None
    keras = [(m.group(1), float(m.group(2))) for m in _KERAS_PAIR_RE.finditer(text)]
    if keras:
        batch = _KERAS_BATCH_RE.match(text)
        if batch and batch.group(1) != batch.group(2):
            return [], None  # a progress redraw within the epoch: not the final numbers
        return _from_pairs(keras), None
    plain = [(m.group(1), float(m.group(2))) for m in _PAIR_RE.finditer(text)]
    return _from_pairs(plain), None


def parse_line(line: str) -> list[Observation]:
    """The metrics one line of output reports, with a step only where the line itself gives one.

    Stateless: the Keras epoch context and implicit step counting live in ``MetricStream``.
    """
    return [obs for segment in _LINE_SPLIT_RE.split(line) for obs in _parse(segment)[0]]


class MetricStream:
    """Reads a trial's output as it arrives and keeps the context lines depend on.

    A report's step is, in order: the step the line gives (an epoch/step key), else the epoch of
    the latest Keras ``Epoch N/M`` header, else its count: the k-th report of a metric gets step
    k (counting from 1).
    """

    def __init__(self) -> None:
        self._epoch: int | None = None
        self._counts: dict[str, int] = {}
        self._pending = ""

    def feed(self, text: str) -> list[Observation]:
        """Observations of every complete line in ``text`` (a chunk of output, any size).

        An unfinished last line is kept until more text (or ``flush``) completes it.
        """
        data = self._pending + text
        hold = ""
        if data.endswith("\r"):
            # The "\r" may be the first half of a "\r\n" split across chunks: wait for the next.
            data, hold = data[:-1], "\r"
        parts = _LINE_SPLIT_RE.split(data)
        self._pending = parts.pop() + hold
        found: list[Observation] = []
        for line in parts:
            found.extend(self.feed_line(line))
        return found

    def flush(self) -> list[Observation]:
        """Observations of the unfinished last line, at the end of the output."""
        rest, self._pending = self._pending.strip("\r"), ""
        return self.feed_line(rest) if rest else []

    def feed_line(self, line: str) -> list[Observation]:
        """Observations of one complete line (``\r`` splits it further), steps from context."""
        out: list[Observation] = []
        for segment in _LINE_SPLIT_RE.split(line):
            out.extend(self._feed_segment(segment))
        return out

    def _feed_segment(self, line: str) -> list[Observation]:
        observations, epoch = _parse(line)
        if epoch is not None:
            self._epoch = epoch
            return []
        out: list[Observation] = []
        for obs in observations:
            count = self._counts.get(obs.metric, 0) + 1
            self._counts[obs.metric] = count
            step = obs.step
            if step is None:
                step = self._epoch if self._epoch is not None else count
            out.append(Observation(obs.metric, obs.value, step))
        return out


def _alias(name: str) -> str:
    return _ACCURACY_RE.sub(r"\1acc", name)


def metric_matches(wanted: str, reported: str) -> bool:
    """Whether a reported metric name is the objective's metric.

    A source prefix is ignored (``keras/val_acc`` is ``val_acc``), and ``accuracy`` and ``acc``
    are the same word at the end of a name (``val_accuracy`` is ``val_acc``), as Keras changed it.
    """
    if wanted == reported:
        return True
    candidates = {_alias(wanted), _alias(wanted.rsplit("/", 1)[-1])}
    return _alias(reported) in candidates


def aggregate(values: Iterable[float], how: str) -> float | None:
    """One number from a metric's values (last, min, max or avg), skipping NaN and infinities.

    None when no value is finite.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    if how == "last":
        return finite[-1]
    if how == "min":
        return min(finite)
    if how == "max":
        return max(finite)
    if how == "avg":
        return math.fsum(finite) / len(finite)
    raise ValueError(f"aggregation must be last, min, max or avg, got {how!r}")


def curve(observations: Iterable[Observation], metric: str) -> list[tuple[int | None, float]]:
    """The (step, value) points of ``metric`` in report order; a repeated step keeps its latest
    value (Keras redraws the last batch line of an epoch), placed where it was reported last."""
    by_step: dict[object, tuple[int | None, float]] = {}
    for i, obs in enumerate(observations):
        if not metric_matches(metric, obs.metric):
            continue
        key: object = ("unstepped", i) if obs.step is None else obs.step
        by_step.pop(key, None)
        by_step[key] = (obs.step, obs.value)
    return list(by_step.values())


def final_value(
    observations: Iterable[Observation], objective: ObjectiveLike
) -> tuple[float | None, str | None]:
    """The trial's objective value, or None and a message saying why there is none."""
    observations = list(observations)
    points = curve(observations, objective.metric)
    if not points:
        seen = list(dict.fromkeys(obs.metric for obs in observations))
        if seen:
            saw = f"saw metrics: {', '.join(seen[:20])}{', ...' if len(seen) > 20 else ''}"
        else:
            saw = (
                f"saw no metrics; print lines such as {objective.metric}=0.93 "
                f'or {{"{objective.metric}": 0.93}}'
            )
        return None, f"no value reported for metric {objective.metric} ({saw})"
    value = aggregate((v for _, v in points), objective.aggregation)
    if value is None:
        return None, (
            f"metric {objective.metric} reported only NaN/inf ({len(points)} "
            f"value{'s' if len(points) != 1 else ''})"
        )
    last_step, last = points[-1]
    if objective.aggregation == "last" and not math.isfinite(last):
        at = f" at step {last_step}" if last_step is not None else ""
        return None, (
            f"metric {objective.metric}'s last value is {last}{at}: the training diverged or "
            f"reported no number at the end; use aggregation max or min to score its best step "
            f"instead"
        )
    return value, None
