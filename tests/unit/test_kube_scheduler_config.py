"""The controller's scheduler (coalescing, requeues) and its configuration file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hypersearch.controller.config import load_config, parse_config
from hypersearch.controller.scheduler import Key, Scheduler
from hypersearch.core.errors import SpecError

KEY: Key = ("ml", "s")


def test_triggers_during_a_run_cause_exactly_one_more_run() -> None:
    runs: list[Key] = []
    gate = asyncio.Event()

    async def work(key: Key) -> float | None:
        runs.append(key)
        await gate.wait()
        return None

    async def scenario() -> None:
        scheduler = Scheduler(work)
        scheduler.trigger(KEY)
        await asyncio.sleep(0)
        for _ in range(5):
            scheduler.trigger(KEY)
        gate.set()
        while not scheduler.idle:
            await asyncio.sleep(0)
        await scheduler.close()

    asyncio.run(scenario())
    assert runs == [KEY, KEY]


def test_different_searches_run_side_by_side() -> None:
    active: set[Key] = set()
    overlap: list[int] = []

    async def work(key: Key) -> float | None:
        active.add(key)
        await asyncio.sleep(0)
        overlap.append(len(active))
        active.discard(key)
        return None

    async def scenario() -> None:
        scheduler = Scheduler(work)
        scheduler.trigger(("ml", "a"))
        scheduler.trigger(("ml", "b"))
        while not scheduler.idle:
            await asyncio.sleep(0)
        await scheduler.close()

    asyncio.run(scenario())
    assert max(overlap) == 2


def test_a_requeue_runs_again_and_the_earliest_deadline_wins() -> None:
    delays = [0.05, None]
    runs: list[int] = []

    async def work(key: Key) -> float | None:
        runs.append(len(runs))
        return delays[len(runs) - 1] if len(runs) <= len(delays) else None

    async def scenario() -> None:
        scheduler = Scheduler(work)
        scheduler.trigger(KEY)
        scheduler._schedule(KEY, 30.0)  # a later deadline must not replace an earlier one
        while len(runs) < 2:
            await asyncio.sleep(0.01)
        await scheduler.close()

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert runs == [0, 1]


def test_forget_cancels_a_pending_requeue() -> None:
    runs: list[Key] = []

    async def work(key: Key) -> float | None:
        runs.append(key)
        return 0.01

    async def scenario() -> None:
        scheduler = Scheduler(work)
        scheduler.trigger(KEY)
        while not scheduler.idle:
            await asyncio.sleep(0)
        scheduler.forget(KEY)
        await asyncio.sleep(0.05)
        await scheduler.close()

    asyncio.run(scenario())
    assert runs == [KEY]


def test_config_file_overrides_machine_types_and_timeouts(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "machineTypes:\n"
        "  K80: {gpus: 2, nodeSelector: {gpu: k80}, resources: {limits: {memory: 8Gi}}}\n"
        "  H100: {gpus: 8}\n"
        "timeouts: {unschedulableSeconds: 60, metricGraceSeconds: 5, resyncSeconds: 30,\n"
        "           watchSeconds: 20}\n"
        "sidecar: {image: registry.local/sidecar:1}\n"
    )
    config = load_config(path)
    k80 = config.pods.machine_types["K80"]
    assert dict(k80.limits) == {"memory": "8Gi", "nvidia.com/gpu": "2"}
    assert dict(k80.node_selector) == {"gpu": "k80"}
    assert dict(config.pods.machine_types["H100"].limits) == {"nvidia.com/gpu": "8"}
    assert "T4" in config.pods.machine_types
    assert (config.timing.unschedulable_seconds, config.timing.metric_grace_seconds) == (60, 5)
    assert (config.resync_seconds, config.watch_seconds) == (30, 20)
    assert config.pods.sidecar_image == "registry.local/sidecar:1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"timeouts": {"metricGraceSeconds": -1}},
            "c.yaml: timeouts.metricGraceSeconds must be a positive number of seconds, got -1",
        ),
        (
            {"machineTypes": {"K80": {"gpus": "two"}}},
            "c.yaml: machineTypes.K80.gpus must be a whole number >= 0, got 'two'",
        ),
        (
            {"machineType": {}},
            "c.yaml: machineType is not a setting (known: sidecar, machineTypes, timeouts)",
        ),
        (
            {"sidecar": {"command": []}},
            "c.yaml: sidecar.command must be a non-empty list of strings",
        ),
    ],
)
def test_config_errors_name_the_file_and_field(data: object, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_config(data, "c.yaml")
    assert str(caught.value) == message


def test_hyper_operator_refuses_a_bad_config_file_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hypersearch.cli import main

    path = tmp_path / "config.yaml"
    path.write_text("timeouts: {resyncSeconds: soon}\n")
    assert main(["operator", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"hyper operator: {path}: timeouts.resyncSeconds must be a positive number of seconds, "
        "got 'soon'\n"
    )


def test_hyper_operator_names_a_failing_exec_plugin_and_exits_2_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hypersearch.cli import main

    script = tmp_path / "plugin.sh"
    script.write_text("#!/bin/sh\necho 'token expired: run aws sso login' >&2\nexit 1\n")
    script.chmod(0o755)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "current-context: c\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
        f"command: {script}}}}}}}]\n"
    )
    assert main(["operator", "--kubeconfig", str(kubeconfig)]) == 2
    assert capsys.readouterr().err == (
        f"hyper operator: kubeconfig {kubeconfig} (user 'u': users[].user.exec): the exec "
        f"credential plugin '{script}' failed: exec: process returned 1. token expired: run aws "
        "sso login; fix the plugin (kubectl runs the same command: try kubectl get namespaces) "
        "or pick another context with --context\n"
    )
