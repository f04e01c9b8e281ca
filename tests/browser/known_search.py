"""A known search for the browser tests: fixed trials whose chart point counts are known.

Fourteen trials over five parameters (two log-scale floats, a categorical, an int, a discrete
list): eleven succeeded, two failed (one before reporting anything), one still running. The
metric and two parameters (a linear int, a log-axis discrete list) declare units.
"""

from __future__ import annotations

import math
import random

from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Params,
)
from hypersearch.core.space import Space
from hypersearch.core.trials import Observation, Prediction, Trial, TrialPhase
from hypersearch.report.model import SearchView, params_from_space

SPACE = Space(
    (
        FloatParam("C", 1e-3, 1e3, "log"),
        FloatParam("gamma", 1e-5, 1e-1, "log"),
        CategoricalParam("kernel", ("rbf", "poly", "sigmoid")),
        IntParam("layers", 1, 8),
        DiscreteParam("rate", (0.001, 0.01, 0.1)),
    )
)
UNITS = {"layers": "blocks", "rate": "1/step"}
"""Declared units (``spec.parameters[i].unit``); the metric's is ``fraction``."""
SUCCEEDED = 11
FAILED = 2
RUNNING = 1
TOTAL = SUCCEEDED + FAILED + RUNNING
EPOCHS = 10
FAILED_INDEXES = (3, 9)
SILENT_FAILED_INDEX = 9
"""This failed trial reported no metric at all, so it has no curve."""
RUNNING_INDEX = 13


def _accuracy(params: Params) -> float:
    c = math.log10(float(params["C"]))
    g = math.log10(float(params["gamma"]))
    bonus = {"rbf": 0.05, "poly": 0.0, "sigmoid": -0.08}[str(params["kernel"])]
    return 0.93 - 0.012 * (c - 1.0) ** 2 - 0.02 * (g + 3.0) ** 2 + bonus


def known_search(name: str = "digits-svm", phase: str = "Running") -> SearchView:
    """The fixed search; the same every call."""
    rng = random.Random(7)
    trials: list[Trial] = []
    for index in range(TOTAL):
        params: Params = {
            "C": round(10 ** rng.uniform(-3, 3), 6),
            "gamma": round(10 ** rng.uniform(-5, -1), 8),
            "kernel": rng.choice(["rbf", "poly", "sigmoid"]),
            "layers": rng.randint(1, 8),
            "rate": rng.choice([0.001, 0.01, 0.1]),
        }
        final = max(0.05, min(0.995, _accuracy(params)))
        epochs = EPOCHS
        if index == RUNNING_INDEX:
            epochs = 4
        elif index == FAILED_INDEXES[0]:
            epochs = 3
        elif index == SILENT_FAILED_INDEX:
            epochs = 0
        observations: list[Observation] = []
        for step in range(1, epochs + 1):
            progress = 1 - math.exp(-step / 3)
            observations.append(
                Observation("val_acc", round(0.1 + (final - 0.1) * progress, 4), step)
            )
            observations.append(Observation("loss", round(2.3 * (1 - progress) + 0.1, 4), step))
        prediction = None
        if index >= 4:
            mean = final + rng.uniform(-0.06, 0.06)
            std = rng.uniform(0.01, 0.08)
            prediction = Prediction(round(mean, 4), round(std, 4), round(mean + 2 * std, 4))
        if index in FAILED_INDEXES:
            phase_of = TrialPhase.FAILED
            reason, message = (
                ("Error", "exit code 1: CUDA out of memory")
                if index == FAILED_INDEXES[0]
                else ("MetricMissing", "the output held no val_acc")
            )
            value = None
        elif index == RUNNING_INDEX:
            phase_of, reason, message, value = TrialPhase.RUNNING, None, None, None
        else:
            phase_of, reason, message, value = (
                TrialPhase.SUCCEEDED,
                None,
                None,
                observations[-2].value,
            )
        start = 1_790_000_000.0 + 60 * index
        trials.append(
            Trial(
                name=f"{name}-{index:04d}",
                index=index,
                params=params,
                phase=phase_of,
                value=value,
                reason=reason,
                message=message,
                observations=tuple(observations),
                prediction=prediction,
                created_at=start,
                started_at=start + 2,
                finished_at=None if phase_of is TrialPhase.RUNNING else start + 50,
            )
        )
    return SearchView(
        name=name,
        metric="val_acc",
        goal="maximize",
        params=params_from_space(SPACE, UNITS),
        trials=tuple(trials),
        phase=phase,
        updated_at=1_790_001_000.0,
        algorithm="bayesian",
        max_trials=21,
        metric_unit="fraction",
        source="test fixture",
    )
