"""The operator's Events on a real API server: accepted as sent, listed by `kubectl describe`
in the order they happened even within one second."""

from __future__ import annotations

import time

import pytest

from hypersearch.kube.api import KubeApi
from hypersearch.kube.client import connect

from .operator_harness import get_search, install_crd, search_manifest
from .plane import ControlPlane

pytestmark = pytest.mark.integration


def test_describe_lists_events_of_one_second_in_the_order_they_happened(
    testplane: ControlPlane, namespace: str
) -> None:
    install_crd(testplane)
    testplane.apply(search_manifest("told"), namespace)
    search = get_search(testplane, namespace, "told")
    api = KubeApi(connect(str(testplane.kubeconfig)))
    second = float(int(time.time()))
    happened = [("NewBest", "best 0.61"), ("NewBest", "best 0.72"), ("TrialStarted", "third")]
    try:
        for offset, (reason, message) in reversed(list(enumerate(happened))):  # last first
            api.post_event(search, "Normal", reason, message, second + offset * 1e-6)
    finally:
        api.close()

    described = testplane.kubectl("describe", "hs", "told", "-n", namespace).stdout
    listed = described[described.index("Events:") :]

    positions = [listed.index(message) for _, message in happened]
    assert positions == sorted(positions), listed
