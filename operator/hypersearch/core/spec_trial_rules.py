"""The manifest rules of ``spec.trial``: the Pod template, which container trains, the CRD's
bounds on its command, args and env, and the placeholders they use."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from hypersearch.core.placeholders import UNDECLARED_FIX, placeholders_in
from hypersearch.core.spec import (
    MAX_ARG_LENGTH,
    MAX_ARGS,
    MAX_CONTAINERS,
    MAX_ENV,
    TrialTemplate,
)
from hypersearch.core.spec_fields import MISSING, FieldReader, is_number, show


class TrialRules(FieldReader):
    """``trial`` -> TrialTemplate (problems collected)."""

    def trial(self, value: object) -> TrialTemplate | None:
        path = "spec.trial"
        doc = self.mapping(value, path, ": trial.template is the Pod template of one trial")
        if doc is None:
            return None
        self.known_keys(doc, path, ("machineType", "timeoutSeconds", "container", "template"))
        machine_type = self.string(doc, "machineType", path)
        container = self.string(doc, "container", path)
        timeout = doc.get("timeoutSeconds")
        if timeout is not None and (
            not is_number(timeout) or not math.isfinite(timeout) or timeout <= 0
        ):
            self.fail(f"{path}.timeoutSeconds", f"must be a positive number, got {show(timeout)}")
        before = len(self.problems)
        template = self.mapping(
            doc.get("template", MISSING),
            f"{path}.template",
            ": a Pod template, e.g. {spec: {containers: [{name: trainer, image: ...}]}}",
        )
        if template is None:
            return None
        chosen = self.containers(template, f"{path}.template", container)
        if chosen is None or len(self.problems) > before:
            return None
        return TrialTemplate(
            template=copy.deepcopy(dict(template)),
            machine_type=machine_type,
            timeout_seconds=None if timeout is None else float(timeout),
            container=container,
        )

    def containers(
        self, template: Mapping[str, Any], path: str, wanted: str | None
    ) -> Mapping[str, Any] | None:
        if "metadata" in template and not isinstance(template["metadata"], Mapping):
            self.fail(f"{path}.metadata", f"must be a mapping, got {show(template['metadata'])}")
        pod = self.mapping(template.get("spec", MISSING), f"{path}.spec")
        if pod is None:
            return None
        containers = pod.get("containers")
        where = f"{path}.spec.containers"
        if not isinstance(containers, list) or not containers:
            self.fail(
                where,
                f"must list at least one container, got {show(containers)} "
                "(e.g. containers: [{name: trainer, image: ..., command: [...]}])",
            )
            return None
        if len(containers) > MAX_CONTAINERS:
            self.fail(
                where, f"must list at most {MAX_CONTAINERS} containers, got {len(containers)}"
            )
            return None
        names: list[str] = []
        for i, item in enumerate(containers):
            if not isinstance(item, Mapping):
                self.fail(f"{where}[{i}]", f"must be a mapping, got {show(item)}")
                return None
            cname = item.get("name")
            if not isinstance(cname, str) or not cname:
                self.fail(f"{where}[{i}].name", f"must be a non-empty string, got {show(cname)}")
                return None
            names.append(cname)
            self.text_limits(item, f"{where}[{i}]")
        if wanted is None:
            chosen, index = containers[0], 0
        elif wanted in names:
            index = names.index(wanted)
            chosen = containers[index]
        else:
            self.fail(
                "spec.trial.container",
                f"names no container of the template, got {wanted!r} "
                f"(containers: {', '.join(names)})",
            )
            return None
        if self.declared is not None:
            self.placeholders(chosen, f"{where}[{index}]", self.declared)
        return chosen  # type: ignore[no-any-return]

    def text_limits(self, container: Mapping[str, Any], path: str) -> None:
        """The CRD's bounds on a container's command, args and env (they keep CEL's cost within
        the API server's budget), so ``hyper run`` refuses what ``kubectl apply`` would."""
        for key, most in (("command", MAX_ARGS), ("args", MAX_ARGS), ("env", MAX_ENV)):
            items = container.get(key)
            if not isinstance(items, list):
                continue
            if len(items) > most:
                self.fail(f"{path}.{key}", f"must hold at most {most} items, got {len(items)}")
            for i, item in enumerate(items):
                text = item
                if key == "env":
                    text = item.get("value") if isinstance(item, Mapping) else None
                if isinstance(text, str) and len(text) > MAX_ARG_LENGTH:
                    where = f"{path}.{key}[{i}]" + (".value" if key == "env" else "")
                    self.fail(
                        where,
                        f"must be at most {MAX_ARG_LENGTH} characters, got {len(text)}; put "
                        "a longer script or text in a file (in the image or a mounted ConfigMap)",
                    )

    def placeholders(self, container: Mapping[str, Any], path: str, names: tuple[str, ...]) -> None:
        declared = set(names)
        texts: list[tuple[str, object]] = []
        for key in ("command", "args"):
            items = container.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                self.fail(f"{path}.{key}", f"must be a list of strings, got {show(items)}")
                continue
            texts.extend((f"{path}.{key}[{i}]", item) for i, item in enumerate(items))
        env = container.get("env")
        if isinstance(env, list):
            for i, item in enumerate(env):
                if isinstance(item, Mapping) and "value" in item:
                    texts.append((f"{path}.env[{i}].value", item["value"]))
        for where, text in texts:
            if not isinstance(text, str):
                self.fail(where, f"must be a string, got {show(text)} (quote it in YAML)")
                continue
            for unknown in sorted(placeholders_in(text) - declared):
                self.fail(
                    where,
                    f"uses placeholder :{unknown}:, which no parameter declares "
                    f"(parameters: {', '.join(names)}); {UNDECLARED_FIX}",
                )
