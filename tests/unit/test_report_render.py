"""The HTML report is one self-contained page whose embedded data round-trips exactly."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.report.model import ParamView, SearchView
from hypersearch.report.payload import search_payload, summary
from hypersearch.report.render import render, render_index, script_json


class _Page(HTMLParser):
    """Collects what a self-containment check needs: external references and script blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.scripts: dict[str, str] = {}
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("src", "href"):
            if values.get(key):
                self.references.append(f"{tag} {key}={values[key]}")
        if tag == "link":
            self.references.append(f"link {values}")
        if tag == "script":
            self._in = values.get("id") or "code"
        if tag == "title":
            self._in = "title"

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in:
            self.scripts[self._in] = self.scripts.get(self._in, "") + data


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def search(message: str | None = None, name: str = "mnist") -> SearchView:
    trials = (
        Trial("mnist-0000", 0, {"lr": 0.01}, TrialPhase.SUCCEEDED, 0.9),
        Trial("mnist-0001", 1, {"lr": 0.1}, TrialPhase.FAILED, reason="Error", message=message),
    )
    return SearchView(
        name=name,
        metric="acc",
        goal="maximize",
        params=(ParamView("lr", "float", "log", 1e-3, 1.0),),
        trials=trials,
        phase="Succeeded",
        source="journal .hyper/mnist",
    )


def test_report_references_nothing_outside_the_file() -> None:
    page = parse(render(search()))
    assert page.references == []
    assert "code" in page.scripts
    urls = set(re.findall(r"https?://[^\s\"']+", page.scripts["code"]))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched


def test_report_embeds_exactly_the_search_payload() -> None:
    view = search()
    page = parse(render(view))
    assert json.loads(page.scripts["hs-data"]) == search_payload(view)
    assert json.loads(page.scripts["hs-config"]) == {
        "mode": "search",
        "live": None,
        "refreshSeconds": 3.0,
    }
    assert page.title == "mnist · hypersearch"


def test_a_message_holding_a_closing_script_tag_cannot_end_the_data_block() -> None:
    hostile = "</script><script>alert(1)</script> & <b>"
    view = search(message=hostile)
    page = render(view)
    assert "</script><script>alert(1)" not in page
    data = json.loads(parse(page).scripts["hs-data"])
    assert data["trials"][1]["message"] == hostile


def test_a_search_name_is_escaped_in_the_title() -> None:
    page = render(search(name="<x>"))
    assert "<title>&lt;x&gt; · hypersearch</title>" in page


def test_script_json_escapes_markup_characters_and_line_separators() -> None:
    assert script_json({"a": "<&>\u2028"}) == '{"a":"\\u003c\\u0026\\u003e\\u2028"}'


def test_a_live_report_polls_the_given_url() -> None:
    config = parse(render(search(), live_url="../api/searches/mnist", refresh_seconds=5))
    assert json.loads(config.scripts["hs-config"]) == {
        "mode": "search",
        "live": "../api/searches/mnist",
        "refreshSeconds": 5,
    }


def test_the_index_lists_summaries_sorted_by_key() -> None:
    views = [search(name="b"), search(name="a")]
    page = parse(render_index(views, live_url="api/searches"))
    assert json.loads(page.scripts["hs-data"]) == [summary(views[1]), summary(views[0])]
    assert json.loads(page.scripts["hs-config"])["mode"] == "index"
