"""The manifest rules of ``spec.trial``: the Pod template, or the Job or JobSet template and
which of its Pods reports, which container trains, the CRD's bounds on its command, args and
env, and the placeholders they use."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, cast

from hypersearch.core.params import is_number
from hypersearch.core.placeholders import UNDECLARED_FIX, placeholders_in
from hypersearch.core.spec import (
    JOB_TEMPLATE,
    JOBSET_TEMPLATE,
    MAX_ARG_LENGTH,
    MAX_ARGS,
    MAX_CONTAINERS,
    MAX_ENV,
    Reporter,
    TrialTemplate,
    Workload,
    WorkloadKind,
)
from hypersearch.core.spec_fields import MISSING, FieldReader, show

_KEYS = (
    "machineType",
    "timeoutSeconds",
    "container",
    "template",
    JOB_TEMPLATE,
    JOBSET_TEMPLATE,
    "reporter",
    "queueName",
)
_WORKLOAD_ONLY = "applies only to a jobTemplate or jobSetTemplate trial"


class TrialRules(FieldReader):
    """``trial`` -> TrialTemplate (problems collected)."""

    def trial(self, value: object) -> TrialTemplate | None:
        path = "spec.trial"
        doc = self.mapping(value, path, ": trial.template is the Pod template of one trial")
        if doc is None:
            return None
        self.known_keys(doc, path, _KEYS)
        machine_type = self.string(doc, "machineType", path)
        container = self.string(doc, "container", path)
        queue_name = self.string(doc, "queueName", path, max_length=63)
        timeout = doc.get("timeoutSeconds")
        if timeout is not None and (
            not is_number(timeout) or not math.isfinite(timeout) or timeout <= 0
        ):
            self.fail(f"{path}.timeoutSeconds", f"must be a positive number, got {show(timeout)}")
        kinds = [k for k in ("template", JOB_TEMPLATE, JOBSET_TEMPLATE) if doc.get(k) is not None]
        if len(kinds) > 1:
            self.fail(
                path,
                f"sets {' and '.join(kinds)}: set exactly one of template (one Pod per trial), "
                f"{JOB_TEMPLATE} (a batch/v1 Job) or {JOBSET_TEMPLATE} (a JobSet)",
            )
            return None
        before = len(self.problems)
        workload: Workload | None = None
        if kinds and kinds[0] != "template":
            found = self.workload(kinds[0], doc, container)
            if found is None:
                return None
            workload, template = found
        else:
            for key in ("reporter", "queueName"):
                if doc.get(key) is not None:
                    self.fail(
                        f"{path}.{key}",
                        f"{_WORKLOAD_ONLY} (a Pod trial's one Pod reports, and Kueue admits "
                        "Jobs and JobSets); use jobTemplate, or remove it",
                    )
            pod = self.mapping(
                doc.get("template", MISSING),
                f"{path}.template",
                ": a Pod template, e.g. {spec: {containers: [{name: trainer, image: ...}]}}",
            )
            if pod is None:
                return None
            template = pod
            if self.containers(template, f"{path}.template", container) is None:
                return None
        if len(self.problems) > before:
            return None
        return TrialTemplate(
            template=copy.deepcopy(dict(template)),
            machine_type=machine_type,
            timeout_seconds=None if timeout is None else float(timeout),
            container=container,
            workload=workload,
            queue_name=queue_name,
        )

    def workload(
        self, key: str, doc: Mapping[str, Any], container: str | None
    ) -> tuple[Workload, Mapping[str, Any]] | None:
        """A Job or JobSet template and its reporter: (Workload, the reporter's Pod template)."""
        path = f"spec.trial.{key}"
        kind: WorkloadKind = "Job" if key == JOB_TEMPLATE else "JobSet"
        tmpl = self.mapping(doc[key], path)
        if tmpl is None:
            return None
        self.known_keys(tmpl, path, ("metadata", "spec"), of=f"a {kind} template")
        if "metadata" in tmpl and not isinstance(tmpl["metadata"], Mapping):
            self.fail(f"{path}.metadata", f"must be a mapping, got {show(tmpl['metadata'])}")
        example = (
            "{template: {spec: {containers: [...]}}}"
            if kind == "Job"
            else "{replicatedJobs: [{name: leader, template: {spec: {template: {spec: "
            "{containers: [...]}}}}}]}"
        )
        spec = self.mapping(tmpl.get("spec", MISSING), f"{path}.spec", f", e.g. spec: {example}")
        reporter = self.reporter(doc.get("reporter"), kind)
        if spec is None or reporter is None:
            return None
        if kind == "Job":
            pod = self.job_pods(spec, f"{path}.spec", container, reporter.pod_index)
            if reporter.replicated_job is not None or reporter.job_index != 0:
                self.fail(
                    "spec.trial.reporter",
                    "sets replicatedJob or jobIndex, which only a jobSetTemplate trial has; "
                    "a Job trial's reporter is chosen by podIndex alone",
                )
        else:
            pod = self.jobset_pods(spec, f"{path}.spec", container, reporter)
        if pod is None:
            return None
        return Workload(kind, copy.deepcopy(dict(tmpl)), reporter), pod

    def reporter(self, value: object, kind: str) -> Reporter | None:
        if value is None:
            return Reporter()
        path = "spec.trial.reporter"
        doc = self.mapping(value, path, ": e.g. reporter: {podIndex: 0}")
        if doc is None:
            return None
        self.known_keys(doc, path, ("replicatedJob", "jobIndex", "podIndex"))
        rjob = self.string(doc, "replicatedJob", path, max_length=63)
        job_index = self.integer(doc, "jobIndex", path, minimum=0)
        pod_index = self.integer(doc, "podIndex", path, minimum=0)
        return Reporter(rjob, job_index or 0, pod_index or 0)

    def job_pods(
        self, spec: Mapping[str, Any], path: str, container: str | None, pod_index: int
    ) -> Mapping[str, Any] | None:
        """A Job spec's Pod template (its containers checked); how many Pods it runs is
        checked against the reporter's ``podIndex``."""
        completions = self.integer(spec, "completions", path, minimum=1)
        parallelism = self.integer(spec, "parallelism", path, minimum=1)
        pods = completions or 1
        mode = spec.get("completionMode")
        if mode not in (None, "Indexed"):
            self.fail(
                f"{path}.completionMode",
                f"must be Indexed (the default for trials), got {show(mode)} (completions "
                f"{pods}, parallelism {parallelism or 1}): the Pod that reports the trial's "
                "metrics is picked, and admitted to its trial's record, by its completion index; "
                "remove completionMode or set it to Indexed",
            )
        if pod_index >= pods:
            self.fail(
                "spec.trial.reporter.podIndex",
                f"is {pod_index} but the Job has {pods} completion index"
                f"{'es' if pods > 1 else ''} (0 to {pods - 1}); pick one of them",
            )
        template = self.mapping(
            spec.get("template", MISSING),
            f"{path}.template",
            ": the Pod template of the Job, e.g. {spec: {containers: [...]}}",
        )
        if template is None:
            return None
        if self.containers(template, f"{path}.template", container, every=True) is None:
            return None
        return template

    def jobset_pods(
        self, spec: Mapping[str, Any], path: str, container: str | None, reporter: Reporter
    ) -> Mapping[str, Any] | None:
        """Every replicated job's Pod template checked; the reporter's returned."""
        rjobs = spec.get("replicatedJobs")
        where = f"{path}.replicatedJobs"
        if not isinstance(rjobs, list) or not rjobs:
            self.fail(
                where,
                f"must list at least one replicated job, got {show(rjobs)} (e.g. "
                "replicatedJobs: [{name: leader, replicas: 1, template: {spec: {template: ...}}}])",
            )
            return None
        found: dict[str, tuple[Mapping[str, Any], int, int]] = {}
        for i, rjob in enumerate(rjobs):
            at = f"{where}[{i}]"
            if not isinstance(rjob, Mapping):
                self.fail(at, f"must be a mapping, got {show(rjob)}")
                return None
            name = self.string(rjob, "name", at, required=True, max_length=63)
            replicas = self.integer(rjob, "replicas", at, minimum=1)
            job = self.mapping(rjob.get("template", MISSING), f"{at}.template", ": a Job template")
            job_spec = (
                None
                if job is None
                else self.mapping(job.get("spec", MISSING), f"{at}.template.spec", ": a Job spec")
            )
            if name is None or job_spec is None:
                return None
            completions = self.integer(job_spec, "completions", f"{at}.template.spec", minimum=1)
            mode = job_spec.get("completionMode")
            if mode not in (None, "Indexed"):
                self.fail(
                    f"{at}.template.spec.completionMode",
                    f"must be Indexed (JobSet's default), got {show(mode)}: the Pod that "
                    "reports is picked by its completion index",
                )
            template = self.mapping(
                job_spec.get("template", MISSING),
                f"{at}.template.spec.template",
                ": a Pod template",
            )
            if template is None:
                return None
            if (
                self.containers(template, f"{at}.template.spec.template", container, every=True)
                is None
            ):
                return None
            found[name] = (template, replicas or 1, completions or 1)
        wanted = reporter.replicated_job or str(rjobs[0].get("name"))
        if wanted not in found:
            self.fail(
                "spec.trial.reporter.replicatedJob",
                f"names no replicated job, got {wanted!r} (replicated jobs: {', '.join(found)})",
            )
            return None
        template, replicas, completions = found[wanted]
        if reporter.job_index >= replicas:
            self.fail(
                "spec.trial.reporter.jobIndex",
                f"is {reporter.job_index} but replicated job {wanted} has {replicas} "
                f"replica{'s' if replicas > 1 else ''}; pick one from 0 to {replicas - 1}",
            )
        if reporter.pod_index >= completions:
            self.fail(
                "spec.trial.reporter.podIndex",
                f"is {reporter.pod_index} but the Jobs of replicated job {wanted} have "
                f"{completions} completion index{'es' if completions > 1 else ''}; pick one "
                f"from 0 to {completions - 1}",
            )
        return template

    def containers(
        self, template: Mapping[str, Any], path: str, wanted: str | None, *, every: bool = False
    ) -> Mapping[str, Any] | None:
        """The training container of a Pod template (checked); with ``every`` (a workload's
        templates, whose every container is substituted) the placeholders of all containers
        are checked, else those of the training container."""
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
            for i in range(len(containers)) if every else (index,):
                self.placeholders(containers[i], f"{where}[{i}]", self.declared)
        # Each item was checked to be a Mapping above; the list itself is JSON (Any).
        return cast(Mapping[str, Any], chosen)

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
