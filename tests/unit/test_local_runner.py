"""The process runner: argv verbatim, output as lines and in the log, exits seen, groups stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hypersearch.local.runner import Event, Exited, Launch, Output, ProcessRunner, StartError


def launch(tmp_path: Path, name: str, *argv: str, env: dict[str, str] | None = None) -> Launch:
    return Launch(
        name=name,
        argv=tuple(argv),
        env={"PATH": os.environ["PATH"], **(env or {})},
        cwd=tmp_path,
        log_path=tmp_path / "logs" / f"{name}.log",
    )


def run_until_exit(runner: ProcessRunner, names: set[str], limit_s: float = 20.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + limit_s
    while names - {e.name for e in events if isinstance(e, Exited)}:
        assert time.monotonic() < deadline, f"no exit within {limit_s}s: {events}"
        events.extend(runner.poll(1.0))
    return events


def test_argv_elements_arrive_verbatim_without_a_shell(tmp_path: Path) -> None:
    runner = ProcessRunner()
    tricky = "a b;rm -rf x $(echo hi) 'q'"
    runner.start(
        launch(
            tmp_path, "t1", sys.executable, "-c", "import sys; print(repr(sys.argv[1:]))", tricky
        )
    )
    events = run_until_exit(runner, {"t1"})
    assert [e.line for e in events if isinstance(e, Output)] == [repr([tricky])]
    exited = events[-1]
    assert isinstance(exited, Exited)
    assert (exited.name, exited.returncode, exited.stopped) == ("t1", 0, False)


def test_output_lines_are_logged_and_split_on_newlines_with_redraws_kept(
    tmp_path: Path,
) -> None:
    runner = ProcessRunner()
    script = (
        "import sys\n"
        "sys.stdout.write('one\\n')\n"
        "sys.stdout.write('1/3 acc: 0.1\\r2/3 acc: 0.2\\r3/3 acc: 0.3 - val_acc: 0.5\\n')\n"
        "sys.stderr.write('err line\\n')\n"
        "sys.stdout.write('no newline at end')\n"
    )
    runner.start(launch(tmp_path, "t1", sys.executable, "-u", "-c", script))
    events = run_until_exit(runner, {"t1"})
    lines = [e.line for e in events if isinstance(e, Output)]
    assert lines == [
        "one",
        "1/3 acc: 0.1\r2/3 acc: 0.2\r3/3 acc: 0.3 - val_acc: 0.5",
        "err line",
        "no newline at end",
    ]
    log = (tmp_path / "logs" / "t1.log").read_bytes()
    assert log.startswith(b"one\n1/3 acc: 0.1\r2/3")
    assert log.endswith(b"no newline at end")


def test_exit_code_is_reported(tmp_path: Path) -> None:
    runner = ProcessRunner()
    runner.start(launch(tmp_path, "bad", sys.executable, "-c", "raise SystemExit(3)"))
    events = run_until_exit(runner, {"bad"})
    exits = [e for e in events if isinstance(e, Exited)]
    assert [(e.returncode, e.stopped) for e in exits] == [(3, False)]
    assert exits[0].tail == ()
    assert runner.running == frozenset()


def test_stop_terminates_the_whole_process_group(tmp_path: Path) -> None:
    runner = ProcessRunner(grace_s=0.5)
    marker = tmp_path / "grandchild-pid"
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(p.pid))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    runner.start(launch(tmp_path, "slow", sys.executable, "-c", script))
    events: list[Event] = []
    while not any(isinstance(e, Output) and e.line == "ready" for e in events):
        events.extend(runner.poll(5.0))
    runner.stop("slow")
    events = run_until_exit(runner, {"slow"})
    exits = [e for e in events if isinstance(e, Exited)]
    assert exits[0].stopped and exits[0].returncode < 0
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    runner = ProcessRunner(grace_s=0.2)
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    runner.start(launch(tmp_path, "stubborn", sys.executable, "-c", script))
    events: list[Event] = []
    while not any(isinstance(e, Output) for e in events):
        events.extend(runner.poll(5.0))
    runner.stop("stubborn")
    exits = [e for e in run_until_exit(runner, {"stubborn"}) if isinstance(e, Exited)]
    assert exits[0].returncode == -9


def test_missing_program_raises_start_error_naming_it_and_the_fix(tmp_path: Path) -> None:
    runner = ProcessRunner()
    with pytest.raises(StartError) as err:
        runner.start(launch(tmp_path, "t", "no-such-program-xyz"))
    assert str(err.value) == (
        f"cannot start 'no-such-program-xyz' in {tmp_path}: not found or not executable; check "
        "the command's first word for a typo, give its full path, or add its folder to PATH"
    )
    assert runner.running == frozenset()


def test_parallel_children_are_tracked_separately(tmp_path: Path) -> None:
    runner = ProcessRunner()
    for i in range(3):
        runner.start(launch(tmp_path, f"t{i}", sys.executable, "-c", f"print({i})"))
    events = run_until_exit(runner, {"t0", "t1", "t2"})
    assert sorted((e.name, e.line) for e in events if isinstance(e, Output)) == [
        ("t0", "0"),
        ("t1", "1"),
        ("t2", "2"),
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


DRIVER = """
import os, sys, time
from pathlib import Path
from hypersearch.local.runner import Launch, ProcessRunner
work = Path(sys.argv[1])
trial = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
argv = (sys.executable, "-c", trial, str(work / "trial-pid"))
ProcessRunner().start(Launch("t", argv, dict(os.environ), work, work / "t.log"))
print("started", flush=True)
time.sleep(60)
"""


def test_trials_die_with_a_runner_killed_by_sigkill(tmp_path: Path) -> None:
    pid_file = tmp_path / "trial-pid"
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    trial_pid = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    proc.stdout.close()
    deadline = time.monotonic() + 5
    while _alive(trial_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(trial_pid)
