"""Builders of OpenAPI v3 schema fragments for the CRD (``kube.schema``): one shape for each type.

Pure data: returns dicts.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def integer(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "description": description, **extra}


def number(description: str, **extra: Any) -> Schema:
    return {"type": "number", "description": description, **extra}


def obj(description: str, properties: dict[str, Schema], **extra: Any) -> Schema:
    return {"type": "object", "description": description, "properties": properties, **extra}


def free(description: str) -> Schema:
    """An object whose keys are not known in advance (parameter values, Pod templates)."""
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def rule(expression: str, message: str, **extra: Any) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry (a CEL rule and its message)."""
    return {"rule": expression, "message": message, **extra}
