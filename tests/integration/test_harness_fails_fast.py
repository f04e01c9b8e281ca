"""The test harness notices a process it started dying, and fails at once with its log, instead
of waiting out the whole timeout (an operator that died at start once cost a run 8 minutes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .operator_harness import OperatorProcess
from .plane import ControlPlane, unwatch_process, wait_until, watch_process


def test_a_wait_fails_with_the_log_when_a_watched_process_exits() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "print('cannot start: no kubeconfig'); raise SystemExit(3)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=30)
    watch_process("the fake operator", proc, lambda: out)
    with pytest.raises(pytest.fail.Exception) as failed:
        wait_until(lambda: None, "a trial that never comes", timeout=600)
    assert str(failed.value) == (
        "the fake operator exited with code 3 while the test waited for a trial that never "
        "comes; its log:\ncannot start: no kubeconfig\n"
    )
    wait_until(lambda: True, "nothing: the dead process is no longer watched", timeout=5)


def test_a_process_stopped_on_purpose_does_not_fail_later_waits() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    watch_process("a helper", proc, lambda: "")
    unwatch_process(proc)
    proc.wait(timeout=30)
    assert wait_until(lambda: "done", "the probe", timeout=5) == "done"


@pytest.mark.integration
def test_an_operator_that_dies_at_start_fails_the_next_wait_with_its_log(
    testplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    broken = ControlPlane(**{**vars(testplane), "kubeconfig": tmp_path / "missing-kubeconfig"})
    operator = OperatorProcess(broken, namespace, tmp_path / "operator.log")
    operator.start()
    try:
        with pytest.raises(pytest.fail.Exception) as failed:
            wait_until(lambda: None, "the search", timeout=600)
    finally:
        operator.stop()
    message = str(failed.value)
    assert message.startswith(
        "hyper operator (start 1) exited with code 2 while the test waited for the search; "
        "its log:\n--- start 1\n"
    )
    assert "missing-kubeconfig" in message
