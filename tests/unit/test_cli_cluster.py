"""The CLI's cluster side: what it applies, what it prints while following, how it ends."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Mapping
from typing import Any

import pytest

from hypersearch.cli.cluster import (
    CLI_MANAGER,
    ClusterError,
    ClusterSearch,
    follow,
    progress_line,
    read_search,
    show,
    submit,
)
from hypersearch.kube.wire import ApiError
from hypersearch.report.cluster import view_from_object

MANIFEST: dict[str, Any] = {
    "apiVersion": "hypersearch.io/v1alpha1",
    "kind": "HyperSearch",
    "metadata": {"name": "lr-search"},
    "spec": {
        "algorithm": {"name": "random", "seed": 1},
        "objective": {"metric": "val_acc", "goal": "maximize"},
        "parameters": [{"name": "lr", "type": "float", "min": 1e-4, "max": 0.1, "scale": "log"}],
        "maxTrials": 3,
        "parallelism": 2,
        "trial": {
            "template": {
                "spec": {"containers": [{"name": "t", "image": "t:1", "command": ["t", ":lr:"]}]}
            }
        },
    },
}


def entry(index: int, phase: str, value: float | None = None, **extra: Any) -> dict[str, Any]:
    found = {
        "name": f"lr-search-{index:04d}",
        "index": index,
        "params": {"lr": 0.001 * (index + 1)},
    }
    found["phase"] = phase
    if value is not None:
        found["value"] = value
    return {**found, **extra}


def searched(*trials: dict[str, Any], finished: str | None = None, message: str = "") -> Any:
    obj = copy.deepcopy(MANIFEST)
    obj["metadata"]["namespace"] = "team-a"
    obj["status"] = {"trials": list(trials)}
    if finished:
        obj["status"]["conditions"] = [
            {"type": finished, "status": "True", "reason": "MaxTrialsReached", "message": message}
        ]
    return obj


class FakeApi:
    def __init__(self, *objects: dict[str, Any] | None, error: ApiError | None = None) -> None:
        self.objects = list(objects)
        self.applied: list[tuple[Mapping[str, Any], str]] = []
        self.error = error
        self.records: list[dict[str, Any]] = []

    def list_trials(self, namespace: str, search: str) -> list[dict[str, Any]]:
        return self.records

    def apply(self, obj: Mapping[str, Any], manager: str) -> None:
        if self.error:
            raise self.error
        self.applied.append((obj, manager))

    def get_search(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.error:
            raise self.error
        return self.objects.pop(0) if len(self.objects) > 1 else self.objects[0]


def test_submit_applies_the_manifest_in_the_namespace_as_the_cli() -> None:
    api = FakeApi()
    submit(api, MANIFEST, "team-a")
    [(obj, manager)] = api.applied
    assert manager == CLI_MANAGER
    assert obj["metadata"] == {"name": "lr-search", "namespace": "team-a"}
    assert obj["spec"] == MANIFEST["spec"]
    assert "namespace" not in MANIFEST["metadata"]


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (404, "the cluster does not know HyperSearch (hypersearch.io/v1alpha1); install the CRD"),
        (403, "forbidden in namespace team-a (no); ask for a Role that may get and patch"),
        (422, "the API server refused the HyperSearch: no"),
        (401, "the cluster refused the kubeconfig's credentials (no); check that kubectl works"),
        (0, "cannot reach the cluster to submit HyperSearch team-a/lr-search"),
    ],
)
def test_a_refused_submit_says_what_to_check(status: int, says: str) -> None:
    api = FakeApi(error=ApiError(status, "Reason", "no", "PATCH", "/apis/x"))
    with pytest.raises(ClusterError) as err:
        submit(api, MANIFEST, "team-a")
    assert says in str(err.value)


def test_a_missing_search_names_where_it_looked() -> None:
    api = FakeApi(None)
    with pytest.raises(ClusterError) as err:
        read_search(api, "team-a", "nope")
    assert str(err.value) == (
        "HyperSearch team-a/nope not found; check the name with 'kubectl get hs -n team-a' or "
        "pass --namespace"
    )


def test_the_progress_line_counts_trials_and_names_the_best() -> None:
    view = view_from_object(
        searched(entry(0, "Succeeded", 0.8), entry(1, "Failed"), entry(2, "Running"))
    )
    assert progress_line(view) == (
        "[2/3 done, 1 running, 1 failed, best val_acc 0.8 (lr-search-0000), Running]"
    )


def test_the_progress_line_counts_early_stopped_trials_as_done_and_not_as_best() -> None:
    view = view_from_object(
        searched(entry(0, "Succeeded", 0.8), entry(1, "EarlyStopped", 0.9), entry(2, "Running"))
    )
    assert progress_line(view) == (
        "[2/3 done, 1 running, 0 failed, 1 early-stopped, best val_acc 0.8 (lr-search-0000), "
        "Running]"
    )


def test_the_progress_line_counts_trials_waiting_in_the_queue() -> None:
    view = view_from_object(searched(entry(0, "Running"), entry(1, "Queued"), entry(2, "Queued")))
    assert progress_line(view) == (
        "[0/3 done, 2 queued, 1 running, 0 failed, best val_acc -, Running]"
    )


def test_follow_prints_each_change_once_and_returns_the_finished_search() -> None:
    states = [
        searched(),
        searched(entry(0, "Running")),
        searched(entry(0, "Running")),
        searched(entry(0, "Succeeded", 0.7), entry(1, "Running")),
        searched(entry(0, "Succeeded", 0.7), entry(1, "Succeeded", 0.9), finished="Succeeded"),
    ]
    reads = iter(states)
    naps: list[float] = []
    err = io.StringIO()
    found = follow(
        lambda: read_search(FakeApi(next(reads)), "team-a", "lr-search"),
        err,
        interval=0.5,
        sleep=naps.append,
    )
    assert (found.view.phase, found.reason) == ("Succeeded", "MaxTrialsReached")
    assert err.getvalue().splitlines() == [
        "[0/3 done, 0 running, 0 failed, best val_acc -, Pending]",
        "[0/3 done, 1 running, 0 failed, best val_acc -, Running]",
        "[1/3 done, 1 running, 0 failed, best val_acc 0.7 (lr-search-0000), Running]",
        "[2/3 done, 0 running, 0 failed, best val_acc 0.9 (lr-search-0001), Succeeded]",
    ]
    assert naps == [0.5] * 4


def test_show_prints_the_table_best_first_and_the_best_line() -> None:
    view = view_from_object(
        searched(
            entry(0, "Succeeded", 0.7),
            entry(1, "Failed", reason="OOMKilled", message="the trainer ran out of memory"),
            entry(2, "Succeeded", 0.9),
            finished="Succeeded",
            message="all 3 trials finished",
        )
    )
    out = io.StringIO()
    show(ClusterSearch(view, "MaxTrialsReached"), out, "human")
    lines = out.getvalue().splitlines()
    assert lines[0] == "search team-a/lr-search: 3/3 trials, Succeeded: all 3 trials finished"
    assert [line.split()[0] for line in lines[2:5]] == [
        "lr-search-0002",
        "lr-search-0000",
        "lr-search-0001",
    ]
    assert "  lr-search-0001 OOMKilled: the trainer ran out of memory" in lines
    assert lines[-1] == "best: lr-search-0002 val_acc=0.9 lr=0.003"


def test_show_as_json_says_how_the_search_ended() -> None:
    api = FakeApi(searched(entry(0, "Succeeded", 0.7), finished="Failed", message="x"))
    out = io.StringIO()
    show(read_search(api, "team-a", "lr-search"), out, "json")
    doc = json.loads(out.getvalue())
    assert doc["search"] == {
        "name": "lr-search",
        "finished": True,
        "succeeded": False,
        "reason": "MaxTrialsReached",
        "message": "x",
    }
    assert doc["best"] == {"name": "lr-search-0000", "params": {"lr": 0.001}, "value": 0.7}


class Outage:
    """read_search through a FakeApi that fails with ``errors`` first, then answers ``obj``."""

    def __init__(self, errors: list[ApiError], obj: dict[str, Any]) -> None:
        self.errors = errors
        self.api = FakeApi(obj)

    def __call__(self) -> ClusterSearch:
        if self.errors:
            self.api.error = self.errors.pop(0)
        else:
            self.api.error = None
        return read_search(self.api, "team-a", "lr-search")


def test_follow_rides_out_a_short_outage_and_says_so_once() -> None:
    unreachable = ApiError(0, "ConnectionRefused", "refused", "GET", "/apis/x")
    busy = ApiError(503, "ServiceUnavailable", "etcd leader changed", "GET", "/apis/x")
    read = Outage([unreachable, busy, unreachable], searched(finished="Succeeded"))
    err = io.StringIO()
    found = follow(read, err, interval=1.0, sleep=lambda s: None, clock=iter(range(100)).__next__)
    assert found.view.phase == "Succeeded"
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("hyper: cannot reach the cluster to read HyperSearch team-a/")
    assert lines[0].endswith("; retrying every 1s")
    assert lines[1:] == [
        "hyper: the cluster answers again",
        "[0/3 done, 0 running, 0 failed, best val_acc -, Succeeded]",
    ]


def test_follow_gives_up_when_the_outage_lasts() -> None:
    unreachable = ApiError(0, "ConnectionRefused", "refused", "GET", "/apis/x")
    read = Outage([unreachable] * 50, searched())
    ticks = iter(range(0, 1000, 100))
    with pytest.raises(ClusterError) as err:
        follow(read, io.StringIO(), sleep=lambda s: None, clock=ticks.__next__, outage=600)
    assert str(err.value).endswith("(for 600s; giving up)")


def test_follow_stops_at_once_on_an_error_that_will_not_pass() -> None:
    forbidden = ApiError(403, "Forbidden", "no", "GET", "/apis/x")
    read = Outage([forbidden], searched())
    with pytest.raises(ClusterError) as err:
        follow(read, io.StringIO(), sleep=lambda s: None)
    assert "forbidden in namespace team-a" in str(err.value)
    assert not err.value.transient


def test_follow_says_once_how_to_check_for_an_operator_when_nobody_reconciles() -> None:
    unseen = searched()
    unseen["metadata"]["generation"] = 1
    seen = searched(finished="Succeeded")
    seen["metadata"]["generation"] = 1
    seen["status"]["observedGeneration"] = 1
    reads = iter([unseen, unseen, unseen, unseen, seen])
    ticks = iter([0, 10, 31, 45, 60, 75])
    err = io.StringIO()
    found = follow(
        lambda: read_search(FakeApi(next(reads)), "team-a", "lr-search"),
        err,
        sleep=lambda s: None,
        clock=ticks.__next__,
    )
    assert found.unseen_generation is None
    hints = [line for line in err.getvalue().splitlines() if "no operator" in line]
    assert hints == [
        "hyper: no operator has reconciled generation 1 of this search after 30s; is one "
        "running? kubectl get deployments -A -l app.kubernetes.io/name=hypersearch "
        "(docs/install.md)"
    ]
