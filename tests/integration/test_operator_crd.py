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


@pytest.mark.parametrize(
    ("break_it", "refusal"),
    [
        (
            _min_over_max,
            'spec.parameters[0].max: Invalid value: "object": max must be greater than min '
            "(swap them if reversed)",
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
            'spec.parameters[3].min: Invalid value: "object": a log scale needs min > 0; use '
            "scale: linear, or a positive min",
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
