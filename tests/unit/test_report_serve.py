"""The web view answers read-only requests for the searches its source returns."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from http.client import HTTPConnection

import pytest

from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.report.model import ParamView, SearchView
from hypersearch.report.payload import search_payload, summary
from hypersearch.report.serve import make_server

Source = Callable[[], Sequence[SearchView]]


def search(name: str, namespace: str | None = None) -> SearchView:
    trials = (Trial(f"{name}-0000", 0, {"n": 1}, TrialPhase.SUCCEEDED, 0.5),)
    return SearchView(
        name,
        "acc",
        "maximize",
        (ParamView("n", "int", "linear", 1, 4),),
        trials,
        namespace=namespace,
    )


SEARCHES = [search("local"), search("cifar", "team-a")]


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str) -> tuple[int, dict[str, str], str]:
        conn = HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, dict(response.getheaders()), body
        finally:
            conn.close()


Serve = Callable[[Source], "Client"]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers = []

    def start(source: Source) -> Client:
        server = make_server(source, "127.0.0.1", 0, refresh_seconds=2)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return Client(server.server_address[1])

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def script_data(page: str, element: str) -> object:
    start = page.index(f'id="{element}">') + len(f'id="{element}">')
    return json.loads(page[start : page.index("</script>", start)])


def test_the_search_list_api_returns_one_summary_per_search_sorted_by_key(serve: Serve) -> None:
    status, headers, body = serve(lambda: SEARCHES).request("GET", "/api/searches")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == [summary(SEARCHES[0]), summary(SEARCHES[1])]


@pytest.mark.parametrize(
    ("path", "view"),
    [("/api/searches/local", SEARCHES[0]), ("/api/searches/team-a/cifar", SEARCHES[1])],
    ids=["local name", "namespace/name"],
)
def test_one_search_api_returns_its_payload(serve: Serve, path: str, view: SearchView) -> None:
    status, _, body = serve(lambda: SEARCHES).request("GET", path)
    assert status == 200
    assert json.loads(body) == search_payload(view)


@pytest.mark.parametrize(
    ("path", "live"),
    [
        ("/search/local", "../api/searches/local"),
        ("/search/team-a/cifar", "../../api/searches/team-a/cifar"),
    ],
    ids=["local name", "namespace/name"],
)
def test_a_search_page_polls_its_api_by_a_relative_url(serve: Serve, path: str, live: str) -> None:
    status, headers, body = serve(lambda: SEARCHES).request("GET", path)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert script_data(body, "hs-config") == {"mode": "search", "live": live, "refreshSeconds": 2}


def test_the_index_page_links_searches_and_polls_the_list(serve: Serve) -> None:
    status, _, body = serve(lambda: SEARCHES).request("GET", "/")
    assert status == 200
    assert script_data(body, "hs-config") == {
        "mode": "index",
        "live": "api/searches",
        "searchBase": "search/",
        "refreshSeconds": 2,
    }


def test_an_unknown_search_is_a_404_that_lists_the_known_ones(serve: Serve) -> None:
    client = serve(lambda: SEARCHES)
    status, _, body = client.request("GET", "/api/searches/nope")
    assert (status, json.loads(body)) == (
        404,
        {"error": "no search 'nope' (known: local, team-a/cifar)"},
    )
    status, _, body = client.request("GET", "/search/nope")
    assert (status, body) == (404, "no search 'nope' (known: local, team-a/cifar)\n")


def test_an_unknown_path_is_a_404_that_points_to_the_list(serve: Serve) -> None:
    status, _, body = serve(lambda: SEARCHES).request("GET", "/admin")
    assert (status, body) == (404, "no page at /admin; the list of searches is at /\n")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_view_is_read_only(serve: Serve, method: str) -> None:
    status, headers, body = serve(lambda: SEARCHES).request(method, "/api/searches/local")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
    assert body == "this view is read-only: only GET and HEAD are answered\n"


def test_a_failing_source_is_a_503_that_says_why(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[SearchView]:
        raise OSError("journal locked")

    status, _, body = serve(broken).request("GET", "/api/searches")
    assert (status, json.loads(body)) == (
        503,
        {"error": "could not read searches: OSError: journal locked"},
    )
    assert "reading searches for /api/searches failed" in caplog.text


def test_pages_forbid_loading_anything_from_elsewhere(serve: Serve) -> None:
    _, headers, _ = serve(lambda: SEARCHES).request("GET", "/")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_the_source_is_read_on_every_request_so_the_view_follows_a_running_search(
    serve: Serve,
) -> None:
    searches: list[SearchView] = []
    client = serve(lambda: list(searches))
    assert json.loads(client.request("GET", "/api/searches")[2]) == []
    searches.append(SEARCHES[0])
    assert [s["key"] for s in json.loads(client.request("GET", "/api/searches")[2])] == ["local"]


def test_healthz_answers_ok_without_reading_searches(serve: Serve) -> None:
    def broken() -> list[SearchView]:
        raise AssertionError("must not be called")

    assert serve(broken).request("GET", "/healthz")[:3:2] == (200, "ok\n")
