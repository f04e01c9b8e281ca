"""From a spec and one trial's parameters to the process to start: argv, environment, directory.

Locally a trial runs the training container's ``command`` followed by its ``args`` (Kubernetes'
meaning of the two); the image, resources and volumes are ignored. ``:name:`` placeholders are
replaced by the core's ``substitute`` (whole elements and inside elements, never through a shell),
and so are ``env[].value`` texts. A command that starts with ``python`` or ``python3`` runs with the
interpreter that runs ``hyper``, so a trial sees the same virtual environment.

This module must NOT start processes or decide anything; it only computes what to start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.params import Params
from hypersearch.core.placeholders import substitute, substitute_text
from hypersearch.core.spec import SearchSpec, training_command, training_container
from hypersearch.local.gpus import wants_gpu

_PYTHON_NAMES = frozenset({"python", "python3"})


@dataclass(frozen=True, slots=True)
class TrialCommand:
    """The container's command line and env with placeholders still in them."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    wants_gpu: bool


def trial_command(spec: SearchSpec) -> TrialCommand:
    """Read the training container; raises SpecError when it has nothing to run locally (or
    the trial is a Job or JobSet: its Pods talk to each other, which local processes cannot
    stand in for)."""
    workload = spec.trial.workload
    if workload is not None:
        key = "jobTemplate" if workload.kind == "Job" else "jobSetTemplate"
        raise SpecError(
            [
                Problem(
                    f"spec.trial.{key}",
                    f"is a {workload.kind} trial, which runs only on a cluster (kubectl apply "
                    "it); hyper run starts one process per trial: give it a "
                    "manifest with a Pod template (spec.trial.template) instead",
                )
            ]
        )
    container = training_container(spec.trial)
    command = training_command(
        spec.trial,
        "a local run starts the container's command (the image and its entrypoint are not "
        "used locally)",
    )
    args = [str(a) for a in container.get("args") or []]
    env: list[tuple[str, str]] = []
    for item in container.get("env") or []:
        if isinstance(item, Mapping) and isinstance(item.get("value"), str):
            env.append((str(item["name"]), item["value"]))
    resources: Mapping[str, Any] = container.get("resources") or {}
    return TrialCommand(
        argv=tuple(str(a) for a in command + args),
        env=tuple(env),
        wants_gpu=wants_gpu(spec.trial.machine_type, resources),
    )


def trial_argv(command: TrialCommand, params: Params) -> list[str]:
    """The argv of one trial: placeholders replaced, ``python`` resolved to this interpreter."""
    argv = substitute(list(command.argv), params)
    if argv and argv[0] in _PYTHON_NAMES:
        argv[0] = sys.executable
    return argv


def trial_env(
    command: TrialCommand,
    params: Params,
    base: Mapping[str, str],
    extra: Mapping[str, str],
) -> dict[str, str]:
    """``base`` (this process's environment), then the container's env with placeholders
    replaced, then ``extra`` (GPU slot, trial name)."""
    env = dict(base)
    for name, value in command.env:
        env[name] = substitute_text(value, params)
    env.update(extra)
    return env


def default_environment() -> dict[str, str]:
    """What trials inherit: this process's environment, unbuffered Python output so metrics
    stream as they are printed."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
