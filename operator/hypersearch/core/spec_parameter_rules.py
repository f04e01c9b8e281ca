"""The manifest rules of ``spec.parameters``: each parameter's type, fields and unit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypersearch.core.params import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    param_problems,
)
from hypersearch.core.space import Space
from hypersearch.core.spec import MAX_PARAMETERS, PARAMETER_TYPES
from hypersearch.core.spec_fields import MISSING, FieldReader, show

_PARAM_KEYS: Mapping[str, tuple[str, ...]] = {
    "int": ("name", "type", "min", "max", "scale", "step", "count", "unit"),
    "float": ("name", "type", "min", "max", "scale", "step", "count", "unit"),
    "categorical": ("name", "type", "values"),
    "discrete": ("name", "type", "values", "unit"),
}


class ParameterRules(FieldReader):
    """``parameters`` -> the Space and the declared units (problems collected)."""

    def parameters(self, value: object) -> tuple[Space, dict[str, str]] | None:
        """The space, and the unit of each parameter that declares one (kept apart: a unit is
        presentation, not part of the space)."""
        path = "spec.parameters"
        if value is MISSING or value is None:
            self.fail(path, "is required: list the parameters to tune, e.g. [{name: lr, ...}]")
            return None
        if not isinstance(value, list):
            self.fail(path, f"must be a list of parameters, got {show(value)}")
            return None
        if not value:
            self.fail(path, "must list at least one parameter, got an empty list")
            return None
        if len(value) > MAX_PARAMETERS:
            self.fail(path, f"must hold at most {MAX_PARAMETERS} parameters, got {len(value)}")
            return None
        params: list[Param] = []
        units: dict[str, str] = {}
        first_index: dict[str, int] = {}
        ok = True
        for i, item in enumerate(value):
            parsed = self.parameter(item, f"{path}[{i}]")
            ok = ok and parsed is not None
            param, unit = parsed if parsed is not None else (None, None)
            name = item.get("name") if isinstance(item, Mapping) else None
            if not isinstance(name, str):
                continue
            if name in first_index:
                self.fail(
                    f"{path}[{i}].name",
                    f"duplicates spec.parameters[{first_index[name]}].name "
                    f"({name!r}); give each parameter its own name",
                )
                ok = False
                continue
            first_index[name] = i
            if param is not None:
                params.append(param)
                if unit is not None:
                    units[param.name] = unit
        self.declared = tuple(first_index)
        return (Space(tuple(params)), units) if ok else None

    def parameter(self, value: object, path: str) -> tuple[Param, str | None] | None:
        """One parameter and its unit (None when it declares none)."""
        doc = self.mapping(value, path)
        if doc is None:
            return None
        kind = self.string(
            doc,
            "type",
            path,
            required=True,
            choices=PARAMETER_TYPES,
            hint=" (int, float, categorical or discrete)",
        )
        name = doc.get("name")
        if not isinstance(name, str):
            self.fail(f"{path}.name", f"is required and must be a string, got {show(name)}")
            return None
        if kind is None:
            return None
        article = "an" if kind == "int" else "a"
        self.known_keys(doc, path, _PARAM_KEYS[kind], f"{article} {kind} parameter")
        before = len(self.problems)
        unit = None if kind == "categorical" else self.unit(doc, path, _UNIT_EXAMPLE[kind])
        param: Param
        if kind in ("int", "float"):
            for key in ("min", "max"):
                if doc.get(key) is None:
                    self.fail(f"{path}.{key}", f"is required for type {kind}")
            if len(self.problems) > before:
                return None
            scale = doc.get("scale", "linear")
            step = doc.get("step")
            if kind == "float":
                param = FloatParam(
                    name,
                    _as_float(doc["min"]),
                    _as_float(doc["max"]),
                    scale,
                    None if step is None else _as_float(step),
                    doc.get("count"),
                )
            else:
                param = IntParam(name, doc["min"], doc["max"], scale, step, doc.get("count"))
        else:
            values = doc.get("values")
            if not isinstance(values, list):
                hint = "is required for type" if values is None else "must be a list for type"
                self.fail(f"{path}.values", f"{hint} {kind}, e.g. values: [0.001, 0.01, 0.1]")
                return None
            if kind == "categorical":
                param = CategoricalParam(name, tuple(_category(v) for v in values))
            else:
                param = DiscreteParam(name, tuple(values))
        self.problems.extend(param_problems(param, path))
        return None if len(self.problems) > before else (param, unit)


_UNIT_EXAMPLE: Mapping[str, str] = {"int": "epochs", "float": "s", "discrete": "px"}


def _as_float(value: object) -> Any:
    """Ints become floats for float parameters; anything else is left for param_problems."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _category(value: object) -> Any:
    """YAML booleans in a categorical become the text a command line would receive."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
