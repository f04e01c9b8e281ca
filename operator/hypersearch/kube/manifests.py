"""Render the objects the operator creates: a trial's Pod and a search's sidecar identity.

Pure: dicts in, dicts out, no API calls (``kube.api`` sends them). A trial Pod is the user's Pod
template with: the trial's values substituted into the training container's command, args and
env; that command wrapped so its output is tee'd to a shared emptyDir and its exit code written
beside it; the metrics sidecar as a native sidecar (an initContainer with restartPolicy Always);
resources, node selector and tolerations from the machine type (explicit template values win);
and the security settings of docs/operator.md (no token in the training container, a projected
token only in the sidecar, no shared process namespace).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hypersearch.core.early_stopping import rule_steps
from hypersearch.core.engine import NewTrial
from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.placeholders import substitute, substitute_text
from hypersearch.core.spec import SearchSpec, training_command, training_index
from hypersearch.kube import names, record
from hypersearch.kube.curve import KEEP_STEPS_LIMIT

# POSIX sh run as the training container's entrypoint; the real argv follows as "$@".
# - output (stdout and stderr) goes to the container log as usual and to the shared file;
# - the exit code is written to a temporary file by the group and moved into place only after
#   tee has finished, so the sidecar never sees the exit code before the last line of output;
# - SIGTERM/SIGINT (Pod deletion) are forwarded to the trainer alone (sh as PID 1 would ignore
#   them; signalling the whole group would kill tee and lose the trainer's last words).
WRAPPER: Final = (
    "d=" + names.SHARED_DIR + "; "
    'rm -f "$d/exit-code" "$d/.exit-code" "$d/.pid"; '
    'trap \'kill -TERM "$(cat "$d/.pid")" 2>/dev/null\' TERM INT; '
    '( { "$@" & echo $! > "$d/.pid"; wait $!; echo $? > "$d/.exit-code"; } 2>&1 '
    '| tee -a "$d/output.log" ) & '
    "p=$!; "
    'wait "$p"; wait "$p"; '
    '[ -f "$d/.exit-code" ] || echo 143 > "$d/.exit-code"; '
    'mv "$d/.exit-code" "$d/exit-code"; '
    'exit "$(cat "$d/exit-code")"'
)
WRAPPER_NAME: Final = "hypersearch-trial"


@dataclass(frozen=True, slots=True)
class MachineType:
    """What a ``machineType`` such as K80 means on this cluster (operator configuration)."""

    limits: Mapping[str, str] = field(default_factory=dict)
    requests: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()


def gpu_machine(accelerator: str, gpus: int = 1) -> MachineType:
    """A GKE-style GPU machine type: ``gpus`` nvidia.com/gpu, nodes labelled with the accelerator,
    and the toleration GPU node pools' taint needs."""
    return MachineType(
        limits={"nvidia.com/gpu": str(gpus)},
        node_selector={"cloud.google.com/gke-accelerator": accelerator},
        tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
    )


DEFAULT_MACHINE_TYPES: Final[Mapping[str, MachineType]] = {
    "K80": gpu_machine("nvidia-tesla-k80"),
    "P100": gpu_machine("nvidia-tesla-p100"),
    "V100": gpu_machine("nvidia-tesla-v100"),
    "T4": gpu_machine("nvidia-tesla-t4"),
    "A100": gpu_machine("nvidia-tesla-a100"),
    "CPU": MachineType(),
}


@dataclass(frozen=True, slots=True)
class PodSettings:
    """Operator-wide settings that shape every trial Pod."""

    sidecar_image: str = "ghcr.io/hypersearch/hypersearch-operator:0.1.0"
    sidecar_command: tuple[str, ...] = ("python3", "-m", "hypersearch.sidecar")
    machine_types: Mapping[str, MachineType] = field(
        default_factory=lambda: dict(DEFAULT_MACHINE_TYPES)
    )
    token_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class Owner:
    """The HyperSearch a rendered object belongs to (for names, namespace, ownerReferences)."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        """An ownerReference: deleting the search deletes the object (garbage collection)."""
        return {
            "apiVersion": names.API,
            "kind": names.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def machine_type(spec: SearchSpec, settings: PodSettings) -> MachineType | None:
    """The machine type the spec asks for, or SpecError listing the known ones."""
    wanted = spec.trial.machine_type
    if wanted is None:
        return None
    found = settings.machine_types.get(wanted)
    if found is None:
        known = ", ".join(sorted(settings.machine_types)) or "none"
        raise SpecError(
            [
                Problem(
                    "spec.trial.machineType",
                    f"is {wanted!r}, which this operator does not know (known: {known}); use one "
                    "of those or add it under machineTypes in the operator's --config file",
                )
            ]
        )
    return found


def trial_pod(
    spec: SearchSpec, owner: Owner, trial: NewTrial, settings: PodSettings
) -> dict[str, Any]:
    """The Pod that runs ``trial``; its name is the trial name, so creating it twice is harmless."""
    template = copy.deepcopy(dict(spec.trial.template))
    pod_spec = reporting_pod_spec(spec, owner, trial, settings, template)
    meta: dict[str, Any] = dict(template.get("metadata") or {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": trial.name,
            "namespace": owner.namespace,
            "labels": {**(meta.get("labels") or {}), **trial_labels(owner, trial)},
            "annotations": {**(meta.get("annotations") or {}), **trial_annotations(trial)},
            "ownerReferences": [owner.reference()],
        },
        "spec": pod_spec,
    }


def trial_labels(owner: Owner, trial: NewTrial) -> dict[str, str]:
    """The labels of the object that runs a trial (a Pod, a Job or a JobSet)."""
    return {
        names.SEARCH_LABEL: owner.name,
        names.TRIAL_LABEL: trial.name,
        names.MANAGED_BY_LABEL: names.MANAGED_BY,
    }


def trial_annotations(trial: NewTrial) -> dict[str, str]:
    """The annotations a trial is adopted from after a crash: its values, index, prediction."""
    annotations = {
        names.PARAMS_ANNOTATION: json.dumps(trial.params, separators=(",", ":")),
        names.INDEX_ANNOTATION: str(trial.index),
    }
    if trial.prediction is not None:
        annotations[names.PREDICTION_ANNOTATION] = record.prediction_annotation(trial.prediction)
    return annotations


def reporting_pod_spec(
    spec: SearchSpec,
    owner: Owner,
    trial: NewTrial,
    settings: PodSettings,
    template: Mapping[str, Any],
    *,
    sidecar_extra: Sequence[str] = (),
    sidecar_env: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The Pod spec of a Pod that reports: the training container substituted and wrapped, the
    metrics sidecar (``sidecar_extra`` arguments, ``sidecar_env`` variables added), the shared
    and token volumes, the security settings and the machine type."""
    index = training_index(spec.trial)
    machine = machine_type(spec, settings)
    pod_spec: dict[str, Any] = dict(template.get("spec") or {})
    containers = list(pod_spec["containers"])
    command = training_command(
        spec.trial,
        "the operator wraps it to capture the training output (the image's entrypoint is not "
        "visible to it)",
    )
    containers[index] = _trainer(dict(containers[index]), command, trial, machine)
    pod_spec["containers"] = containers
    sidecar = _sidecar(spec, owner, trial.name, settings)
    sidecar["command"] = [*sidecar["command"], *sidecar_extra]
    if sidecar_env:
        sidecar["env"] = [dict(e) for e in sidecar_env]
    pod_spec["initContainers"] = [*(pod_spec.get("initContainers") or []), sidecar]
    pod_spec["volumes"] = [
        *(pod_spec.get("volumes") or []),
        {"name": names.SHARED_VOLUME, "emptyDir": {}},
        _token_volume(settings),
    ]
    pod_spec["restartPolicy"] = "Never"
    pod_spec["automountServiceAccountToken"] = False
    pod_spec["shareProcessNamespace"] = False
    pod_spec["serviceAccountName"] = pod_spec.get("serviceAccountName") or names.sidecar_account(
        owner.name
    )
    return place(pod_spec, machine)


def place(pod_spec: dict[str, Any], machine: MachineType | None) -> dict[str, Any]:
    """``pod_spec`` with the machine type's node selector and tolerations (the template's own
    node selector keys win)."""
    if machine is not None:
        pod_spec["nodeSelector"] = {
            **machine.node_selector,
            **(pod_spec.get("nodeSelector") or {}),
        }
        pod_spec["tolerations"] = [
            *(pod_spec.get("tolerations") or []),
            *(dict(t) for t in machine.tolerations),
        ]
    return pod_spec


def machine_resources(container: dict[str, Any], machine: MachineType | None) -> dict[str, Any]:
    """``container`` with the machine type's limits and requests (its own values win)."""
    if machine is not None:
        resources = dict(container.get("resources") or {})
        for kind, defaults in (("limits", machine.limits), ("requests", machine.requests)):
            merged = {**defaults, **(resources.get(kind) or {})}
            if merged:
                resources[kind] = merged
        container["resources"] = resources
    return container


def substitute_env(container: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``container`` with placeholders replaced in its env values."""
    env = []
    for original in container.get("env") or []:
        item = dict(original)
        if isinstance(item.get("value"), str):
            item["value"] = substitute_text(item["value"], params)
        env.append(item)
    if env:
        container["env"] = env
    return container


def _trainer(
    container: dict[str, Any], command: list[str], trial: NewTrial, machine: MachineType | None
) -> dict[str, Any]:
    """The training container: values substituted, argv wrapped, shared volume, resources."""
    argv = substitute(command + [str(a) for a in container.get("args") or []], trial.params)
    container["command"] = ["/bin/sh", "-c", WRAPPER, WRAPPER_NAME, *argv]
    container.pop("args", None)
    substitute_env(container, trial.params)
    container["volumeMounts"] = [
        *(container.get("volumeMounts") or []),
        {"name": names.SHARED_VOLUME, "mountPath": names.SHARED_DIR},
    ]
    return machine_resources(container, machine)


def _keep_steps(spec: SearchSpec) -> list[str]:
    """The sidecar's ``--keep-steps``: the steps the early-stopping rule reads, so the thinned
    curve in status keeps them (none without a rule)."""
    if spec.early_stopping is None:
        return []
    steps = rule_steps(spec.early_stopping, up_to=1e6)[:KEEP_STEPS_LIMIT]
    return [f"--keep-steps={','.join(f'{s:g}' for s in steps)}"] if steps else []


def _sidecar(spec: SearchSpec, owner: Owner, trial: str, settings: PodSettings) -> dict[str, Any]:
    """The metrics sidecar: a native sidecar, so it neither blocks nor outlives the trainer."""
    objective = spec.objective
    return {
        "name": names.SIDECAR_CONTAINER,
        "image": settings.sidecar_image,
        "restartPolicy": "Always",
        "command": [
            *settings.sidecar_command,
            f"--namespace={owner.namespace}",
            f"--search={owner.name}",
            f"--trial={trial}",
            f"--metric={objective.metric}",
            f"--aggregation={objective.aggregation}",
            *_keep_steps(spec),
            f"--output={names.OUTPUT_FILE}",
            f"--exit-code={names.EXIT_CODE_FILE}",
            f"--token-dir={names.TOKEN_DIR}",
        ],
        "volumeMounts": [
            {"name": names.SHARED_VOLUME, "mountPath": names.SHARED_DIR, "readOnly": True},
            {"name": names.TOKEN_VOLUME, "mountPath": names.TOKEN_DIR, "readOnly": True},
        ],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _token_volume(settings: PodSettings) -> dict[str, Any]:
    """The sidecar's credentials: a short-lived, rotated token of the search's ServiceAccount,
    the cluster CA and the namespace, mounted into the sidecar only."""
    return {
        "name": names.TOKEN_VOLUME,
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "path": "token",
                        "expirationSeconds": settings.token_seconds,
                    }
                },
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ]
        },
    }


def sidecar_identity(
    owner: Owner, extra_accounts: Sequence[str] = (), *, legacy: bool = False
) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding for a search's sidecars, all owned by the search.

    The Role grants get and patch of ``hypersearchtrials/status`` in the namespace (trial names
    are unbounded, so no resourceNames; the chart's ValidatingAdmissionPolicy narrows each
    sidecar to the trial its Pod is named after); with ``legacy``, also of this search's own
    status (resourceNames), for the sidecars of Pods an earlier version started, which report
    into ``status.trials``. ``extra_accounts``: a template's
    own serviceAccountName, whose Pods' sidecars then need the same right.
    """
    account = names.sidecar_account(owner.name)
    meta = {
        "name": account,
        "namespace": owner.namespace,
        "labels": {names.SEARCH_LABEL: owner.name, names.MANAGED_BY_LABEL: names.MANAGED_BY},
        "ownerReferences": [owner.reference()],
    }
    subjects = [
        {"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}
        for name in dict.fromkeys([account, *extra_accounts])
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [names.API_GROUP],
                    "resources": [f"{names.TRIAL_PLURAL}/status"],
                    "verbs": ["get", "patch"],
                },
                *(
                    [
                        {
                            "apiGroups": [names.API_GROUP],
                            "resources": [f"{names.PLURAL}/status"],
                            "resourceNames": [owner.name],
                            "verbs": ["get", "patch"],
                        }
                    ]
                    if legacy
                    else []
                ),
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": subjects,
        },
    ]
