"""Least privilege, proven by the real API server's RBAC authorizer.

The operator's identity is the chart's rendered ServiceAccount and roles; a trial Pod's sidecar
identity is what the operator creates (kube.manifests.sidecar_identity). Rights are checked with
`kubectl auth can-i --as=system:serviceaccount:NS:NAME`, and with real requests carrying each
ServiceAccount's own token (TokenRequest API), so the answers come from the same code paths the
operator and the sidecar will meet.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypersearch.controller.config import OperatorConfig
from hypersearch.controller.reconcile import Reconciler
from hypersearch.kube.api import KubeApi
from hypersearch.kube.client import connect
from hypersearch.kube.manifests import Owner, sidecar_identity

from .operator_harness import install_crd, search_manifest, trial_pods
from .plane import ControlPlane, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hypersearch"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
SEARCH = "cifar"
OTHER_SEARCH = "someone-elses"


@dataclass(frozen=True)
class Identity:
    """A ServiceAccount and a kubeconfig that authenticates with its own token."""

    namespace: str
    name: str
    kubeconfig: Path

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def render_rbac(release: str, namespace: str, *flags: str) -> list[dict[str, Any]]:
    helm = subprocess.run(
        [str(REPO / "charts" / "get-helm")], capture_output=True, text=True, timeout=600, check=True
    ).stdout.strip()
    proc = subprocess.run(
        [helm, "template", release, str(CHART), "--namespace", namespace, *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] in RBAC_KINDS]


def apply(testplane: ControlPlane, objs: list[dict[str, Any]]) -> None:
    testplane.kubectl(
        "apply",
        "-f",
        "-",
        input_text=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}),
    )


def token_identity(testplane: ControlPlane, tmp_path: Path, namespace: str, name: str) -> Identity:
    """A kubeconfig with only a bearer token of the ServiceAccount: no client certificate."""
    token = testplane.kubectl(
        "create", "token", name, "-n", namespace, "--duration=10m"
    ).stdout.strip()
    admin = yaml.safe_load(testplane.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "plane", "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {"name": "sa", "context": {"cluster": "plane", "user": name, "namespace": namespace}}
        ],
        "current-context": "sa",
    }
    path = tmp_path / f"{namespace}-{name}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return Identity(namespace=namespace, name=name, kubeconfig=path)


def as_identity(
    testplane: ControlPlane, who: Identity, *args: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl with the identity's token (the admin kubeconfig is not used)."""
    return subprocess.run(
        [testplane.kubectl_bin, "--kubeconfig", str(who.kubeconfig), *args],
        input=input_text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=None if input_text is not None else subprocess.DEVNULL,
    )


def can_i(
    testplane: ControlPlane, who: Identity, verb: str, resource: str, namespace: str, *extra: str
) -> bool:
    proc = testplane.kubectl(
        "auth", "can-i", verb, resource, "-n", namespace, f"--as={who.user}", *extra, check=False
    )
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), proc.stderr
    return answer == "yes"


def rights(
    testplane: ControlPlane,
    who: Identity,
    namespace: str,
    table: list[tuple[str, str, tuple[str, ...], bool]],
) -> tuple[dict[str, bool], dict[str, bool]]:
    """``kubectl auth can-i``'s answer for each row of ``table``, and the row's expected answer,
    both keyed by the row's request (so a failing assert names the request)."""
    answers: dict[str, bool] = {}
    expected: dict[str, bool] = {}
    for verb, resource, extra, allowed in table:
        key = f"{verb} {resource} {' '.join(extra)}".strip()
        answers[key] = can_i(testplane, who, verb, resource, namespace, *extra)
        expected[key] = allowed
    return answers, expected


def without_owner(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects without ownerReferences: their owner (a HyperSearch) does not exist here, and
    the garbage collector would delete dependents of a missing owner mid-test."""
    stripped = []
    for obj in objs:
        copy = json.loads(json.dumps(obj))
        copy["metadata"].pop("ownerReferences", None)
        stripped.append(copy)
    return stripped


@pytest.fixture(params=["all-namespaces", "listed-namespaces"])
def operator(
    request: pytest.FixtureRequest, testplane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[Identity]:
    """The chart's operator identity, installed cluster-wide or for this namespace only."""
    release = namespace[:40].rstrip("-")
    flags: tuple[str, ...] = ()
    if request.param == "listed-namespaces":
        flags = ("--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{namespace}}}")
    apply(testplane, render_rbac(release, namespace, *flags))
    try:
        yield token_identity(testplane, tmp_path, namespace, f"{release}-hypersearch")
    finally:
        for kind in ("clusterrolebinding", "clusterrole"):
            testplane.kubectl(
                "delete",
                kind,
                "-l",
                f"app.kubernetes.io/instance={release}",
                "--ignore-not-found",
                check=False,
            )


OPERATOR_RIGHTS = [
    ("watch", "hypersearches.hypersearch.io", (), True),
    ("patch", "hypersearches.hypersearch.io", (), True),
    ("patch", "hypersearches.hypersearch.io", ("--subresource=status",), True),
    ("create", "hypersearchtrials.hypersearch.io", (), True),
    ("list", "hypersearchtrials.hypersearch.io", (), True),
    ("watch", "hypersearchtrials.hypersearch.io", (), True),
    ("patch", "hypersearchtrials.hypersearch.io", ("--subresource=status",), True),
    ("delete", "hypersearchtrials.hypersearch.io", (), False),
    ("create", "pods", (), True),
    ("delete", "pods", (), True),
    ("create", "events", (), True),
    ("create", "jobs.batch", (), True),
    ("watch", "jobs.batch", (), True),
    ("delete", "jobs.batch", (), True),
    ("patch", "jobs.batch", (), False),
    ("create", "jobsets.jobset.x-k8s.io", (), True),
    ("delete", "jobsets.jobset.x-k8s.io", (), True),
    ("list", "workloads.kueue.x-k8s.io", (), True),
    ("patch", "workloads.kueue.x-k8s.io", (), False),
    ("create", "serviceaccounts", (), True),
    ("patch", "serviceaccounts", (), True),
    ("create", "roles.rbac.authorization.k8s.io", (), True),
    ("patch", "roles.rbac.authorization.k8s.io", (), True),
    ("create", "rolebindings.rbac.authorization.k8s.io", (), True),
    ("patch", "rolebindings.rbac.authorization.k8s.io", (), True),
    ("get", "secrets", (), False),
    ("list", "secrets", (), False),
    ("watch", "secrets", (), False),
    ("get", "configmaps", (), False),
    ("create", "hypersearches.hypersearch.io", (), False),
    ("delete", "hypersearches.hypersearch.io", (), False),
    ("create", "deployments.apps", (), False),
    ("create", "pods", ("--subresource=exec",), False),
    ("get", "pods", ("--subresource=log",), False),
    ("escalate", "roles.rbac.authorization.k8s.io", (), False),
    ("bind", "roles.rbac.authorization.k8s.io", (), False),
    ("impersonate", "serviceaccounts", (), False),
    ("create", "serviceaccounts", ("--subresource=token",), False),
]


def test_operator_has_exactly_the_rights_it_needs_and_no_secrets(
    testplane: ControlPlane, namespace: str, operator: Identity
) -> None:
    answers, expected = rights(testplane, operator, namespace, OPERATOR_RIGHTS)
    assert answers == expected


def test_operator_cannot_read_secrets_in_any_namespace(
    testplane: ControlPlane, namespace: str, operator: Identity
) -> None:
    assert not can_i(testplane, operator, "list", "secrets", namespace, "--all-namespaces")
    assert not can_i(testplane, operator, "get", "secrets", "kube-system")


def test_operator_token_is_refused_secrets_by_the_api_server(
    testplane: ControlPlane, namespace: str, operator: Identity
) -> None:
    testplane.kubectl(
        "create",
        "secret",
        "generic",
        "db-password",
        "-n",
        namespace,
        "--from-literal=password=hunter2",
    )
    proc = as_identity(
        testplane, operator, "get", "secret", "db-password", "-n", namespace, "-o", "json"
    )
    assert proc.returncode != 0
    assert "hunter2" not in proc.stdout
    refused = f'User "{operator.user}" cannot get resource "secrets" in API group ""'
    assert f'{refused} in the namespace "{namespace}"' in proc.stderr


def test_operator_token_creates_the_sidecar_identity_without_escalate_or_bind(
    testplane: ControlPlane, namespace: str, operator: Identity
) -> None:
    """Kubernetes refuses to let anyone grant rights they lack; the operator holds exactly the
    rights it grants to the sidecar, so creating the Role and RoleBinding is allowed (the
    Role of a search with Pods of an earlier version, which holds every right a sidecar Role
    can hold)."""
    owner = Owner(name=SEARCH, namespace=namespace, uid="unused")
    objs = without_owner(sidecar_identity(owner, legacy=True))
    for obj in objs:
        proc = as_identity(testplane, operator, "create", "-f", "-", input_text=json.dumps(obj))
        assert proc.returncode == 0, f"{obj['kind']}: {proc.stderr}"
    role = testplane.get_json("role", objs[1]["metadata"]["name"], "-n", namespace)
    assert [r["resources"] for r in role["rules"]] == [
        ["hypersearchtrials/status"],
        ["hypersearches/status"],
    ]
    assert role["rules"][1]["resourceNames"] == [SEARCH]


def test_operator_reconcile_succeeds_with_only_the_chart_rbac(
    testplane: ControlPlane, namespace: str, operator: Identity
) -> None:
    """The operator's own reconcile, authenticated with the chart's ServiceAccount token: every
    call it makes (server-side apply of the sidecar identity, Pods, status, events) is allowed."""
    install_crd(testplane)
    testplane.apply(search_manifest("rbac-check", max_trials=2, parallelism=2), namespace=namespace)
    api = KubeApi(connect(str(operator.kubeconfig)))
    try:
        Reconciler(api, OperatorConfig()).reconcile(namespace, "rbac-check", time.time())
    finally:
        api.close()
    assert sorted(
        p["metadata"]["name"] for p in trial_pods(testplane, namespace, "rbac-check")
    ) == [
        "rbac-check-0000",
        "rbac-check-0001",
    ]
    status = wait_until(
        lambda: testplane.get_json("hs", "rbac-check", "-n", namespace).get("status"),
        "the status the operator wrote",
    )
    assert status["counts"]["trials"] == 2
    account = testplane.get_json(
        "serviceaccount", "rbac-check-hypersearch-sidecar", "-n", namespace
    )
    assert account["metadata"]["ownerReferences"][0]["name"] == "rbac-check"
    events = testplane.get_json(
        "events", "-n", namespace, "--field-selector", "involvedObject.name=rbac-check"
    )
    assert events["items"], "the operator posted no Event"


@pytest.fixture
def sidecar(testplane: ControlPlane, namespace: str, tmp_path: Path) -> Identity:
    """The sidecar identity the operator gives a search's trial Pods, created as admin."""
    objs = without_owner(sidecar_identity(Owner(name=SEARCH, namespace=namespace, uid="unused")))
    apply(testplane, objs)
    return token_identity(testplane, tmp_path, namespace, objs[0]["metadata"]["name"])


SIDECAR_RIGHTS = [
    ("patch", "hypersearchtrials.hypersearch.io", ("--subresource=status",), True),
    ("get", "hypersearchtrials.hypersearch.io", ("--subresource=status",), True),
    ("patch", "hypersearchtrials.hypersearch.io", (), False),
    ("create", "hypersearchtrials.hypersearch.io", (), False),
    ("delete", "hypersearchtrials.hypersearch.io", (), False),
    ("list", "hypersearchtrials.hypersearch.io", (), False),
    ("patch", f"hypersearches.hypersearch.io/{SEARCH}", ("--subresource=status",), False),
    ("get", f"hypersearches.hypersearch.io/{SEARCH}", ("--subresource=status",), False),
    ("patch", f"hypersearches.hypersearch.io/{OTHER_SEARCH}", ("--subresource=status",), False),
    ("get", f"hypersearches.hypersearch.io/{OTHER_SEARCH}", ("--subresource=status",), False),
    ("patch", f"hypersearches.hypersearch.io/{SEARCH}", (), False),
    ("delete", f"hypersearches.hypersearch.io/{SEARCH}", (), False),
    ("list", "hypersearches.hypersearch.io", (), False),
    ("get", "secrets", (), False),
    ("list", "secrets", (), False),
    ("get", "configmaps", (), False),
    ("list", "pods", (), False),
    ("create", "pods", (), False),
    ("create", "serviceaccounts", ("--subresource=token",), False),
]


def test_sidecar_reaches_trial_records_status_and_no_search(
    testplane: ControlPlane, namespace: str, sidecar: Identity
) -> None:
    """RBAC grants the status of every trial record in the namespace (names are unbounded); the
    chart's admission policy narrows it to the sidecar's own trial (test_operator_status.py)."""
    answers, expected = rights(testplane, sidecar, namespace, SIDECAR_RIGHTS)
    assert answers == expected
    assert not can_i(
        testplane,
        sidecar,
        "patch",
        "hypersearchtrials.hypersearch.io",
        "default",
        "--subresource=status",
    )


def test_sidecar_token_is_refused_secrets_and_other_searches_by_the_api_server(
    testplane: ControlPlane, namespace: str, sidecar: Identity
) -> None:
    testplane.kubectl(
        "create",
        "secret",
        "generic",
        "db-password",
        "-n",
        namespace,
        "--from-literal=password=hunter2",
    )
    secret = as_identity(testplane, sidecar, "get", "secret", "db-password", "-n", namespace)
    assert secret.returncode != 0
    assert f'User "{sidecar.user}" cannot get resource "secrets"' in secret.stderr

    base = f"/apis/hypersearch.io/v1alpha1/namespaces/{namespace}"
    for search in (OTHER_SEARCH, SEARCH):
        refused = as_identity(
            testplane, sidecar, "get", "--raw", f"{base}/hypersearches/{search}/status"
        )
        assert refused.returncode != 0
        assert "forbidden" in refused.stderr.lower()
    # A trial record's status passes authorization: whatever comes back is not a 403.
    own = as_identity(
        testplane, sidecar, "get", "--raw", f"{base}/hypersearchtrials/{SEARCH}-0000/status"
    )
    assert "forbidden" not in own.stderr.lower()
