"""The HyperSearchTrial CRD: one trial's record, owned by its HyperSearch.

Why a resource per trial: in one list in the search's status every write rewrote the whole list,
so a write cost grew with the number of trials recorded (docs/architecture.md, "One object per
trial"). ``spec`` holds what the operator decided when it created the trial (the fields the
trial Pod's annotations hold as well); ``status`` (a subresource) the sidecar's report and the
operator's verdict, the same fields as a ``status.trials`` entry of earlier versions, so
``kube.record`` decodes both. Pure data: builds dicts; only ``kube.crd`` uses it.
"""

from __future__ import annotations

from typing import Any, Final

from hypersearch.core import resource, spec
from hypersearch.kube.openapi import Schema, obj, string
from hypersearch.kube.record import SPEC_FIELDS, SUMMARY_LENGTH
from hypersearch.kube.schema_status import trial_entry

SHORT_NAMES: Final = ["hst"]
STATUS_FIELDS: Final = (
    "phase",
    "value",
    "reason",
    "message",
    "startedAt",
    "finishedAt",
    "requeues",
    "queuedSeconds",
    "queuedAt",
    "curve",
    "exitCode",
    "observed",
    "metricMessage",
    "reportedAt",
)
"""Fields of a status entry that a trial object keeps in ``status``."""


def openapi_schema() -> Schema:
    """The object's schema: a status entry's fields split into ``spec`` and ``status``."""
    entry = trial_entry()["properties"]
    return obj(
        "One trial of a HyperSearch: what the operator decided (spec), what the trial's metrics "
        "sidecar reported and how the trial ended (status). Created and deleted with its search.",
        {
            "apiVersion": string("The API version."),
            "kind": string("The kind."),
            "metadata": {"type": "object"},
            "spec": obj(
                "What the operator decided when it created the trial; never changed afterwards.",
                {
                    "search": string(
                        "The HyperSearch the trial belongs to.", maxLength=spec.MAX_TEXT_LENGTH
                    ),
                    **{key: entry[key] for key in SPEC_FIELDS},
                    "summary": string(
                        "The parameter values in one line, for kubectl get.",
                        maxLength=SUMMARY_LENGTH,
                    ),
                },
                required=["search", "index", "params"],
            ),
            "status": obj(
                "The trial's metrics sidecar writes value, curve, exitCode, observed, "
                "metricMessage and reportedAt; the operator writes phase, reason, message, "
                "startedAt, finishedAt and the queue's requeues, queuedSeconds and queuedAt "
                "(and, once the trial is finished, keeps the report).",
                {key: entry[key] for key in STATUS_FIELDS},
            ),
        },
    )


def printer_columns() -> list[dict[str, Any]]:
    """Columns of ``kubectl get hst -l hypersearch.io/search=NAME``."""
    return [
        {"name": "Index", "type": "integer", "jsonPath": ".spec.index"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Value", "type": "number", "jsonPath": ".status.value"},
        {"name": "Params", "type": "string", "jsonPath": ".spec.summary"},
        {"name": "Reason", "type": "string", "jsonPath": ".status.reason", "priority": 1},
        {"name": "Requeues", "type": "integer", "jsonPath": ".status.requeues", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def custom_resource_definition() -> dict[str, Any]:
    """The whole CRD: one served and stored version with a status subresource."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.TRIAL_PLURAL}.{resource.API_GROUP}"},
        "spec": {
            "group": resource.API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.TRIAL_KIND,
                "listKind": f"{resource.TRIAL_KIND}List",
                "plural": resource.TRIAL_PLURAL,
                "singular": resource.TRIAL_KIND.lower(),
                "shortNames": list(SHORT_NAMES),
            },
            "versions": [
                {
                    "name": resource.API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }
