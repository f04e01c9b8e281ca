"""The sidecar's one write: server-side apply of its own trial's HyperSearchTrial status.

Why its own object: the sidecar writes only the record of its trial, so a write costs the same
at the first trial and the ten-thousandth, and sidecars never contend for one object (in one
list in the search's status they did, and results were lost). Why server-side apply with a
field manager per trial and force: the operator applies its verdict into the same status as
another manager, so each owns its fields; re-applying the same report is a no-op, which makes a
restarted sidecar safe. Least privilege: the sidecar's Role grants ``hypersearchtrials/status``
in its namespace, and the chart's ValidatingAdmissionPolicy admits a sidecar's write only to
the trial named as its Pod. Stdlib only; must not read files other than the token
(``kube.transport`` does that).
"""

from __future__ import annotations

from typing import Any

from hypersearch.kube import names, status
from hypersearch.kube.wire import Requester


class TrialReporter:
    """Applies one trial's report (``record.report_entry``) to its HyperSearchTrial's status."""

    def __init__(self, transport: Requester, namespace: str, trial: str):
        self.transport = transport
        self.namespace = namespace
        self.trial = trial
        self.manager = names.sidecar_manager(trial)

    def apply(self, entry: dict[str, Any]) -> None:
        """Send it; raises ``ApiError`` (``transient`` says whether trying again may help)."""
        report = {key: value for key, value in entry.items() if key != "name"}
        status.apply_trial_status(self.transport, self.namespace, self.trial, report, self.manager)
