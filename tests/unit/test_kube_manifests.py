"""Trial Pod and sidecar identity rendering (kube.manifests): pure dicts, exact fields."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from hypersearch.core.engine import NewTrial
from hypersearch.core.errors import SpecError
from hypersearch.core.params import IntParam
from hypersearch.core.space import Space
from hypersearch.core.spec import Algorithm, EarlyStopping, Objective, SearchSpec, TrialTemplate
from hypersearch.core.trials import Prediction
from hypersearch.kube import curve, manifests, names
from hypersearch.kube.manifests import MachineType, Owner, PodSettings

OWNER = Owner(name="cifar", namespace="ml", uid="uid-1")


def template(**container: Any) -> dict[str, Any]:
    trainer = {
        "name": "trainer",
        "image": "trainer:1",
        "command": ["python", "train.py"],
        "args": ["--units", ":units:", "--tag=u:units:"],
        **container,
    }
    return {"metadata": {"labels": {"team": "a"}}, "spec": {"containers": [trainer]}}


def search(
    tmpl: dict[str, Any] | None = None, machine: str | None = "K80", **trial: Any
) -> SearchSpec:
    return SearchSpec(
        name="cifar",
        algorithm=Algorithm("bayesian", seed=7),
        objective=Objective("val_acc", "maximize", "last"),
        space=Space((IntParam("units", 1, 512),)),
        trial=TrialTemplate(template=tmpl or template(), machine_type=machine, **trial),
        max_trials=21,
        parallelism=3,
    )


NEW = NewTrial(name="cifar-0003", index=3, params={"units": 64})


def render(spec: SearchSpec | None = None, settings: PodSettings | None = None) -> dict[str, Any]:
    return manifests.trial_pod(spec or search(), OWNER, NEW, settings or PodSettings())


def trainer(pod: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = pod["spec"]["containers"][0]
    return found


def test_pod_is_named_after_the_trial_and_owned_by_the_search() -> None:
    pod = render()
    meta = pod["metadata"]
    assert meta["name"] == "cifar-0003"
    assert meta["namespace"] == "ml"
    assert meta["labels"] == {
        "team": "a",
        names.SEARCH_LABEL: "cifar",
        names.TRIAL_LABEL: "cifar-0003",
        names.MANAGED_BY_LABEL: names.MANAGED_BY,
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "hypersearch.io/v1alpha1",
            "kind": "HyperSearch",
            "name": "cifar",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert json.loads(meta["annotations"][names.PARAMS_ANNOTATION]) == {"units": 64}
    assert meta["annotations"][names.INDEX_ANNOTATION] == "3"


def test_values_are_substituted_into_argv_and_env_without_a_shell() -> None:
    spec = search(
        template(env=[{"name": "UNITS", "value": ":units:"}, {"name": "X", "value": "1"}])
    )
    container = trainer(render(spec))
    assert container["command"] == [
        "/bin/sh",
        "-c",
        manifests.WRAPPER,
        manifests.WRAPPER_NAME,
        "python",
        "train.py",
        "--units",
        "64",
        "--tag=u64",
    ]
    assert "args" not in container
    assert container["env"] == [{"name": "UNITS", "value": "64"}, {"name": "X", "value": "1"}]


def test_machine_type_gives_gpu_limits_node_selector_and_toleration() -> None:
    pod = render()
    assert trainer(pod)["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert pod["spec"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-k80"}
    assert pod["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_explicit_template_resources_and_selector_win_over_the_machine_type() -> None:
    tmpl = template(resources={"limits": {"nvidia.com/gpu": "2", "memory": "8Gi"}})
    tmpl["spec"]["nodeSelector"] = {"cloud.google.com/gke-accelerator": "custom"}
    pod = render(search(tmpl))
    assert trainer(pod)["resources"] == {"limits": {"nvidia.com/gpu": "2", "memory": "8Gi"}}
    assert pod["spec"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "custom"}


def test_configured_machine_type_replaces_the_builtin_one() -> None:
    settings = PodSettings(
        machine_types={
            "K80": MachineType(limits={"nvidia.com/gpu": "4"}, node_selector={"gpu": "k80"})
        }
    )
    pod = render(settings=settings)
    assert trainer(pod)["resources"] == {"limits": {"nvidia.com/gpu": "4"}}
    assert pod["spec"]["nodeSelector"] == {"gpu": "k80"}
    assert pod["spec"]["tolerations"] == []


def test_no_machine_type_leaves_resources_and_scheduling_alone() -> None:
    pod = render(search(machine=None))
    assert "resources" not in trainer(pod)
    assert "nodeSelector" not in pod["spec"]


def test_training_container_gets_no_credentials_and_the_sidecar_gets_the_token() -> None:
    spec = render()["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["shareProcessNamespace"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["serviceAccountName"] == "cifar-hypersearch-sidecar"
    trainer_mounts = {m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert trainer_mounts == {names.SHARED_VOLUME}
    (sidecar,) = spec["initContainers"]
    assert sidecar["restartPolicy"] == "Always"
    assert {m["name"]: m["readOnly"] for m in sidecar["volumeMounts"]} == {
        names.SHARED_VOLUME: True,
        names.TOKEN_VOLUME: True,
    }
    token = next(v for v in spec["volumes"] if v["name"] == names.TOKEN_VOLUME)
    assert token["projected"]["sources"][0] == {
        "serviceAccountToken": {"path": "token", "expirationSeconds": 3600}
    }


def test_sidecar_is_told_which_trial_and_metric_to_report() -> None:
    (sidecar,) = render()["spec"]["initContainers"]
    assert sidecar["command"] == [
        "python3",
        "-m",
        "hypersearch.sidecar",
        "--namespace=ml",
        "--search=cifar",
        "--trial=cifar-0003",
        "--metric=val_acc",
        "--aggregation=last",
        "--output=/hypersearch/output.log",
        "--exit-code=/hypersearch/exit-code",
        "--token-dir=/var/run/secrets/hypersearch",
    ]


def test_prediction_travels_in_an_annotation() -> None:
    trial = NewTrial("cifar-0003", 3, {"units": 64}, Prediction(0.8, 0.1, 0.95))
    pod = manifests.trial_pod(search(), OWNER, trial, PodSettings())
    assert json.loads(pod["metadata"]["annotations"][names.PREDICTION_ANNOTATION]) == {
        "mean": 0.8,
        "std": 0.1,
        "ucb": 0.95,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            search(machine="H100"),
            "spec.trial.machineType is 'H100', which this operator does not know (known: A100, "
            "CPU, K80, P100, T4, V100); use one of those or add it under machineTypes in the "
            "operator's --config file",
        ),
        (
            search(template(command=None)),
            "spec.trial.template.spec.containers[0].command is required: the operator wraps it "
            "to capture the training output (the image's entrypoint is not visible to it); set "
            "it to the program to run, e.g. command: [python, train.py, --lr, ':lr:']",
        ),
    ],
)
def test_invalid_templates_raise_spec_errors_naming_the_field(
    spec: SearchSpec, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        render(spec)
    assert str(caught.value) == message


def test_sidecar_role_reaches_trial_records_and_no_search_status() -> None:
    _, role, _ = manifests.sidecar_identity(OWNER)
    assert role["rules"] == [
        {
            "apiGroups": ["hypersearch.io"],
            "resources": ["hypersearchtrials/status"],
            "verbs": ["get", "patch"],
        }
    ]


def test_sidecar_role_of_a_search_with_old_pods_reaches_only_its_own_search_status() -> None:
    account, role, binding = manifests.sidecar_identity(OWNER, legacy=True)
    assert account["kind"] == "ServiceAccount"
    assert account["metadata"]["name"] == "cifar-hypersearch-sidecar"
    assert role["rules"] == [
        {
            "apiGroups": ["hypersearch.io"],
            "resources": ["hypersearchtrials/status"],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": ["hypersearch.io"],
            "resources": ["hypersearches/status"],
            "resourceNames": ["cifar"],
            "verbs": ["get", "patch"],
        },
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "cifar-hypersearch-sidecar", "namespace": "ml"}
    ]
    for obj in (account, role, binding):
        assert obj["metadata"]["ownerReferences"] == [OWNER.reference()]


def run_wrapper(tmp_path: Path, program: str) -> tuple[int, str, str]:
    """Run the real wrapper with /bin/sh, its shared dir pointed at tmp_path."""
    script = manifests.WRAPPER.replace(names.SHARED_DIR, str(tmp_path))
    proc = subprocess.run(
        ["/bin/sh", "-c", script, manifests.WRAPPER_NAME, "/bin/sh", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, proc.stdout, (tmp_path / "exit-code").read_text().strip()


@pytest.mark.parametrize(("code", "expected"), [(0, "0"), (3, "3")])
def test_wrapper_tees_output_and_passes_the_exit_code_through(
    tmp_path: Path, code: int, expected: str
) -> None:
    program = f"echo 'val_acc=0.5'; echo 'to stderr' >&2; exit {code}"
    returncode, stdout, written = run_wrapper(tmp_path, program)
    assert returncode == code
    assert written == expected
    assert (tmp_path / "output.log").read_text() == "val_acc=0.5\nto stderr\n"
    assert "val_acc=0.5" in stdout
    assert not (tmp_path / ".exit-code").exists()


def test_wrapper_keeps_each_argument_whole(tmp_path: Path) -> None:
    script = manifests.WRAPPER.replace(names.SHARED_DIR, str(tmp_path))
    args = ["printf", "%s|", "a b", "$HOME", "'q'"]
    proc = subprocess.run(
        ["/bin/sh", "-c", script, manifests.WRAPPER_NAME, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "output.log").read_text() == "a b|$HOME|'q'|"


def test_wrapper_forwards_sigterm_to_the_trainer_and_records_its_exit(tmp_path: Path) -> None:
    script = manifests.WRAPPER.replace(names.SHARED_DIR, str(tmp_path))
    program = "trap 'echo stopping; exit 7' TERM; echo ready; while :; do sleep 0.05; done"
    proc = subprocess.Popen(
        ["/bin/sh", "-c", script, manifests.WRAPPER_NAME, "/bin/sh", "-c", program],
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # the wrapper signals its whole process group, as PID 1 would
    )
    log = tmp_path / "output.log"
    deadline = time.monotonic() + 20
    while "ready" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 7
    assert (tmp_path / "exit-code").read_text().strip() == "7"
    assert log.read_text() == "ready\nstopping\n"


@pytest.mark.parametrize(
    ("early", "flag"),
    [
        (
            EarlyStopping("asha", {"minResource": 1, "reductionFactor": 3, "maxResource": 81}),
            "--keep-steps=1,3,9,27",
        ),
        (EarlyStopping("median", {"gracePeriod": 3}), "--keep-steps=3,4,5,6,7,8,10,12"),
    ],
)
def test_sidecar_keeps_the_steps_the_early_stopping_rule_reads(
    early: EarlyStopping, flag: str
) -> None:
    spec = dataclasses.replace(search(), early_stopping=early)
    (sidecar,) = render(spec)["spec"]["initContainers"]
    (kept,) = [a for a in sidecar["command"] if a.startswith("--keep-steps=")]
    assert kept.startswith(flag)
    assert len(kept.split(",")) <= curve.KEEP_STEPS_LIMIT
