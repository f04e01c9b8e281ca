"""A stopped API server stalls a search, and the search goes on afterwards with nothing lost
or repeated; the stall is written as the Stalled condition once writes work again.

The API server is frozen with SIGSTOP for longer than the operator's read timeout and stall
threshold (both set small in the operator's configuration), then resumed with SIGCONT: its
port still accepts connections, so requests time out rather than being refused, as with an
overloaded server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from .operator_harness import (
    condition,
    finish_trial,
    get_search,
    operator_with,
    running_pods,
    search_manifest,
    search_when,
    trial_pods,
    wait_for,
)
from .plane import ControlPlane

pytestmark = pytest.mark.integration

CONFIG = """
timeouts:
  apiConnectSeconds: 1
  apiReadSeconds: 2
  stallSeconds: 4
  resyncSeconds: 2
"""
PAUSE_SECONDS = 15


def apiserver_pid(plane: ControlPlane) -> int:
    return int((plane.kubeconfig.parent / "pids" / "kube-apiserver.pid").read_text().strip())


def test_a_search_stalled_by_a_frozen_api_server_goes_on_and_says_so(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    manifest = search_manifest("stall", max_trials=4, parallelism=2)
    with operator_with(testplane, namespace, tmp_path, manifest, config=CONFIG) as operator:
        wait_for(lambda: len(running_pods(testplane, namespace, "stall")) == 2, "two trials")
        pid = apiserver_pid(testplane)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_SECONDS)  # the operator's resyncs time out meanwhile
        finally:
            os.kill(pid, signal.SIGCONT)
        search = search_when(
            testplane,
            namespace,
            "stall",
            lambda s: condition(s, "Stalled") is not None,
            "the Stalled condition",
        )
        stalled = condition(search, "Stalled")
        assert stalled is not None
        assert (stalled["status"], stalled["reason"]) == ("False", "Recovered")
        assert stalled["message"].startswith("reconciles failed for ")
        assert "then writes worked again" in stalled["message"]
        assert "recovered: reconciles failed for" in operator.tail(400)
        for name in ("stall-0000", "stall-0001", "stall-0002", "stall-0003"):

            def pod_running(name: str = name) -> bool:
                return any(
                    p["metadata"]["name"] == name
                    for p in running_pods(testplane, namespace, "stall")
                )

            wait_for(pod_running, f"{name} running")
            finish_trial(
                testplane, namespace, search="stall", pod=name, value=0.5, workdir=tmp_path
            )
        search = search_when(
            testplane,
            namespace,
            "stall",
            lambda s: (s.get("status") or {}).get("phase") == "Succeeded",
            "the search to succeed",
        )
    assert search["status"]["counts"]["succeeded"] == 4
    assert search["status"]["counts"]["trials"] == 4
    assert sorted(p["metadata"]["name"] for p in trial_pods(testplane, namespace, "stall")) == [
        "stall-0000",
        "stall-0001",
        "stall-0002",
        "stall-0003",
    ]
    assert get_search(testplane, namespace, "stall")["status"]["phase"] == "Succeeded"
