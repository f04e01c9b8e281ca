"""Names shared by the operator and the sidecar: labels, annotations, field managers.

Stdlib only and free of logic on purpose: the sidecar imports it, and both sides must agree on
these strings exactly (a field manager renamed on one side orphans the other side's fields).
"""

from __future__ import annotations

from typing import Final

from hypersearch.core.resource import (
    API_GROUP,
    API_VERSION,
    KIND,
    PLURAL,
    TRIAL_KIND,
    TRIAL_PLURAL,
)

__all__ = ["API_GROUP", "API_VERSION", "KIND", "PLURAL", "TRIAL_KIND", "TRIAL_PLURAL"]
API: Final = f"{API_GROUP}/{API_VERSION}"
PREFIX: Final = "hypersearch.io/"

SEARCH_LABEL: Final = PREFIX + "search"
TRIAL_LABEL: Final = PREFIX + "trial"
FINISHED_LABEL: Final = PREFIX + "finished"
"""Set (to "true") on a HyperSearchTrial once its verdict is final: ``!hypersearch.io/finished``
selects the unfinished trials of a search, the only ones a reconcile needs to read again."""
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "hypersearch-operator"

PARAMS_ANNOTATION: Final = PREFIX + "params"
INDEX_ANNOTATION: Final = PREFIX + "trial-index"
PREDICTION_ANNOTATION: Final = PREFIX + "prediction"

OPERATOR_MANAGER: Final = "hypersearch-operator"
SIDECAR_CONTAINER: Final = "hypersearch-metrics"
SHARED_VOLUME: Final = "hypersearch"
TOKEN_VOLUME: Final = "hypersearch-token"
SHARED_DIR: Final = "/hypersearch"
TOKEN_DIR: Final = "/var/run/secrets/hypersearch"
OUTPUT_FILE: Final = SHARED_DIR + "/output.log"
EXIT_CODE_FILE: Final = SHARED_DIR + "/exit-code"
POD_INDEX_ENV: Final = "HYPERSEARCH_POD_INDEX"
"""The sidecar's view of its Pod's completion index (downward API; Job and JobSet trials)."""
JOB_INDEX_ENV: Final = "HYPERSEARCH_JOB_INDEX"
"""The sidecar's view of the index of its Pod's Job in its replicated job (JobSet trials)."""


# Fields of a trial's status entry that the sidecar owns (server-side apply, its own manager).
REPORT_FIELDS: Final = ("value", "exitCode", "observed", "curve", "metricMessage", "reportedAt")


def sidecar_manager(trial: str) -> str:
    """The field manager a trial's sidecar applies with; distinct per trial so that server-side
    apply tracks each sidecar's entry separately (field manager names may hold 128 characters)."""
    return f"hypersearch-sidecar-{trial}"[:128]


def sidecar_account(search: str) -> str:
    """The ServiceAccount (and Role, RoleBinding) name of a search's sidecars."""
    return f"{search}-hypersearch-sidecar"[:253]
