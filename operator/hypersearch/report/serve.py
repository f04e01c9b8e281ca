"""The read-only web view: lists searches and shows each one's report, refreshing while it runs.

Built on the standard library's ``ThreadingHTTPServer`` so the operator and ``hyper ui`` can
mount it without another dependency. Searches come from a ``source`` callable the caller
provides (the operator reads HyperSearch objects, the CLI reads local journals); this module
must not know where they live, must not change them, and answers only GET and HEAD.

Routes (all relative links, so the view also works behind a path-prefixing proxy):

- ``/``                      the list of searches (polls ``api/searches``)
- ``/search/KEY``            one search's report (polls ``api/searches/KEY`` until it finishes)
- ``/api/searches``          JSON: one summary per search
- ``/api/searches/KEY``      JSON: the search's full payload
- ``/healthz``               ``ok``

``KEY`` is ``namespace/name`` for cluster searches and ``name`` for local ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from hypersearch.report.model import SearchView
from hypersearch.report.payload import search_payload, summary
from hypersearch.report.render import DEFAULT_REFRESH_SECONDS, render, render_index

Source = Callable[[], Sequence[SearchView]]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:"
    ),
}


class _Reply:
    """A response decided by ``route``; the handler only writes it."""

    def __init__(self, status: HTTPStatus, content_type: str, body: str) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body.encode("utf-8")


def _json(status: HTTPStatus, value: Any) -> _Reply:
    return _Reply(status, "application/json", json.dumps(value, allow_nan=False))


def _not_found(what: str) -> _Reply:
    return _Reply(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", f"{what}\n")


def _find(views: Sequence[SearchView], key: str) -> SearchView | None:
    for view in views:
        if view.key == key:
            return view
    return None


def route(path: str, source: Source, refresh_seconds: float) -> _Reply:
    """The reply for one GET of ``path``; separate from the handler so it is easy to follow."""
    parts = urlsplit(path).path
    if parts == "/healthz":
        return _Reply(HTTPStatus.OK, "text/plain; charset=utf-8", "ok\n")
    if parts not in ("/", "/api/searches") and not parts.startswith(("/search/", "/api/searches/")):
        return _not_found(f"no page at {parts}; the list of searches is at /")
    try:
        views = list(source())
    except Exception as err:  # the source is the caller's; say what failed instead of crashing
        log.exception("reading searches for %s failed", parts)
        message = f"could not read searches: {type(err).__name__}: {err}"
        if parts.startswith("/api/"):
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": message})
        return _Reply(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", message + "\n")
    if parts == "/":
        page = render_index(
            views,
            live_url="api/searches",
            search_base="search/",
            refresh_seconds=refresh_seconds,
        )
        return _Reply(HTTPStatus.OK, "text/html; charset=utf-8", page)
    if parts == "/api/searches":
        return _json(HTTPStatus.OK, [summary(v) for v in sorted(views, key=lambda v: v.key)])
    api = parts.startswith("/api/searches/")
    key = unquote(parts.removeprefix("/api/searches/" if api else "/search/")).strip("/")
    view = _find(views, key)
    if view is None:
        known = ", ".join(sorted(v.key for v in views)) or "none yet"
        message = f"no search {key!r} (known: {known})"
        return _json(HTTPStatus.NOT_FOUND, {"error": message}) if api else _not_found(message)
    if api:
        return _json(HTTPStatus.OK, search_payload(view))
    up = "../" * (1 + key.count("/"))
    page = render(view, live_url=f"{up}api/searches/{key}", refresh_seconds=refresh_seconds)
    return _Reply(HTTPStatus.OK, "text/html; charset=utf-8", page)


def make_handler(
    source: Source, refresh_seconds: float = DEFAULT_REFRESH_SECONDS
) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``source``, for callers that run their own server."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "hypersearch-view"

        def _send(self, reply: _Reply, body: bool) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            if reply.status == HTTPStatus.METHOD_NOT_ALLOWED:
                self.send_header("Allow", "GET, HEAD")
            self.end_headers()
            if body:
                self.wfile.write(reply.body)

        def do_GET(self) -> None:
            self._send(route(self.path, source, refresh_seconds), body=True)

        def do_HEAD(self) -> None:
            self._send(route(self.path, source, refresh_seconds), body=False)

        def _read_only(self) -> None:
            reply = _Reply(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "this view is read-only: only GET and HEAD are answered\n",
            )
            self._send(reply, body=True)

        def do_POST(self) -> None:
            self._read_only()

        def do_PUT(self) -> None:
            self._read_only()

        def do_PATCH(self) -> None:
            self._read_only()

        def do_DELETE(self) -> None:
            self._read_only()

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - %s", self.address_string(), format % args)

    return Handler


def make_server(
    source: Source,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
) -> ThreadingHTTPServer:
    """A bound (not yet serving) web view; call ``serve_forever()`` and later ``shutdown()``.

    ``port`` 0 picks a free port (read it from ``server.server_address``). ``source`` is called
    once per request from the server's threads, so it must be safe to call concurrently.
    """
    server = ThreadingHTTPServer((host, port), make_handler(source, refresh_seconds))
    server.daemon_threads = True
    return server
