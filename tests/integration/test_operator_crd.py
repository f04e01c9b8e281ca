"""The generated CRD on the real API server: its CEL rules refuse bad specs, explain helps."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .operator_harness import install_crd
from .plane import ControlPlane

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "k8s" / "cifar10-bayes.yaml"


def example() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return found


def _min_over_max(m: dict[str, Any]) -> None:
    m["spec"]["parameters"][0].update(min=200, max=100)


def _duplicate_name(m: dict[str, Any]) -> None:
    m["spec"]["parameters"].append(copy.deepcopy(m["spec"]["parameters"][0]))


def _no_parallelism(m: dict[str, Any]) -> None:
    m["spec"]["parallelism"] = 0


def _log_from_zero(m: dict[str, Any]) -> None:
    m["spec"]["parameters"][3].update(min=0.0, scale="log")


def _fractional_int_bound(m: dict[str, Any]) -> None:
    m["spec"]["parameters"][0]["min"] = 1.5


def _huge_int_bound(m: dict[str, Any]) -> None:
    m["spec"]["parameters"][0]["max"] = 1.0e20


def _fractional_int_step(m: dict[str, Any]) -> None:
    m["spec"]["parameters"][1]["step"] = 0.5


def _no_containers(m: dict[str, Any]) -> None:
    m["spec"]["trial"]["template"]["spec"]["containers"] = []


def _no_template_spec(m: dict[str, Any]) -> None:
    m["spec"]["trial"]["template"] = {"metadata": {"labels": {"team": "ml"}}}


def _container(m: dict[str, Any], index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = m["spec"]["trial"]["template"]["spec"]["containers"][index]
    return found


def _undeclared_in_command(m: dict[str, Any]) -> None:
    _container(m)["command"] = ["python", "train.py", "--batch_size", ":batch_size:"]


def _undeclared_in_args(m: dict[str, Any]) -> None:
    _container(m)["args"][2] = "--kernel=:conv2_kernel: --bs=:batch_size:"


def _undeclared_in_env(m: dict[str, Any]) -> None:
    _container(m)["env"] = [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "DROPOUT", "value": ":dropout3:"},
    ]


def _undeclared_in_the_named_container(m: dict[str, Any]) -> None:
    containers = m["spec"]["trial"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "proxy", "image": "envoy", "args": ["--listen=:8080:"]})
    containers[1]["args"].append(":lr:")
    m["spec"]["trial"]["container"] = "trainer"


def _unknown_training_container(m: dict[str, Any]) -> None:
    m["spec"]["trial"]["container"] = "train"


def _number_in_args(m: dict[str, Any]) -> None:
    _container(m)["args"][0] = 25


def _scale_on_categorical(m: dict[str, Any]) -> None:
    m["spec"]["parameters"].append(
        {"name": "opt", "type": "categorical", "values": ["adam", "sgd"], "scale": "log"}
    )


def _dot_in_name(m: dict[str, Any]) -> None:
    m["metadata"]["name"] = "cifar10.bayes"


def _empty_machine_type(m: dict[str, Any]) -> None:
    m["spec"]["trial"]["machineType"] = ""


# format() writes a list of strings as ["a", "b"]: the parser writes a, b.
PARAMETERS = '(parameters: ["conv2_filter", "conv2_kernel", "dense_layer", "dropout_3"])'
CONTAINERS = "spec.trial.template.spec.containers"
PLACEHOLDER_FIX = "declare it in spec.parameters or correct the placeholder"


@pytest.mark.parametrize(
    ("break_it", "refusal"),
    [
        (
            _fractional_int_bound,
            'spec.parameters[0].min: Invalid value: "object": min of an int parameter must be a '
            "whole number, got 1.5; round it, or use type: float for fractional values",
        ),
        (
            _huge_int_bound,
            'spec.parameters[0].max: Invalid value: "object": max of an int parameter must be a '
            "whole number between -9007199254740992 and 9007199254740992, got 1e+20",
        ),
        (
            _fractional_int_step,
            'spec.parameters[1].step: Invalid value: "object": step of an int parameter must be a '
            "whole number, got 0.5; round it, or use type: float",
        ),
        (
            _no_containers,
            f'{CONTAINERS}: Invalid value: "array": must list at least one container, the '
            "training container, e.g. containers: [{name: trainer, image: ..., command: [...]}]",
        ),
        (
            _no_template_spec,
            "spec.trial.template.spec: Required value",
        ),
        (
            _undeclared_in_command,
            f'{CONTAINERS}: Invalid value: "object": {CONTAINERS}[0].command[3] uses placeholder '
            f":batch_size:, which no parameter declares {PARAMETERS}; "
            f"{PLACEHOLDER_FIX}",
        ),
        (
            _undeclared_in_args,
            f'{CONTAINERS}: Invalid value: "object": {CONTAINERS}[0].args[2] uses placeholder '
            f":batch_size:, which no parameter declares {PARAMETERS}; "
            f"{PLACEHOLDER_FIX}",
        ),
        (
            _undeclared_in_env,
            f'{CONTAINERS}: Invalid value: "object": {CONTAINERS}[0].env[1].value uses '
            f"placeholder :dropout3:, which no parameter declares {PARAMETERS}; "
            f"{PLACEHOLDER_FIX}",
        ),
        (
            _undeclared_in_the_named_container,
            f'{CONTAINERS}: Invalid value: "object": {CONTAINERS}[1].args[5] uses placeholder '
            f":lr:, which no parameter declares {PARAMETERS}; {PLACEHOLDER_FIX}",
        ),
        (
            _unknown_training_container,
            'spec.trial.container: Invalid value: "object": names no container of the template, '
            'got train (containers: ["trainer"]); use one of them, or leave container out to use '
            "the first",
        ),
        (
            _number_in_args,
            f'{CONTAINERS}[0].args[0]: Invalid value: "integer": {CONTAINERS}[0].args[0] in '
            'body must be of type string: "integer"',
        ),
        (
            _scale_on_categorical,
            'spec.parameters[4].scale: Invalid value: "object": scale applies to int and float '
            "parameters only; remove it",
        ),
        (
            _dot_in_name,
            "Invalid value: \"object\": metadata.name must not contain '.' (it names the trial "
            "Pods); use '-' instead",
        ),
        (
            _empty_machine_type,
            "spec.trial.machineType in body should be at least 1 chars long",
        ),
        (
            _min_over_max,
            'spec.parameters[0].max: Invalid value: "object": max must be greater than min, got '
            "min=200, max=100 (swap them if reversed)",
        ),
        (
            _duplicate_name,
            'spec.parameters: Invalid value: "array": parameter names must be unique; rename '
            "the repeated one",
        ),
        (
            _no_parallelism,
            "spec.parallelism in body should be greater than or equal to 1",
        ),
        (
            _log_from_zero,
            'spec.parameters[3].min: Invalid value: "object": a log scale needs min > 0, got '
            "min=0; use scale: linear, or a positive min",
        ),
    ],
)
def test_the_api_server_refuses_what_the_schema_forbids(
    testplane: ControlPlane,
    namespace: str,
    break_it: Callable[[dict[str, Any]], None],
    refusal: str,
) -> None:
    install_crd(testplane)
    manifest = example()
    break_it(manifest)
    refused = testplane.kubectl(
        "apply", "-n", namespace, "-f", "-", input_text=json.dumps(manifest), check=False
    )
    assert refused.returncode != 0
    assert refusal in refused.stderr


def test_the_example_is_accepted_and_explain_describes_the_fields(
    testplane: ControlPlane, namespace: str
) -> None:
    install_crd(testplane)
    testplane.kubectl("apply", "-n", namespace, "--dry-run=server", "-f", str(EXAMPLE))
    explained = testplane.kubectl("explain", "hs.spec.parameters").stdout
    assert "DESCRIPTION" in explained
    assert "FIELDS" in explained
    status = testplane.kubectl("explain", "hs.status.trials.curve").stdout
    assert "[step, value]" in status


def test_a_categorical_search_stored_by_the_api_server_is_still_a_valid_spec(
    testplane: ControlPlane, namespace: str
) -> None:
    from hypersearch.core.manifest import parse_manifest

    install_crd(testplane)
    manifest = example()
    manifest["spec"]["parameters"].append(
        {"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]}
    )
    manifest["spec"]["trial"]["template"]["spec"]["containers"][0]["args"].append(
        "--optimizer=:optimizer:"
    )
    stored = json.loads(
        testplane.kubectl(
            "create",
            "-n",
            namespace,
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            "-",
            input_text=json.dumps(manifest),
        ).stdout
    )

    assert stored["spec"]["parameters"][-1] == {
        "name": "optimizer",
        "type": "categorical",
        "values": ["adam", "sgd"],
    }
    assert parse_manifest(stored).space.names[-1] == "optimizer"


def test_the_api_server_defaults_noisy_to_false_and_stores_true_as_the_parser_reads_it(
    testplane: ControlPlane, namespace: str
) -> None:
    from hypersearch.core.manifest import parse_manifest

    install_crd(testplane)
    plain = json.loads(_dry_run(testplane, namespace, example()).stdout)
    assert plain["spec"]["objective"]["noisy"] is False
    assert not parse_manifest(plain).objective.noisy
    manifest = example()
    manifest["spec"]["objective"]["noisy"] = True
    noisy = json.loads(_dry_run(testplane, namespace, manifest).stdout)
    assert parse_manifest(noisy).objective.noisy
    manifest["spec"]["objective"]["noisy"] = "yes"
    refused = _dry_run(testplane, namespace, manifest)
    assert refused.returncode != 0
    assert "spec.objective.noisy in body must be of type boolean" in refused.stderr


def _dry_run(testplane: ControlPlane, namespace: str, manifest: dict[str, Any]) -> Any:
    return testplane.kubectl(
        "create",
        "-n",
        namespace,
        "--dry-run=server",
        "-o",
        "json",
        "-f",
        "-",
        input_text=json.dumps(manifest),
        check=False,
    )


# Texts in the training container's args beside a parameter named ``lr.max`` (names may hold '.'
# and '-'). The parser and the API server must agree on every one.
PLACEHOLDER_TEXTS = [
    "--lr=:lr.max:",  # declared
    ":lr.max::lr.max:",  # two declared, back to back
    ":lr.max:b:",  # ':b:' shares the colon the first match used: not a placeholder
    ":x:lr.max:",  # ':x:' comes first and is undeclared
    ":lr.maxx:",  # a longer, undeclared name
    ":lr:",  # a prefix of a declared name
    "::lr.max:",  # a lone colon, then a declared one
    "http://host:8080:",  # digits cannot start a name
    "a:b c:d:",  # no placeholder: a space ends a name
    "time=:_t-1:",  # undeclared name with '_' and '-'
    ":lr?max:",  # '?' is no name character
]


@pytest.mark.parametrize("text", PLACEHOLDER_TEXTS)
def test_the_api_server_and_the_parser_agree_on_which_placeholders_are_declared(
    testplane: ControlPlane, namespace: str, text: str
) -> None:
    from hypersearch.core.errors import SpecError
    from hypersearch.core.manifest import parse_manifest

    install_crd(testplane)
    manifest = example()
    manifest["spec"]["parameters"].append({"name": "lr.max", "type": "float", "min": 0.1, "max": 1})
    _container(manifest)["args"] = [text]
    try:
        parse_manifest(copy.deepcopy(manifest))
        parser_refuses = False
    except SpecError:
        parser_refuses = True

    created = _dry_run(testplane, namespace, manifest)

    assert (created.returncode != 0) == parser_refuses, created.stderr
    if parser_refuses:
        assert "uses placeholder" in created.stderr


def test_valid_templates_the_rules_must_not_refuse_are_accepted_and_parse(
    testplane: ControlPlane, namespace: str
) -> None:
    from hypersearch.core.manifest import parse_manifest

    install_crd(testplane)
    manifest = example()
    manifest["spec"]["parameters"][0].update(min=16.0, step=16)  # whole numbers written as floats
    manifest["spec"]["trial"]["container"] = "trainer"
    manifest["spec"]["trial"]["template"]["metadata"] = {"labels": {"team": "ml"}}
    pod = manifest["spec"]["trial"]["template"]["spec"]
    pod["containers"].insert(
        0, {"name": "proxy", "image": "envoy", "args": ["--stats=:undeclared:"], "ports": []}
    )
    pod["initContainers"] = [{"name": "fetch", "image": "busybox", "command": ["echo", ":x:"]}]
    pod["volumes"] = [{"name": "data", "emptyDir": {}}]
    _container(manifest, 1)["env"] = [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "KERNEL", "value": ":conv2_kernel:"},
    ]

    created = _dry_run(testplane, namespace, manifest)

    assert created.returncode == 0, created.stderr
    stored = json.loads(created.stdout)
    assert stored["spec"]["trial"]["template"]["spec"]["volumes"] == pod["volumes"]
    assert stored["spec"]["trial"]["template"]["spec"]["initContainers"] == pod["initContainers"]
    assert parse_manifest(stored).space.names[0] == "conv2_filter"
