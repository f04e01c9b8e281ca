"""The committed CRD matches the generator, and says what `kubectl explain` and SSA need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from hypersearch.kube import crd, names

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "hypersearch.io_hypersearches.yaml"


def version() -> dict[str, Any]:
    (only,) = crd.definition()["spec"]["versions"]
    found: dict[str, Any] = only
    return found


def walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for key, child in (schema.get("properties") or {}).items():
        yield from walk(child, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


def test_committed_crd_matches_the_generator() -> None:
    assert CRD_FILE.read_text() == crd.render(), (
        "crds/hypersearch.io_hypersearches.yaml is stale; regenerate it with "
        "`.venv/bin/python -m hypersearch.kube.crd > crds/hypersearch.io_hypersearches.yaml`"
    )


def test_crd_names_group_version_and_short_name() -> None:
    document = yaml.safe_load(CRD_FILE.read_text())
    spec = document["spec"]
    assert document["metadata"]["name"] == "hypersearches.hypersearch.io"
    assert spec["group"] == names.API_GROUP
    assert spec["names"]["kind"] == names.KIND
    assert spec["names"]["plural"] == names.PLURAL
    assert "hs" in spec["names"]["shortNames"]
    assert [v["name"] for v in spec["versions"]] == [names.API_VERSION]


def test_status_is_a_subresource_and_trials_are_a_list_map_keyed_by_name() -> None:
    v = version()
    assert v["subresources"] == {"status": {}}
    trials = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["trials"]
    assert trials["x-kubernetes-list-type"] == "map"
    assert trials["x-kubernetes-list-map-keys"] == ["name"]
    assert trials["items"]["required"] == ["name"]


def test_every_field_the_writers_send_is_in_the_status_schema() -> None:
    entry = version()["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["trials"]
    declared = set(entry["items"]["properties"])
    operator_fields = {"name", "index", "params", "phase", "reason", "message", "prediction"}
    operator_fields |= {"startedAt", "finishedAt"}
    assert operator_fields | set(names.REPORT_FIELDS) <= declared


def test_every_spec_and_status_field_has_a_description() -> None:
    root = version()["schema"]["openAPIV3Schema"]
    missing = [
        path
        for part in ("spec", "status")
        for path, node in walk(root["properties"][part], part)
        if not node.get("description")
    ]
    assert missing == []


def test_printer_columns_show_phase_trials_and_best() -> None:
    columns = {c["name"]: c["jsonPath"] for c in version()["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Trials"] == ".status.counts.trials"
    assert columns["Best"] == ".status.best.value"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_metadata_schema_carries_only_its_type() -> None:
    assert version()["schema"]["openAPIV3Schema"]["properties"]["metadata"] == {"type": "object"}


def _with_schema_defaults(node: dict[str, Any], value: Any) -> Any:
    """What the API server's structural defaulting stores for ``value`` under ``node``."""
    if isinstance(value, dict):
        props = node.get("properties") or {}
        out = {k: _with_schema_defaults(props.get(k, {}), v) for k, v in value.items()}
        for key, child in props.items():
            if key not in out and "default" in child:
                out[key] = child["default"]
        return out
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_with_schema_defaults(node["items"], v) for v in value]
    return value


def test_a_search_with_every_parameter_type_still_parses_after_the_schema_defaults() -> None:
    from hypersearch.core.manifest import parse_manifest

    manifest = {
        "apiVersion": names.API,
        "kind": names.KIND,
        "metadata": {"name": "every-type"},
        "spec": {
            "algorithm": {"name": "random"},
            "objective": {"metric": "val_acc", "unit": "%"},
            "parameters": [
                {"name": "units", "type": "int", "min": 8, "max": 64, "unit": "neurons"},
                {"name": "lr", "type": "float", "min": 0.001, "max": 0.1},
                {"name": "opt", "type": "categorical", "values": ["adam", "sgd"]},
                {"name": "batch", "type": "discrete", "values": [16, 32], "unit": "samples"},
            ],
            "maxTrials": 4,
            "trial": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "trainer",
                                "image": "trainer:test",
                                "command": ["train", ":units:", ":lr:", ":opt:", ":batch:"],
                            }
                        ]
                    }
                }
            },
        },
    }
    stored = _with_schema_defaults(version()["schema"]["openAPIV3Schema"], manifest)

    parsed = parse_manifest(stored)

    assert [p.name for p in parsed.space.params] == ["units", "lr", "opt", "batch"]
    assert parsed.objective.unit == "%"
    assert parsed.parameter_units == {"units": "neurons", "batch": "samples"}


TRIAL_CRD_FILE = CRD_FILE.parent / "hypersearch.io_hypersearchtrials.yaml"


def trial_version() -> dict[str, Any]:
    (only,) = yaml.safe_load(TRIAL_CRD_FILE.read_text())["spec"]["versions"]
    found: dict[str, Any] = only
    return found


def test_committed_trial_crd_matches_the_generator() -> None:
    assert TRIAL_CRD_FILE.read_text() == crd.render_trial(), (
        "crds/hypersearch.io_hypersearchtrials.yaml is stale; regenerate it with `make crds`"
    )


def test_trial_crd_names_group_version_and_short_name() -> None:
    document = yaml.safe_load(TRIAL_CRD_FILE.read_text())
    spec = document["spec"]
    assert document["metadata"]["name"] == "hypersearchtrials.hypersearch.io"
    assert spec["group"] == names.API_GROUP
    assert spec["names"]["kind"] == names.TRIAL_KIND == "HyperSearchTrial"
    assert spec["names"]["plural"] == names.TRIAL_PLURAL
    assert spec["names"]["shortNames"] == ["hst"]
    assert spec["scope"] == "Namespaced"
    assert trial_version()["subresources"] == {"status": {}}


def test_every_field_of_a_status_entry_is_in_the_trial_objects_spec_or_status() -> None:
    root = trial_version()["schema"]["openAPIV3Schema"]["properties"]
    entry = version()["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["trials"]
    in_entry = set(entry["items"]["properties"]) - {"name"}
    assert in_entry == (set(root["spec"]["properties"]) - {"search", "summary"}) | set(
        root["status"]["properties"]
    )
    assert set(root["spec"]["properties"]) & set(root["status"]["properties"]) == set()


def test_every_trial_object_field_has_a_description() -> None:
    root = trial_version()["schema"]["openAPIV3Schema"]
    missing = [
        path
        for part in ("spec", "status")
        for path, node in walk(root["properties"][part], part)
        if not node.get("description")
    ]
    assert missing == []


def test_trial_printer_columns_show_index_phase_value_params_and_age() -> None:
    columns = {c["name"]: c["jsonPath"] for c in trial_version()["additionalPrinterColumns"]}
    assert columns["Index"] == ".spec.index"
    assert columns["Phase"] == ".status.phase"
    assert columns["Value"] == ".status.value"
    assert columns["Params"] == ".spec.summary"
    assert columns["Age"] == ".metadata.creationTimestamp"
