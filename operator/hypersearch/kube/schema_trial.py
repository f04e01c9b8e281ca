"""The CRD schema of ``spec.trial``: a Pod template with just enough structure for CEL to check it.

The template is a Pod template the API server does not validate as one (it is part of our
resource), so most of it stays free-form (``x-kubernetes-preserve-unknown-fields``). What
``spec_parser`` checks and CEL can check too is declared: ``spec.containers`` (at least one, each
with a name) and each container's ``command``, ``args`` and ``env[].value`` as strings, so that a
trainer command with ``:name:`` of an undeclared parameter is refused when applied instead of
failing later in the operator (InvalidSpec).

The placeholder rules match ``placeholders.placeholders_in`` exactly: the same regular expression
(RE2 and Python's ``re`` agree on it: leftmost, non-overlapping matches, so in ``:a:b:`` only
``:a:`` is a placeholder), over the same texts (the training container's command, args and env
values; the training container is ``trial.container`` or the first). A placeholder is declared
when ``':' + name + ':'`` of a parameter equals it, which is the parser's test. Names need no
escaping there because they are compared as strings, never spliced into a regular expression.

CEL cost: the API server estimates each expression's worst case from the schema's bounds and
refuses a CRD when one exceeds 10^7 (or all together 10^8). Three choices keep these rules near
6 x 10^6 each (measured with k8s.io/apiextensions-apiserver's own estimator, 1.30 to 1.33;
1.29's cannot bound ``indexOf`` over a mapped list and lacks ``format()``):
the training container is an index into the schema's list (``_TRAINING``), so it is sized as one
container, not all of them; the declared placeholders are built once and bound to ``d`` through
a one-element list (CEL here has no ``let``); each match is tested with ``m in d``. Messages
use ``format()``: the estimator cannot bound ``string()`` of a number or a joined list, so ``+``
on them is refused. The bounds (``spec.MAX_ARGS`` items of ``spec.MAX_ARG_LENGTH`` characters)
are what the budget allows; raising them raises every placeholder rule's cost in proportion.

Pure data: builds dicts, no I/O.
"""

from __future__ import annotations

from typing import Any

from hypersearch.core import placeholders, spec
from hypersearch.kube.openapi import Schema, rule, string

PLACEHOLDER_REGEX = f":{placeholders.PARAM_NAME_PATTERN}:"
"""What ``placeholders_in`` finds, written for CEL's ``findAll`` (RE2)."""

_CONTAINERS = "self.trial.template.spec.containers"
PLACEHOLDER_FIX = placeholders.UNDECLARED_FIX
"""How the message ends, in the parser's words."""
_TEXT_FIELDS: dict[str, str] = {
    "command": "command",
    "args": "args",
    "env": "env value",
}


def _strings(description: str, item: str) -> Schema:
    return {
        "type": "array",
        "description": description,
        "maxItems": spec.MAX_ARGS,
        "items": string(item, maxLength=spec.MAX_ARG_LENGTH),
    }


def _container() -> Schema:
    return {
        "type": "object",
        "description": "A container of the trial Pod (any field of a Kubernetes container). In "
        "the training container, :name: in command, args and env values is replaced by the "
        "trial's value of parameter name.",
        "x-kubernetes-preserve-unknown-fields": True,
        "required": ["name"],
        "properties": {
            "name": string("Name of the container.", minLength=1, maxLength=spec.MAX_TEXT_LENGTH),
            "command": _strings(
                "The entrypoint, as an argv list (never run through a shell).",
                "One argument; :name: placeholders are replaced in the training container.",
            ),
            "args": _strings(
                "Arguments to the entrypoint.",
                "One argument; :name: placeholders are replaced in the training container.",
            ),
            "env": {
                "type": "array",
                "description": "Environment variables of the container.",
                "maxItems": spec.MAX_ENV,
                "items": {
                    "type": "object",
                    "description": "One environment variable (name plus value or valueFrom).",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {
                        "value": string(
                            "Its value; :name: placeholders are replaced in the training "
                            "container.",
                            maxLength=spec.MAX_ARG_LENGTH,
                        )
                    },
                },
            },
        },
    }


def template() -> Schema:
    """``spec.trial.template``: a Pod template, free-form except for its containers."""
    return {
        "type": "object",
        "description": "A Pod template ({metadata, spec}) for one trial; spec.containers needs "
        "at least one container.",
        "x-kubernetes-preserve-unknown-fields": True,
        "required": ["spec"],
        "properties": {
            "metadata": {
                "type": "object",
                "description": "Labels and annotations for the trial Pods.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "spec": {
                "type": "object",
                "description": "The Pod spec of a trial (any field of a Kubernetes Pod spec).",
                "x-kubernetes-preserve-unknown-fields": True,
                "required": ["containers"],
                "properties": {
                    "containers": {
                        "type": "array",
                        "description": "The Pod's containers; the training container is "
                        "trial.container or the first.",
                        "maxItems": spec.MAX_CONTAINERS,
                        "items": _container(),
                        "x-kubernetes-validations": [
                            rule(
                                "size(self) > 0",
                                "must list at least one container, the training container, "
                                "e.g. containers: [{name: trainer, image: ..., command: [...]}]",
                            )
                        ],
                    }
                },
            },
        },
    }


def trial_rules() -> list[dict[str, Any]]:
    """Rules on ``spec.trial``: ``container`` names a container of the template."""
    return [
        rule(
            "!has(self.container) || !has(self.template) || !has(self.template.spec) || "
            "!has(self.template.spec.containers) || "
            "self.template.spec.containers.exists(c, c.name == self.container)",
            "trial.container names no container of the template; use the name of one of "
            "template.spec.containers, or leave container out to use the first",
            # format() rather than +: the API server cannot bound the size of a joined list.
            messageExpression="'names no container of the template, got %s (containers: %s); "
            "use one of them, or leave container out to use the first'.format("
            "[self.container, self.template.spec.containers.map(c, c.name)])",
            fieldPath=".container",
        )
    ]


def _containers_and_parameters(check: str) -> str:
    """``check``, or true where there is no training container or no parameter list to read.

    A missing field is the schema's ``Required value`` error; a ``trial.container`` that names no
    container is ``trial_rules``'s. Guarding here keeps CEL from adding "no such key" errors.
    """
    return (
        "!has(self.trial) || !has(self.trial.template) || !has(self.trial.template.spec) || "
        f"!has({_CONTAINERS}) || size({_CONTAINERS}) == 0 || !has(self.parameters) || "
        f"(has(self.trial.container) && !{_CONTAINERS}.exists(c, c.name == self.trial.container))"
        f" || {check}"
    )


_INDEX = (
    f"(has(self.trial.container) ? {_CONTAINERS}.map(c, c.name == self.trial.container)"
    ".indexOf(true) : 0)"
)
"""Index of the training container: ``trial.container``'s, or the first. (``indexOf`` of the
names would do, but the API server cannot size a list of mapped strings, only of booleans.)"""
_TRAINING = f"{_CONTAINERS}[{_INDEX}]"
"""The training container. An index into the schema's list, so the API server sizes its fields
from the schema (one container's command, not every container's)."""
_DECLARED = "[self.parameters.map(p, has(p.name) ? ':' + p.name + ':' : '')]"
"""A one-element list of the declared ``:name:``s: ``.all(d, ...)`` and ``.map(d, ...)`` bind
it to ``d`` (CEL has no let), so it is built once, not once per match."""


def _item_ok(field: str, item: str) -> str:
    """CEL: every placeholder in one item of ``field`` is in ``d`` (the declared ``:name:``s)."""
    text = f"{item}.value" if field == "env" else item
    ok = f"{text}.findAll('{PLACEHOLDER_REGEX}').all(m, m in d)"
    return f"(!has({item}.value) || {ok})" if field == "env" else ok


def placeholder_rule(field: str) -> dict[str, Any]:
    """The rule on ``spec`` that every ``:name:`` in the training container's ``field`` (command,
    args or env) is a declared parameter; its message names the item and the placeholder, in
    the parser's words."""
    items = f"{_TRAINING}.{field}"
    check = f"!has({items}) || {_DECLARED}.all(d, {items}.all(x, {_item_ok(field, 'x')}))"
    first_bad = f"{items}.map(x, {_item_ok(field, 'x')}).indexOf(false)"
    text = f"{items}[j].value" if field == "env" else f"{items}[j]"
    unknown = f"{text}.findAll('{PLACEHOLDER_REGEX}').filter(m, !(m in d))[0]"
    suffix = ".value" if field == "env" else ""
    message = (
        f"'spec.trial.template.spec.containers[%d].{field}[%d]{suffix} uses placeholder %s, "
        f"which no parameter declares (parameters: %s); {PLACEHOLDER_FIX}'.format("
        f"[{_INDEX}, j, {unknown}, self.parameters.map(p, p.name)])"
    )
    return rule(
        _containers_and_parameters(check),
        f"the training container's {_TEXT_FIELDS[field]} uses a :name: placeholder that no "
        f"parameter declares; {PLACEHOLDER_FIX}",
        messageExpression=f"{_DECLARED}.map(d, [{first_bad}].map(j, {message})[0])[0]",
        fieldPath=".trial.template.spec.containers",
    )


def placeholder_rules() -> list[dict[str, Any]]:
    """One rule per field, so each has its own cost budget (command, args, env)."""
    return [placeholder_rule(field) for field in _TEXT_FIELDS]


def _workload_template(kind: str, spec_description: str) -> Schema:
    return {
        "type": "object",
        "description": f"A {kind} template ({{metadata, spec}}) for one trial, instead of "
        "template: the operator creates one per trial, owned by the search.",
        "x-kubernetes-preserve-unknown-fields": True,
        "required": ["spec"],
        "properties": {
            "metadata": {
                "type": "object",
                "description": f"Labels and annotations for the trial's {kind}.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "spec": {
                "type": "object",
                "description": spec_description,
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    }


def workload_fields() -> dict[str, Schema]:
    """``spec.trial``'s fields for trials that outgrow one Pod: a Job or JobSet template, which
    of its Pods reports, and the Kueue LocalQueue. The templates are free-form here (the Job
    and JobSet APIs validate them when the operator creates them); ``spec_parser`` checks what
    the operator relies on (Pod templates with containers, placeholders, the reporter)."""
    index = {"type": "integer", "minimum": 0, "format": "int32"}
    return {
        spec.JOB_TEMPLATE: _workload_template(
            "batch/v1 Job",
            "The Job spec (any field of a Kubernetes Job spec); template is the Pod template, "
            "completionMode Indexed when it runs several Pods.",
        ),
        spec.JOBSET_TEMPLATE: _workload_template(
            "jobset.x-k8s.io/v1alpha2 JobSet",
            "The JobSet spec (any field of a JobSet spec); replicatedJobs lists the Jobs.",
        ),
        "reporter": {
            "type": "object",
            "description": "Which Pod of a Job or JobSet trial reports its metrics (default: "
            "the first replicated job, its Job of index 0, its Pod of completion index 0).",
            "properties": {
                "replicatedJob": string(
                    "Name of the replicated job (JobSet only).", minLength=1, maxLength=63
                ),
                "jobIndex": {**index, "description": "Job index in the replicated job."},
                "podIndex": {**index, "description": "Completion index of the Pod."},
            },
        },
        "queueName": string(
            "The Kueue LocalQueue that admits this search's trial workloads (Job or JobSet "
            "trials): they are created suspended with the kueue.x-k8s.io/queue-name label.",
            minLength=1,
            maxLength=63,
        ),
    }


def one_workload_rule() -> dict[str, Any]:
    """``spec.trial`` sets exactly one of template, jobTemplate and jobSetTemplate."""
    kinds = f"[has(self.template), has(self.{spec.JOB_TEMPLATE}), has(self.{spec.JOBSET_TEMPLATE})]"
    return rule(
        f"size({kinds}.filter(x, x)) == 1",
        "must set exactly one of template (one Pod per trial), jobTemplate (a batch/v1 Job) or "
        "jobSetTemplate (a JobSet)",
    )
