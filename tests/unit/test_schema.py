"""The CRD schema: structural, described everywhere, and in agreement with the parser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from builders import manifest

from hypersearch.core import conditions, params, placeholders, resource, spec
from hypersearch.core.errors import SpecError
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.trials import Prediction, Trial, TrialPhase
from hypersearch.kube import names, record, schema


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below ``node`` with its path (``.spec.parameters[].name``)."""
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{key}")
    if "items" in node:
        yield from nodes(node["items"], f"{path}[]")


ROOT = schema.openapi_schema()
SPEC = ROOT["properties"]["spec"]["properties"]
PARAMETER = SPEC["parameters"]["items"]
TRIAL_ENTRY = ROOT["properties"]["status"]["properties"]["trials"]["items"]


def test_every_field_has_a_description() -> None:
    missing = [path or "(root)" for path, node in nodes(ROOT) if not node.get("description")]
    # The API server accepts nothing but the type on metadata.
    assert missing == [".metadata"]
    assert ROOT["properties"]["metadata"] == {"type": "object"}


def test_schema_is_structural_every_node_has_a_type_or_preserves_unknown_fields() -> None:
    untyped = [
        path
        for path, node in nodes(ROOT)
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields")
    ]
    assert untyped == []


def test_map_lists_require_their_keys() -> None:
    for path, node in nodes(ROOT):
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), path


def test_lists_and_strings_checked_by_cel_are_bounded() -> None:
    assert SPEC["parameters"]["maxItems"] == spec.MAX_PARAMETERS
    assert PARAMETER["properties"]["name"]["maxLength"] == params.MAX_NAME_LENGTH
    assert PARAMETER["properties"]["values"]["maxItems"] == params.MAX_VALUES
    unbounded_lists = [
        path for path, node in nodes(ROOT) if node.get("type") == "array" and "maxItems" not in node
    ]
    assert unbounded_lists == []


def test_defaults_in_the_schema_are_the_parsers_defaults() -> None:
    doc = manifest(parallelism=None, maxFailedTrials=None)
    doc["spec"]["algorithm"] = {"name": "bayesian"}
    doc["spec"]["objective"] = {"metric": "val_acc"}
    parsed = parse_manifest(doc)
    assert SPEC["parallelism"]["default"] == parsed.parallelism
    assert SPEC["maxFailedTrials"]["default"] == parsed.max_failed_trials
    assert SPEC["algorithm"]["properties"]["seed"]["default"] == parsed.algorithm.seed
    assert SPEC["objective"]["properties"]["goal"]["default"] == parsed.objective.goal
    assert SPEC["objective"]["properties"]["aggregation"]["default"] == parsed.objective.aggregation
    # scale has no schema default (the server would add it to categorical parameters too); the
    # description states the parser's default instead.
    assert "default" not in PARAMETER["properties"]["scale"]
    dropout = parsed.space.get("dropout_3")
    assert isinstance(dropout, params.FloatParam)
    assert PARAMETER["properties"]["scale"]["description"].endswith(f"Default: {dropout.scale}.")


@pytest.mark.parametrize(
    ("node", "values"),
    [
        (SPEC["algorithm"]["properties"]["name"], spec.ALGORITHMS),
        (SPEC["objective"]["properties"]["goal"], spec.GOALS),
        (SPEC["objective"]["properties"]["aggregation"], spec.AGGREGATIONS),
        (PARAMETER["properties"]["type"], spec.PARAMETER_TYPES),
        (PARAMETER["properties"]["scale"], params.SCALES),
    ],
)
def test_enums_are_the_parsers_choices(node: dict[str, Any], values: tuple[str, ...]) -> None:
    assert node["enum"] == list(values)


def test_limits_are_the_parsers_limits() -> None:
    assert (SPEC["maxTrials"]["minimum"], SPEC["maxTrials"]["maximum"]) == (1, spec.MAX_TRIALS)
    assert SPEC["parallelism"]["maximum"] == spec.MAX_PARALLELISM
    assert PARAMETER["properties"]["name"]["pattern"] == params.NAME_PATTERN
    assert ROOT["x-kubernetes-validations"][0]["rule"] == (
        f"size(self.metadata.name) <= {spec.MAX_SEARCH_NAME_LENGTH}"
    )


def test_every_algorithm_setting_is_in_the_schema_and_owned_by_its_algorithm() -> None:
    algorithm = SPEC["algorithm"]
    settings = algorithm["properties"]["settings"]["properties"]
    rules = {r["fieldPath"]: r["rule"] for r in algorithm["x-kubernetes-validations"]}
    for name, setting_rules in spec.ALGORITHM_SETTINGS.items():
        for rule in setting_rules:
            assert rule.key in settings
            assert f"'{name}'" in rules[f".settings.{rule.key}"]
    assert settings["delta"] == {
        "type": "number",
        "description": settings["delta"]["description"],
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 1,
        "exclusiveMaximum": True,
    }


def test_cel_rules_cover_what_openapi_cannot_say() -> None:
    parameter_rules = {r["message"]: r["rule"] for r in PARAMETER["x-kubernetes-validations"]}
    assert parameter_rules["max must be greater than min (swap them if reversed)"] == (
        "!has(self.min) || !has(self.max) || self.min < self.max"
    )
    assert (
        "self.min > 0.0"
        in parameter_rules["a log scale needs min > 0; use scale: linear, or a positive min"]
    )
    assert (
        "has(self.min) && has(self.max)"
        in parameter_rules["int and float parameters need min and max"]
    )
    assert SPEC["parameters"]["x-kubernetes-validations"] == [
        {
            "rule": "self.all(p, self.exists_one(q, q.name == p.name))",
            "message": "parameter names must be unique; rename the repeated one",
        }
    ]


def cel_typed(node: dict[str, Any]) -> bool:
    """Whether CEL can see this field: it has a type, and so do its items, all the way down."""
    if not node.get("type"):
        return False
    return node["type"] != "array" or cel_typed(node["items"])


CEL_FUNCTIONS = frozenset(
    {"all", "exists", "exists_one", "map", "filter", "contains", "findAll", "indexOf", "join"}
    | {"format"}
)
"""Macros and member functions the schema's rules call (``.name(``), not fields."""


def test_cel_rules_only_read_fields_cel_can_type() -> None:
    # An untyped field (preserve-unknown, e.g. a parameter's values) is invisible to CEL, and the
    # API server refuses the whole CRD ("undefined field 'values'").
    for path, node in nodes(ROOT):
        below = {}
        for _, child in nodes(node):
            below.update(child.get("properties", {}))
        for rule in node.get("x-kubernetes-validations", []):
            for expression in (rule["rule"], rule.get("messageExpression", "")):
                code = re.sub(r"'(\\.|[^'\\])*'", "''", expression)  # string literals out
                for field in re.findall(r"\.([A-Za-z]\w*)", code):
                    if field in CEL_FUNCTIONS or (field == "metadata" and field not in below):
                        continue
                    assert cel_typed(below[field]), f"{path}: {expression} reads untyped {field}"


def test_free_form_objects_preserve_unknown_fields() -> None:
    assert SPEC["trial"]["properties"]["template"]["x-kubernetes-preserve-unknown-fields"] is True
    assert TRIAL_ENTRY["properties"]["params"]["x-kubernetes-preserve-unknown-fields"] is True
    best = ROOT["properties"]["status"]["properties"]["best"]
    assert best["properties"]["params"]["x-kubernetes-preserve-unknown-fields"] is True


def test_status_trial_entries_hold_every_field_the_operator_and_sidecar_write() -> None:
    trial = Trial(
        name="s-0001",
        index=1,
        params={"lr": 0.1},
        phase=TrialPhase.FAILED,
        reason="Timeout",
        message="took too long",
        prediction=Prediction(0.5, 0.1, 0.7),
        started_at=1.0,
        finished_at=2.0,
    )
    written = set(record.trial_entry(trial, {k: 1 for k in names.REPORT_FIELDS}))
    assert written <= set(TRIAL_ENTRY["properties"])
    assert set(names.REPORT_FIELDS) <= set(TRIAL_ENTRY["properties"])


def test_condition_schema_matches_the_conditions_module() -> None:
    condition = ROOT["properties"]["status"]["properties"]["conditions"]["items"]["properties"]
    assert condition["status"]["enum"] == list(conditions.STATUSES)
    assert condition["reason"]["pattern"] == conditions.REASON_PATTERN
    written = conditions.Condition("Running", "True", "TrialsRunning", "", "t", 1).to_dict()
    assert set(written) <= set(condition)


def test_crd_names_come_from_the_resource_module() -> None:
    crd = schema.custom_resource_definition()
    assert crd["metadata"]["name"] == "hypersearches.hypersearch.io"
    assert crd["spec"]["names"]["kind"] == resource.KIND == names.KIND
    assert crd["spec"]["names"]["shortNames"] == ["hs"]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == resource.API_VERSION == names.API_VERSION
    assert version["subresources"] == {"status": {}}
    assert version["schema"]["openAPIV3Schema"] == schema.openapi_schema()
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Best"] == ".status.best.value"


def test_units_of_the_objective_and_parameters_are_bounded_display_only_strings() -> None:
    for node in (SPEC["objective"]["properties"]["unit"], PARAMETER["properties"]["unit"]):
        assert node["type"] == "string"
        assert (node["minLength"], node["maxLength"]) == (1, spec.MAX_UNIT_LENGTH)
        assert re.search(node["pattern"], "%") and not re.search(node["pattern"], "  ")
        assert "Only for display in reports" in node["description"]
    assert "unit" not in SPEC["objective"].get("required", [])
    assert "unit" not in PARAMETER["required"]


def test_a_unit_on_a_categorical_parameter_is_refused_by_cel_as_by_the_parser() -> None:
    rules = {r["message"]: r for r in PARAMETER["x-kubernetes-validations"]}
    rule = rules["unit applies to int, float and discrete parameters only"]
    assert rule == {
        "rule": "self.type != 'categorical' || !has(self.unit)",
        "message": "unit applies to int, float and discrete parameters only",
        "fieldPath": ".unit",
    }
    doc = manifest()
    doc["spec"]["parameters"][3]["unit"] = "s"  # the categorical one
    with pytest.raises(SpecError, match=r"spec\.parameters\[3\]\.unit is not a field"):
        parse_manifest(doc)


CONTAINER = SPEC["trial"]["properties"]["template"]["properties"]["spec"]["properties"][
    "containers"
]


def test_the_template_declares_containers_and_their_texts_and_keeps_every_other_pod_field() -> None:
    template = SPEC["trial"]["properties"]["template"]
    assert template["required"] == ["spec"]
    assert template["properties"]["spec"]["required"] == ["containers"]
    assert CONTAINER["maxItems"] == spec.MAX_CONTAINERS
    item = CONTAINER["items"]
    assert item["required"] == ["name"]
    for key in ("command", "args"):
        assert item["properties"][key]["maxItems"] == spec.MAX_ARGS
        assert item["properties"][key]["items"] == {
            "type": "string",
            "description": item["properties"][key]["items"]["description"],
            "maxLength": spec.MAX_ARG_LENGTH,
        }
    env = item["properties"]["env"]
    assert env["maxItems"] == spec.MAX_ENV
    assert env["items"]["properties"]["value"]["maxLength"] == spec.MAX_ARG_LENGTH
    preserving = [template, template["properties"]["spec"], item, env["items"]]
    assert all(node["x-kubernetes-preserve-unknown-fields"] is True for node in preserving)


def test_the_cel_placeholder_regex_finds_what_the_parser_finds() -> None:
    from hypersearch.kube import schema_trial

    texts = [":a:", ":a:b:", "::a.b-c:", ":x:a:", "http://h:80:", ":_t-1::lr:", ":a b:", ""]
    regex = re.compile(schema_trial.PLACEHOLDER_REGEX)
    for text in texts:
        assert {m[1:-1] for m in regex.findall(text)} == placeholders.placeholders_in(text), text
    rules = [r for r in SPEC_RULES if r["fieldPath"] == ".trial.template.spec.containers"]
    assert len(rules) == 3
    for rule in rules:
        assert f".findAll('{schema_trial.PLACEHOLDER_REGEX}').all(m, m in d)" in rule["rule"]


@pytest.mark.parametrize(
    ("field", "text_path"),
    [("command", "command[1]"), ("args", "args[0]"), ("env", "env[0].value")],
)
def test_the_cel_placeholder_message_has_the_parsers_words(field: str, text_path: str) -> None:
    (rule,) = [r for r in SPEC_RULES if f"{field}.map(x," in r.get("messageExpression", "")]
    (template,) = re.findall(r"'(spec\.trial[^']*)'\.format\(", rule["messageExpression"])
    # %d and %s become what format() writes: indexes, the placeholder, and the names as a list.
    pattern = re.escape(template).replace("%d", r"\d+").replace("%s", "(.+)")
    doc = manifest()
    container = doc["spec"]["trial"]["template"]["spec"]["containers"][0]
    container.update(
        command=["python", ":nope:"], args=[":nope:"], env=[{"name": "E", "value": ":nope:"}]
    )
    with pytest.raises(SpecError) as refused:
        parse_manifest(doc)
    messages = [f"{p.path} {p.message}" for p in refused.value.problems]
    matched = [re.fullmatch(pattern, m) for m in messages if f".{text_path} " in m]
    assert matched and matched[0] is not None, (pattern, messages)
    assert matched[0].group(1) == ":nope:"
    assert rule["message"].endswith(placeholders.UNDECLARED_FIX)


SPEC_RULES = ROOT["properties"]["spec"]["x-kubernetes-validations"]


@pytest.mark.parametrize("bound", ["min", "max"])
def test_int_bounds_must_be_whole_numbers_within_the_parsers_range(bound: str) -> None:
    (rule,) = [
        r for r in PARAMETER["x-kubernetes-validations"] if f"int(self.{bound})" in r["rule"]
    ]
    assert rule["fieldPath"] == f".{bound}"
    assert rule["rule"].startswith(f"self.type != 'int' || !has(self.{bound}) || ")
    assert f"self.{bound} <= {float(params.MAX_INT_MAGNITUDE)!r}" in rule["rule"]
    assert f"double(int(self.{bound})) == self.{bound}" in rule["rule"]
