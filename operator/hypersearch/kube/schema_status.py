"""The CRD schema of ``status``: what the operator and the trials' sidecars write.

Status trial entries follow what ``kube.record`` and the sidecar write: ``curve`` is a list of
``[step, value]`` pairs (``kube.curve``), and ``exitCode``, ``observed``, ``metricMessage`` and
``reportedAt`` are the sidecar's fields. Pure data: builds dicts.
"""

from __future__ import annotations

from hypersearch.core import conditions, spec
from hypersearch.core.trials import TrialPhase
from hypersearch.kube.openapi import Schema, free, integer, number, obj, string

RECENT_TRIALS = 10
"""Entries of ``status.recentTrials`` (``controller.status.RECENT_TRIALS`` is the same)."""
LEGACY_MAX_TRIALS = 1000
"""Entries ``status.trials`` could hold in the earlier versions that wrote it."""
MAX_CURVE_POINTS = 100
"""Upper bound of a status curve; the writer keeps fewer (``kube.curve.CURVE_LIMIT``)."""
MAX_MESSAGE_LENGTH = 32768
PHASES = conditions.SEARCH_PHASES
"""A search's phases."""
TRIAL_PHASES = tuple(phase.value for phase in TrialPhase)
"""A trial's phases: a search's, Queued (waiting for a queue's admission, spec.trial.queueName)
and EarlyStopped (stopped by spec.earlyStopping's rule)."""
TRIAL_PHASE_TEXT = "Queued, Pending, Running, Succeeded, Failed or EarlyStopped."


def _condition() -> Schema:
    return obj(
        "One condition in the standard Kubernetes shape.",
        {
            "type": string("Running, Succeeded or Failed.", maxLength=conditions.MAX_TYPE_LENGTH),
            "status": string("True, False or Unknown.", enum=list(conditions.STATUSES)),
            "reason": string(
                "Why, in CamelCase (e.g. MaxTrialsReached, TargetReached, InvalidSpec).",
                maxLength=conditions.MAX_REASON_LENGTH,
                pattern=conditions.REASON_PATTERN,
            ),
            "message": string("Why, for people.", maxLength=conditions.MAX_MESSAGE_LENGTH),
            "lastTransitionTime": string("When the status last changed.", format="date-time"),
            "observedGeneration": integer(
                "The spec generation the condition was set for.", minimum=0, format="int64"
            ),
        },
        required=["type", "status", "reason", "lastTransitionTime"],
    )


def trial_entry() -> Schema:
    """One trial record's fields (a `status.trials` entry; a HyperSearchTrial splits them)."""
    return obj(
        "One trial. The operator writes its parameters and phase; the trial's metrics sidecar "
        "writes value, curve, exitCode, observed, metricMessage and reportedAt.",
        {
            "name": string("Name of the trial and of its Pod.", maxLength=spec.MAX_TEXT_LENGTH),
            "index": integer("Position of the trial in the search, from 0.", minimum=0),
            "params": free("The parameter values of the trial, by parameter name."),
            "phase": string(TRIAL_PHASE_TEXT, enum=list(TRIAL_PHASES)),
            "value": number(
                "The trial's objective value (aggregated over its reports; for an EarlyStopped "
                "trial, over the reports before it was stopped)."
            ),
            "reason": string(
                "Why the trial failed or was stopped, in CamelCase.",
                maxLength=conditions.MAX_REASON_LENGTH,
            ),
            "message": string("Why the trial failed, for people.", maxLength=MAX_MESSAGE_LENGTH),
            "startedAt": string("When the trial started.", format="date-time"),
            "finishedAt": string("When the trial finished.", format="date-time"),
            "requeues": integer(
                "How often the queue (Kueue) evicted the trial after it had started; it then "
                "waited again with the same parameters (not a failure).",
                minimum=0,
            ),
            "queuedSeconds": number(
                "Seconds the trial waited for the queue's admission, its current wait excluded.",
                minimum=0,
            ),
            "queuedAt": string(
                "When the trial's current wait for admission began (only while Queued).",
                format="date-time",
            ),
            "curve": {
                "type": "array",
                "description": "The objective metric over the trial, as [step, value] pairs, "
                "thinned to a bounded number of points (first and last kept, and the steps the "
                "early-stopping rule reads).",
                "maxItems": MAX_CURVE_POINTS,
                "items": {
                    "type": "array",
                    "description": "A [step, value] pair.",
                    "minItems": 2,
                    "maxItems": 2,
                    "items": number(
                        "The step, then the value (null: NaN or infinite).", nullable=True
                    ),
                },
            },
            "prediction": obj(
                "What the Gaussian process predicted for this trial when it was suggested.",
                {
                    "mean": number("Predicted objective value."),
                    "std": number("Predicted standard deviation.", minimum=0),
                    "ucb": number("Upper confidence bound that chose the trial."),
                },
            ),
            "exitCode": integer("Exit code of the training container, as the sidecar saw it."),
            "observed": integer(
                "How many reports of the objective metric the sidecar has read.", minimum=0
            ),
            "metricMessage": string(
                "Why the finished trial has no value (written by its metrics sidecar).",
                maxLength=4096,
            ),
            "reportedAt": string("When the sidecar last reported.", format="date-time"),
        },
        required=["name"],
    )


def status_schema() -> Schema:
    """The schema of ``status`` (written by the operator and the trials' sidecars)."""
    count = "Number of trials {}."
    return obj(
        "Progress and results of the search, written by the operator.",
        {
            "conditions": {
                "type": "array",
                "description": "Running, Succeeded and Failed; use kubectl wait "
                "--for=condition=Succeeded.",
                "maxItems": 16,
                "items": _condition(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "observedGeneration": integer(
                "The spec generation the status describes.", minimum=0, format="int64"
            ),
            "phase": string("Pending, Running, Succeeded or Failed.", enum=list(PHASES)),
            "message": string("A one-line summary for people.", maxLength=MAX_MESSAGE_LENGTH),
            "counts": obj(
                "How many trials are in each state.",
                {
                    "trials": integer(count.format("created so far"), minimum=0),
                    "queued": integer(
                        count.format("waiting for the queue's admission (spec.trial.queueName)"),
                        minimum=0,
                    ),
                    "pending": integer(count.format("waiting to run"), minimum=0),
                    "running": integer(count.format("running"), minimum=0),
                    "succeeded": integer(count.format("that reported a value"), minimum=0),
                    "failed": integer(count.format("that failed"), minimum=0),
                    "earlyStopped": integer(
                        count.format("stopped early by spec.earlyStopping"), minimum=0
                    ),
                },
            ),
            "objective": obj(
                "The objective the trials' values are values of: the spec's, until a trial has "
                "a value; from then on the operator refuses a spec with another one "
                "(InvalidSpec) instead of ranking unlike numbers together.",
                {
                    "metric": string("The metric.", maxLength=spec.MAX_METRIC_LENGTH),
                    "goal": string("maximize or minimize.", enum=list(spec.GOALS)),
                    "aggregation": string("last, min, max or avg.", enum=list(spec.AGGREGATIONS)),
                },
            ),
            "best": obj(
                "The best trial so far.",
                {
                    "trial": string("Name of the best trial.", maxLength=spec.MAX_TEXT_LENGTH),
                    "params": free("Its parameter values."),
                    "value": number("Its objective value."),
                },
            ),
            "recentTrials": {
                "type": "array",
                "description": "The last trials (the highest indexes), at most "
                f"{RECENT_TRIALS}; every trial has its own HyperSearchTrial (kubectl get hst "
                "-l hypersearch.io/search=NAME).",
                "maxItems": RECENT_TRIALS,
                "items": obj(
                    "One trial, in short.",
                    {
                        "name": string(
                            "Name of the trial, its HyperSearchTrial and its Pod.",
                            maxLength=spec.MAX_TEXT_LENGTH,
                        ),
                        "index": integer("Position of the trial in the search, from 0.", minimum=0),
                        "phase": string(
                            TRIAL_PHASE_TEXT,
                            enum=list(TRIAL_PHASES),
                        ),
                        "value": number("The trial's objective value, once known."),
                    },
                    required=["name"],
                ),
            },
            "trials": {
                "type": "array",
                "description": "Trials recorded by an earlier version, one entry per trial, "
                "keyed by name, kept only until the sidecars of the Pods it started have "
                "reported; every trial now has its own HyperSearchTrial.",
                "maxItems": LEGACY_MAX_TRIALS,
                "items": trial_entry(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            "kopf": free("Handler progress of the operator framework (kopf); not for users."),
        },
    )
