"""The operator's configuration: built-in defaults, overridden by a YAML file (``--config``).

The file is usually a ConfigMap mounted into the operator Pod::

    sidecar:
      image: ghcr.io/hypersearch/hypersearch-operator:0.1.0
      command: [python3, -m, hypersearch.sidecar]
      tokenSeconds: 3600
    machineTypes:                 # replaces a built-in type of the same name, adds new ones
      K80:
        gpus: 1                   # shorthand for limits nvidia.com/gpu
        nodeSelector: {cloud.google.com/gke-accelerator: nvidia-tesla-k80}
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        resources: {limits: {memory: 40Gi}, requests: {cpu: "4"}}
    timeouts:
      unschedulableSeconds: 300   # a trial Pod unschedulable (or unable to start) this long fails
      metricGraceSeconds: 30      # a succeeded Pod with no final value this long fails
      resyncSeconds: 60           # a running search is reconciled at least this often
      watchSeconds: 300           # each watch request ends after this long and is made again
      apiConnectSeconds: 5        # to open a connection to the API server
      apiReadSeconds: 60          # to wait for an answer (large writes of a busy server are slow)
      stallSeconds: 120           # reconciles failing this long: Stalled (metric, Event, condition)

Reads one file; must not talk to the cluster. Errors name the file, the field and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hypersearch.core.errors import Problem, SpecError
from hypersearch.kube.failures import Timing
from hypersearch.kube.manifests import DEFAULT_MACHINE_TYPES, MachineType, PodSettings


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    """Everything the reconcile needs besides the HyperSearch itself."""

    pods: PodSettings = field(default_factory=PodSettings)
    timing: Timing = field(default_factory=Timing)
    resync_seconds: float = 60.0
    watch_seconds: int = 300
    """kopf's watch requests end after this long and are made again. A new request is where
    kopf notices that its credentials expired and logs in again; an open watch goes on."""
    api_connect_seconds: float = 5.0
    api_read_seconds: float = 60.0
    stall_seconds: float = 120.0
    """A search whose reconciles have failed this long is reported as stalled."""


def _mapping(value: object, path: str, problems: list[Problem]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be a mapping, got {type(value).__name__}"))
        return {}
    return value


def _strings(value: object, path: str, problems: list[Problem]) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value, path, problems).items()}


def _seconds(value: object, path: str, default: float, problems: list[Problem]) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        problems.append(Problem(path, f"must be a positive number of seconds, got {value!r}"))
        return default
    return float(value)


def _machine(value: object, path: str, problems: list[Problem]) -> MachineType:
    data = _mapping(value, path, problems)
    resources = _mapping(data.get("resources"), f"{path}.resources", problems)
    limits = _strings(resources.get("limits"), f"{path}.resources.limits", problems)
    gpus = data.get("gpus")
    if gpus is not None:
        if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
            problems.append(Problem(f"{path}.gpus", f"must be a whole number >= 0, got {gpus!r}"))
        elif gpus > 0:
            limits.setdefault("nvidia.com/gpu", str(gpus))
    tolerations = data.get("tolerations") or []
    if not isinstance(tolerations, list) or not all(isinstance(t, Mapping) for t in tolerations):
        problems.append(Problem(f"{path}.tolerations", "must be a list of toleration mappings"))
        tolerations = []
    return MachineType(
        limits=limits,
        requests=_strings(resources.get("requests"), f"{path}.resources.requests", problems),
        node_selector=_strings(data.get("nodeSelector"), f"{path}.nodeSelector", problems),
        tolerations=tuple(dict(t) for t in tolerations),
    )


def parse_config(data: object, source: str = "operator config") -> OperatorConfig:
    """An OperatorConfig from a loaded YAML document; SpecError lists every problem."""
    problems: list[Problem] = []
    root = _mapping(data, "", problems)
    unknown = sorted(set(root) - {"sidecar", "machineTypes", "timeouts"})
    for key in unknown:
        problems.append(Problem(key, "is not a setting (known: sidecar, machineTypes, timeouts)"))
    sidecar = _mapping(root.get("sidecar"), "sidecar", problems)
    defaults = PodSettings()
    command = sidecar.get("command", list(defaults.sidecar_command))
    if not isinstance(command, list) or not command:
        problems.append(Problem("sidecar.command", "must be a non-empty list of strings"))
        command = list(defaults.sidecar_command)
    machines = dict(DEFAULT_MACHINE_TYPES)
    for name, value in _mapping(root.get("machineTypes"), "machineTypes", problems).items():
        machines[str(name)] = _machine(value, f"machineTypes.{name}", problems)
    timeouts = _mapping(root.get("timeouts"), "timeouts", problems)
    base = Timing()
    config = OperatorConfig(
        pods=PodSettings(
            sidecar_image=str(sidecar.get("image", defaults.sidecar_image)),
            sidecar_command=tuple(str(c) for c in command),
            machine_types=machines,
            token_seconds=int(
                _seconds(
                    sidecar.get("tokenSeconds"),
                    "sidecar.tokenSeconds",
                    defaults.token_seconds,
                    problems,
                )
            ),
        ),
        timing=Timing(
            unschedulable_seconds=_seconds(
                timeouts.get("unschedulableSeconds"),
                "timeouts.unschedulableSeconds",
                base.unschedulable_seconds,
                problems,
            ),
            metric_grace_seconds=_seconds(
                timeouts.get("metricGraceSeconds"),
                "timeouts.metricGraceSeconds",
                base.metric_grace_seconds,
                problems,
            ),
        ),
        resync_seconds=_seconds(
            timeouts.get("resyncSeconds"), "timeouts.resyncSeconds", 60.0, problems
        ),
        watch_seconds=max(
            1, int(_seconds(timeouts.get("watchSeconds"), "timeouts.watchSeconds", 300, problems))
        ),
        api_connect_seconds=_seconds(
            timeouts.get("apiConnectSeconds"), "timeouts.apiConnectSeconds", 5.0, problems
        ),
        api_read_seconds=_seconds(
            timeouts.get("apiReadSeconds"), "timeouts.apiReadSeconds", 60.0, problems
        ),
        stall_seconds=_seconds(
            timeouts.get("stallSeconds"), "timeouts.stallSeconds", 120.0, problems
        ),
    )
    if problems:
        raise SpecError(problems, source)
    return config


def load_config(path: Path | None) -> OperatorConfig:
    """The built-in defaults, or those overridden by the YAML file at ``path``."""
    if path is None:
        return OperatorConfig()
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpecError([Problem("", f"cannot be read: {err.strerror}")], str(path)) from err
    except yaml.YAMLError as err:
        raise SpecError([Problem("", f"is not valid YAML: {err}")], str(path)) from err
    return parse_config(data, str(path))
