"""The sidecar's one write: server-side apply of its own trial's entry in HyperSearch status.

Why server-side apply with a field manager per trial and force: ``status.trials`` is a list map
keyed by name, so each sidecar owns exactly its entry's metric fields and cannot overwrite
another trial's (a merge patch would replace the list whole). Re-applying the same entry is a
no-op, which makes a restarted sidecar safe. The request is ``kube.status.apply_status``, the
operator's own. Stdlib only; must not read files other than the token (``kube.transport`` does
that).
"""

from __future__ import annotations

from typing import Any

from hypersearch.kube import names, status
from hypersearch.kube.wire import Requester


class StatusReporter:
    """Applies one trial's entry to its HyperSearch's status subresource."""

    def __init__(self, transport: Requester, namespace: str, search: str, trial: str):
        self.transport = transport
        self.namespace = namespace
        self.search = search
        self.manager = names.sidecar_manager(trial)

    def apply(self, entry: dict[str, Any]) -> None:
        """Send it; raises ``ApiError`` (``transient`` says whether trying again may help)."""
        status.apply_status(
            self.transport, self.namespace, self.search, {"trials": [entry]}, self.manager
        )
