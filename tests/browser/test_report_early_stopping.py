"""Early-stopped trials in the report, in a real headless chromium: their curves are drawn in
their own style and cut with a bar where the rule stopped them, the header counts them, the table
marks their rows, and the legend says what the style means."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from browser.conftest import Browser
from browser.known_search import FAILED_INDEXES, RUNNING_INDEX, known_search
from hypersearch.core.trials import TrialPhase
from hypersearch.report.model import SearchView
from hypersearch.report.payload import best_trial
from hypersearch.report.render import render

STOPPED_AT = 3


def stopped_search() -> tuple[SearchView, list[str]]:
    """The known search with two succeeded trials (not the best) stopped early at step 3."""
    view = known_search()
    best = best_trial(view)
    assert best is not None
    chosen = [
        t.index
        for t in view.trials
        if t.index not in (*FAILED_INDEXES, RUNNING_INDEX) and t.name != best.name
    ][:2]
    trials = []
    for each in view.trials:
        trial = each
        if trial.index in chosen:
            kept = tuple(o for o in trial.observations if (o.step or 0) <= STOPPED_AT)
            trial = dataclasses.replace(
                trial,
                phase=TrialPhase.EARLY_STOPPED,
                reason="EarlyStopped",
                message="val_acc 0.5 at step 3 is worse than the median",
                observations=kept,
                value=kept[-2].value,
            )
        trials.append(trial)
    names = [t.name for t in trials if t.index in chosen]
    return dataclasses.replace(view, trials=tuple(trials)), names


@pytest.fixture
def page(browser: Browser, write_page: Callable[[str, str], str]) -> tuple[Browser, list[str]]:
    view, names = stopped_search()
    browser.page.goto(write_page("report-stopped", render(view)))
    browser.page.wait_for_selector("table.trials tbody tr")
    return browser, names


def test_stopped_curves_are_drawn_in_their_own_style_and_cut_with_a_bar(
    page: tuple[Browser, list[str]],
) -> None:
    browser, names = page
    browser.screenshot("report-early-stopped", '[data-chart="curves"]')
    chart = browser.page.locator('[data-chart="curves"]')
    stopped = chart.locator("path.curve.stopped")
    assert sorted(stopped.evaluate_all("ps => ps.map(p => p.dataset.trial)")) == sorted(names)
    cuts = chart.locator("line.curve-stop")
    assert sorted(cuts.evaluate_all("ls => ls.map(l => l.dataset.trial)")) == sorted(names)
    for name in names:
        assert chart.locator(f'circle.curve-end[data-trial="{name}"]').count() == 0
    assert browser.problems == []


def test_the_header_table_and_legend_show_early_stopped_trials(
    page: tuple[Browser, list[str]],
) -> None:
    browser, names = page
    chips = browser.page.locator(".chips .chip").all_inner_texts()
    assert "2 early-stopped" in chips
    rows = browser.page.locator("table.trials tbody tr.stopped")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.trial)")) == sorted(names)
    assert browser.page.locator("span.phase.EarlyStopped").count() == 2
    assert "stopped early" in browser.page.locator("body").inner_text()
