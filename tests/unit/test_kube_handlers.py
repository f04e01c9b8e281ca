"""The kopf shell's small decisions: which Pod events matter, backoff after errors."""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from test_kube_reconcile import FakeApi, manifest

from hypersearch.controller.config import OperatorConfig
from hypersearch.controller.handlers import (
    CREATED,
    OperatorState,
    pod_signature,
    workload_signature,
)
from hypersearch.controller.reconcile import Reconciled, Reconciler
from hypersearch.kube.client import Credentials, connect
from hypersearch.kube.wire import ApiError


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


class NoLogin:
    """The connection of a test that never logs in (kopf's login handler is not called)."""

    def credentials(self, stale: str | None = None) -> Credentials:
        raise AssertionError("this test does not log in")


class Failing(Reconciler):
    """A reconciler that raises ``errors`` in turn, then succeeds; it reads nothing."""

    def __init__(self, errors: list[Exception]):
        super().__init__(api=FakeApi(manifest()), config=OperatorConfig())
        self.errors = errors

        self.recovered: list[str | None] = []
        self.posted: list[tuple[str, str, str]] = []

    def reconcile(
        self, namespace: str, name: str, now: float, *, recovered: str | None = None
    ) -> Reconciled:
        if self.errors:
            raise self.errors.pop(0)
        self.recovered.append(recovered)
        return Reconciled(requeue_after=42.0, started=("s-0001",))

    def post(self, body: Any, kind: str, reason: str, message: str, now: float) -> None:
        self.posted.append((kind, reason, message))


def test_a_search_failing_past_the_stall_threshold_is_reported_once_then_recovered() -> None:
    """Reconciles that fail on the API server for longer than timeouts.stallSeconds set the
    gauge and post one Warning Event; the first reconcile that works gets the account of the
    stall to write as the Stalled condition, and the gauge goes."""
    from hypersearch.controller import metrics

    unreachable = ApiError(0, "Timeout", "read timed out", "PATCH", "/x")
    failing = Failing([unreachable] * 4)
    failing.config = OperatorConfig(stall_seconds=120.0)
    times = iter([1000.0, 1060.0, 1130.0, 1200.0, 1260.0])
    state = OperatorState(
        reconciler=failing,
        connection=NoLogin(),
        clock=lambda: next(times),
    )

    def gauge() -> float | None:
        return metrics.METRICS.registry.get_sample_value(
            "hypersearch_search_stalled", {"namespace": "ml", "search": "stall"}
        )

    for _ in range(4):
        asyncio.run(state.work(("ml", "stall")))
    assert [p[:2] for p in failing.posted] == [("Warning", "Stalled")]
    assert failing.posted[0][2].startswith("reconciles failed for 2m10s from 1970-01-01T00:16:40Z")
    assert gauge() == 1.0
    asyncio.run(state.work(("ml", "stall")))
    assert failing.recovered == [
        "reconciles failed for 4m20s from 1970-01-01T00:16:40Z (4 errors; last: PATCH /x: 0 "
        "Timeout: read timed out); then writes worked again"
    ]
    assert gauge() is None
    assert state.stalls == {}


def test_a_short_streak_of_errors_is_no_stall() -> None:
    failing = Failing([ApiError(0, "Unreachable", "refused", "GET", "/x")])
    times = iter([1000.0, 1010.0])
    state = OperatorState(
        reconciler=failing,
        connection=NoLogin(),
        clock=lambda: next(times),
    )
    asyncio.run(state.work(("ml", "short")))
    asyncio.run(state.work(("ml", "short")))
    assert failing.posted == []
    assert failing.recovered == [None]


def test_errors_back_off_doubling_and_success_resets_the_streak() -> None:
    failing = Failing(
        [
            ApiError(503, "ServiceUnavailable", "etcd", "GET", "/x"),
            ApiError(0, "Unreachable", "refused", "GET", "/x"),
            RuntimeError("a bug"),
        ]
    )
    state = OperatorState(reconciler=failing, connection=NoLogin())
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


def test_kopf_logs_in_with_the_connections_token_and_gets_a_new_one_when_it_asks_again(
    tmp_path: Path,
) -> None:
    """kopf asks again after a 401 or when the token expires; the connection then still holds
    the token kopf had, so it must run the plugin rather than hand back the refused token."""
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, pathlib\n"
        f"count = pathlib.Path({str(tmp_path / 'n')!r})\n"
        "n = int(count.read_text()) + 1 if count.exists() else 1\n"
        "count.write_text(str(n))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
        "'kind': 'ExecCredential', 'status': {'token': f'tok{n}', "
        "'expirationTimestamp': '2099-01-01T00:00:00Z'}}))\n"
    )
    config = tmp_path / "config"
    config.write_text(
        json.dumps(
            {
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "clusters": [{"name": "k", "cluster": {"server": "https://10.0.0.1:6443"}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1",
                                "command": sys.executable,
                                "args": [str(script)],
                            }
                        },
                    }
                ],
            }
        )
    )
    connection = connect(str(config))
    state = OperatorState(reconciler=Failing([]), connection=connection)
    try:
        first, second = state.login(), state.login()
    finally:
        connection.close()
    assert (first.server, first.scheme, first.token) == ("https://10.0.0.1:6443", "Bearer", "tok1")
    assert first.expiration == datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC)
    assert (second.scheme, second.token) == ("Bearer", "tok2")


def test_one_reconcile_retrying_past_the_threshold_is_a_stall_once_the_next_one_works() -> None:
    failing = Failing([ApiError(0, "Timeout", "read timed out", "GET", "/x")])
    failing.config = OperatorConfig(stall_seconds=5.0)
    times = iter([1000.0, 1012.0])
    state = OperatorState(
        reconciler=failing,
        connection=NoLogin(),
        clock=lambda: next(times),
    )
    asyncio.run(state.work(("ml", "long")))
    asyncio.run(state.work(("ml", "long")))
    assert failing.recovered == [
        "reconciles failed for 12s from 1970-01-01T00:16:40Z (1 error; last: GET /x: 0 "
        "Timeout: read timed out); then writes worked again"
    ]


def test_a_job_event_matters_when_it_starts_suspends_ends_or_goes_not_when_pods_get_ready() -> None:
    job: dict[str, Any] = {"metadata": {"name": "s-0000"}, "spec": {}, "status": {}}
    signatures = [workload_signature(job)]
    job["status"] = {"startTime": "2026-12-06T10:00:00Z", "active": 2}
    signatures.append(workload_signature(job))
    job["status"]["ready"] = 2
    assert workload_signature(job) == signatures[-1]
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    signatures.append(workload_signature(job))
    job["spec"]["suspend"] = True
    signatures.append(workload_signature(job))
    job["metadata"]["deletionTimestamp"] = "2026-12-06T10:01:00Z"
    signatures.append(workload_signature(job))
    assert len(set(signatures)) == len(signatures)
