"""Kueue objects the tests share: a GPU ClusterQueue with its flavor and LocalQueue, priority
classes, and readers of Kueue's Workloads and conditions (docs/testplane.md, "Kueue facts")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from .plane import ControlPlane, wait_until

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"


@dataclass(frozen=True)
class Queue:
    """A ResourceFlavor, a ClusterQueue with a GPU quota over it, and a LocalQueue in one
    namespace: the cluster-scoped names carry a random suffix (tests of several sessions share
    one plane)."""

    flavor: str
    cluster_queue: str
    local_queue: str
    namespace: str

    @property
    def suffix(self) -> str:
        return self.cluster_queue.removeprefix("gpus-")


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return None


def is_true(obj: dict[str, Any], kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond["status"] == "True"


@pytest.fixture
def gpu_queue(kueue_plane: ControlPlane, namespace: str) -> Iterator[Queue]:
    """2 GPUs of quota (on the K80 nodes, which have 8 together), preemption of lower-priority
    workloads within the ClusterQueue."""
    suffix = uuid.uuid4().hex[:6]
    queue = Queue(f"k80-{suffix}", f"gpus-{suffix}", "trials", namespace)
    kueue_plane.apply(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ResourceFlavor",
            "metadata": {"name": queue.flavor},
            "spec": {"nodeLabels": {"hypersearch.io/machine-type": "K80"}},
        }
    )
    kueue_plane.apply(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ClusterQueue",
            "metadata": {"name": queue.cluster_queue},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "queueingStrategy": "BestEffortFIFO",
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                        "flavors": [
                            {
                                "name": queue.flavor,
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "64"},
                                    {"name": "memory", "nominalQuota": "256Gi"},
                                    {"name": "nvidia.com/gpu", "nominalQuota": "2"},
                                ],
                            }
                        ],
                    }
                ],
            },
        }
    )
    kueue_plane.apply(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": {"name": queue.local_queue},
            "spec": {"clusterQueue": queue.cluster_queue},
        },
        namespace,
    )

    def cluster_queue_active() -> bool:
        cq = kueue_plane.get_json("clusterqueue", queue.cluster_queue)
        return is_true(cq, "Active")

    wait_until(cluster_queue_active, f"ClusterQueue {queue.cluster_queue} Active", timeout=60)
    try:
        yield queue
    finally:
        # Namespaced objects go with the namespace; Kueue's finalizers hold these two until
        # the namespace's workloads are gone.
        kueue_plane.kubectl(
            "delete",
            "clusterqueue",
            queue.cluster_queue,
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )
        kueue_plane.kubectl(
            "delete",
            "resourceflavor",
            queue.flavor,
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )


@contextmanager
def priority_classes(plane: ControlPlane, queue: Queue) -> Iterator[tuple[str, str]]:
    """A low (100) and a high (1000) WorkloadPriorityClass, named after the queue, deleted
    afterwards."""
    low, high = f"low-{queue.suffix}", f"high-{queue.suffix}"
    for name, value in ((low, 100), (high, 1000)):
        plane.apply(
            {
                "apiVersion": "kueue.x-k8s.io/v1beta1",
                "kind": "WorkloadPriorityClass",
                "metadata": {"name": name},
                "value": value,
                "description": "hypersearch test plane",
            }
        )
    try:
        yield low, high
    finally:
        plane.kubectl(
            "delete", "workloadpriorityclass", low, high, "--ignore-not-found", check=False
        )


def workload_of(plane: ControlPlane, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """The Kueue Workload owned by the Job or JobSet `name` ({} while there is none)."""
    for wl in plane.get_json("workloads", "-n", namespace)["items"]:
        for ref in wl["metadata"].get("ownerReferences") or []:
            if ref["kind"] == kind and ref["name"] == name:
                return dict(wl)
    return {}
