"""Events on a HyperSearch: named so that `kubectl describe` (which sorts by lastTimestamp, in
whole seconds, and keeps the API's order, by name, within a second) lists them as they happened."""

from __future__ import annotations

from typing import Any

from hypersearch.kube import names
from hypersearch.kube.api import event_manifest

T0 = 1_800_000_000.0

SEARCH: dict[str, Any] = {
    "apiVersion": names.API,
    "kind": names.KIND,
    "metadata": {"name": "s", "namespace": "ml", "uid": "u1"},
}


def test_events_of_one_second_are_named_in_the_order_they_happened() -> None:
    times = [T0 + 0.9, T0 + 0.000002, T0 + 0.000001, T0]
    events = [event_manifest(SEARCH, "Normal", "NewBest", "m", t) for t in times]
    by_name = sorted(events, key=lambda e: e["metadata"]["name"])
    assert [e["eventTime"] for e in by_name] == [
        "2027-01-15T08:00:00.000000Z",
        "2027-01-15T08:00:00.000001Z",
        "2027-01-15T08:00:00.000002Z",
        "2027-01-15T08:00:00.900000Z",
    ]
    assert {(e["firstTimestamp"], e["lastTimestamp"]) for e in events} == {
        ("2027-01-15T08:00:00Z", "2027-01-15T08:00:00Z")
    }
    assert all(e["metadata"]["name"].startswith("s.") for e in events)


def test_an_event_names_the_search_and_what_the_api_server_requires_with_an_event_time() -> None:
    event = event_manifest(SEARCH, "Warning", "TrialFailed", "x" * 2000, T0)
    assert event["involvedObject"] == {
        "apiVersion": names.API,
        "kind": names.KIND,
        "name": "s",
        "namespace": "ml",
        "uid": "u1",
    }
    assert (event["type"], event["reason"], event["action"]) == (
        "Warning",
        "TrialFailed",
        "TrialFailed",
    )
    assert event["reportingComponent"] == names.OPERATOR_MANAGER
    assert event["reportingInstance"]
    assert len(event["message"]) == 1024
    assert event["metadata"]["namespace"] == "ml"
