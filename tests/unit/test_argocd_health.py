"""The Argo CD health check's verdicts on sample HyperSearch objects, run in a real Lua (lupa).

Argo CD runs the script with the live object as the global ``obj`` and reads the returned
table's ``status`` and ``message``; these tests do the same.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pytest
import yaml
from lupa import LuaRuntime

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "deploy" / "argocd"
SCRIPT = (ARGOCD / "health-hypersearch.lua").read_text()


@runtime_checkable
class LuaTable(Protocol):
    """What a Lua table returned to Python offers: lupa types ``execute``'s result as object."""

    def __getitem__(self, key: str) -> object: ...


def verdict(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) the health script returns for ``obj``."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals()["obj"] = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    assert isinstance(result, LuaTable), f"the health script returned {result!r}, not a table"
    return str(result["status"]), str(result["message"])


def search(status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "hypersearch.io/v1alpha1",
        "kind": "HyperSearch",
        "metadata": {"name": "cifar", "namespace": "ml", "generation": generation},
        "spec": {"maxTrials": 21},
    }
    if status is not None:
        obj["status"] = status
    return obj


def cond(kind: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def trials(*phases: str) -> list[dict[str, Any]]:
    return [{"name": f"cifar-{i:04d}", "phase": p} for i, p in enumerate(phases)]


BEST = {"trial": "cifar-0007", "params": {"lr": 0.01}, "value": 0.823}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "a new search the operator has not seen",
        search(),
        "Progressing",
        "Waiting for the hypersearch operator to start the search",
    ),
    (
        "a status without conditions or phase",
        search({"observedGeneration": 1}),
        "Progressing",
        "Waiting for the hypersearch operator to start the search",
    ),
    (
        "a spec change the operator has not observed yet",
        search(
            {"observedGeneration": 1, "conditions": [cond("Succeeded", reason="MaxTrialsReached")]},
            2,
        ),
        "Progressing",
        "Waiting for the operator to observe generation 2 (observed 1)",
    ),
    (
        "a running search counts its trials from status.trials",
        search(
            {
                "observedGeneration": 1,
                "conditions": [cond("Running", reason="TrialsRunning", message="3 trials running")],
                "trials": trials("Succeeded", "Failed", "Running", "Running", "Pending"),
                "best": BEST,
            }
        ),
        "Progressing",
        "TrialsRunning: 3 trials running (2 trials finished, 2 running, 1 pending); "
        "best cifar-0007 = 0.823",
    ),
    (
        "a running search prefers status.counts",
        search(
            {
                "conditions": [cond("Running")],
                "counts": {"pending": 0, "running": 3, "succeeded": 10, "failed": 1},
            }
        ),
        "Progressing",
        "The search is running (11 trials finished, 3 running, 0 pending)",
    ),
    (
        "a succeeded search names the best trial",
        search(
            {
                "observedGeneration": 1,
                "conditions": [
                    cond("Running", "False", "Finished"),
                    cond("Succeeded", reason="MaxTrialsReached", message="21 of 21 trials ran"),
                ],
                "best": BEST,
            }
        ),
        "Healthy",
        "MaxTrialsReached: 21 of 21 trials ran; best cifar-0007 = 0.823",
    ),
    (
        "a failed search is degraded with the reason",
        search(
            {
                "observedGeneration": 1,
                "conditions": [
                    cond("Succeeded", "False", "MaxFailedTrialsExceeded"),
                    cond(
                        "Failed",
                        reason="MaxFailedTrialsExceeded",
                        message="4 trials failed, more than maxFailedTrials=3",
                    ),
                ],
            }
        ),
        "Degraded",
        "MaxFailedTrialsExceeded: 4 trials failed, more than maxFailedTrials=3",
    ),
    (
        "failed wins over a stale succeeded condition",
        search(
            {"conditions": [cond("Succeeded"), cond("Failed", reason="InvalidSpec", message="bad")]}
        ),
        "Degraded",
        "InvalidSpec: bad",
    ),
    (
        "conditions with status False do not count",
        search({"conditions": [cond("Failed", "False"), cond("Succeeded", "False")]}),
        "Progressing",
        "Waiting for the hypersearch operator to start the search",
    ),
    (
        "phase only: succeeded",
        search({"phase": "Succeeded", "best": BEST}),
        "Healthy",
        "The search finished; best cifar-0007 = 0.823",
    ),
    ("phase only: failed", search({"phase": "Failed"}), "Degraded", "The search failed"),
    ("phase only: running", search({"phase": "Running"}), "Progressing", "The search is running"),
]


@pytest.mark.parametrize(
    ("obj", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_health_verdict(obj: dict[str, Any], status: str, message: str) -> None:
    assert verdict(obj) == (status, message)


def test_argocd_cm_embeds_the_health_script_verbatim() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert cm["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}
    assert cm["data"]["resource.customizations.health.hypersearch.io_HyperSearch"] == SCRIPT


def test_ignore_differences_selects_only_the_operators_bookkeeping_annotations() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    rules = yaml.safe_load(
        cm["data"]["resource.customizations.ignoreDifferences.hypersearch.io_HyperSearch"]
    )
    [expression] = rules["jqPathExpressions"]
    live = search()
    live["metadata"]["annotations"] = {
        "kopf.zalando.org/last-handled-configuration": "{}",
        "kopf.zalando.org/reconcile": "{}",
        "hypersearch.io/last-handled-configuration": "{}",
        "hypersearch.io/owner-team": "vision",
        "team": "vision",
    }
    bare = search()

    def paths(obj: dict[str, Any]) -> list[list[str]]:
        proc = subprocess.run(
            ["jq", "-c", f"path({expression})"],
            input=json.dumps(obj),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return [json.loads(line) for line in proc.stdout.splitlines()]

    assert sorted(paths(live)) == [
        ["metadata", "annotations", "hypersearch.io/last-handled-configuration"],
        ["metadata", "annotations", "kopf.zalando.org/last-handled-configuration"],
        ["metadata", "annotations", "kopf.zalando.org/reconcile"],
    ]
    assert paths(bare) == []
