"""The sidecar's API client: in-cluster only, on the standard library alone, thread-safe.

Why not the ``kubernetes`` package (which ``kube.client`` uses for the CLI and the operator):
the sidecar runs in every trial Pod and must stay light. Measured on one machine (see
docs/architecture.md, "Two API clients"): importing the sidecar with this client takes about a
tenth of the time and half the memory of importing the ``kubernetes`` package alone. The
sidecar needs only what a Pod has: the API server's address, the CA and a projected
ServiceAccount token, which the kubelet rotates, so ``Endpoint.bearer`` reads the token file
afresh for every request. This module knows HTTP, TLS and bearer tokens; it must not know any
resource's shape and must not read kubeconfig files.
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

from hypersearch.kube.wire import ApiError, decode

IN_CLUSTER_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the API server is and the files that prove who we are (a Pod's projected token)."""

    server: str
    ca_file: str | None = None
    token_file: str | None = None

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
        return cls(
            server=f"https://{host}:{port}",
            ca_file=str(token_dir / "ca.crt"),
            token_file=str(token_dir / "token"),
        )

    def bearer(self) -> str | None:
        """The token, read afresh on every call: the kubelet rotates a projected token in place
        (at 80% of its lifetime), and the old one stops working when it expires."""
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return None


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
        return ssl.create_default_context(cafile=self.endpoint.ca_file)

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
            return decode(response.status, data, method, path)
        raise AssertionError("unreachable")  # pragma: no cover
