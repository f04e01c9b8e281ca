"""Render a search (or a list of searches) as one self-contained HTML page.

The page inlines its stylesheet, its script and its data, so the file ``hyper report`` writes
works offline and can be mailed or attached to a ticket. The same page, given a ``live_url``,
is what the web view serves: its script then polls that URL and redraws.

Pure apart from reading the package's own asset files: it must not write files, open sockets or
know where a search came from (that is the shells' job).
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from hypersearch import __version__
from hypersearch.report.model import SearchView
from hypersearch.report.payload import search_payload, summary

DEFAULT_REFRESH_SECONDS = 3.0
_MARKER = re.compile(r"<!--hs:(\w+)-->|/\*hs:(\w+)\*/")


@cache
def asset(name: str) -> str:
    """The text of one file in ``report/assets`` (read once per process)."""
    text = resources.files("hypersearch.report").joinpath("assets", name).read_text("utf-8")
    closing = {"report.js": "</script", "report.css": "</style"}.get(name)
    if closing and closing in text.lower():
        raise ValueError(f"report/assets/{name} must not contain {closing!r}: it is inlined")
    return text


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` appears raw, so
    a trial message holding ``</script>`` cannot end the element early."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _page(*, title: str, config: dict[str, Any], data: Any, status: str, footer: str) -> str:
    parts = {
        "version": html.escape(__version__),
        "title": html.escape(title),
        "css": asset("report.css"),
        "js": asset("report.js"),
        "config": script_json(config),
        "data": script_json(data),
        "status": html.escape(status),
        "footer": html.escape(footer),
    }
    # One pass: text put in place is never scanned again for markers.
    return _MARKER.sub(lambda m: parts[m.group(1) or m.group(2)], asset("page.html"))


def render(
    view: SearchView,
    *,
    live_url: str | None = None,
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
) -> str:
    """The report page of one search.

    Without ``live_url`` the page is a static snapshot; with it, the page polls that URL (which
    must answer ``search_payload`` JSON) every ``refresh_seconds`` until the search finishes.
    """
    source = f" from {view.source}" if view.source else ""
    status = "live" if live_url and not view.finished else view.phase.lower()
    return _page(
        title=f"{view.key} · hypersearch",
        config={"mode": "search", "live": live_url, "refreshSeconds": refresh_seconds},
        data=search_payload(view),
        status=status,
        footer=f"hypersearch {__version__} report of {view.key}{source}",
    )


def render_index(
    views: list[SearchView],
    *,
    live_url: str | None = None,
    search_base: str = "/search/",
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
) -> str:
    """The list of searches, each linking to ``search_base`` + its key; polls ``live_url``."""
    return _page(
        title="Searches · hypersearch",
        config={
            "mode": "index",
            "live": live_url,
            "searchBase": search_base,
            "refreshSeconds": refresh_seconds,
        },
        data=[summary(v) for v in sorted(views, key=lambda v: v.key)],
        status="live" if live_url else "snapshot",
        footer=f"hypersearch {__version__} web view",
    )
