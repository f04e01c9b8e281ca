"""Where a HyperSearch and a HyperSearchTrial live, and the one write of their status:
server-side apply.

Shared by ``kube.api`` (the operator's whole view, over the ``kubernetes`` package's connection)
and the sidecar's reporter (its own entry, over the stdlib ``kube.transport``), so both write
status the same way. Why apply and never a merge patch: ``status.trials`` is a list map keyed by
name, and a merge patch replaces the list whole, erasing the other writers' entries. Stdlib
only: the sidecar imports it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

from hypersearch.kube import names
from hypersearch.kube.wire import APPLY_PATCH, Requester

SEARCHES: Final = f"/apis/{names.API_GROUP}/{names.API_VERSION}"


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def search_path(namespace: str, name: str) -> str:
    """The URL path of one HyperSearch."""
    return f"{SEARCHES}/namespaces/{_q(namespace)}/{names.PLURAL}/{_q(name)}"


def trial_path(namespace: str, name: str) -> str:
    """The URL path of one HyperSearchTrial."""
    return f"{SEARCHES}/namespaces/{_q(namespace)}/{names.TRIAL_PLURAL}/{_q(name)}"


def trials_path(namespace: str) -> str:
    """The URL path of a namespace's HyperSearchTrials (to list or create them)."""
    return f"{SEARCHES}/namespaces/{_q(namespace)}/{names.TRIAL_PLURAL}"


def apply_trial_status(
    requester: Requester, namespace: str, name: str, status: Mapping[str, Any], manager: str
) -> Any:
    """Server-side apply of a HyperSearchTrial's ``status`` as ``manager`` (forced); returns
    the object as stored. Raises ``ApiError`` (404 when the trial object does not exist)."""
    body = {
        "apiVersion": names.API,
        "kind": names.TRIAL_KIND,
        "metadata": {"name": name, "namespace": namespace},
        "status": dict(status),
    }
    return requester.request(
        "PATCH",
        trial_path(namespace, name) + "/status",
        query={"fieldManager": manager, "force": "true"},
        body=body,
        content_type=APPLY_PATCH,
    )


def status_apply(namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a server-side apply to a HyperSearch's status subresource."""
    return {
        "apiVersion": names.API,
        "kind": names.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "status": dict(status),
    }


def apply_status(
    requester: Requester, namespace: str, name: str, status: Mapping[str, Any], manager: str
) -> Any:
    """Server-side apply of ``status`` as ``manager`` (forced: it owns what it sends); returns
    the object as stored. Raises ``ApiError``."""
    return requester.request(
        "PATCH",
        search_path(namespace, name) + "/status",
        query={"fieldManager": manager, "force": "true"},
        body=status_apply(namespace, name, status),
        content_type=APPLY_PATCH,
    )
