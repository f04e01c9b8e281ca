"""Builders for test objects: a valid value by default, the one field a test cares about overridden.

Import from unit tests as ``from builders import ...`` (tests/unit has no ``__init__``, so pytest
puts this folder on ``sys.path``). Builders return fresh objects on every call, so a test may
mutate what it gets.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from hypersearch.core.manifest import parse_manifest
from hypersearch.core.params import (
    SCALES,
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Scale,
    Value,
    round_float,
)
from hypersearch.core.space import Space
from hypersearch.core.spec import (
    ALGORITHMS,
    Algorithm,
    AlgorithmName,
    EarlyStopping,
    Objective,
    SearchSpec,
    TrialTemplate,
)


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


def number(value: Value) -> float:
    """A numeric parameter's sampled value; a string here means the space sampled the wrong kind."""
    assert not isinstance(value, str), f"a numeric parameter got the string {value!r}"
    return value


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


# --- hypothesis strategies: valid parameters and spaces of every kind ------------------------


@st.composite
def int_params(draw: st.DrawFn, name: str) -> IntParam:
    scale = draw(st.sampled_from(SCALES))
    lo = draw(st.integers(1 if scale == "log" else -1000, 1000))
    hi = draw(st.integers(lo + 1, lo + 2000))
    step = None if scale == "log" else draw(st.none() | st.integers(1, 50))
    count = None if step is not None else draw(st.none() | st.integers(2, 30))
    return IntParam(name, lo, hi, scale, step, count)


@st.composite
def float_params(draw: st.DrawFn, name: str) -> FloatParam:
    scale = draw(st.sampled_from(SCALES))
    if scale == "log":
        lo = 10 ** draw(st.floats(-8, 3))
        hi = lo * 10 ** draw(st.floats(0.01, 6))
    else:
        lo = draw(st.floats(-1e6, 1e6))
        hi = lo + draw(st.floats(1e-3, 1e6))
    step = None if scale == "log" else draw(st.none() | st.floats((hi - lo) / 40, hi - lo))
    count = None if step is not None else draw(st.none() | st.integers(2, 30))
    return FloatParam(name, lo, hi, scale, step, count)


@st.composite
def list_params(draw: st.DrawFn, name: str) -> CategoricalParam | DiscreteParam:
    if draw(st.booleans()):
        words = draw(st.lists(st.text("abcxyz", min_size=1, max_size=5), min_size=1, max_size=6))
        return CategoricalParam(name, tuple(dict.fromkeys(words)))
    numbers = draw(st.lists(st.integers(-100, 100) | st.floats(-1e3, 1e3), min_size=1, max_size=6))
    unique = {round_float(float(n)): n for n in numbers}
    return DiscreteParam(name, tuple(unique.values()))


@st.composite
def spaces(draw: st.DrawFn, max_params: int = 4) -> Space:
    n = draw(st.integers(1, max_params))
    params: list[Param] = []
    kinds: list[Callable[[str], st.SearchStrategy[Param]]] = [int_params, float_params, list_params]
    for i in range(n):
        kind = draw(st.sampled_from(kinds))
        params.append(draw(kind(f"p{i}")))
    return Space(tuple(params))


@st.composite
def enumerable_spaces(draw: st.DrawFn) -> Space:
    space = draw(spaces(max_params=3))
    size = space.grid_size()
    if size is None or size > 5000:
        return space_of(int_param("a", 0, 3), categorical_param("b", "x", "y"))
    return space


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


@st.composite
def search_specs(draw: st.DrawFn) -> SearchSpec:
    """Valid SearchSpecs of every algorithm, with placeholders of declared names in the command."""
    space = draw(spaces())
    grid_ok = space.grid_size() is not None
    names: list[AlgorithmName] = [a for a in ALGORITHMS if grid_ok or a != "grid"]
    name = draw(st.sampled_from(names))
    settings: dict[str, Any] = {}
    if name == "random":
        settings = {"quasiRandom": draw(st.booleans())}
    elif name == "bayesian":
        settings = {
            "initialPoints": draw(st.integers(1, 20)),
            "delta": 0.1,
            "refineLast": draw(st.sampled_from([0.0, 0.2, 1.0])),
        }
        if draw(st.booleans()):
            settings["beta"] = draw(st.floats(0.01, 100))
    used = draw(st.lists(st.sampled_from(space.names), max_size=3))
    container: dict[str, Any] = {
        "name": "trainer",
        "image": "example/train:1",
        "command": ["python", "train.py"],
        "args": [f"--{n}=:{n}:" for n in used],
    }
    return SearchSpec(
        name=draw(st.from_regex(r"\A[a-z][a-z0-9-]{0,20}[a-z0-9]\Z")),
        algorithm=Algorithm(name, draw(st.integers(0, 2**32 - 1)), settings),
        objective=Objective(
            metric=draw(st.sampled_from(["val_acc", "loss", "keras/val_accuracy"])),
            goal=draw(st.sampled_from(["maximize", "minimize"])),
            aggregation=draw(st.sampled_from(["last", "min", "max", "avg"])),
            target=draw(st.none() | st.floats(-10, 10)),
            noisy=draw(st.booleans()),
        ),
        space=space,
        trial=TrialTemplate(
            template={"spec": {"containers": [container]}},
            machine_type=draw(st.none() | st.sampled_from(["K80", "cpu"])),
            timeout_seconds=draw(st.none() | st.floats(1, 86400)),
            container=draw(st.none() | st.just("trainer")),
        ),
        max_trials=draw(st.integers(1, 1000)),
        parallelism=draw(st.integers(1, 100)),
        max_failed_trials=draw(st.integers(0, 1000)),
        namespace=draw(st.none() | st.just("team-a")),
        early_stopping=draw(st.none() | early_stoppings()),
    )


@st.composite
def early_stoppings(draw: st.DrawFn) -> EarlyStopping:
    """Valid early-stopping rules with every setting given (as the parser fills them in)."""
    if draw(st.booleans()):
        return EarlyStopping(
            "median",
            {
                "gracePeriod": draw(st.integers(1, 50)),
                "minTrials": draw(st.integers(1, 20)),
                "extrapolate": draw(st.booleans()),
            },
        )
    low = draw(st.integers(1, 50))
    return EarlyStopping(
        "asha",
        {
            "reductionFactor": draw(st.floats(1.1, 8)),
            "minResource": low,
            "maxResource": draw(st.integers(low + 1, 1000)),
        },
    )


def pod_template(*args: str, image: str = "example/ddp:1") -> dict[str, Any]:
    """A Pod template with one training container running ``python train.py ARGS``."""
    return {
        "spec": {
            "containers": [
                {"name": "trainer", "image": image, "command": ["python", "train.py", *args]}
            ]
        }
    }


def job_trial(pods: int = 2, **trial: Any) -> dict[str, Any]:
    """``spec.trial`` of an Indexed Job trial with ``pods`` Pods (``trial`` adds fields)."""
    job_spec: dict[str, Any] = {"template": pod_template("--lr", ":lr:")}
    if pods > 1:
        job_spec.update(completions=pods, parallelism=pods, completionMode="Indexed")
    return {"jobTemplate": {"spec": job_spec}, **trial}


def jobset_trial(workers: int = 1, **trial: Any) -> dict[str, Any]:
    """``spec.trial`` of a JobSet trial: a ``leader`` and ``workers`` ``worker`` Jobs."""

    def rjob(name: str, replicas: int) -> dict[str, Any]:
        return {
            "name": name,
            "replicas": replicas,
            "template": {"spec": {"template": pod_template("--role", name, "--lr", ":lr:")}},
        }

    return {
        "jobSetTemplate": {
            "spec": {"replicatedJobs": [rjob("leader", 1), rjob("worker", workers)]}
        },
        **trial,
    }
