"""``hyper`` end to end on this machine: real processes, a real journal, real signals.

Each test runs the ``hyper`` command as a subprocess against tests/e2e/scripts/trainer.py, which
records every invocation in a folder, so tests count what ran instead of trusting the output.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypersearch.core.manifest import parse_manifest
from hypersearch.local.state import open_state

pytestmark = pytest.mark.e2e

TRAINER = Path(__file__).parent / "scripts" / "trainer.py"
HYPER = [sys.executable, "-m", "hypersearch.cli"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Workspace:
    """A working directory with the record folder the trainer writes into."""

    root: Path
    gpus: str = ""
    """CUDA_VISIBLE_DEVICES for hyper: none by default, whatever this machine has."""

    @property
    def records(self) -> Path:
        return self.root / "records"

    def env(self) -> dict[str, str]:
        return {**os.environ, "HS_RECORD_DIR": str(self.records), "CUDA_VISIBLE_DEVICES": self.gpus}

    def hyper(self, *args: str, timeout: float = 120) -> Result:
        done = subprocess.run(
            [*HYPER, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*HYPER, *args],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def invocations(self) -> Counter[str]:
        """How many times each trial's process started."""
        return Counter(p.name.split(".")[0] for p in self.records.glob("*.json"))

    def argv_of(self, trial: str) -> list[str]:
        return list(json.loads((self.records / f"{trial}.0.json").read_text())["argv"])

    def record_of(self, trial: str) -> dict[str, Any]:
        return dict(json.loads((self.records / f"{trial}.0.json").read_text()))

    def manifest(self, name: str = "e2e", **spec: Any) -> Path:
        command = spec.pop("command", ["python", str(TRAINER), "--x", ":x:"])
        env = spec.pop("env", None)
        container: dict[str, Any] = {"name": "trainer", "image": "unused", "command": command}
        if env is not None:
            container["env"] = env
        trial = {"template": {"spec": {"containers": [container]}}}
        trial.update(spec.pop("trial", {}))
        doc = {
            "apiVersion": "hypersearch.io/v1alpha1",
            "kind": "HyperSearch",
            "metadata": {"name": name},
            "spec": {
                "algorithm": {"name": "random", "seed": 1},
                "objective": {"metric": "score", "goal": "maximize"},
                "parameters": [{"name": "x", "type": "float", "min": 0.0, "max": 1.0}],
                "maxTrials": 4,
                "parallelism": 2,
                "trial": trial,
                **spec,
            },
        }
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "records").mkdir()
    return Workspace(tmp_path)


def journal_statuses(state_dir: Path) -> dict[str, str]:
    """Trial statuses in the journal; empty until the run has created it."""
    path = state_dir / "journal.sqlite"
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(path) as db:
            return dict(db.execute("SELECT name, status FROM trials").fetchall())
    except sqlite3.OperationalError:  # created but the schema not written yet
        return {}


def max_concurrency(state_dir: Path) -> int:
    """The most trials that ran at the same time, from the journal's start and end times."""
    with sqlite3.connect(state_dir / "journal.sqlite") as db:
        spans = db.execute("SELECT started_at, finished_at FROM trials").fetchall()
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def wait_for(predicate: Any, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# --- hyper run ------------------------------------------------------------------------------------


def test_run_executes_every_trial_once_and_reports_the_best(ws: Workspace) -> None:
    result = ws.hyper("run", str(ws.manifest()), "--output", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    names = [t["name"] for t in doc["trials"]]
    assert names == ["e2e-0000", "e2e-0001", "e2e-0002", "e2e-0003"]
    assert {t["status"] for t in doc["trials"]} == {"Succeeded"}
    for trial in doc["trials"]:
        assert trial["value"] == pytest.approx(trial["params"]["x"])
    best = max(doc["trials"], key=lambda t: t["value"])
    assert doc["best"] == {"name": best["name"], "params": best["params"], "value": best["value"]}
    assert ws.invocations() == Counter(dict.fromkeys(names, 1))
    log = ws.root / ".hyper" / "e2e" / "logs" / "e2e-0000.log"
    assert log.read_text().startswith("step=1 score=")


def test_run_prints_a_table_sorted_by_the_metric_and_the_best(ws: Workspace) -> None:
    result = ws.hyper("run", str(ws.manifest()))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["trial", "status", "score", "x", "seconds", "reason"]
    values = [float(line.split()[2]) for line in lines[1:5]]
    assert values == sorted(values, reverse=True)
    assert lines[5].startswith(f"best: {lines[1].split()[0]} score=")
    assert "search finished: MaxTrialsReached" in result.stderr


def test_rerunning_a_finished_search_runs_nothing_again(ws: Workspace) -> None:
    path = str(ws.manifest())
    first = ws.hyper("run", path, "-o", "json")
    second = ws.hyper("run", path, "-o", "json")
    assert (first.code, second.code) == (0, 0)
    assert first.json() == second.json()
    assert sum(ws.invocations().values()) == 4


@pytest.mark.parametrize(
    "value",
    ["a b;rm -rf x", "$(touch pwned)", 'it\'s "quoted"', "*", "--x=--mode=fail"],
)
def test_parameter_values_arrive_verbatim_as_one_argv_element(ws: Workspace, value: str) -> None:
    path = ws.manifest(
        parameters=[{"name": "v", "type": "categorical", "values": [value]}],
        algorithm={"name": "grid"},
        maxTrials=1,
        objective={"metric": "score"},
        command=["python", str(TRAINER), "--", ":v:", "--tag=:v:"],
        env=[{"name": "HS_EXTRA", "value": "v is :v:"}],
    )
    result = ws.hyper("run", str(path))
    record = ws.record_of("e2e-0000")
    assert record["argv"] == ["--", value, f"--tag={value}"]
    assert record["env"] == f"v is {value}"
    assert not (ws.root / "pwned").exists()
    # After "--" the trainer takes any value as a positional and reports score=0.
    assert result.code == 0, result.stderr


def test_status_prints_the_journal_table_and_json(ws: Workspace) -> None:
    run = ws.hyper("run", str(ws.manifest()), "-o", "json")
    status = ws.hyper("status")
    assert status.code == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == (
        "search e2e: 4 succeeded, 0 failed, 4/4 trials recorded, finished: MaxTrialsReached"
    )
    assert lines[1].split()[:3] == ["trial", "status", "score"]
    assert ws.hyper("status", "e2e", "-o", "json").json() == run.json()


def test_status_without_a_search_says_how_to_name_one(ws: Workspace) -> None:
    result = ws.hyper("status")
    assert result.code == 2  # bad input, like hyper report: the user must name the search
    assert result.stderr == (
        f"hyper: {ws.root / '.hyper'} holds 0 searches; name one (hyper status NAME) or pass "
        "--state-dir\n"
    )


# --- failures -------------------------------------------------------------------------------------


def test_a_failing_trial_is_failed_with_its_exit_code_and_last_log_lines(ws: Workspace) -> None:
    path = ws.manifest(
        parameters=[{"name": "mode", "type": "categorical", "values": ["ok", "fail"]}],
        algorithm={"name": "grid"},
        maxTrials=2,
        command=["python", str(TRAINER), "--x", "1", "--mode", ":mode:"],
    )
    result = ws.hyper("run", str(path), "-o", "json")
    assert result.code == 0, result.stderr
    failed = [t for t in result.json()["trials"] if t["status"] == "Failed"]
    assert [(t["params"], t["reason"], t["value"]) for t in failed] == [
        ({"mode": "fail"}, "ProcessFailed", None)
    ]
    status = ws.hyper("status", "e2e")
    assert "ProcessFailed" in status.stdout
    with sqlite3.connect(ws.root / ".hyper" / "e2e" / "journal.sqlite") as db:
        [(message,)] = db.execute("SELECT message FROM trials WHERE reason = 'ProcessFailed'")
    log = ws.root / ".hyper" / "e2e" / "logs" / f"{failed[0]['name']}.log"
    assert message == (
        f"the trial's process exited with code 3; last lines of {log}:\n"
        "  | loading data\n"
        "  | Traceback: something broke"
    )
    assert failed[0]["message"] == message


def test_the_cause_of_a_failed_trial_is_shown_without_opening_its_log(ws: Workspace) -> None:
    path = ws.manifest(
        maxTrials=1, parallelism=1, command=["python", str(TRAINER), "--mode", "fail"]
    )
    run = ws.hyper("run", str(path))
    assert run.code == 1
    log = ws.root / ".hyper" / "e2e" / "logs" / "e2e-0000.log"
    cause = (
        "failed trials:\n"
        f"  e2e-0000 ProcessFailed: the trial's process exited with code 3; last lines of {log}:\n"
        "    | loading data\n"
        "    | Traceback: something broke\n"
    )
    assert cause in run.stdout
    assert (
        "failed    e2e-0000 after " in run.stderr
        and f"s: ProcessFailed: the trial's process exited with code 3; last lines of {log}: "
        "| Traceback: something broke\n"
        in run.stderr
    )
    assert cause in ws.hyper("status", "e2e").stdout


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("nan", "metric score reported only NaN/inf (1 value)"),
        ("silent", "no value reported for metric score (saw no metrics;"),
    ],
)
def test_a_trial_without_a_usable_metric_fails_with_the_reason(
    ws: Workspace, mode: str, message: str
) -> None:
    path = ws.manifest(
        maxTrials=1,
        parallelism=1,
        command=["python", str(TRAINER), "--x", ":x:", "--mode", mode],
    )
    result = ws.hyper("run", str(path), "-o", "json")
    assert result.code == 1  # the only trial failed: the search has no best trial
    [trial] = result.json()["trials"]
    assert (trial["status"], trial["reason"]) == ("Failed", "NoMetric")
    with sqlite3.connect(ws.root / ".hyper" / "e2e" / "journal.sqlite") as db:
        [(stored,)] = db.execute("SELECT message FROM trials")
    assert stored.startswith(message)


def test_too_many_failures_end_the_search_with_exit_1(ws: Workspace) -> None:
    path = ws.manifest(
        maxTrials=6,
        parallelism=1,
        maxFailedTrials=1,
        command=["python", str(TRAINER), "--mode", "fail"],
    )
    result = ws.hyper("run", str(path), "-o", "json")
    assert result.code == 1
    assert [t["status"] for t in result.json()["trials"]] == ["Failed", "Failed"]
    assert "search failed: MaxFailedTrialsExceeded: 2 trials failed" in result.stderr


def test_a_missing_program_fails_each_trial_until_the_search_gives_up(ws: Workspace) -> None:
    path = ws.manifest(maxFailedTrials=1, command=["no-such-program-xyz", ":x:"])
    result = ws.hyper("run", str(path), "-o", "json")
    assert result.code == 1, result.stderr
    assert [(t["status"], t["reason"]) for t in result.json()["trials"]] == [
        ("Failed", "StartFailed"),
        ("Failed", "StartFailed"),
    ]
    assert "search failed: MaxFailedTrialsExceeded" in result.stderr


def test_a_trial_past_its_timeout_is_stopped_and_failed(ws: Workspace) -> None:
    path = ws.manifest(
        maxTrials=1,
        parallelism=1,
        trial={"timeoutSeconds": 0.5},
        command=["python", str(TRAINER), "--sleep", "60"],
    )
    started = time.monotonic()
    result = ws.hyper("run", str(path), "-o", "json")
    assert time.monotonic() - started < 30
    [trial] = result.json()["trials"]
    assert (trial["status"], trial["reason"]) == ("Failed", "Timeout")


# --- bad input ------------------------------------------------------------------------------------


def test_a_malformed_manifest_exits_2_naming_the_field(ws: Workspace) -> None:
    path = ws.manifest(parameters=[{"name": "x", "type": "float", "min": 5, "max": 1}])
    result = ws.hyper("run", str(path))
    assert result.code == 2
    assert result.stderr.startswith(f"hyper: {path}: spec.parameters[0]")
    assert "max" in result.stderr.splitlines()[0]
    assert ws.invocations() == Counter()


def test_a_template_without_command_exits_2_before_making_any_state(ws: Workspace) -> None:
    path = ws.manifest(command=[])
    result = ws.hyper("run", str(path))
    assert result.code == 2
    assert result.stderr.startswith(
        "hyper: spec.trial.template.spec.containers[0].command is required: a local run starts"
    )
    assert not (ws.root / ".hyper").exists()


def test_a_bad_param_flag_exits_2_naming_the_flag(ws: Workspace) -> None:
    result = ws.hyper(
        "random", "--param", "x=5:1", "--num-runs", "2", "--metric", "score", "--", "true"
    )
    assert result.code == 2
    assert result.stderr.startswith("hyper: --param x=5:1:")


def test_a_raised_budget_goes_on_running_only_the_new_trials(ws: Workspace) -> None:
    assert ws.hyper("run", str(ws.manifest())).code == 0
    more = ws.hyper("run", str(ws.manifest(maxTrials=6, parallelism=3)), "-o", "json")
    assert more.code == 0, more.stderr
    assert "goes on under an edited spec (its trials still fit): spec.maxTrials: 4 -> 6; " in (
        more.stderr
    )
    assert [t["name"] for t in more.json()["trials"]] == [f"e2e-{i:04d}" for i in range(6)]
    assert set(ws.invocations().values()) == {1}
    status = ws.hyper("status", "-o", "json")
    assert len(status.json()["trials"]) == 6


def test_a_changed_space_the_trials_no_longer_fit_is_refused_unless_fresh(ws: Workspace) -> None:
    assert ws.hyper("run", str(ws.manifest())).code == 0
    narrowed = [{"name": "x", "type": "float", "min": 2.0, "max": 3.0}]
    changed = ws.manifest(parameters=narrowed, maxTrials=5)
    refused = ws.hyper("run", str(changed))
    assert refused.code == 2
    assert "cannot go on under the changed spec: spec.parameters no longer describe" in (
        refused.stderr
    )
    assert "or run with --fresh to discard it and start over" in refused.stderr
    fresh = ws.hyper("run", str(changed), "--fresh", "-o", "json")
    assert fresh.code == 0
    assert len(fresh.json()["trials"]) == 5


def test_another_objective_for_trials_with_values_is_refused(ws: Workspace) -> None:
    assert ws.hyper("run", str(ws.manifest())).code == 0
    refused = ws.hyper("run", str(ws.manifest(objective={"metric": "loss", "goal": "minimize"})))
    assert refused.code == 2
    assert "spec.objective changed from metric=score" in refused.stderr
    assert sum(ws.invocations().values()) == 4


def test_a_second_concurrent_run_is_refused(ws: Workspace) -> None:
    path = ws.manifest()
    spec = parse_manifest(path.read_text())
    from hypersearch.core.manifest import spec_to_manifest

    held = open_state(ws.root / ".hyper" / "e2e", "e2e", spec_to_manifest(spec))
    try:
        result = ws.hyper("run", str(path))
    finally:
        held.close()
    assert result.code == 3
    assert "search 'e2e' is already running in another process" in result.stderr


# --- crashes and interrupts -----------------------------------------------------------------------


def _slow_search(ws: Workspace) -> Path:
    return ws.manifest(
        maxTrials=8,
        parallelism=2,
        command=["python", str(TRAINER), "--x", ":x:", "--sleep", "0.4"],
    )


def _check_resumed(ws: Workspace, before: dict[str, str], result: Result) -> None:
    assert result.code == 0, result.stderr
    doc = result.json()
    names = [t["name"] for t in doc["trials"]]
    assert names == [f"e2e-{i:04d}" for i in range(8)]
    assert {t["status"] for t in doc["trials"]} == {"Succeeded"}
    counts = ws.invocations()
    assert set(counts) == set(names)
    for name, status in before.items():
        if status == "Succeeded":
            assert counts[name] == 1, f"{name} finished before the crash but ran again"
    for name, count in counts.items():
        assert count <= 2, f"{name} ran {count} times"
        runs = [json.loads(p.read_text())["argv"] for p in ws.records.glob(f"{name}.*.json")]
        assert all(argv == runs[0] for argv in runs), f"{name} ran again with other params"


def test_kill_9_mid_search_then_resume_runs_exactly_the_requested_trials(ws: Workspace) -> None:
    path = _slow_search(ws)
    proc = ws.start("run", str(path))
    state = ws.root / ".hyper" / "e2e"
    wait_for(
        lambda: (
            (state / "journal.sqlite").exists()
            and list(journal_statuses(state).values()).count("Succeeded") >= 3
        )
    )
    proc.kill()
    proc.communicate()
    before = journal_statuses(state)
    assert "Running" in before.values()
    _check_resumed(ws, before, ws.hyper("run", str(path), "-o", "json"))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_trials_marks_them_interrupted_and_resumes(
    ws: Workspace, sig: signal.Signals, code: int
) -> None:
    path = _slow_search(ws)
    proc = ws.start("run", str(path))
    state = ws.root / ".hyper" / "e2e"
    wait_for(
        lambda: (
            (state / "journal.sqlite").exists()
            and list(journal_statuses(state).values()).count("Succeeded") >= 2
            and "Running" in journal_statuses(state).values()
        )
    )
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert "interrupted; run the same command again to resume" in stderr
    before = journal_statuses(state)
    assert "Interrupted" in before.values()
    assert "Running" not in before.values()
    _check_resumed(ws, before, ws.hyper("run", str(path), "-o", "json"))


# --- GPUs ---------------------------------------------------------------------------------------


def test_gpu_trials_get_their_own_gpu_and_no_more_run_than_gpus(ws: Workspace) -> None:
    ws.gpus = "0,1"
    path = ws.manifest(
        maxTrials=4,
        parallelism=3,
        trial={"machineType": "K80"},
        command=["python", str(TRAINER), "--x", ":x:", "--sleep", "0.3"],
    )
    result = ws.hyper("run", str(path), "-o", "json")
    assert result.code == 0, result.stderr
    assert "2 GPU(s) found: at most 2 trials run at once, one per GPU" in result.stderr
    assert {ws.record_of(f"e2e-{i:04d}")["cuda"] for i in range(4)} <= {"0", "1"}
    assert max_concurrency(ws.root / ".hyper" / "e2e") == 2


def test_cpu_trials_on_a_gpu_machine_never_share_a_gpu(ws: Workspace) -> None:
    ws.gpus = "0"
    path = ws.manifest(
        maxTrials=3,
        parallelism=3,
        command=["python", str(TRAINER), "--x", ":x:", "--sleep", "1"],
    )
    result = ws.hyper("run", str(path), "-o", "json")
    assert result.code == 0, result.stderr
    gpus = sorted(ws.record_of(f"e2e-{i:04d}")["cuda"] for i in range(3))
    assert gpus == ["", "", "0"]


def test_a_gpu_machine_type_on_a_cpu_machine_runs_on_the_cpu_with_a_warning(
    ws: Workspace,
) -> None:
    path = ws.manifest(maxTrials=2, trial={"machineType": "K80"})
    result = ws.hyper("run", str(path), "-o", "json")
    assert result.code == 0, result.stderr
    assert "machineType 'K80' asks for a GPU but this machine has none" in result.stderr
    assert [ws.record_of(f"e2e-{i:04d}")["cuda"] for i in range(2)] == ["", ""]


# --- the hosted-tool dialect ----------------------------------------------------------------------


def dialect(*extra: str, command: Sequence[str] = ()) -> list[str]:
    cmd = list(command) or ["python", str(TRAINER), "--x", ":x:"]
    return [*extra, "--", *cmd]


def test_bayesian_runs_the_command_and_resumes_by_name(ws: Workspace) -> None:
    args = dialect(
        "bayesian",
        "--param",
        "x=0:1",
        "--num-runs",
        "6",
        "--parallel-runs",
        "2",
        "--metric",
        "score",
        "--seed",
        "3",
        "-o",
        "json",
    )
    result = ws.hyper(*args)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [t["name"] for t in doc["trials"]] == [f"trainer-bayesian-{i:04d}" for i in range(6)]
    assert doc["best"]["value"] == max(t["value"] for t in doc["trials"])
    assert ws.hyper(*args).json() == doc
    assert sum(ws.invocations().values()) == 6


def test_grid_runs_every_point_when_num_runs_is_left_out(ws: Workspace) -> None:
    result = ws.hyper(
        *dialect("grid", "--param", "x=0.1,0.2,0.3", "--metric", "score", "--goal", "minimize")
    )
    assert result.code == 0, result.stderr
    assert sum(ws.invocations().values()) == 3
    assert "best: trainer-grid-0000 score=0.1" in result.stdout


def test_manifest_flag_prints_yaml_that_parses_back(ws: Workspace) -> None:
    result = ws.hyper(
        *dialect(
            "bayesian",
            "-t",
            "K80",
            "--param",
            "x=0:1",
            "--num-runs",
            "21",
            "--parallel-runs",
            "3",
            "--metric",
            "keras/val_acc",
            "--image",
            "registry.example.com/trainer:1",
            "--manifest",
        )
    )
    assert result.code == 0, result.stderr
    spec = parse_manifest(result.stdout)
    assert (spec.max_trials, spec.parallelism, spec.trial.machine_type) == (21, 3, "K80")
    container = spec.trial.template["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/trainer:1"
    assert container["command"] == ["python", str(TRAINER), "--x", ":x:"]
    assert ws.invocations() == Counter()
