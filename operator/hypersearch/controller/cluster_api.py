"""What the reconciler asks of the cluster, as a Protocol: ``kube.api.KubeApi`` satisfies it in
the operator, and the unit tests' in-memory fakes satisfy it too, so a method renamed or removed
on either side fails the type check instead of a test at run time.

The signatures are ``KubeApi``'s, method for method; this module holds no behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class ClusterApi(Protocol):
    """The reads and writes of one reconcile: the search, its trial objects, trial Pods or
    workloads, Kueue's Workloads, status, identity objects and Events."""

    def get_search(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def apply_status(
        self, namespace: str, name: str, status: Mapping[str, Any], manager: str
    ) -> dict[str, Any]: ...

    def drop_managers(
        self, namespace: str, name: str, found: Sequence[tuple[int, str]]
    ) -> dict[str, Any] | None: ...

    def apply(self, obj: Mapping[str, Any], manager: str = ...) -> None: ...

    def post_event(
        self, involved: Mapping[str, Any], kind: str, reason: str, message: str, now: float
    ) -> None: ...

    # --- trial objects (HyperSearchTrial) ---

    def list_trials(
        self, namespace: str, search: str, *, unfinished_only: bool = False
    ) -> list[dict[str, Any]]: ...

    def create_trial(self, obj: Mapping[str, Any]) -> dict[str, Any] | None: ...

    def apply_trial_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def mark_trial_finished(self, namespace: str, name: str) -> dict[str, Any]: ...

    # --- trial Pods ---

    def list_trial_pods(
        self, namespace: str, search: str, *, active_only: bool = False
    ) -> list[dict[str, Any]]: ...

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_pod(self, pod: Mapping[str, Any]) -> bool: ...

    def delete_pod(self, namespace: str, name: str) -> None: ...

    def list_pods(
        self, namespace: str, selector: str, *, pending_only: bool = False
    ) -> list[dict[str, Any]]: ...

    # --- trial workloads (Job, JobSet) and Kueue ---

    def list_trial_workloads(
        self, kind: str, namespace: str, search: str
    ) -> list[dict[str, Any]]: ...

    def get_workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create_workload(self, obj: Mapping[str, Any]) -> bool: ...

    def delete_workload(self, kind: str, namespace: str, name: str) -> None: ...

    def list_kueue_workloads(
        self, namespace: str, job_uids: Sequence[str]
    ) -> list[dict[str, Any]]: ...
