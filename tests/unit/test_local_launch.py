"""From a spec to a trial's process: command + args, placeholders, env, python, the GPU question."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from hypersearch.core.errors import SpecError
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.spec import SearchSpec
from hypersearch.local.launch import trial_argv, trial_command, trial_env


def spec_with(container: dict[str, Any], **trial: Any) -> SearchSpec:
    return parse_manifest(
        {
            "apiVersion": "hypersearch.io/v1alpha1",
            "kind": "HyperSearch",
            "metadata": {"name": "s"},
            "spec": {
                "algorithm": {"name": "random"},
                "objective": {"metric": "acc"},
                "parameters": [
                    {"name": "lr", "type": "float", "min": 0.001, "max": 0.1},
                    {"name": "opt", "type": "categorical", "values": ["a b;c", "sgd"]},
                ],
                "maxTrials": 2,
                "trial": {"template": {"spec": {"containers": [container]}}, **trial},
            },
        }
    )


def test_command_then_args_with_placeholders_whole_and_inside() -> None:
    spec = spec_with(
        {
            "name": "t",
            "image": "i",
            "command": ["./train", "--lr", ":lr:"],
            "args": ["--opt=:opt:", "plain"],
        }
    )
    argv = trial_argv(trial_command(spec), {"lr": 0.01, "opt": "a b;c"})
    assert argv == ["./train", "--lr", "0.01", "--opt=a b;c", "plain"]


@pytest.mark.parametrize("program", ["python", "python3"])
def test_python_runs_with_this_interpreter(program: str) -> None:
    spec = spec_with({"name": "t", "image": "i", "command": [program, "train.py"]})
    assert trial_argv(trial_command(spec), {"lr": 0.01, "opt": "sgd"}) == [
        sys.executable,
        "train.py",
    ]


def test_env_values_get_placeholders_and_extra_wins() -> None:
    spec = spec_with(
        {
            "name": "t",
            "image": "i",
            "command": ["x"],
            "env": [
                {"name": "OPT", "value": "opt is :opt:"},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "CUDA_VISIBLE_DEVICES", "value": "7"},
            ],
        }
    )
    env = trial_env(
        trial_command(spec),
        {"lr": 0.01, "opt": "sgd"},
        base={"PATH": "/bin", "OPT": "old"},
        extra={"CUDA_VISIBLE_DEVICES": "1"},
    )
    assert env == {"PATH": "/bin", "OPT": "opt is sgd", "CUDA_VISIBLE_DEVICES": "1"}


def test_a_container_without_command_cannot_run_locally() -> None:
    spec = spec_with({"name": "t", "image": "i", "args": ["--lr", ":lr:"]})
    with pytest.raises(SpecError) as err:
        trial_command(spec)
    assert str(err.value).startswith(
        "spec.trial.template.spec.containers[0].command is required: a local run starts the "
        "container's command (the image and its entrypoint are not used locally)"
    )


@pytest.mark.parametrize(
    ("trial", "resources", "wants"),
    [
        ({}, None, False),
        ({"machineType": "K80"}, None, True),
        ({}, {"limits": {"nvidia.com/gpu": 1}}, True),
    ],
)
def test_gpu_wish_comes_from_machine_type_or_resources(
    trial: dict[str, Any], resources: dict[str, Any] | None, wants: bool
) -> None:
    container: dict[str, Any] = {"name": "t", "image": "i", "command": ["x"]}
    if resources is not None:
        container["resources"] = resources
    assert trial_command(spec_with(container, **trial)).wants_gpu is wants
