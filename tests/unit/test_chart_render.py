"""The Helm chart renders what the operator needs, least-privilege and restricted, per values.

Runs the real helm (fetched once by charts/get-helm into the cache) on charts/hypersearch.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hypersearch"
RELEASE = "hs"
RELEASE_NS = "hypersearch-system"
NAMESPACED = ("--set", "watch.allNamespaces=false", "--set", "watch.namespaces={team-a,team-b}")


@cache
def helm() -> str:
    proc = subprocess.run(
        [str(REPO / "charts" / "get-helm")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"charts/get-helm failed (exit {proc.returncode}):\n{proc.stderr}", pytrace=False
        )
    return proc.stdout.strip()


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, timeout=120, check=False)


def render(*args: str) -> list[dict[str, Any]]:
    """`helm template` of the chart with extra flags, as a list of objects."""
    proc = run_helm("template", RELEASE, str(CHART), "--namespace", RELEASE_NS, *args)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def render_error(*args: str) -> str:
    proc = run_helm("template", RELEASE, str(CHART), "--namespace", RELEASE_NS, *args)
    assert proc.returncode != 0, "rendering should have been refused"
    return proc.stderr


def kinds_and_names(objs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs}


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def rules_of(objs: list[dict[str, Any]], kind: str, name: str) -> Iterator[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) one role grants."""
    for role in objs:
        if role["kind"] == kind and role["metadata"]["name"] == name:
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for verb in rule["verbs"]:
                            yield group, resource, verb


def container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


OPERATOR_GRANTS = {
    ("hypersearch.io", "hypersearches", "get"),
    ("hypersearch.io", "hypersearches", "list"),
    ("hypersearch.io", "hypersearches", "watch"),
    ("hypersearch.io", "hypersearches", "patch"),
    ("hypersearch.io", "hypersearches/status", "get"),
    ("hypersearch.io", "hypersearches/status", "patch"),
    ("hypersearch.io", "hypersearches/finalizers", "update"),
    ("hypersearch.io", "hypersearchtrials", "create"),
    ("hypersearch.io", "hypersearchtrials", "get"),
    ("hypersearch.io", "hypersearchtrials", "list"),
    ("hypersearch.io", "hypersearchtrials", "watch"),
    ("hypersearch.io", "hypersearchtrials", "patch"),
    ("hypersearch.io", "hypersearchtrials/status", "get"),
    ("hypersearch.io", "hypersearchtrials/status", "patch"),
    ("", "pods", "create"),
    ("", "pods", "get"),
    ("", "pods", "list"),
    ("", "pods", "watch"),
    ("", "pods", "delete"),
    ("", "events", "create"),
    *(
        (group, plural, verb)
        for group, plural in (("batch", "jobs"), ("jobset.x-k8s.io", "jobsets"))
        for verb in ("create", "get", "list", "watch", "delete")
    ),
    ("kueue.x-k8s.io", "workloads", "get"),
    ("kueue.x-k8s.io", "workloads", "list"),
    ("", "serviceaccounts", "create"),
    ("", "serviceaccounts", "get"),
    ("", "serviceaccounts", "patch"),
    ("rbac.authorization.k8s.io", "roles", "create"),
    ("rbac.authorization.k8s.io", "roles", "get"),
    ("rbac.authorization.k8s.io", "roles", "patch"),
    ("rbac.authorization.k8s.io", "rolebindings", "create"),
    ("rbac.authorization.k8s.io", "rolebindings", "get"),
    ("rbac.authorization.k8s.io", "rolebindings", "patch"),
}
PEERING = {"get", "list", "watch", "patch"}


@pytest.mark.parametrize(
    "flags",
    [
        (),
        NAMESPACED,
        ("--set", "metrics.prometheusRule.enabled=true", "--set", "grafana.dashboard.enabled=true"),
    ],
    ids=["defaults", "namespaced", "monitoring-on"],
)
def test_helm_lint_strict_passes(flags: tuple[str, ...]) -> None:
    proc = run_helm("lint", "--strict", str(CHART), *flags)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


def test_default_install_watches_all_namespaces_with_one_cluster_role() -> None:
    objs = render()
    assert kinds_and_names(objs) == {
        ("ServiceAccount", RELEASE_NS, "hs-hypersearch"),
        ("ConfigMap", RELEASE_NS, "hs-hypersearch-config"),
        ("ClusterRole", "", "hs-hypersearch-operator"),
        ("ClusterRoleBinding", "", "hs-hypersearch-operator"),
        ("ClusterRole", "", "hs-hypersearch-edit"),
        ("ClusterRole", "", "hs-hypersearch-view"),
        ("Service", RELEASE_NS, "hs-hypersearch-metrics"),
        ("Deployment", RELEASE_NS, "hs-hypersearch"),
        ("ClusterKopfPeering", "", "hs-hypersearch"),
        ("ValidatingAdmissionPolicy", "", "hs-hypersearch-sidecar-own-trial"),
        ("ValidatingAdmissionPolicyBinding", "", "hs-hypersearch-sidecar-own-trial"),
    }
    grants = set(rules_of(objs, "ClusterRole", "hs-hypersearch-operator"))
    kopf_extra = {
        ("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")
    }
    peering = {("kopf.dev", "clusterkopfpeerings", v) for v in PEERING}
    assert grants == OPERATOR_GRANTS | kopf_extra | peering
    binding = one(objs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hs-hypersearch", "namespace": RELEASE_NS}
    ]
    assert binding["roleRef"]["name"] == "hs-hypersearch-operator"


def test_listed_namespaces_get_a_role_each_and_only_read_only_discovery_cluster_wide() -> None:
    objs = render(*NAMESPACED)
    cluster_wide = {(k, n) for k, ns, n in kinds_and_names(objs) if k.startswith("Cluster")}
    assert cluster_wide == {
        ("ClusterRole", "hs-hypersearch-edit"),
        ("ClusterRole", "hs-hypersearch-view"),
        ("ClusterRole", "hs-hypersearch-discovery"),
        ("ClusterRoleBinding", "hs-hypersearch-discovery"),
    }
    assert set(rules_of(objs, "ClusterRole", "hs-hypersearch-discovery")) == {
        ("", "namespaces", "list"),
        ("", "namespaces", "watch"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    }
    for ns in ("team-a", "team-b"):
        roles = [o for o in objs if o["kind"] == "Role" and o["metadata"]["namespace"] == ns]
        assert len(roles) == 1
        grants = set(rules_of(roles, "Role", "hs-hypersearch-operator"))
        assert grants == OPERATOR_GRANTS | {("kopf.dev", "kopfpeerings", v) for v in PEERING}
        binding = [
            o for o in objs if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == ns
        ]
        assert binding[0]["subjects"][0]["namespace"] == RELEASE_NS
        peering = [
            o for o in objs if o["kind"] == "KopfPeering" and o["metadata"]["namespace"] == ns
        ]
        assert len(peering) == 1
    args = container(objs)["args"]
    assert "--namespace=team-a" in args
    assert "--namespace=team-b" in args
    assert "--all-namespaces" not in args


def test_strictly_namespaced_install_has_no_cluster_scoped_operator_rights() -> None:
    objs = render(*NAMESPACED, "--set", "rbac.clusterDiscovery=false")
    cluster_wide = {(k, n) for k, ns, n in kinds_and_names(objs) if k.startswith("Cluster")}
    assert cluster_wide == {
        ("ClusterRole", "hs-hypersearch-edit"),
        ("ClusterRole", "hs-hypersearch-view"),
    }


@pytest.mark.parametrize("flags", [(), NAMESPACED], ids=["cluster", "namespaced"])
def test_no_role_grants_secrets_configmaps_wildcards_or_escalation(flags: tuple[str, ...]) -> None:
    objs = render(*flags)
    roles = [o for o in objs if o["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        for group, resource, verb in rules_of([role], role["kind"], role["metadata"]["name"]):
            where = f"{role['kind']} {role['metadata']['name']}: {group}/{resource} {verb}"
            assert resource not in ("secrets", "configmaps", "*"), where
            assert "*" not in (group, verb), where
            assert verb not in ("escalate", "bind", "impersonate"), where


def test_operator_runs_as_restricted_non_root_with_a_read_only_root() -> None:
    objs = render()
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    ctx = container(objs)["securityContext"]
    assert ctx == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["serviceAccountName"] == "hs-hypersearch"
    mounts = {m["mountPath"]: m for m in container(objs)["volumeMounts"]}
    assert mounts["/etc/hypersearch"]["readOnly"] is True
    assert "/tmp" in mounts


@pytest.mark.parametrize(
    ("flags", "present", "absent"),
    [
        ((), ["--all-namespaces", "--peering=hs-hypersearch"], ["--verbose"]),
        (("--set", "peering.enabled=false"), ["--all-namespaces"], ["--peering=hs-hypersearch"]),
        (("--set", "peering.name=shared", "--set", "replicaCount=2"), ["--peering=shared"], []),
        (("--set", "logLevel=debug"), ["--verbose"], []),
        (("--set", "metrics.port=9400"), ["--metrics-port=9400"], ["--metrics-port=8080"]),
    ],
    ids=["defaults", "standalone", "named-peering", "debug", "metrics-port"],
)
def test_operator_arguments_follow_the_values(
    flags: tuple[str, ...], present: list[str], absent: list[str]
) -> None:
    args = container(render(*flags))["args"]
    assert args[:2] == ["operator", "--config=/etc/hypersearch/config.yaml"]
    for arg in present:
        assert arg in args
    for arg in absent:
        assert arg not in args


@pytest.mark.parametrize(
    "flags",
    [(), NAMESPACED, ("--set", "peering.enabled=false")],
    ids=["cluster", "namespaced", "standalone"],
)
def test_rendered_arguments_are_accepted_by_hyper_operator(flags: tuple[str, ...]) -> None:
    from hypersearch.cli import build_parser

    args = container(render(*flags))["args"]
    parsed = build_parser().parse_args([*args, "--priority=7"])
    assert parsed.subcommand == "operator"
    assert str(parsed.config) == "/etc/hypersearch/config.yaml"
    assert parsed.metrics_port == 8080
    assert parsed.liveness == "http://0.0.0.0:8081/healthz"
    if flags == NAMESPACED:
        assert parsed.namespaces == ["team-a", "team-b"]
    else:
        assert parsed.all_namespaces is True


def test_peering_replicas_get_distinct_priorities_from_their_pod_names(tmp_path: Path) -> None:
    """The container command derives --priority from POD_NAME; a fake `hyper` records its argv."""
    main = container(render("--set", "replicaCount=2"))
    fake = tmp_path / "hyper"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)

    def argv_of(pod_name: str) -> list[str]:
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "POD_NAME": pod_name}
        proc = subprocess.run(
            [*main["command"], *main["args"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return proc.stdout.splitlines()

    first, second = argv_of("hs-hypersearch-5d8f7-abcde"), argv_of("hs-hypersearch-5d8f7-fghij")
    assert first[:-1] == second[:-1] == main["args"]
    priorities = {first[-1], second[-1]}
    assert len(priorities) == 2
    assert all(
        p.startswith("--priority=") and p.removeprefix("--priority=").isdigit() for p in priorities
    )
    assert argv_of("hs-hypersearch-5d8f7-abcde") == first


def test_standalone_operator_runs_hyper_directly() -> None:
    assert "command" not in container(render("--set", "peering.enabled=false"))


def test_machine_types_are_rendered_into_the_operator_config() -> None:
    objs = render(
        "--set", "machineTypes.H100x8.gpus=8", "--set", "machineTypes.H100x8.nodeSelector.gpu=h100"
    )
    config = yaml.safe_load(one(objs, "ConfigMap", "hs-hypersearch-config")["data"]["config.yaml"])
    assert config["machineTypes"]["K80"] == {
        "gpus": 1,
        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-k80"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    assert config["machineTypes"]["H100x8"] == {
        "gpus": 8,
        "nodeSelector": {"gpu": "h100"},
        "tolerations": [],
    }
    assert config["machineTypes"]["CPU"]["gpus"] == 0
    assert config["sidecar"]["image"] == "ghcr.io/hypersearch/hypersearch-operator:0.1.0"


def test_rendered_config_is_accepted_by_the_operator_config_loader() -> None:
    from hypersearch.controller.config import parse_config

    objs = render(
        "--set", "machineTypes.K80.resources.limits.memory=40Gi",
        "--set", "timeouts.unschedulableSeconds=120",
        "--set", "sidecar.image=registry.local/hs:1",
        "--set", "timeouts.watchSeconds=45",
    )  # fmt: skip
    text = one(objs, "ConfigMap", "hs-hypersearch-config")["data"]["config.yaml"]
    config = parse_config(yaml.safe_load(text), "config.yaml")
    k80 = config.pods.machine_types["K80"]
    assert dict(k80.limits) == {"nvidia.com/gpu": "1", "memory": "40Gi"}
    assert dict(k80.node_selector) == {"cloud.google.com/gke-accelerator": "nvidia-tesla-k80"}
    assert dict(config.pods.machine_types["CPU"].limits) == {}
    assert config.pods.sidecar_image == "registry.local/hs:1"
    assert config.timing.unschedulable_seconds == 120
    assert config.watch_seconds == 45


def test_changing_the_config_rolls_the_operator() -> None:
    def checksum(*flags: str) -> str:
        template = one(render(*flags), "Deployment")["spec"]["template"]
        value: str = template["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum() == checksum()
    assert checksum() != checksum("--set", "machineTypes.K80.gpus=2")


def test_monitoring_objects_are_absent_by_default_and_rendered_when_enabled() -> None:
    default_kinds = {o["kind"] for o in render()}
    assert {"ServiceMonitor", "PrometheusRule"}.isdisjoint(default_kinds)
    objs = render(
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "grafana.dashboard.enabled=true",
        "--set", "grafana.dashboard.namespace=monitoring",
    )  # fmt: skip
    monitor = one(objs, "ServiceMonitor")
    service = one(objs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert (
        monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    )
    alerts = [r["alert"] for g in one(objs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    assert alerts == [
        "HyperSearchFailed",
        "HyperSearchTrialsStuckPending",
        "HyperSearchReconcileErrors",
        "HyperSearchStalled",
        "HyperSearchOperatorAbsent",
    ]
    dashboard = one(objs, "ConfigMap", "hs-hypersearch-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((REPO / "deploy" / "grafana" / "hypersearch.json").read_text())
    assert json.loads(dashboard["data"]["hypersearch.json"]) == shipped


def test_metrics_service_targets_the_operator_port() -> None:
    objs = render()
    service = one(objs, "Service")
    ports = {p["name"]: p["containerPort"] for p in container(objs)["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert ports == {"metrics": 8080, "health": 8081}
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--set", "peering.enabled=false", "--set", "replicaCount=2"),
            "replicaCount > 1 needs peering.enabled: true, or every replica would act on every"
            " search",
        ),
        (
            ("--set", "watch.allNamespaces=false"),
            "watch.namespaces must list at least one namespace when watch.allNamespaces is false",
        ),
        (("--set", "replicas=2"), "additional properties 'replicas' not allowed"),
        (("--set", "machineTypes.K80.gpus=-1"), "/machineTypes/K80/gpus"),
        (("--set", "logLevel=quiet"), "/logLevel"),
        (("--set", "timeouts.resyncSeconds=0"), "/timeouts/resyncSeconds"),
        (
            (
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "metrics.service.enabled=false",
            ),
            "metrics.serviceMonitor.enabled needs metrics.service.enabled",
        ),
    ],
    ids=[
        "replicas-without-peering",
        "namespaced-without-namespaces",
        "misspelt-key",
        "negative-gpus",
        "unknown-log-level",
        "zero-timeout",
        "monitor-without-service",
    ],
)
def test_invalid_values_are_refused_with_the_field_and_the_fix(
    flags: tuple[str, ...], message: str
) -> None:
    assert message in render_error(*flags)


def test_chart_ships_the_kopf_peering_crds() -> None:
    docs = list(yaml.safe_load_all((CHART / "crds" / "kopf-peering.yaml").read_text()))
    assert {(d["spec"]["group"], d["spec"]["names"]["kind"], d["spec"]["scope"]) for d in docs} == {
        ("kopf.dev", "ClusterKopfPeering", "Cluster"),
        ("kopf.dev", "KopfPeering", "Namespaced"),
    }


def test_the_sidecar_policy_admits_a_sidecar_only_to_the_trial_of_its_pod() -> None:
    objs = render()
    policy = one(objs, "ValidatingAdmissionPolicy")
    binding = one(objs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert set(rule["resources"]) == {"hypersearchtrials", "hypersearchtrials/status"}
    (condition,) = spec["matchConditions"]
    assert "-hypersearch-sidecar$" in condition["expression"]
    assert "authentication.kubernetes.io/pod-name" in spec["variables"][0]["expression"]
    (validation,) = spec["validations"]
    assert validation["expression"] == (
        "variables.pod != '' && (variables.pod == request.name || "
        "(variables.workloadPod && variables.ownSearch))"
    )


@pytest.mark.parametrize(
    ("pod", "trial", "admitted"),
    [
        ("s-0001-0-x7k2p", "s-0001", True),  # a Job's Pod of completion index 0
        ("s-0001-12-x7k2p", "s-0001", True),
        ("s-0001-leader-0-0-x7k2p", "s-0001", True),  # a JobSet's Pod
        ("s-0001-workers-1-3-x7k2p", "s-0001", True),
        ("s-0001-0-x7k2p", "s-00010", False),  # trial 1's Pod, trial 10's object
        ("s-00010-0-x7k2p", "s-0001", False),
        ("s-0001", "s-0001-0", False),
        ("s-0001-0-x7k2", "s-0001", False),  # not a generated Pod name
        ("s-0001-0-x7k2p-1", "s-0001", False),
    ],
)
def test_the_sidecar_policy_reads_job_and_jobset_pod_names_of_exactly_one_trial(
    pod: str, trial: str, admitted: bool
) -> None:
    """The name part of the rule, in Python's re (the pattern is in the RE2 subset both read);
    the search part (the ServiceAccount) is proved on the plane."""
    (variable,) = [
        v
        for v in one(render(), "ValidatingAdmissionPolicy")["spec"]["variables"]
        if v["name"] == "workloadPod"
    ]
    pattern = re.search(r"matches\('([^']+)'\)", variable["expression"])
    assert pattern is not None
    rest = pod[len(trial) + 1 :] if pod.startswith(trial + "-") else None
    assert (rest is not None and re.search(pattern.group(1), rest) is not None) is admitted


def test_no_sidecar_policy_without_rbac() -> None:
    kinds = {o["kind"] for o in render("--set", "rbac.create=false")}
    assert "ValidatingAdmissionPolicy" not in kinds
