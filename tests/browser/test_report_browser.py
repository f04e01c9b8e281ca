"""The report and the web view in a real headless chromium: they load cleanly, draw the known
search's points, sort, show the GP's prediction on hover, work offline and follow a running
search. Each test leaves screenshots under test-output/screenshots/."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from browser.conftest import Browser
from browser.known_search import (
    FAILED,
    FAILED_INDEXES,
    RUNNING,
    SILENT_FAILED_INDEX,
    SUCCEEDED,
    TOTAL,
    known_search,
)
from hypersearch.core.trials import Trial, TrialPhase
from hypersearch.report.model import SearchView
from hypersearch.report.payload import best_trial
from hypersearch.report.render import render
from hypersearch.report.serve import make_server

WITH_PREDICTION = sum(1 for t in known_search().trials if t.prediction is not None)
WITH_CURVE = TOTAL - 1  # the silent failed trial reported nothing


def the_best_trial() -> Trial:
    best = best_trial(known_search())
    assert best is not None, "the known search has succeeded trials, so it has a best one"
    return best


BEST = the_best_trial()


def count(browser: Browser, selector: str) -> int:
    return int(browser.page.locator(selector).count())


def column(browser: Browser, index: int) -> list[str]:
    cells = browser.page.locator(f"table.trials tbody tr td:nth-child({index})")
    return [str(text) for text in cells.all_inner_texts()]


def header_index(browser: Browser, key: str) -> int:
    keys = browser.page.locator("table.trials thead th").evaluate_all(
        "ths => ths.map(th => th.dataset.key)"
    )
    return int(keys.index(key)) + 1


@pytest.fixture
def report(browser: Browser, write_page: Callable[[str, str], str]) -> Browser:
    browser.page.goto(write_page("report", render(known_search())))
    browser.page.wait_for_selector("table.trials tbody tr")
    return browser


def test_the_report_loads_without_console_errors(report: Browser) -> None:
    report.screenshot("report-full")
    assert report.problems == []


def test_the_best_so_far_chart_draws_each_finished_trial_and_each_prediction(
    report: Browser,
) -> None:
    chart = '[data-chart="progress"]'
    assert count(report, f"{chart} circle.pt") == SUCCEEDED
    assert count(report, f"{chart} path.pt.failed") == FAILED
    assert count(report, f"{chart} line.pred") == WITH_PREDICTION
    assert count(report, f"{chart} path.best-line") == 1
    best = report.page.locator(f"{chart} .pt.best")
    assert best.get_attribute("data-trial") == BEST.name
    assert report.problems == []


def test_the_curve_chart_draws_one_line_per_reporting_trial_in_distinct_styles(
    report: Browser,
) -> None:
    chart = '[data-chart="curves"]'
    assert count(report, f"{chart} path.curve") == WITH_CURVE
    assert count(report, f"{chart} path.curve.failed") == FAILED - 1
    assert count(report, f"{chart} path.curve.running") == RUNNING
    assert report.page.locator(f"{chart} path.curve.best").get_attribute("data-trial") == (
        BEST.name
    )
    silent = f"digits-svm-{SILENT_FAILED_INDEX:04d}"
    assert count(report, f'{chart} path.curve[data-trial="{silent}"]') == 0


@pytest.mark.parametrize(
    ("param", "axis_title", "ticks"),
    [
        ("C", "C (log scale)", ["0.001", "0.01", "0.1", "1", "10", "100", "1000"]),
        ("gamma", "gamma (log scale)", None),
        ("kernel", "kernel (categories)", ["rbf", "poly", "sigmoid"]),
        ("layers", "layers (blocks)", None),
        ("rate", "rate (1/step), log scale", None),
    ],
)
def test_each_parameter_facet_draws_every_finished_trial_on_the_right_axis(
    report: Browser, param: str, axis_title: str, ticks: list[str] | None
) -> None:
    chart = f'[data-chart="facet-{param}"]'
    assert count(report, f"{chart} circle.pt") == SUCCEEDED
    assert count(report, f"{chart} path.pt.failed") == FAILED
    assert count(report, f"{chart} circle.pt.best") == 1
    titles = report.page.locator(f"{chart} text.axis-title").all_text_contents()
    assert titles == [axis_title, "val_acc (fraction), higher is better"]
    if ticks is not None:
        x_ticks = report.page.locator(f"{chart} g.tick").first.locator("text").all_text_contents()
        assert x_ticks == ticks
    report.screenshot(f"facet-{param}", selector=chart)


def test_parallel_coordinates_draw_one_line_per_finished_trial(report: Browser) -> None:
    chart = '[data-chart="parallel"]'
    assert count(report, f"{chart} path.pc-line") == SUCCEEDED + FAILED
    assert count(report, f"{chart} path.pc-line.failed") == FAILED
    titles = report.page.locator(f"{chart} text.axis-title").all_text_contents()
    assert titles == [
        "C (log scale)",
        "gamma (log scale)",
        "kernel (categories)",
        "layers (blocks)",
        "rate (1/step), log scale",
        "val_acc (fraction)",
    ]


def test_every_axis_naming_the_metric_shows_its_unit(report: Browser) -> None:
    for chart in ("progress", "curves"):
        titles = report.page.locator(f'[data-chart="{chart}"] text.axis-title').all_text_contents()
        assert titles[-1] == "val_acc (fraction), higher is better"
    best = report.page.locator('[data-role="best"]').inner_text()
    assert best.startswith("Best val_acc (fraction)\n")


def test_table_column_titles_show_the_declared_units(report: Browser) -> None:
    titles = report.page.locator("table.trials thead th").all_inner_texts()
    assert titles[3:9] == [
        "C",
        "gamma",
        "kernel",
        "layers (blocks)",
        "rate (1/step)",
        "val_acc (fraction)",
    ]


def test_the_table_lists_every_trial_and_highlights_the_best_and_the_failed(
    report: Browser,
) -> None:
    assert count(report, "table.trials tbody tr") == TOTAL
    assert report.page.locator("table.trials tr.best").get_attribute("data-trial") == BEST.name
    failed = report.page.locator("table.trials tr.failed").evaluate_all(
        "rows => rows.map(r => r.dataset.trial)"
    )
    assert failed == [f"digits-svm-{i:04d}" for i in FAILED_INDEXES]


def test_the_table_sorts_by_any_column_and_reverses_on_a_second_click(report: Browser) -> None:
    page = report.page
    value_col = header_index(report, "value")
    page.click('th[data-key="value"] button')
    assert page.get_attribute('th[data-key="value"]', "aria-sort") == "descending"
    values = column(report, value_col)
    finished = [float(v) for v in values if v != "–"]
    assert finished == sorted(finished, reverse=True)
    assert values[:SUCCEEDED] == [str(v) for v in finished]
    assert values[SUCCEEDED:] == ["–"] * (TOTAL - SUCCEEDED)  # no value sorts last both ways
    report.screenshot("table-sorted-by-value")

    page.click('th[data-key="value"] button')
    assert page.get_attribute('th[data-key="value"]', "aria-sort") == "ascending"
    ascending = [float(v) for v in column(report, value_col) if v != "–"]
    assert ascending == sorted(finished)

    page.click('th[data-key="param:C"] button')
    c_values = [float(v) for v in column(report, header_index(report, "param:C"))]
    assert c_values == sorted(c_values)
    assert page.get_attribute('th[data-key="value"]', "aria-sort") == "none"

    page.click('th[data-key="param:kernel"] button')
    kernels = column(report, header_index(report, "param:kernel"))
    assert kernels == sorted(kernels)
    assert report.problems == []


def test_hovering_a_trial_shows_its_parameters_and_the_gp_prediction(report: Browser) -> None:
    assert BEST.prediction is not None
    report.page.hover(f'[data-chart="progress"] circle.pt[data-trial="{BEST.name}"]')
    tip = report.page.locator("#tip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert text.startswith(f"{BEST.name} ★ best Succeeded\nval_acc: 0.9459\nC: 6.078\n")
    assert "GP predicted: 1.034 ± 0.0133 (UCB 1.061)" in text
    assert "kernel: rbf" in text
    linked = report.page.locator(f'tr.hover[data-trial="{BEST.name}"]')
    assert linked.count() == 1
    report.screenshot("hover-tooltip", full_page=False)
    assert report.problems == []


def test_choosing_another_metric_redraws_the_curves(report: Browser) -> None:
    report.page.select_option('select[data-role="metric"]', "loss")
    chart = '[data-chart="curves"]'
    assert count(report, f"{chart} path.curve") == WITH_CURVE
    titles = report.page.locator(f"{chart} text.axis-title").all_text_contents()
    assert titles == ["step (epoch or iteration, as the trial reported it)", "loss"]
    assert report.problems == []


def test_the_report_file_makes_no_network_request(
    browser: Browser, write_page: Callable[[str, str], str]
) -> None:
    url = write_page("offline", render(known_search()))
    browser.page.goto(url)
    browser.page.wait_for_selector("table.trials tbody tr")
    browser.page.hover('[data-chart="progress"] circle.pt')
    assert browser.requests == [url]
    assert browser.problems == []


def test_an_empty_search_draws_empty_charts_without_errors(
    browser: Browser, write_page: Callable[[str, str], str]
) -> None:
    empty = dataclasses.replace(known_search(), trials=(), phase="Pending")
    browser.page.goto(write_page("empty", render(empty)))
    browser.page.wait_for_selector('[data-chart="progress"]')
    assert browser.page.locator('[data-chart="progress"] text.empty').text_content() == (
        "No finished trials yet"
    )
    assert count(browser, "table.trials tbody tr") == 0
    browser.screenshot("report-empty")
    assert browser.problems == []


class Searches:
    """The web view's source: a search that grows while the test watches."""

    def __init__(self, view: SearchView) -> None:
        self.view = view
        self.lock = threading.Lock()

    def __call__(self) -> list[SearchView]:
        with self.lock:
            return [self.view]

    def update(self, view: SearchView) -> None:
        with self.lock:
            self.view = view


@pytest.fixture
def web_view() -> Iterator[tuple[str, Searches]]:
    searches = Searches(known_search("live-search"))
    server = make_server(searches, "127.0.0.1", 0, refresh_seconds=0.3)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", searches
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_web_view_lists_searches_and_links_to_each(
    browser: Browser, web_view: tuple[str, Searches]
) -> None:
    base, _ = web_view
    browser.page.goto(base)
    row = browser.page.locator('table.searches tr[data-search="live-search"]')
    row.wait_for()
    assert "0.9459 (live-search-0004)" in row.inner_text()
    browser.screenshot("web-view-list")
    row.locator("a").click()
    browser.page.wait_for_selector("table.trials tbody tr")
    assert browser.page.url == f"{base}search/live-search"
    assert count(browser, '[data-chart="progress"] circle.pt') == SUCCEEDED
    assert browser.problems == []


def test_the_web_view_redraws_while_a_search_runs_and_stops_when_it_finishes(
    browser: Browser, web_view: tuple[str, Searches]
) -> None:
    base, searches = web_view
    browser.page.goto(f"{base}search/live-search")
    browser.page.wait_for_selector("table.trials tbody tr")
    # "live" until the first poll, "live · checked HH:MM:SS" after it: a slow page may be past it.
    expect(browser.page.locator("#live")).to_have_text(re.compile(r"^live( · checked .+)?$"))

    running = searches.view.trials[-1]
    done = dataclasses.replace(running, phase=TrialPhase.SUCCEEDED, value=0.99)
    extra = Trial("live-search-0014", 14, dict(running.params), TrialPhase.RUNNING)
    searches.update(
        dataclasses.replace(searches.view, trials=(*searches.view.trials[:-1], done, extra))
    )
    # Waits go through selectors: the page's Content-Security-Policy forbids eval, which
    # Playwright's string predicates would need.
    expect(browser.page.locator("table.trials tbody tr")).to_have_count(TOTAL + 1)
    assert count(browser, '[data-chart="progress"] circle.pt') == SUCCEEDED + 1
    best = browser.page.locator('[data-chart="progress"] .pt.best')
    assert best.get_attribute("data-trial") == done.name

    searches.update(dataclasses.replace(searches.view, phase="Succeeded"))
    expect(browser.page.locator('[data-role="phase"]')).to_have_text("Succeeded")
    expect(browser.page.locator("#live")).to_have_text("finished")
    browser.screenshot("web-view-search-finished")
    assert browser.problems == []
