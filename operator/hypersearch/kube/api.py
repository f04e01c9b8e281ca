"""The calls the CLI and the operator make to the API server: the only module that makes them.

Thin on purpose: each method is one request with the resource's path and content type; what to
send is decided elsewhere (``kube.manifests`` renders, ``kube.convert`` converts). Writes of
HyperSearch status are server-side applies (never merge patches: a merge patch replaces the
``status.trials`` list whole and would erase the sidecars' entries). Synchronous: the controller
runs it in worker threads. The connection (``kube.client``) holds the credentials and renews
them. It must not decide what to create or write, and must not swallow errors other than the
ones each method documents (gone, already there).
"""

from __future__ import annotations

import secrets
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Final

from hypersearch.core.times import format_micro_time, format_time
from hypersearch.kube import names
from hypersearch.kube import status as status_write
from hypersearch.kube.client import Connection
from hypersearch.kube.status import SEARCHES, search_path, trial_path, trials_path
from hypersearch.kube.wire import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, ApiError

LIST_PAGE: Final = 500
"""Items per page when listing a search's trial objects (a 10,000-trial search is 20 pages)."""
_INSTANCE: Final = socket.gethostname()[:128] or names.OPERATOR_MANAGER
"""``reportingInstance`` of our Events: the host (the Pod's name in a cluster)."""
# apiVersion/kind -> (path prefix, plural) of the namespaced kinds the operator applies.
_KINDS: Final[Mapping[tuple[str, str], tuple[str, str]]] = {
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts"),
    ("v1", "Pod"): ("/api/v1", "pods"),
    ("rbac.authorization.k8s.io/v1", "Role"): ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (
        "/apis/rbac.authorization.k8s.io/v1",
        "rolebindings",
    ),
    (names.API, names.KIND): (SEARCHES, names.PLURAL),
}


_WORKLOADS: Final[Mapping[str, tuple[str, str]]] = {
    "Job": ("/apis/batch/v1", "jobs"),
    "JobSet": ("/apis/jobset.x-k8s.io/v1alpha2", "jobsets"),
}
"""kind -> (path prefix, plural) of the workloads a trial may run as."""


KUEUE_WORKLOADS: Final = "/apis/kueue.x-k8s.io/v1beta1"
KUEUE_JOB_UID_LABEL: Final = "kueue.x-k8s.io/job-uid"
"""The label Kueue puts on each Workload: the uid of the Job or JobSet it stands for."""
KUEUE_UIDS_PER_LIST: Final = 100
"""Uids in one label selector (about 4 KB of URL): a search at parallelism 500 makes 5 LISTs."""
"""Where Kueue serves its Workloads (v0.13)."""


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def event_manifest(
    involved: Mapping[str, Any], kind: str, reason: str, message: str, now: float
) -> dict[str, Any]:
    """A core/v1 Event about ``involved``, named so that Events sort by when they happened.

    ``kubectl describe`` sorts Events by ``lastTimestamp`` (whole seconds) and leaves the ones
    of one second in the order the API lists them, which is by name: a random suffix listed a
    NewBest of 0.61 after the NewBest of 0.72 it preceded. The name therefore starts with the
    time in nanoseconds, in hex (as client-go's recorder does). ``eventTime`` (microseconds,
    used by ``kubectl events``) makes the API server require ``reportingComponent``,
    ``reportingInstance`` and ``action``."""
    meta = involved["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{round(now * 1e9):x}{secrets.token_hex(2)}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": names.API,
            "kind": names.KIND,
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": kind,
        "reason": reason,
        "action": reason,
        "message": message[:1024],
        "eventTime": format_micro_time(now),
        "firstTimestamp": format_time(now),
        "lastTimestamp": format_time(now),
        "count": 1,
        "source": {"component": names.OPERATOR_MANAGER},
        "reportingComponent": names.OPERATOR_MANAGER,
        "reportingInstance": _INSTANCE,
    }


class KubeApi:
    """One method per request the operator makes."""

    def __init__(self, client: Connection):
        self.client = client

    def close(self) -> None:
        """Close the connection's pooled connections."""
        self.client.close()

    def get_search(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The HyperSearch, or None when it is gone."""
        return self._get_or_none(search_path(namespace, name))

    def list_searches(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every HyperSearch in ``namespace`` (all namespaces when None)."""
        where = f"/namespaces/{_q(namespace)}" if namespace else ""
        found = self.client.request("GET", f"{SEARCHES}{where}/{names.PLURAL}")
        return list(found.get("items") or [])

    def list_trial_pods(
        self, namespace: str, search: str, *, active_only: bool = False
    ) -> list[dict[str, Any]]:
        """The Pods labelled as trials of ``search`` (a fresh, consistent read); with
        ``active_only`` only those not Succeeded or Failed (a field selector: the finished
        ones pile up over a search and need not be read again and again)."""
        query = {"labelSelector": f"{names.SEARCH_LABEL}={search}"}
        if active_only:
            query["fieldSelector"] = "status.phase!=Succeeded,status.phase!=Failed"
        found = self.client.request("GET", f"/api/v1/namespaces/{_q(namespace)}/pods", query=query)
        return list(found.get("items") or [])

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One Pod, or None when it is gone."""
        return self._get_or_none(f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(name)}")

    def create_pod(self, pod: Mapping[str, Any]) -> bool:
        """Create a Pod; False when one of that name exists already (derived names make that
        the same trial, so it counts as done, also when a timed-out create is sent again)."""
        namespace = str(pod["metadata"]["namespace"])
        return self._create_named(f"/api/v1/namespaces/{_q(namespace)}/pods", pod) is not None

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a Pod (already gone is fine)."""
        try:
            self.client.request("DELETE", f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(name)}")
        except ApiError as err:
            if not err.not_found:
                raise

    def list_trial_workloads(self, kind: str, namespace: str, search: str) -> list[dict[str, Any]]:
        """The Jobs or JobSets (``kind``) labelled as trials of ``search``, page by page (each
        item gets its ``kind``: a LIST leaves it out)."""
        items = self._pages(self._workloads(kind, namespace), f"{names.SEARCH_LABEL}={search}")
        return [{**item, "kind": kind} for item in items]

    def get_workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One Job or JobSet, or None when it is gone."""
        return self._get_or_none(f"{self._workloads(kind, namespace)}/{_q(name)}")

    def create_workload(self, obj: Mapping[str, Any]) -> bool:
        """Create a Job or JobSet; False when one of that name exists already (a derived name:
        the same trial)."""
        path = self._workloads(str(obj["kind"]), str(obj["metadata"]["namespace"]))
        return self._create_named(path, obj) is not None

    def delete_workload(self, kind: str, namespace: str, name: str) -> None:
        """Delete a Job or JobSet in the foreground: it goes once its Pods (and a JobSet's Jobs)
        are gone, so a stopped trial's resources are free when it disappears (already gone is
        fine)."""
        try:
            self.client.request(
                "DELETE",
                f"{self._workloads(kind, namespace)}/{_q(name)}",
                query={"propagationPolicy": "Foreground"},
            )
        except ApiError as err:
            if not err.not_found:
                raise

    def list_pods(
        self, namespace: str, selector: str, *, pending_only: bool = False
    ) -> list[dict[str, Any]]:
        """The Pods of ``namespace`` that ``selector`` (a label selector) picks; with
        ``pending_only`` only those in phase Pending (a field selector)."""
        query = {"labelSelector": selector}
        if pending_only:
            query["fieldSelector"] = "status.phase=Pending"
        found = self.client.request("GET", f"/api/v1/namespaces/{_q(namespace)}/pods", query=query)
        return list(found.get("items") or [])

    def list_kueue_workloads(self, namespace: str, job_uids: Sequence[str]) -> list[dict[str, Any]]:
        """Kueue's Workloads of the Jobs or JobSets ``job_uids`` in ``namespace`` (why a trial
        waits or was evicted), selected by Kueue's job-uid label, ``KUEUE_UIDS_PER_LIST`` uids
        a request; none when Kueue is not installed."""
        path = f"{KUEUE_WORKLOADS}/namespaces/{_q(namespace)}/workloads"
        found: list[dict[str, Any]] = []
        try:
            for start in range(0, len(job_uids), KUEUE_UIDS_PER_LIST):
                chunk = ",".join(job_uids[start : start + KUEUE_UIDS_PER_LIST])
                found += self._pages(path, f"{KUEUE_JOB_UID_LABEL} in ({chunk})")
        except ApiError as err:
            if err.not_found:
                return []
            raise
        return found

    def serves(self, group_version: str, plural: str) -> bool:
        """Whether the API server serves ``plural`` in ``group_version`` (a CRD installed)."""
        try:
            found = self.client.request("GET", f"/apis/{group_version}")
        except ApiError as err:
            if err.not_found:
                return False
            raise
        return any(r.get("name") == plural for r in found.get("resources") or [])

    def _create_named(self, path: str, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """POST an object of a derived name: the object created, or None when it exists already
        (the same trial, so it counts as done, also when a timed-out create is sent again)."""
        try:
            created: dict[str, Any] = self.client.request(
                "POST",
                path,
                query={"fieldManager": names.OPERATOR_MANAGER},
                body=obj,
                idempotent=True,  # a derived name: a repeat answers AlreadyExists
            )
        except ApiError as err:
            if err.conflict:
                return None
            raise
        return created

    def _get_or_none(self, path: str) -> dict[str, Any] | None:
        """GET ``path``; None when it is not there (gone, or never made)."""
        try:
            found: dict[str, Any] = self.client.request("GET", path)
        except ApiError as err:
            if err.not_found:
                return None
            raise
        return found

    @staticmethod
    def _workloads(kind: str, namespace: str) -> str:
        prefix, plural = _WORKLOADS[kind]
        return f"{prefix}/namespaces/{_q(namespace)}/{plural}"

    def list_trials(
        self, namespace: str, search: str, *, unfinished_only: bool = False
    ) -> list[dict[str, Any]]:
        """The HyperSearchTrials of ``search``, page by page; with ``unfinished_only`` only
        those without the finished label (the only ones whose record can still change)."""
        selector = f"{names.SEARCH_LABEL}={search}"
        if unfinished_only:
            selector += f",!{names.FINISHED_LABEL}"
        return self._pages(trials_path(namespace), selector)

    def list_all_trials(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every HyperSearchTrial in ``namespace`` (all namespaces when None), page by page:
        the readers' one request for the trials of every search they show."""
        where = f"/namespaces/{_q(namespace)}" if namespace else ""
        return self._pages(f"{SEARCHES}{where}/{names.TRIAL_PLURAL}", names.SEARCH_LABEL)

    def _pages(self, path: str, selector: str) -> list[dict[str, Any]]:
        """Every item of a LIST, ``LIST_PAGE`` at a time (a continue token per page)."""
        items: list[dict[str, Any]] = []
        query = {"labelSelector": selector, "limit": str(LIST_PAGE)}
        while True:
            found = self.client.request("GET", path, query=query)
            items.extend(found.get("items") or [])
            token = (found.get("metadata") or {}).get("continue")
            if not token:
                return items
            query = {**query, "continue": str(token)}

    def create_trial(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create a HyperSearchTrial; None when one of that name exists already (a derived
        name: the same trial, so it counts as done)."""
        return self._create_named(trials_path(str(obj["metadata"]["namespace"])), obj)

    def apply_trial_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Server-side apply of the operator's part of a HyperSearchTrial's status."""
        result: dict[str, Any] = status_write.apply_trial_status(
            self.client, namespace, name, status, names.OPERATOR_MANAGER
        )
        return result

    def mark_trial_finished(self, namespace: str, name: str) -> dict[str, Any]:
        """Set the finished label of a HyperSearchTrial (a merge patch of one label)."""
        result: dict[str, Any] = self.client.request(
            "PATCH",
            trial_path(namespace, name),
            query={"fieldManager": names.OPERATOR_MANAGER},
            body={"metadata": {"labels": {names.FINISHED_LABEL: "true"}}},
            content_type=MERGE_PATCH,
        )
        return result

    def apply_status(
        self, namespace: str, name: str, status: Mapping[str, Any], manager: str
    ) -> dict[str, Any]:
        """Server-side apply of ``status`` as ``manager`` (forced: it owns what it sends)."""
        result: dict[str, Any] = status_write.apply_status(
            self.client, namespace, name, status, manager
        )
        return result

    def drop_managers(
        self, namespace: str, name: str, found: Sequence[tuple[int, str]]
    ) -> dict[str, Any] | None:
        """Remove managedFields entries (index, manager) from a HyperSearch, each guarded by a
        JSON-patch ``test`` of its manager name, so a list that moved meanwhile is left alone.

        Why: every trial's sidecar applies with its own field manager, and an entry stays in
        managedFields as long as its manager owns a field; after the operator has taken over a
        finished trial's report, dropping the sidecar's entry keeps the object small (see
        docs/operator.md, "Status size"). The patched object, or None when the guard failed
        (try again later).
        """
        patch: list[dict[str, Any]] = []
        for index, manager in sorted(found, reverse=True):
            path = f"/metadata/managedFields/{index}"
            patch.append({"op": "test", "path": f"{path}/manager", "value": manager})
            patch.append({"op": "remove", "path": path})
        if not patch:
            return None
        try:
            result: dict[str, Any] = self.client.request(
                "PATCH",
                search_path(namespace, name),
                query={"fieldManager": names.OPERATOR_MANAGER},
                body=patch,
                content_type=JSON_PATCH,
                idempotent=True,  # guarded: a repeat fails its tests (422) and changes nothing
            )
        except ApiError as err:
            if err.status in (409, 422) or err.not_found:
                return None
            raise
        return result

    def apply(self, obj: Mapping[str, Any], manager: str = names.OPERATOR_MANAGER) -> None:
        """Server-side apply of a namespaced object of a kind listed in ``_KINDS``."""
        meta = obj["metadata"]
        prefix, plural = _KINDS[(str(obj["apiVersion"]), str(obj["kind"]))]
        self.client.request(
            "PATCH",
            f"{prefix}/namespaces/{_q(meta['namespace'])}/{plural}/{_q(meta['name'])}",
            query={"fieldManager": manager, "force": "true"},
            body=obj,
            content_type=APPLY_PATCH,
        )

    def post_event(
        self,
        involved: Mapping[str, Any],
        kind: str,
        reason: str,
        message: str,
        now: float,
    ) -> None:
        """Record a core/v1 Event about ``involved`` (a HyperSearch dict): kubectl describe
        shows it. ``kind`` is Normal or Warning."""
        meta = involved["metadata"]
        event = event_manifest(involved, kind, reason, message, now)
        self.client.request(
            "POST", f"/api/v1/namespaces/{_q(meta['namespace'])}/events", body=event
        )
