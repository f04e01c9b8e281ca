"""Builders for test objects: a valid value by default, the one field a test cares about overridden.

Import from unit tests as ``from builders import ...`` (tests/unit has no ``__init__``, so pytest
puts this folder on ``sys.path``). Builders return fresh objects on every call, so a test may
mutate what it gets.
"""

from __future__ import annotations

import copy
from typing import Any

from hypersearch.core.space import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Scale,
    Space,
    Value,
)
from hypersearch.core.spec import SearchSpec, parse_manifest


def int_param(
    name: str = "units",
    min: int = 1,
    max: int = 10,
    scale: Scale = "linear",
    *,
    step: int | None = None,
    count: int | None = None,
) -> IntParam:
    return IntParam(name, min, max, scale, step, count)


def float_param(
    name: str = "lr",
    min: float = 0.0,
    max: float = 1.0,
    scale: Scale = "linear",
    *,
    step: float | None = None,
    count: int | None = None,
) -> FloatParam:
    return FloatParam(name, min, max, scale, step, count)


def categorical_param(name: str = "optimizer", *values: Value) -> CategoricalParam:
    return CategoricalParam(name, tuple(values) if values else ("adam", "sgd"))


def discrete_param(name: str = "rate", *values: float | int) -> DiscreteParam:
    return DiscreteParam(name, tuple(values) if values else (0.001, 0.01, 0.1))


def space_of(*params: Param) -> Space:
    return Space(tuple(params))


def mixed_space() -> Space:
    """One parameter of every kind, including log scales."""
    return space_of(
        int_param("conv2_filter", 16, 128),
        int_param("batch", 8, 512, "log"),
        float_param("dropout", 0.001, 0.999),
        float_param("lr", 1e-4, 1e-1, "log"),
        categorical_param("optimizer", "adam", "sgd", "rmsprop"),
        discrete_param("rate", 1, 0.5, 0.25),
    )


_MANIFEST: dict[str, Any] = {
    "apiVersion": "hypersearch.io/v1alpha1",
    "kind": "HyperSearch",
    "metadata": {"name": "cifar10-bayes"},
    "spec": {
        "algorithm": {"name": "bayesian", "seed": 7},
        "objective": {"metric": "val_acc", "goal": "maximize", "aggregation": "last"},
        "parameters": [
            {"name": "conv2_filter", "type": "int", "min": 16, "max": 128},
            {"name": "dropout_3", "type": "float", "min": 0.001, "max": 0.999},
            {"name": "lr", "type": "float", "min": 1.0e-4, "max": 1.0e-1, "scale": "log"},
            {"name": "optimizer", "type": "categorical", "values": ["adam", "sgd"]},
        ],
        "maxTrials": 21,
        "parallelism": 3,
        "maxFailedTrials": 3,
        "trial": {
            "machineType": "K80",
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "example/cifar10:1",
                            "command": ["python", "cifar10_cnn.py"],
                            "args": [
                                "--conv2_filter",
                                ":conv2_filter:",
                                "--dropout_3=:dropout_3:",
                                "--lr",
                                ":lr:",
                            ],
                            "env": [{"name": "OPTIMIZER", "value": ":optimizer:"}],
                        }
                    ]
                }
            },
        },
    },
}


def manifest(**spec_overrides: Any) -> dict[str, Any]:
    """A valid HyperSearch manifest (the DESIGN.md example); keyword arguments replace spec keys.

    Pass ``None`` to delete a key: ``manifest(parallelism=None)``.
    """
    doc = copy.deepcopy(_MANIFEST)
    for key, value in spec_overrides.items():
        if value is None:
            doc["spec"].pop(key, None)
        else:
            doc["spec"][key] = copy.deepcopy(value)
    return doc


def search_spec(**spec_overrides: Any) -> SearchSpec:
    """The parsed form of ``manifest(**spec_overrides)``."""
    return parse_manifest(manifest(**spec_overrides))
