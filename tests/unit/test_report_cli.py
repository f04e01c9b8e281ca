"""``hyper report`` turns a local journal into one HTML file showing what the journal holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from builders import manifest

from hypersearch.cli import main
from hypersearch.core.params import Params
from hypersearch.core.trials import Observation, Prediction
from hypersearch.local.state import open_state

PARAMS: list[Params] = [
    {"conv2_filter": 32, "dropout_3": 0.2, "lr": 0.01, "optimizer": "adam"},
    {"conv2_filter": 64, "dropout_3": 0.5, "lr": 0.001, "optimizer": "sgd"},
    {"conv2_filter": 128, "dropout_3": 0.1, "lr": 0.05, "optimizer": "adam"},
]


def journal(
    directory: Path, finished: int, max_trials: int = 3, units: dict[str, str] | None = None
) -> None:
    """A local search with ``finished`` trials done (the second one failed), the next running;
    ``units`` by parameter name, ``objective`` for the metric's."""
    doc = manifest(maxTrials=max_trials, algorithm={"name": "random", "seed": 1})
    for param in doc["spec"]["parameters"]:
        if units and param["name"] in units:
            param["unit"] = units[param["name"]]
    if units and "objective" in units:
        doc["spec"]["objective"]["unit"] = units["objective"]
    state = open_state(directory, "cifar10-bayes", doc)
    try:
        j = state.journal
        for index, params in enumerate(PARAMS[: finished + 1]):
            name = f"cifar10-bayes-{index:04d}"
            j.add_trial(name, index, dict(params), Prediction(0.5, 0.1, 0.7), now=100.0 + index)
            j.start_trial(name, now=101.0 + index)
            j.add_observation(name, Observation("val_acc", 0.3 + index / 10, 1))
            if index == finished:
                continue
            if index == 1:
                j.finish_trial(name, "Failed", now=110.0, reason="Error", message="exit code 1")
            else:
                j.add_observation(name, Observation("val_acc", 0.6 + index / 10, 2))
                j.finish_trial(name, "Succeeded", now=120.0 + index, value=0.6 + index / 10)
    finally:
        state.close()


def payload(path: Path) -> Any:
    page = path.read_text()
    start = page.index('id="hs-data">') + len('id="hs-data">')
    return json.loads(page[start : page.index("</script>", start)])


def test_report_of_a_finished_local_search_shows_every_trial_and_the_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal(tmp_path / "state", finished=3)
    out = tmp_path / "r.html"
    assert main(["report", "--state-dir", str(tmp_path / "state"), "-o", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {out} (3 trials of cifar10-bayes); open it in a browser\n"
    )
    data = payload(out)
    assert [(t["name"], t["phase"], t["value"]) for t in data["trials"]] == [
        ("cifar10-bayes-0000", "Succeeded", 0.6),
        ("cifar10-bayes-0001", "Failed", None),
        ("cifar10-bayes-0002", "Succeeded", 0.8),
    ]
    assert data["trials"][0]["curves"] == {"val_acc": [[1.0, 0.3], [2.0, 0.6]]}
    assert data["trials"][0]["prediction"] == {"mean": 0.5, "std": 0.1, "ucb": 0.7}
    assert data["trials"][1]["reason"] == "Error"
    assert data["best"] == {"trial": "cifar10-bayes-0002", "value": 0.8}
    assert (data["phase"], data["maxTrials"], data["algorithm"]) == ("Succeeded", 3, "random")
    assert data["source"] == f"local journal {tmp_path / 'state'}"


def test_report_of_a_local_search_carries_the_units_its_manifest_declares(
    tmp_path: Path,
) -> None:
    journal(tmp_path / "state", finished=3, units={"objective": "%", "lr": "1/step"})
    out = tmp_path / "r.html"
    assert main(["report", "--state-dir", str(tmp_path / "state"), "-o", str(out)]) == 0
    data = payload(out)
    assert data["metricUnit"] == "%"
    assert {p["name"]: p["unit"] for p in data["params"]} == {
        "conv2_filter": None,
        "dropout_3": None,
        "lr": "1/step",
        "optimizer": None,
    }


def test_report_of_a_running_search_marks_the_running_trial(tmp_path: Path) -> None:
    journal(tmp_path / "state", finished=1)
    out = tmp_path / "r.html"
    assert main(["report", "--state-dir", str(tmp_path / "state"), "-o", str(out)]) == 0
    data = payload(out)
    assert [t["phase"] for t in data["trials"]] == ["Succeeded", "Running"]
    assert data["phase"] == "Running"
    assert data["trials"][1]["curves"] == {"val_acc": [[1.0, 0.4]]}


def test_report_without_a_journal_says_where_it_looked_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--state-dir", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == (
        f"hyper: {tmp_path / 'none'}: no journal here; run the search first (hyper run), or "
        "pass the right NAME or --state-dir\n"
    )


def test_report_to_an_unwritable_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal(tmp_path / "state", finished=3)
    out = tmp_path / "missing" / "r.html"
    assert main(["report", "--state-dir", str(tmp_path / "state"), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"hyper: -o {out}: cannot write the report: No such file or directory\n"
    )


def test_report_to_stdout_writes_the_page_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal(tmp_path / "state", finished=3)
    assert main(["report", "--state-dir", str(tmp_path / "state"), "-o", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!DOCTYPE html>")
    assert out.rstrip().endswith("</html>")


def test_report_of_a_cluster_search_without_a_kubeconfig_says_how_to_give_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "kubeconfig"
    assert main(["report", "hs/cifar", "--kubeconfig", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"hyper: --kubeconfig {missing}: no such file; fix the path (or leave the flag out to use "
        "$KUBECONFIG or ~/.kube/config)\n"
    )


def test_the_ui_source_lists_local_searches_and_follows_a_growing_journal(tmp_path: Path) -> None:
    from hypersearch.cli.views import _LocalViews

    root = tmp_path / ".hyper"
    (root / "starting").mkdir(parents=True)
    (root / "starting" / "journal.sqlite").touch()  # its spec.json is not written yet
    journal(root / "cifar10-bayes", finished=1)
    source = _LocalViews(root)
    first = source()
    assert [(v.key, v.phase, len(v.trials)) for v in first] == [("cifar10-bayes", "Running", 2)]
    assert source() == first

    state = open_state(
        root / "cifar10-bayes",
        "cifar10-bayes",
        manifest(maxTrials=3, algorithm={"name": "random", "seed": 1}),
    )
    try:
        state.journal.add_observation("cifar10-bayes-0001", Observation("val_acc", 0.7, 2))
        state.journal.finish_trial("cifar10-bayes-0001", "Succeeded", now=130.0, value=0.7)
    finally:
        state.close()
    after = source()
    assert [t.phase.value for t in after[0].trials] == ["Succeeded", "Succeeded"]


def test_a_cluster_command_without_the_kubernetes_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # find_spec sees it as absent
    assert main(["report", "hs/cifar"]) == 2
    assert capsys.readouterr().err == (
        "hyper: talking to a cluster needs the operator extra, which is not installed here "
        "(missing: kubernetes): install it with pip install 'hypersearch[operator]'\n"
    )
