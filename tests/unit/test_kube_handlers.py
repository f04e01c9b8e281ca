"""The kopf shell's small decisions: which Pod events matter, backoff after errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hypersearch.controller.config import OperatorConfig
from hypersearch.controller.handlers import CREATED, OperatorState, pod_signature
from hypersearch.controller.reconcile import Outcome, Reconciler
from hypersearch.kube.transport import ApiError, Endpoint


def pod(phase: str, *, deleting: bool = False, unschedulable: bool = False) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True"}]
    if unschedulable:
        conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    meta = {"name": "s-0000"}
    if deleting:
        meta["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    return {"metadata": meta, "status": {"phase": phase, "conditions": conditions}}


def test_a_fresh_pod_has_the_signature_the_operator_records_when_it_creates_one() -> None:
    assert (
        pod_signature({"metadata": {"name": "s-0000"}, "status": {"phase": "Pending"}}) == CREATED
    )


@pytest.mark.parametrize(
    ("before", "after", "matters"),
    [
        (pod("Pending"), pod("Running"), True),
        (pod("Running"), pod("Succeeded"), True),
        (pod("Running"), pod("Running", deleting=True), True),
        (pod("Pending"), pod("Pending", unschedulable=True), True),
        (pod("Running"), pod("Running"), False),
    ],
)
def test_only_pod_changes_a_search_depends_on_trigger_a_reconcile(
    before: dict[str, Any], after: dict[str, Any], matters: bool
) -> None:
    assert (pod_signature(before) != pod_signature(after)) is matters


class Failing(Reconciler):
    def __init__(self, errors: list[Exception]):
        super().__init__(api=None, config=OperatorConfig())  # type: ignore[arg-type]
        self.errors = errors

    def reconcile(self, namespace: str, name: str, now: float) -> Outcome:
        if self.errors:
            raise self.errors.pop(0)
        return Outcome(requeue_after=42.0, started=("s-0001",))


def test_errors_back_off_doubling_and_success_resets_the_streak() -> None:
    failing = Failing(
        [
            ApiError(503, "ServiceUnavailable", "etcd", "GET", "/x"),
            ApiError(0, "Unreachable", "refused", "GET", "/x"),
            RuntimeError("a bug"),
        ]
    )
    state = OperatorState(reconciler=failing, endpoint=Endpoint(server="https://k"))
    delays = [asyncio.run(state.work(("ml", "s"))) for _ in range(4)]
    assert delays == [5.0, 10.0, 20.0, 42.0]
    assert state.failures == {}
    assert state.pod_states[("ml", "s-0001")] == CREATED


def test_a_container_that_cannot_start_changes_the_pod_signature() -> None:
    scheduled = {"metadata": {"name": "s-0000"}, "status": {"phase": "Pending"}}
    stuck = {
        "metadata": {"name": "s-0000"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "trainer", "state": {"waiting": {"reason": "ErrImagePull"}}}
            ],
        },
    }
    assert pod_signature(scheduled) == CREATED
    assert pod_signature(stuck) != pod_signature(scheduled)
