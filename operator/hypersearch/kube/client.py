"""The CLI's and the operator's connection to the API server, through the ``kubernetes`` package.

Whatever works for kubectl works here, because the package reads the configuration as kubectl
does: the kubeconfig (``--kubeconfig``, else every file of $KUBECONFIG merged, else
~/.kube/config) with client certificates, tokens and token files, exec credential plugins (EKS,
GKE, AKS), auth providers (OIDC), ``proxy-url`` or HTTPS_PROXY/NO_PROXY; else the Pod's
in-cluster identity. The package loads the credentials and sends the requests (urllib3, a
thread-safe connection pool). This module decides when credentials are renewed, because the
package's own rule (renew an exec token 5 minutes before it expires, never renew an OIDC token
after loading) runs a short-lived plugin for every request and lets other tokens go stale:

- an exec plugin's token is renewed once 80% of its life (from when we got it to its
  ``expirationTimestamp``) has passed, as the kubelet renews projected tokens; a plugin that
  gives no expiry runs again only after a 401;
- other users (token files, in-cluster tokens, OIDC) are reloaded every minute: files are read
  again and an expired OIDC token is refreshed;
- a 401 reloads the credentials (runs the plugin again) and sends the request once more, unless
  another thread renewed them meanwhile (then only the request is repeated), as client-go does.

A slow but healthy API server is waited for, not given up on (``Timeouts``, ``RetryPolicy``): a
connect timeout apart from a read timeout sized for large writes, and failed requests sent again
with backoff and full jitter. A request that cannot have reached the server (connection refused,
connect timeout) or that the server refused without acting (429) is always sent again; one that
may have been carried out (a read timeout, a dropped connection, 503/504) only when sending it
twice does no harm (``idempotent``: GET, DELETE, server-side apply, or a POST whose caller says
so, such as a create with a derived name, where AlreadyExists means done). Every failed attempt
is told to ``on_failure`` (the operator counts them in a metric).

Must not know any resource's shape (``kube.api`` does). Nothing else holds credentials.
"""

from __future__ import annotations

import datetime
import logging
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import urllib3
import yaml
from kubernetes.client import ApiClient, Configuration, rest
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

from hypersearch.kube.wire import JSON_PATCH, ApiError, decode

log = logging.getLogger("hypersearch.kube")

IN_CLUSTER_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
RELOAD_EVERY: Final = datetime.timedelta(minutes=1)
RETRY_AFTER: Final = datetime.timedelta(seconds=10)
RENEW_AT_LIFE: Final = 0.8
USER_AGENT: Final = "hypersearch"

Clock = Callable[[], datetime.datetime]
FailureHook = Callable[[str, str], None]
"""Told of every failed attempt: (HTTP method, CamelCase reason)."""
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE"})
RETRY_STATUSES: Final = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "Timeout"}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to open a connection, and to wait for an answer once the request is sent.

    The read timeout is long because a healthy server can be slow: a status write of a large
    object took 1.5 s on a quiet test plane and timed out at 30 s under load (issue 14)."""

    connect: float = 5.0
    read: float = 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times one request is sent at most, and the backoff between the attempts."""

    attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 8.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): "full jitter", uniform
        in [0, min(cap, base * 2^(attempt-1))], so clients that failed together do not come
        back together; at least the server's Retry-After (capped) when it sent one."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        wait = rng.uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_seconds))
        return wait


def idempotent(method: str, content_type: str) -> bool:
    """Whether sending a request twice leaves the same result as once: GET, PUT, DELETE and
    PATCHes other than JSON patches (a server-side apply, a merge patch)."""
    return method in SAFE_METHODS or (method == "PATCH" and content_type != JSON_PATCH)


def failure_reason(err: BaseException) -> tuple[str, bool]:
    """A CamelCase reason for a request that got no answer, and whether it may have reached the
    server (False only when no connection was made: sending it again is always safe)."""
    cause = err.reason if isinstance(err, urllib3.exceptions.MaxRetryError) else err
    if isinstance(cause, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "Unreachable", False
    if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
        return "ConnectTimeout", False
    if isinstance(cause, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return "Timeout", True
    return "Disconnected", True


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class KubeconfigError(Exception):
    """The configuration cannot be used; the message names the file, the field and the fix."""


class _Loader(Protocol):
    def load_and_set(self, client_configuration: Configuration) -> None: ...


@dataclass(frozen=True, slots=True)
class Credentials:
    """What kopf's login needs (kopf speaks aiohttp, so it gets the facts, not the package)."""

    server: str
    ca_file: str | None
    insecure: bool
    authorization: str | None
    """The Authorization header's value: ``Bearer <token>`` (or ``Basic ...``), or None."""
    cert_file: str | None
    key_file: str | None
    proxy: str | None
    namespace: str | None
    expires: datetime.datetime | None
    """When an exec plugin's token expires (kopf logs in again then); None: on a 401 only."""


@contextmanager
def _errors_logged_by_the_package() -> Iterator[list[str]]:
    """The package logs (on the root logger) and swallows an exec plugin's failure; collect those
    messages so that the error we raise can say what the plugin said."""
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and record.name == "root":
                found.append(record.getMessage())

    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield found
    finally:
        root.removeHandler(handler)


class Connection:
    """Credentials plus a connection pool; ``request`` is safe to call from many threads."""

    def __init__(
        self,
        loader: _Loader,
        source: str,
        *,
        namespace: str | None = None,
        exec_plugin: str | None = None,
        timeout: float | Timeouts = Timeouts(),
        pool_size: int = 8,
        clock: Clock = _utcnow,
        retry: RetryPolicy = RetryPolicy(),
        on_failure: FailureHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.source = source
        """Where the credentials come from, for messages: ``kubeconfig PATH`` or in-cluster."""
        self.namespace = namespace
        """The context's namespace (in a Pod: the Pod's), or None."""
        self.timeouts = timeout if isinstance(timeout, Timeouts) else Timeouts(read=timeout)
        self.retry = retry
        self.on_failure = on_failure
        """Told of every failed attempt (method, reason); the operator counts them."""
        self._sleep = sleep
        self._rng = random.Random()
        self._loader = loader
        self._exec_plugin = exec_plugin
        self._clock = clock
        self._lock = threading.Lock()
        self._renew_at: datetime.datetime | None = None
        self._expires: datetime.datetime | None = None
        self.configuration = Configuration()
        self.configuration.connection_pool_maxsize = pool_size
        # Retries are ours (``request``): urllib3's would repeat a timed-out POST of an Event.
        self.configuration.retries = urllib3.util.Retry(total=0, redirect=0, raise_on_status=False)
        self._pooled = False
        failures = self._reload()
        if exec_plugin and not failures and not self._has_credentials():
            failures = ["it gave no token or client certificate"]
        if failures and exec_plugin:
            raise KubeconfigError(
                f"{source}: the exec credential plugin {exec_plugin!r} failed: "
                f"{'; '.join(failures)}; fix the plugin (kubectl runs the same command: try "
                "kubectl get namespaces) or pick another context with --context"
            )
        if failures:
            raise KubeconfigError(
                f"{source}: cannot load the user's credentials: {'; '.join(failures)}; fix the "
                "file or pick another context with --context"
            )
        self.api_client = ApiClient(self.configuration)
        self._pooled = True

    # --- credentials -----------------------------------------------------------------------

    def _has_credentials(self) -> bool:
        cfg = self.configuration
        return bool(cfg.api_key.get("BearerToken") or cfg.cert_file)

    def _identity(self) -> tuple[str | None, str | None, str | None]:
        cfg = self.configuration
        return cfg.api_key.get("BearerToken"), cfg.cert_file, cfg.key_file

    def _reload(self) -> list[str]:
        """Load the credentials again (runs an exec plugin, re-reads files); the package's error
        messages when that failed, in which case the old credentials stay."""
        before = self._identity()
        now = self._clock()
        try:
            with _errors_logged_by_the_package() as failures:
                self._loader.load_and_set(self.configuration)
        except (ConfigException, OSError, ValueError) as err:
            failures.append(str(err))
        # Our renewal rule replaces the package's hook (see the module docstring).
        self.configuration.refresh_api_key_hook = None
        expiry = getattr(self._loader, "expiry", None) if self._exec_plugin else None
        if failures:
            # Keep what we have (it may still be valid) and try again a little later.
            self._renew_at = now + RETRY_AFTER
            if self._pooled:
                log.warning(
                    "%s: renewing the credentials failed: %s", self.source, "; ".join(failures)
                )
        elif isinstance(expiry, datetime.datetime) and expiry > now:
            self._expires = expiry
            self._renew_at = now + (expiry - now) * RENEW_AT_LIFE
        elif self._exec_plugin:
            self._expires = self._renew_at = None  # no expiry given: renewed after a 401
        else:
            self._renew_at = now + RELOAD_EVERY
        if self._identity()[1:] != before[1:] and self._pooled:
            # A new client certificate: the pooled connections were made with the old one (the
            # old pool is left to the garbage collector: other threads may be using it).
            self.api_client.rest_client = rest.RESTClientObject(self.configuration)
        return failures

    def authorization(self) -> str | None:
        """The Authorization header to send now, renewed first when it is due."""
        with self._lock:
            if self._renew_at is not None and self._clock() >= self._renew_at:
                self._reload()
            return self._identity()[0]

    def renew(self, failed: str | None) -> bool:
        """After a 401 with the ``failed`` credentials: reload them unless another thread did
        meanwhile. True when what would be sent now differs from what failed."""
        with self._lock:
            if self._identity()[0] == failed:
                before = self._identity()
                self._reload()
                return self._identity() != before
            return True

    def credentials(self, stale: str | None = None) -> Credentials:
        """The current credentials for kopf; renewed first when due, or when they are still
        ``stale`` (what kopf had when it asked to log in again, after a 401 or an expiry)."""
        with self._lock:
            due = self._renew_at is not None and self._clock() >= self._renew_at
            if due or (stale is not None and self._identity()[0] == stale):
                self._reload()
            cfg = self.configuration
            proxy = cfg.proxy
            if proxy and rest.should_bypass_proxies(cfg.host, cfg.no_proxy or ""):
                proxy = None
            return Credentials(
                server=cfg.host,
                ca_file=cfg.ssl_ca_cert,
                insecure=not cfg.verify_ssl,
                authorization=self._identity()[0],
                cert_file=cfg.cert_file,
                key_file=cfg.key_file,
                proxy=proxy,
                namespace=self.namespace,
                expires=self._expires,
            )

    # --- requests --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer; raise ApiError on >= 400 (status
        0: no answer). A 401 is tried once more with renewed credentials; a failure worth
        another attempt is retried as the module docstring says (``idempotent`` None: judged
        from the method and content type; a POST is not, unless its caller says so)."""
        url = self.configuration.host + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        repeatable = _idempotent(method, content_type) if idempotent is None else idempotent
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            authorization = self.authorization()
            headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
            if body is not None:
                headers["Content-Type"] = content_type
            if authorization:
                headers["Authorization"] = authorization
            try:
                response = self.api_client.call_api(
                    method,
                    url,
                    header_params=headers,
                    body=body,
                    _request_timeout=(self.timeouts.connect, self.timeouts.read),
                )
                data = response.read()  # type: ignore[no-untyped-call]
            except (urllib3.exceptions.HTTPError, ApiException, OSError) as err:
                reason, sent = failure_reason(err)
                self._failed(method, reason)
                if attempt < self.retry.attempts and (repeatable or not sent):
                    self._sleep(self.retry.delay(attempt, self._rng))
                    continue
                raise ApiError(0, reason, str(err), method, path) from err
            if response.status == 401 and not renewed and self.renew(authorization):
                renewed = True
                continue
            retry_as = RETRY_STATUSES.get(response.status)
            if retry_as is not None:
                self._failed(method, retry_as)
                if attempt < self.retry.attempts and (repeatable or response.status == 429):
                    wait = _seconds(response.getheader("Retry-After"))  # type: ignore[no-untyped-call]
                    self._sleep(self.retry.delay(attempt, self._rng, wait))
                    continue
            return decode(response.status, data or b"", method, path)

    def _failed(self, method: str, reason: str) -> None:
        log.debug("%s request failed: %s", method, reason)
        if self.on_failure is not None:
            self.on_failure(method, reason)

    def close(self) -> None:
        """Close the pooled connections."""
        self.api_client.close()  # type: ignore[no-untyped-call]


# --- where the configuration comes from (as kubectl looks for it) ------------------------------


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    timeout: float | Timeouts = Timeouts(),
    pool_size: int = 8,
    clock: Clock = _utcnow,
    **more: Any,
) -> Connection:
    """A connection from ``kubeconfig``, else $KUBECONFIG (its files merged), else
    ~/.kube/config, else the Pod's in-cluster identity; raise KubeconfigError saying why not."""
    options: dict[str, Any] = {"timeout": timeout, "pool_size": pool_size, "clock": clock, **more}
    if kubeconfig:
        if not Path(kubeconfig).expanduser().is_file():
            raise KubeconfigError(
                f"--kubeconfig {kubeconfig}: no such file; fix the path (or leave the flag out to "
                "use $KUBECONFIG or ~/.kube/config)"
            )
        return from_kubeconfig(kubeconfig, context, **options)
    listed = os.environ.get("KUBECONFIG", "")
    if listed.strip(os.pathsep):
        if not any(Path(p).expanduser().is_file() for p in listed.split(os.pathsep) if p):
            raise KubeconfigError(
                f"KUBECONFIG={listed}: none of its files exists; fix KUBECONFIG or pass "
                "--kubeconfig"
            )
        return from_kubeconfig(listed, context, **options)
    default = Path.home() / ".kube" / "config"
    if default.is_file():
        return from_kubeconfig(str(default), context, **options)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster(**options)
    raise KubeconfigError(
        "no kubeconfig found (no --kubeconfig, KUBECONFIG is not set, ~/.kube/config does not "
        "exist) and not running in a Pod: pass --kubeconfig or set KUBECONFIG"
    )


def from_kubeconfig(paths: str, context: str | None = None, **options: Any) -> Connection:
    """A connection from kubeconfig file(s) (``paths`` joined by os.pathsep are merged, as
    kubectl merges $KUBECONFIG). Refreshed OIDC tokens are written back, as kubectl does."""
    source = f"kubeconfig {paths}"
    try:
        merger = KubeConfigMerger(paths)  # type: ignore[no-untyped-call]
        if merger.config is None:
            raise ConfigException("no configuration found")
        loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
            config_dict=merger.config,
            active_context=context,
            config_persister=merger.save_changes,
        )
        current = loader.current_context
        user = _user_entry(merger.config, current)
    except (ConfigException, yaml.YAMLError, OSError, TypeError, KeyError) as err:
        hint = "pass an existing context with --context" if context else "fix the file"
        raise KubeconfigError(f"{source}: {_plain(err)}; {hint}") from None
    exec_section = user.get("exec") if isinstance(user, Mapping) else None
    plugin = None
    if isinstance(exec_section, Mapping):
        plugin = str(exec_section.get("command") or "(no command)")
        source = f"{source} (user {current['context'].get('user')!r}: users[].user.exec)"
    namespace = current["context"].get("namespace")
    return Connection(
        loader,
        source,
        namespace=str(namespace) if namespace else None,
        exec_plugin=plugin,
        **options,
    )


def in_cluster(token_dir: Path = IN_CLUSTER_DIR, **options: Any) -> Connection:
    """The Pod's own identity: KUBERNETES_SERVICE_HOST/PORT, the projected token (re-read every
    minute, so the kubelet's rotation is seen) and the CA in ``token_dir``."""
    namespace_file = token_dir / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else None
    loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
        token_filename=str(token_dir / "token"),
        cert_filename=str(token_dir / "ca.crt"),
        try_refresh_token=False,
    )
    source = f"in-cluster ServiceAccount ({token_dir})"
    try:
        loader.load_and_set(Configuration())  # type: ignore[no-untyped-call]
    except ConfigException as err:
        raise KubeconfigError(
            f"{source}: {err}; run in a Pod that mounts a ServiceAccount token, or pass "
            "--kubeconfig"
        ) from None
    return Connection(loader, source, namespace=namespace, **options)


def _user_entry(config: Any, current: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``user`` mapping the current context names ({} for none), from the merged config."""
    name = current["context"].get("user")
    users = config.safe_get("users")
    if not name or users is None:
        return {}
    for entry in users:
        value = getattr(entry, "value", entry)
        if isinstance(value, Mapping) and value.get("name") == name:
            found = value.get("user")
            return found if isinstance(found, Mapping) else {}
    return {}


_idempotent = idempotent


def _seconds(header: object) -> float | None:
    """A Retry-After header's seconds (the API server sends whole seconds), else None."""
    try:
        return float(str(header)) if header is not None else None
    except ValueError:
        return None


def _plain(err: BaseException) -> str:
    """The package's message without its 'Invalid kube-config file.' preamble."""
    text = str(err).replace("Invalid kube-config file. ", "").replace("Invalid kube-config. ", "")
    return text or type(err).__name__
