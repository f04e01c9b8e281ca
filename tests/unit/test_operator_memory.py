"""What the operator keeps per search stays bounded: after many searches run and are deleted,
no map, metric series or requeue is left of them, and waiting Events are capped and small.

Issue 14 measured the operator's memory growing with every trial; these are the structures a
long-running operator must not let grow (bench/scale.py measures the process itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from test_kube_handlers import NoLogin
from test_kube_reconcile import FakeApi, manifest

from hypersearch.controller import metrics
from hypersearch.controller.config import OperatorConfig
from hypersearch.controller.event_poster import EVENT_BACKLOG
from hypersearch.controller.handlers import OperatorState
from hypersearch.controller.reconcile import Reconciler
from hypersearch.controller.scheduler import Scheduler
from hypersearch.kube.failures import Timing


class Searches:
    """Several FakeApis behind one KubeApi-like object, one per search name."""

    def __init__(self) -> None:
        self.apis: dict[str, FakeApi] = {}

    def add(self, name: str) -> FakeApi:
        body = manifest(max_trials=6, parallelism=2)
        body["metadata"].update(name=name, uid=f"uid-{name}")
        self.apis[name] = FakeApi(body)
        return self.apis[name]

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if method == "get_search" and args[1] not in self.apis:
                return None  # deleted
            if method in ("apply", "post_event"):
                return getattr(next(iter(self.apis.values())), method)(*args, **kwargs)
            if method in ("create_pod", "create_trial"):
                name = args[0]["metadata"]["labels"]["hypersearch.io/search"]
            elif method in ("get_pod", "delete_pod", "apply_trial_status", "mark_trial_finished"):
                name = args[1].rsplit("-", 1)[0]  # trial Pods are named <search>-NNNN
            else:
                name = args[1]
            return getattr(self.apis[name], method)(*args, **kwargs)

        return call


def run_to_the_end(reconciler: Reconciler, api: FakeApi, name: str) -> None:
    now = 1_800_000_000.0
    for _ in range(40):
        outcome = reconciler.reconcile("ml", name, now)
        if outcome.finished:
            return
        for pod in list(api.pods):
            if api.pods[pod]["status"]["phase"] == "Pending":
                api.run(pod)
                api.succeed(pod)
                api.report(pod, 0.5)
        now += 1
    raise AssertionError(f"search {name} did not finish")


def test_nothing_is_left_of_forty_searches_after_they_are_deleted() -> None:
    """The series left after one search came and went (the cluster-wide ones, the algorithm's
    histogram) are all that is left after forty more: nothing per search or per trial."""
    searches = Searches()
    config = OperatorConfig(timing=Timing(), resync_seconds=600)
    reconciler = Reconciler(searches, config)
    state = OperatorState(reconciler=reconciler, connection=NoLogin())

    def run_and_delete(names: list[str]) -> int:
        for name in names:
            run_to_the_end(reconciler, searches.add(name), name)
        during = metrics.METRICS.series()
        for name in names:
            del searches.apis[name]
            state.forget(("ml", name))  # the DELETED event
            reconciler.reconcile("ml", name, 1_800_000_100.0)  # a requeue firing afterwards
        return during

    run_and_delete(["first"])
    after_one = metrics.METRICS.series()
    during = run_and_delete([f"s{i}" for i in range(40)])
    assert during > after_one
    assert metrics.METRICS.series() == after_one
    assert reconciler.kept() == 0
    assert (state.failures, state.stalls, state.pod_states) == ({}, {}, {})


def test_a_deleted_searchs_requeue_is_dropped() -> None:
    async def scenario() -> tuple[int, int]:
        async def work(key: tuple[str, str]) -> float:
            return 600.0

        scheduler = Scheduler(work)
        for i in range(100):
            scheduler.trigger(("ml", f"s{i}"))
        while not scheduler.idle:
            await asyncio.sleep(0)
        waiting = scheduler.waiting
        for i in range(100):
            scheduler.forget(("ml", f"s{i}"))
        return waiting, scheduler.waiting

    assert asyncio.run(scenario()) == (100, 0)


class Stuck(Executor):
    """An executor whose workers never get to run (an API server that does not answer)."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Any, ...]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.waiting.append(args)
        return Future()


def test_events_waiting_to_be_posted_are_capped_and_hold_no_search_body() -> None:
    stuck = Stuck()
    api = FakeApi(manifest())
    api.search["status"] = {"trials": [{"name": f"t{i}", "params": {}} for i in range(1000)]}
    reconciler = Reconciler(api, OperatorConfig(), stuck)
    dropped = metrics.METRICS.registry.get_sample_value(
        "hypersearch_events_dropped_total", {"reason": "TrialStarted"}
    )
    for i in range(EVENT_BACKLOG + 25):
        reconciler.post(api.search, "Normal", "TrialStarted", f"trial {i}", 1.0)
    assert len(stuck.waiting) == EVENT_BACKLOG
    assert (
        metrics.METRICS.registry.get_sample_value(
            "hypersearch_events_dropped_total", {"reason": "TrialStarted"}
        )
        == (dropped or 0) + 25
    )
    assert stuck.waiting[0][0] == {"metadata": {"name": "s", "namespace": "ml", "uid": "u1"}}
