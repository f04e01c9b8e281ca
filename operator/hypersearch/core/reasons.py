"""Why a trial failed, as each shell says it: the one home of the reasons shells set.

The engine names its own (``engine.TIMEOUT``; ``early_stopping.EARLY_STOPPED`` for a stop).
All of them are public API: the local journal and ``hyper run``'s output hold the local
runner's, a HyperSearch's status, its Events and the operator's metric labels hold the
operator's, and users' scripts and alerts match them. Stdlib only, no imports.

The two shells name two failures differently, and keep doing so (docs/architecture.md,
"Failure reasons"): the local runner watches a process (``ProcessFailed``: it exited non-zero;
``NoMetric``: it printed no usable value), the operator a Pod (``TrainingFailed``,
``MetricNotFound``). Renaming either would break what already reads them (journals written by
earlier versions, clusters' status and alerts); ``SAME_FAILURE`` is the table that says which
names mean the same failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# The local runner (local.loop): a process.
START_FAILED: Final = "StartFailed"
PROCESS_FAILED: Final = "ProcessFailed"
NO_METRIC: Final = "NoMetric"
INTERRUPTED: Final = "Interrupted"

# The operator (kube.failures): a Pod.
TRAINING_FAILED: Final = "TrainingFailed"
METRIC_NOT_FOUND: Final = "MetricNotFound"
METRIC_NOT_REPORTED: Final = "MetricNotReported"
OOM_KILLED: Final = "OOMKilled"
POD_DELETED: Final = "PodDeleted"
POD_REJECTED: Final = "PodRejected"
UNSCHEDULABLE: Final = "Unschedulable"

SAME_FAILURE: Final[Mapping[str, str]] = {
    PROCESS_FAILED: TRAINING_FAILED,
    NO_METRIC: METRIC_NOT_FOUND,
}
"""The local runner's name of a failure -> the operator's name of the same failure."""
