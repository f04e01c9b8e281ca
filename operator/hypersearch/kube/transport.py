"""A small, thread-safe HTTPS client for the Kubernetes API, on the standard library alone.

Why not the ``kubernetes`` package: the sidecar must stay light (stdlib only), and the operator
needs only a handful of calls (get, list, create, delete, server-side apply), so one small client
serves both. This module knows HTTP, TLS and bearer tokens; it must not know any resource's
shape (that is ``kube.api``) and must not parse kubeconfig files (``kube.kubeconfig``).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

IN_CLUSTER_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
APPLY_PATCH: Final = "application/apply-patch+yaml"
MERGE_PATCH: Final = "application/merge-patch+json"


class ApiError(Exception):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, message: str, method: str, path: str):
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{method} {path}: {status} {reason}: {message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """AlreadyExists (or a write conflict): for derived names this means the work is done."""
        return self.status == 409

    @property
    def transient(self) -> bool:
        """Worth retrying later: unreachable, throttled, forbidden by quota, or a server error."""
        return self.status in (0, 403, 429) or self.status >= 500


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the API server is and how to prove who we are."""

    server: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    insecure: bool = False
    namespace: str | None = None

    @classmethod
    def in_cluster(cls, token_dir: Path = IN_CLUSTER_DIR) -> Endpoint:
        """The Pod's own identity: KUBERNETES_SERVICE_HOST/PORT plus a token and CA in token_dir."""
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ApiError(
                0,
                "NotInCluster",
                "KUBERNETES_SERVICE_HOST is not set: pass --server (and a token and CA) when "
                "running outside a Pod",
                "CONNECT",
                "",
            )
        if ":" in host:
            host = f"[{host}]"
        namespace_file = token_dir / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.exists() else None
        return cls(
            server=f"https://{host}:{port}",
            ca_file=str(token_dir / "ca.crt"),
            token_file=str(token_dir / "token"),
            namespace=namespace,
        )

    def bearer(self) -> str | None:
        """The current token; a token file is re-read on every call because kubelet rotates it."""
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token


class Transport:
    """JSON requests over a small pool of keep-alive HTTPS connections; safe across threads."""

    def __init__(self, endpoint: Endpoint, timeout: float = 30.0, pool_size: int = 8):
        parsed = urllib.parse.urlsplit(endpoint.server)
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise ValueError(
                f"server {endpoint.server!r} is not a URL like https://host:6443; "
                "fix the kubeconfig's cluster.server or the --server flag"
            )
        self.endpoint = endpoint
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._base = parsed.path.rstrip("/")
        self._timeout = timeout
        self._context = self._ssl_context() if self._https else None
        self._pool: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(pool_size)

    def _ssl_context(self) -> ssl.SSLContext:
        ep = self.endpoint
        context = ssl.create_default_context(cafile=ep.ca_file)
        if ep.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if ep.cert_file:
            context.load_cert_chain(ep.cert_file, ep.key_file)
        return context

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _checkout(self) -> http.client.HTTPConnection:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return self._connect()

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        try:
            self._pool.put_nowait(conn)
        except queue.Full:
            conn.close()

    def close(self) -> None:
        """Close every pooled connection."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request and return the decoded JSON answer; raise ApiError on >= 400.

        A pooled connection the server closed meanwhile is retried once on a fresh one (every
        call we make is safe to repeat: creates answer AlreadyExists, applies are idempotent).
        The pool is emptied first: the connections in it have been idle at least as long as
        the one that was found closed, so the server has closed them too (retrying on the next
        pooled one failed the operator's first reconciles after a few idle minutes).
        """
        url = self._base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Accept": "application/json", "User-Agent": "hypersearch"}
        if payload is not None:
            headers["Content-Type"] = content_type
        token = self.endpoint.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            conn = self._checkout() if attempt == 1 else self._connect()
            try:
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, TimeoutError, OSError) as err:
                conn.close()
                if attempt == 1 and isinstance(
                    err, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                ):
                    self.close()
                    continue
                raise ApiError(0, "Unreachable", str(err), method, path) from err
            if response.will_close:
                conn.close()
            else:
                self._checkin(conn)
            return _decode(response.status, data, method, path)
        raise AssertionError("unreachable")  # pragma: no cover


def _decode(status: int, data: bytes, method: str, path: str) -> Any:
    """JSON of a 2xx answer, or an ApiError carrying the server's Status reason and message."""
    try:
        decoded: Any = json.loads(data) if data else None
    except ValueError:
        decoded = None
    if status < 400:
        return decoded
    if isinstance(decoded, dict):
        reason = str(decoded.get("reason") or "Error")
        message = str(decoded.get("message") or data[:500].decode(errors="replace"))
    else:
        reason, message = "Error", data[:500].decode(errors="replace")
    raise ApiError(status, reason, message, method, path)
