"""Parsing and validating HyperSearch manifests: every problem, with its field path and the fix."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from builders import manifest, search_spec, search_specs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypersearch.core.engine import check_trials_fit, decide, rng_for
from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.manifest import manifest_yaml, parse_manifest, spec_to_manifest
from hypersearch.core.params import CategoricalParam, FloatParam, IntParam
from hypersearch.core.space import Space
from hypersearch.core.spec import (
    MAX_ARG_LENGTH,
    MAX_ARGS,
    MAX_UNIT_LENGTH,
    Algorithm,
    Objective,
    SearchSpec,
    TrialTemplate,
    spec_warnings,
    training_container,
)
from hypersearch.core.trials import Trial, TrialPhase


def problems_of(doc: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_manifest(doc)
    return [str(p) for p in caught.value.problems]


def test_design_example_parses_to_the_spec_it_describes() -> None:
    spec = search_spec()
    assert spec.name == "cifar10-bayes"
    assert spec.namespace is None
    assert spec.algorithm == Algorithm(
        "bayesian", 7, {"initialPoints": 5, "delta": 0.1, "refineLast": 0.2}
    )
    assert spec.objective == Objective("val_acc", "maximize", "last", None)
    assert spec.space == Space(
        (
            IntParam("conv2_filter", 16, 128),
            FloatParam("dropout_3", 0.001, 0.999),
            FloatParam("lr", 1e-4, 1e-1, "log"),
            CategoricalParam("optimizer", ("adam", "sgd")),
        )
    )
    assert (spec.max_trials, spec.parallelism, spec.max_failed_trials) == (21, 3, 3)
    assert spec.trial.machine_type == "K80"
    assert training_container(spec.trial)["name"] == "trainer"


def test_omitted_fields_take_their_defaults() -> None:
    doc = manifest(parallelism=None, maxFailedTrials=None)
    doc["spec"]["algorithm"] = {"name": "random"}
    doc["spec"]["objective"] = {"metric": "loss"}
    spec = parse_manifest(doc)
    assert spec.algorithm == Algorithm("random", 0, {"quasiRandom": False})
    assert spec.objective == Objective("loss", "maximize", "last", None)
    assert (spec.parallelism, spec.max_failed_trials) == (1, 3)


def test_yaml_text_reads_scientific_notation_as_numbers_like_kubernetes() -> None:
    text = yaml.safe_dump(manifest()).replace("0.0001", "1e-4")
    assert "min: 1e-4" in text
    spec = parse_manifest(text)
    assert spec.space.get("lr") == FloatParam("lr", 1e-4, 1e-1, "log")


def test_yaml_booleans_in_a_categorical_become_command_line_text() -> None:
    doc = manifest()
    doc["spec"]["parameters"][3]["values"] = [True, False, "auto"]
    assert parse_manifest(doc).space.get("optimizer") == CategoricalParam(
        "optimizer", ("true", "false", "auto")
    )


def test_invalid_yaml_names_the_file_line_and_column() -> None:
    with pytest.raises(SpecError) as caught:
        parse_manifest("spec: [unclosed", source="search.yaml")
    assert str(caught.value) == (
        "search.yaml: is not valid YAML at line 1, column 16: expected ',' or ']', but got "
        "'<stream end>'"
    )


def test_source_prefixes_the_message_and_every_problem_is_listed() -> None:
    doc = manifest(maxTrials=0, parallelism=0)
    with pytest.raises(SpecError) as caught:
        parse_manifest(doc, source="search.yaml")
    assert str(caught.value) == (
        "search.yaml: 2 problems:\n"
        "  - spec.maxTrials must be between 1 and 10000, got 0\n"
        "  - spec.parallelism must be between 1 and 500, got 0"
    )
    assert caught.value.source == "search.yaml"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets ``a.b[0].c`` (None deletes the key)."""

    def apply(doc: dict[str, Any]) -> None:
        keys: list[str | int] = []
        for part in path.split("."):
            name, _, rest = part.partition("[")
            keys.append(name)
            if rest:
                keys.extend(int(i) for i in rest.rstrip("]").split("]["))
        node: Any = doc
        for key in keys[:-1]:
            node = node[key]
        if value is None:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value

    return apply


CONTAINER = "spec.trial.template.spec.containers[0]"

INVALID: list[tuple[str, list[Callable[[dict[str, Any]], None]], list[str]]] = [
    (
        "wrong apiVersion and kind",
        [_set("apiVersion", "v1"), _set("kind", None)],
        [
            "apiVersion must be hypersearch.io/v1alpha1, got 'v1'",
            "kind must be HyperSearch, got null",
        ],
    ),
    (
        "name not DNS-1123",
        [_set("metadata.name", "CIFAR_10")],
        [
            "metadata.name must be lowercase letters, digits and '-', starting and ending with a "
            "letter or digit (it names the trial Pods), got 'CIFAR_10'"
        ],
    ),
    (
        "name too long for trial names",
        [_set("metadata.name", "a" * 51)],
        ["metadata.name must be at most 50 characters, got 51"],
    ),
    (
        "metadata missing",
        [_set("metadata", None)],
        ["metadata is required: metadata.name names the search"],
    ),
    (
        "misspelt spec field",
        [_set("spec.paralelism", 2)],
        [
            "spec.paralelism is not a known field (did you mean parallelism? fields: algorithm, "
            "objective, parameters, maxTrials, parallelism, maxFailedTrials, trial, "
            "earlyStopping)"
        ],
    ),
    (
        "unknown algorithm",
        [_set("spec.algorithm.name", "hyperband")],
        ["spec.algorithm.name must be one of grid, random, bayesian, got 'hyperband'"],
    ),
    (
        "negative seed",
        [_set("spec.algorithm.seed", -1)],
        ["spec.algorithm.seed must be between 0 and 4294967295, got -1"],
    ),
    (
        "setting of another algorithm",
        [_set("spec.algorithm.settings", {"quasiRandom": True, "delta": 2, "initialPoints": 1.5})],
        [
            "spec.algorithm.settings.quasiRandom is not a setting of the bayesian algorithm "
            "(its settings: initialPoints, beta, delta, refineLast)",
            "spec.algorithm.settings.delta must be > 0 and < 1, got 2",
            "spec.algorithm.settings.initialPoints must be an integer, got 1.5",
        ],
    ),
    (
        "grid has no settings",
        [
            _set("spec.algorithm", {"name": "grid", "settings": {"beta": 1.0}}),
            _set("spec.parameters[1].step", 0.1),
            _set("spec.parameters[2].count", 3),
        ],
        [
            "spec.algorithm.settings.beta is not a setting of the grid algorithm "
            "(its settings: none)"
        ],
    ),
    (
        "objective without metric, bad goal",
        [_set("spec.objective", {"goal": "max", "aggregation": "median", "target": "high"})],
        [
            "spec.objective.metric is required: the metric name the training code prints, e.g. "
            "val_acc",
            "spec.objective.goal must be one of maximize, minimize, got 'max'",
            "spec.objective.aggregation must be one of last, min, max, avg, got 'median'",
            "spec.objective.target must be a finite number, got 'high'",
        ],
    ),
    (
        "noisy not a boolean",
        [_set("spec.objective.noisy", "yes")],
        [
            "spec.objective.noisy must be true or false, got 'yes': true when the same "
            "parameters can score differently from run to run",
        ],
    ),
    (
        "objective unit empty, a number, too long",
        [
            _set("spec.objective.unit", ""),
            _set("spec.parameters[0].unit", 5),
            _set("spec.parameters[2].unit", "seconds per learning-rate decade!"),
        ],
        [
            "spec.objective.unit must be a non-empty string (not only spaces), got '': the unit "
            "reports write next to the name, e.g. unit: '%' (quote it in YAML when it starts "
            "with % or looks like a number), or leave unit out",
            "spec.parameters[0].unit must be a non-empty string (not only spaces), got 5: the "
            "unit reports write next to the name, e.g. unit: 'epochs' (quote it in YAML when it "
            "starts with % or looks like a number), or leave unit out",
            "spec.parameters[2].unit must be at most 32 characters, got 33 ('seconds per "
            "learning-rate decade!'); use the short symbol, e.g. ms rather than milliseconds",
        ],
    ),
    (
        "unit of only spaces",
        [_set("spec.objective.unit", "  ")],
        [
            "spec.objective.unit must be a non-empty string (not only spaces), got '  ': the "
            "unit reports write next to the name, e.g. unit: '%' (quote it in YAML when it "
            "starts with % or looks like a number), or leave unit out",
        ],
    ),
    (
        "unit on a categorical parameter",
        [_set("spec.parameters[3].unit", "s")],
        [
            "spec.parameters[3].unit is not a field of a categorical parameter (fields: name, "
            "type, values)"
        ],
    ),
    (
        "max below min",
        [_set("spec.parameters[2].min", 5), _set("spec.parameters[2].max", 1)],
        ["spec.parameters[2].max must be greater than min, got min=5.0, max=1.0"],
    ),
    (
        "log scale from zero",
        [_set("spec.parameters[2].min", 0)],
        [
            "spec.parameters[2].min must be greater than 0 on a log scale, got min=0.0 (use "
            "scale: linear, or a positive min)"
        ],
    ),
    (
        "int range with a float bound",
        [_set("spec.parameters[0].max", 128.5)],
        [
            "spec.parameters[0].max must be an int, got 128.5; round it, or use type: float for "
            "fractional values"
        ],
    ),
    (
        "quoted number",
        [_set("spec.parameters[1].min", "0.001")],
        ["spec.parameters[1].min must be a float, got '0.001'"],
    ),
    (
        "range without max, values on a range",
        [_set("spec.parameters[0].max", None), _set("spec.parameters[0].values", [1, 2])],
        [
            "spec.parameters[0].values is not a field of an int parameter (fields: name, type, "
            "min, max, scale, step, count, unit)",
            "spec.parameters[0].max is required for type int",
        ],
    ),
    (
        "unknown type",
        [_set("spec.parameters[3].type", "choice")],
        ["spec.parameters[3].type must be one of int, float, categorical, discrete, got 'choice'"],
    ),
    (
        "categorical without values",
        [_set("spec.parameters[3].values", None)],
        [
            "spec.parameters[3].values is required for type categorical, "
            "e.g. values: [0.001, 0.01, 0.1]"
        ],
    ),
    (
        "duplicate parameter names",
        [_set("spec.parameters[3].name", "lr")],
        [
            "spec.parameters[3].name duplicates spec.parameters[2].name ('lr'); give each "
            "parameter its own name",
            f"{CONTAINER}.env[0].value uses placeholder :optimizer:, which no parameter declares "
            "(parameters: conv2_filter, dropout_3, lr); declare it in "
            "spec.parameters or correct the placeholder",
        ],
    ),
    (
        "empty parameter list",
        [_set("spec.parameters", [])],
        ["spec.parameters must list at least one parameter, got an empty list"],
    ),
    (
        "maxTrials missing, failed budget negative",
        [_set("spec.maxTrials", None), _set("spec.maxFailedTrials", -1)],
        [
            "spec.maxTrials is required: the most trials to run, e.g. maxTrials: 20",
            "spec.maxFailedTrials must be between 0 and 10000, got -1",
        ],
    ),
    (
        "maxTrials is a string",
        [_set("spec.maxTrials", "21")],
        ["spec.maxTrials must be an integer, got '21'"],
    ),
    (
        "placeholder of an undeclared parameter",
        [_set(f"{CONTAINER}.args[1]", ":conv_filter:"), _set(f"{CONTAINER}.env[0].value", ":opt:")],
        [
            f"{CONTAINER}.args[1] uses placeholder :conv_filter:, which no parameter declares "
            "(parameters: conv2_filter, dropout_3, lr, optimizer); declare it in "
            "spec.parameters or correct the placeholder",
            f"{CONTAINER}.env[0].value uses placeholder :opt:, which no parameter declares "
            "(parameters: conv2_filter, dropout_3, lr, optimizer); declare it in "
            "spec.parameters or correct the placeholder",
        ],
    ),
    (
        "placeholder checked even when a parameter is invalid",
        [_set("spec.parameters[0].min", 500), _set(f"{CONTAINER}.command[1]", ":nope:")],
        [
            "spec.parameters[0].max must be greater than min, got min=500, max=128",
            f"{CONTAINER}.command[1] uses placeholder :nope:, which no parameter declares "
            "(parameters: conv2_filter, dropout_3, lr, optimizer); declare it in "
            "spec.parameters or correct the placeholder",
        ],
    ),
    (
        "number in args",
        [_set(f"{CONTAINER}.args[1]", 16)],
        [f"{CONTAINER}.args[1] must be a string, got 16 (quote it in YAML)"],
    ),
    (
        "texts beyond the CRD's bounds",
        [
            _set(f"{CONTAINER}.args[0]", "x" * (MAX_ARG_LENGTH + 1)),
            _set(f"{CONTAINER}.env", [{"name": "E", "value": "y" * (MAX_ARG_LENGTH + 1)}]),
            _set(f"{CONTAINER}.command", ["python"] * (MAX_ARGS + 1)),
        ],
        [
            f"{CONTAINER}.command must hold at most {MAX_ARGS} items, got {MAX_ARGS + 1}",
            f"{CONTAINER}.args[0] must be at most {MAX_ARG_LENGTH} characters, got "
            f"{MAX_ARG_LENGTH + 1}; put a longer script or text in a file (in the image or a "
            "mounted ConfigMap)",
            f"{CONTAINER}.env[0].value must be at most {MAX_ARG_LENGTH} characters, got "
            f"{MAX_ARG_LENGTH + 1}; put a longer script or text in a file (in the image or a "
            "mounted ConfigMap)",
        ],
    ),
    (
        "template without containers",
        [_set("spec.trial.template.spec.containers", [])],
        [
            "spec.trial.template.spec.containers must list at least one container, got an "
            "empty list (e.g. containers: [{name: trainer, image: ..., command: [...]}])"
        ],
    ),
    (
        "named container missing",
        [_set("spec.trial.container", "train")],
        [
            "spec.trial.container names no container of the template, got 'train' "
            "(containers: trainer)"
        ],
    ),
    (
        "trial without template, bad timeout",
        [_set("spec.trial.template", None), _set("spec.trial.timeoutSeconds", 0)],
        [
            "spec.trial.timeoutSeconds must be a positive number, got 0",
            "spec.trial.template is required: a Pod template, e.g. {spec: {containers: [{name: "
            "trainer, image: ...}]}}",
        ],
    ),
    (
        "grid over a float range without step or count",
        [_set("spec.algorithm", {"name": "grid"})],
        [
            "spec.parameters[1] (dropout_3) needs step or count for the grid algorithm: a float "
            "range has infinitely many values",
            "spec.parameters[2] (lr) needs step or count for the grid algorithm: a float range "
            "has infinitely many values",
        ],
    ),
]


@pytest.mark.parametrize(
    ("mutations", "expected"),
    [pytest.param(m, e, id=case) for case, m, e in INVALID],
)
def test_invalid_manifests_report_every_problem_with_path_value_and_fix(
    mutations: list[Callable[[dict[str, Any]], None]], expected: list[str]
) -> None:
    doc = manifest()
    for mutate in mutations:
        mutate(doc)
    assert problems_of(doc) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([1], ["manifest must be a mapping, got a list with apiVersion, kind, metadata and spec"]),
        (
            {
                "apiVersion": "hypersearch.io/v1alpha1",
                "kind": "HyperSearch",
                "metadata": {"name": "a"},
            },
            ["spec is required"],
        ),
    ],
)
def test_documents_that_are_not_manifests_are_refused(doc: Any, expected: list[str]) -> None:
    assert problems_of(doc) == expected


def test_grid_with_step_and_count_is_valid_and_warns_when_larger_than_max_trials() -> None:
    doc = manifest(algorithm={"name": "grid"}, maxTrials=10)
    doc["spec"]["parameters"][1].update(step=0.25, min=0.0, max=1.0)
    doc["spec"]["parameters"][2].update(count=3)
    spec = parse_manifest(doc)
    assert spec.space.grid_size() == 113 * 5 * 3 * 2
    assert [str(w) for w in spec_warnings(spec)] == [
        "spec.maxTrials is 10 but the grid has 3390 points: only the first 10 in grid order run, "
        "and the first parameters barely vary (raise maxTrials, or use random or bayesian)"
    ]


def test_grid_smaller_than_max_trials_is_fine() -> None:
    doc = manifest(algorithm={"name": "grid"}, maxTrials=100, parallelism=2)
    doc["spec"]["parameters"] = [{"name": "optimizer", "type": "categorical", "values": ["a", "b"]}]
    doc["spec"]["trial"]["template"]["spec"]["containers"][0]["args"] = [":optimizer:"]
    doc["spec"]["trial"]["template"]["spec"]["containers"][0]["env"] = []
    spec = parse_manifest(doc)
    assert spec.space.grid_size() == 2
    assert spec_warnings(spec) == []


def test_parallelism_above_max_trials_warns() -> None:
    spec = search_spec(maxTrials=2, parallelism=5)
    assert spec_warnings(spec) == [
        Problem(
            "spec.parallelism",
            "is 5, more than maxTrials=2; at most 2 trials will run at once",
        )
    ]


def test_named_training_container_is_the_one_checked_and_returned() -> None:
    doc = manifest()
    containers = doc["spec"]["trial"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "proxy", "image": "envoy", "args": ["--port=:8080:"]})
    doc["spec"]["trial"]["container"] = "trainer"
    spec = parse_manifest(doc)
    assert training_container(spec.trial)["name"] == "trainer"


def test_parsed_template_is_a_copy_of_the_input() -> None:
    doc = manifest()
    spec = parse_manifest(doc)
    doc["spec"]["trial"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert training_container(spec.trial)["image"] == "example/cifar10:1"


def test_spec_to_manifest_of_the_design_example_parses_back_equal() -> None:
    spec = search_spec()
    assert parse_manifest(spec_to_manifest(spec)) == spec
    assert parse_manifest(yaml.safe_dump(spec_to_manifest(spec))) == spec


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=search_specs())
def test_spec_to_manifest_round_trips_through_the_parser(spec: SearchSpec) -> None:
    assert parse_manifest(spec_to_manifest(spec)) == spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=search_specs())
def test_manifest_yaml_reads_back_as_the_same_spec(spec: SearchSpec) -> None:
    assert parse_manifest(manifest_yaml(spec)) == spec


def test_manifest_yaml_quotes_strings_kubernetes_would_read_as_numbers() -> None:
    spec = search_spec(
        objective={"metric": "val_acc", "unit": "1e3"},
        parameters=[{"name": "optimizer", "type": "categorical", "values": ["1E-2", "adam"]}],
        trial={
            "template": {
                "spec": {
                    "containers": [{"name": "t", "image": "i", "command": ["t", ":optimizer:"]}]
                }
            }
        },
    )
    text = manifest_yaml(spec)
    assert "unit: '1e3'" in text
    assert "- '1E-2'" in text
    assert parse_manifest(text) == spec
    assert spec.objective.unit == "1e3"


def test_spec_to_manifest_writes_the_hosted_tool_flags_as_a_manifest() -> None:
    spec = SearchSpec(
        name="cifar10",
        algorithm=Algorithm("random", 3, {"quasiRandom": True}),
        objective=Objective("keras/val_acc", "maximize", "last"),
        space=Space((IntParam("conv2_filter", 16, 128),)),
        trial=TrialTemplate(
            {"spec": {"containers": [{"name": "trainer", "args": [":conv2_filter:"]}]}}
        ),
        max_trials=21,
        parallelism=3,
    )
    assert spec_to_manifest(spec)["spec"] == {
        "algorithm": {"name": "random", "seed": 3, "settings": {"quasiRandom": True}},
        "objective": {"metric": "keras/val_acc", "goal": "maximize", "aggregation": "last"},
        "parameters": [{"name": "conv2_filter", "type": "int", "min": 16, "max": 128}],
        "maxTrials": 21,
        "parallelism": 3,
        "maxFailedTrials": 3,
        "trial": {
            "template": {"spec": {"containers": [{"name": "trainer", "args": [":conv2_filter:"]}]}}
        },
    }


# --- units: presentation only -------------------------------------------------------------------


def _with_units() -> dict[str, Any]:
    doc = manifest()
    doc["spec"]["objective"]["unit"] = "%"
    doc["spec"]["parameters"][0]["unit"] = "filters"
    doc["spec"]["parameters"][2]["unit"] = "1/step"
    doc["spec"]["parameters"].append(
        {"name": "batch", "type": "discrete", "values": [32, 64], "unit": "samples"}
    )
    return doc


def test_units_are_read_into_the_objective_and_beside_the_space_not_into_it() -> None:
    spec = parse_manifest(_with_units())
    assert spec.objective.unit == "%"
    assert spec.parameter_units == {"conv2_filter": "filters", "lr": "1/step", "batch": "samples"}
    plain = _with_units()
    del plain["spec"]["objective"]["unit"]
    for param in plain["spec"]["parameters"]:
        param.pop("unit", None)
    without = parse_manifest(plain)
    assert spec.space == without.space
    assert (without.objective.unit, without.parameter_units) == (None, {})


def test_a_unit_of_exactly_the_limit_is_accepted() -> None:
    doc = manifest()
    doc["spec"]["objective"]["unit"] = "x" * MAX_UNIT_LENGTH
    assert parse_manifest(doc).objective.unit == "x" * MAX_UNIT_LENGTH


def test_units_change_no_decision_of_the_engine_and_no_fit_of_the_trials() -> None:
    plain = search_spec()
    with_units = parse_manifest(_with_units())
    with_units = dataclasses.replace(
        with_units,
        space=plain.space,
        parameter_units={k: v for k, v in with_units.parameter_units.items() if k != "batch"},
    )
    first = decide(plain, [], 0.0, rng_for(plain, []))
    assert first.start
    assert decide(with_units, [], 0.0, rng_for(with_units, [])) == first
    trials = [
        Trial(name=t.name, index=t.index, params=t.params, phase=TrialPhase.SUCCEEDED, value=0.5)
        for t in first.start
    ]
    check_trials_fit(with_units, trials)  # raises when they do not fit
    assert decide(with_units, trials, 1.0, rng_for(with_units, trials)) == decide(
        plain, trials, 1.0, rng_for(plain, trials)
    )


def test_spec_to_manifest_writes_units_back_and_leaves_them_out_when_unset() -> None:
    spec = parse_manifest(_with_units())
    written = spec_to_manifest(spec)["spec"]
    assert written["objective"]["unit"] == "%"
    assert [p.get("unit") for p in written["parameters"]] == [
        "filters",
        None,
        "1/step",
        None,
        "samples",
    ]
    assert parse_manifest(yaml.safe_dump(spec_to_manifest(spec))) == spec
    plain = spec_to_manifest(search_spec())["spec"]
    assert "unit" not in plain["objective"]
    assert all("unit" not in p for p in plain["parameters"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=search_specs(), data=st.data())
def test_spec_to_manifest_round_trips_units_through_the_parser(
    spec: SearchSpec, data: st.DataObject
) -> None:
    unit = st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=32
    ).filter(str.strip)
    units = {
        p.name: data.draw(unit)
        for p in spec.space.params
        if not isinstance(p, CategoricalParam) and data.draw(st.booleans())
    }
    objective = dataclasses.replace(spec.objective, unit=data.draw(st.none() | unit))
    spec = dataclasses.replace(spec, objective=objective, parameter_units=units)
    assert parse_manifest(spec_to_manifest(spec)) == spec
    # As written for kubectl: a unit such as 0E0, which PyYAML leaves bare, is quoted.
    assert parse_manifest(manifest_yaml(spec)) == spec


def test_ten_thousand_trials_and_500_at_once_are_accepted_and_no_more() -> None:
    spec = parse_manifest(manifest(maxTrials=10000, parallelism=500))
    assert (spec.max_trials, spec.parallelism) == (10000, 500)
    with pytest.raises(SpecError) as caught:
        parse_manifest(manifest(maxTrials=10001, parallelism=501))
    assert [p.path for p in caught.value.problems] == ["spec.maxTrials", "spec.parallelism"]
