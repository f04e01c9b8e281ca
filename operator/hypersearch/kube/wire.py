"""What the two API clients share: the error tree, how an answer is decoded, the request shape.

There are two clients: ``kube.client`` (the ``kubernetes`` package: kubeconfig, exec plugins,
auth providers, proxies, in-cluster; used by the CLI and the operator) and ``kube.transport``
(a minimal stdlib client for the sidecar, in-cluster only). Both raise ``ApiError`` and both
have ``request`` with the signature of ``Requester``, so callers (``kube.api``, the sidecar's
reporter) work with either. Stdlib only: the sidecar imports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Protocol

APPLY_PATCH: Final = "application/apply-patch+yaml"
JSON_PATCH: Final = "application/json-patch+json"
MERGE_PATCH: Final = "application/merge-patch+json"


class ApiError(Exception):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, message: str, method: str, path: str):
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{method} {path}: {status} {reason}: {message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """AlreadyExists (or a write conflict): for derived names this means the work is done."""
        return self.status == 409

    @property
    def transient(self) -> bool:
        """Worth retrying later: unreachable, throttled, forbidden by quota, or a server error."""
        return self.status in (0, 403, 429) or self.status >= 500


class Requester(Protocol):
    """One JSON request to the API server; the decoded answer, or ``ApiError``."""

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any: ...


def decode(status: int, data: bytes, method: str, path: str) -> Any:
    """JSON of a 2xx answer, or an ApiError carrying the server's Status reason and message."""
    try:
        decoded: Any = json.loads(data) if data else None
    except ValueError:
        decoded = None
    if status < 400:
        return decoded
    if isinstance(decoded, dict):
        reason = str(decoded.get("reason") or "Error")
        message = str(decoded.get("message") or data[:500].decode(errors="replace"))
    else:
        reason, message = "Error", data[:500].decode(errors="replace")
    raise ApiError(status, reason, message, method, path)
