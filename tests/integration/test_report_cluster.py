"""`hyper report hs/NAME` and the cluster web view read HyperSearches from a real API server.

No operator runs here: the test writes the status an operator would (server-side apply to the
status subresource, validated by the real CRD schema), so what the report shows is known.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest

from hypersearch.cli import main
from hypersearch.kube.api import KubeApi
from hypersearch.kube.client import connect
from hypersearch.report.cluster import cluster_source
from hypersearch.report.serve import make_server

from .operator_harness import install_crd, search_manifest
from .plane import ControlPlane

pytestmark = pytest.mark.integration

STATUS: dict[str, Any] = {
    "phase": "Running",
    "message": "2 of 3 trials finished",
    "trials": [
        {
            "name": "rep-0000",
            "index": 0,
            "params": {"units": 64, "lr": 0.01},
            "phase": "Succeeded",
            "value": 0.82,
            "curve": [[1, 0.5], [2, 0.7], [3, 0.82]],
            "startedAt": "2026-11-27T10:00:00Z",
            "finishedAt": "2026-11-27T10:04:00Z",
        },
        {
            "name": "rep-0001",
            "index": 1,
            "params": {"units": 256, "lr": 0.0005},
            "phase": "Failed",
            "reason": "OOMKilled",
            "message": "the trainer ran out of memory",
            "prediction": {"mean": 0.7, "std": 0.05, "ucb": 0.8},
        },
        {
            "name": "rep-0002",
            "index": 2,
            "params": {"units": 32, "lr": 0.002},
            "phase": "Running",
            "curve": [[1, 0.4]],
            "prediction": {"mean": 0.75, "std": 0.1, "ucb": 0.95},
        },
    ],
}


@pytest.fixture
def api(testplane: ControlPlane) -> Iterator[KubeApi]:
    client = KubeApi(connect(str(testplane.kubeconfig)))
    try:
        yield client
    finally:
        client.close()


def write_search(testplane: ControlPlane, api: KubeApi, namespace: str) -> None:
    install_crd(testplane)
    testplane.apply(search_manifest("rep", max_trials=3), namespace)
    api.apply_status(namespace, "rep", STATUS, manager="report-test")


def embedded(page: str) -> Any:
    start = page.index('id="hs-data">') + len('id="hs-data">')
    return json.loads(page[start : page.index("</script>", start)])


def test_hyper_report_of_a_cluster_search_shows_the_recorded_trials(
    testplane: ControlPlane, api: KubeApi, namespace: str, tmp_path: Path
) -> None:
    write_search(testplane, api, namespace)
    out = tmp_path / "rep.html"
    argv = ["report", "hs/rep", "-n", namespace, "--kubeconfig", str(testplane.kubeconfig)]
    assert main([*argv, "-o", str(out)]) == 0
    data = embedded(out.read_text())
    assert (data["key"], data["phase"], data["message"]) == (
        f"{namespace}/rep",
        "Running",
        "2 of 3 trials finished",
    )
    assert [(t["name"], t["phase"], t["value"]) for t in data["trials"]] == [
        ("rep-0000", "Succeeded", 0.82),
        ("rep-0001", "Failed", None),
        ("rep-0002", "Running", None),
    ]
    assert data["trials"][0]["curves"] == {"val_acc": [[1.0, 0.5], [2.0, 0.7], [3.0, 0.82]]}
    assert data["trials"][2]["prediction"] == {"mean": 0.75, "std": 0.1, "ucb": 0.95}
    assert data["trials"][1]["reason"] == "OOMKilled"
    assert [p["axis"] for p in data["params"]] == ["linear", "log"]


def test_hyper_report_of_a_missing_cluster_search_says_how_to_find_it(
    testplane: ControlPlane, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    install_crd(testplane)
    argv = ["report", "hs/nope", "-n", namespace, "--kubeconfig", str(testplane.kubeconfig)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"hyper: HyperSearch {namespace}/nope not found; check the name with "
        f"'kubectl get hs -n {namespace}' or pass --namespace\n"
    )


def test_the_cluster_web_view_serves_the_namespace_searches(
    testplane: ControlPlane, api: KubeApi, namespace: str
) -> None:
    write_search(testplane, api, namespace)
    server = make_server(cluster_source(lambda: api.list_searches(namespace)), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        conn = HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
        try:
            conn.request("GET", f"/api/searches/{namespace}/rep")
            response = conn.getresponse()
            body = json.loads(response.read())
        finally:
            conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert response.status == 200
    assert body["counts"] == {
        "Queued": 0,
        "Pending": 0,
        "Running": 1,
        "Succeeded": 1,
        "Failed": 1,
        "EarlyStopped": 0,
        "total": 3,
    }
    assert body["best"] == {"trial": "rep-0000", "value": 0.82}
