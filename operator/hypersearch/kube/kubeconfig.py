"""Find the operator's API endpoint: a kubeconfig file, or the Pod's in-cluster identity.

Reads files only; never talks to the server (``kube.transport`` does). Supports what the clusters
we meet use: certificate authority and client certificates as files or inline data, bearer tokens
and token files. Exec and auth-provider plugins are not supported; the error says so.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from hypersearch.kube.transport import IN_CLUSTER_DIR, Endpoint


class KubeconfigError(Exception):
    """The kubeconfig cannot be used; the message names the file, the field and the fix."""


def load_endpoint(path: str | None = None, context: str | None = None) -> Endpoint:
    """The endpoint from ``path`` (or $KUBECONFIG, or ~/.kube/config), else in-cluster."""
    candidate = path or (os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None)
    if candidate is None:
        default = Path.home() / ".kube" / "config"
        if default.exists():
            candidate = str(default)
        elif (IN_CLUSTER_DIR / "token").exists():
            return Endpoint.in_cluster()
        else:
            raise KubeconfigError(
                "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or run in a Pod"
            )
    try:
        document = yaml.safe_load(Path(candidate).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise KubeconfigError(f"{candidate}: cannot read kubeconfig: {err}") from err
    if not isinstance(document, dict):
        raise KubeconfigError(f"{candidate}: not a kubeconfig (expected a mapping)")
    return endpoint_from_kubeconfig(document, Path(candidate), context)


def _named(document: dict[str, Any], section: str, name: str, where: Path) -> dict[str, Any]:
    for item in document.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(section[:-1])
            return value if isinstance(value, dict) else {}
    raise KubeconfigError(f"{where}: {section} has no entry named {name!r}; fix the context")


def _file(entry: dict[str, Any], key: str, base: Path, tmp: list[Path]) -> str | None:
    """A path for ``key`` (relative paths are relative to the kubeconfig), or a private temp
    file holding ``key-data`` (ssl wants files)."""
    if entry.get(key):
        found = Path(str(entry[key]))
        return str(found if found.is_absolute() else base.parent / found)
    data = entry.get(f"{key}-data")
    if not data:
        return None
    if not tmp:
        tmp.append(Path(tempfile.mkdtemp(prefix="hypersearch-kubeconfig-")))
    target = tmp[0] / key
    target.write_bytes(base64.b64decode(str(data)))
    target.chmod(0o600)
    return str(target)


def endpoint_from_kubeconfig(
    document: dict[str, Any], where: Path, context: str | None = None
) -> Endpoint:
    """The endpoint a kubeconfig document selects (its current-context unless ``context``)."""
    name = context or document.get("current-context")
    if not name:
        raise KubeconfigError(f"{where}: no current-context; pass --context")
    ctx = _named(document, "contexts", str(name), where)
    cluster = _named(document, "clusters", str(ctx.get("cluster")), where)
    user = _named(document, "users", str(ctx.get("user")), where) if ctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise KubeconfigError(
            f"{where}: user {ctx.get('user')!r} uses an exec/auth-provider plugin, which the "
            "operator does not run; use a token or client certificate (or run in the cluster)"
        )
    if not cluster.get("server"):
        raise KubeconfigError(f"{where}: cluster {ctx.get('cluster')!r} has no server")
    tmp: list[Path] = []
    return Endpoint(
        server=str(cluster["server"]),
        ca_file=_file(cluster, "certificate-authority", where, tmp),
        cert_file=_file(user, "client-certificate", where, tmp),
        key_file=_file(user, "client-key", where, tmp),
        token=str(user["token"]) if user.get("token") else None,
        token_file=str(user["tokenFile"]) if user.get("tokenFile") else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=str(ctx["namespace"]) if ctx.get("namespace") else None,
    )
