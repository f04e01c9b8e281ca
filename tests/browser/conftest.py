"""A real headless chromium for the report's browser tests, driven by Playwright.

Chromium comes from Debian (``apt-get install chromium``); Playwright's own browser download is
not used. A missing chromium or Playwright FAILS these tests rather than skipping them: CI
installs both, so their absence is a broken setup, not a reason to pass. Screenshots go to
``test-output/screenshots/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page, ViewportSize

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = os.environ.get("HYPERSEARCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder needs the browser, so each carries the ``browser`` mark."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One chromium with a fresh profile per test module.

    Not per session: Playwright's sync API keeps an event loop running while it is open, and
    every later test that calls asyncio.run() (the operator's scheduler tests) would fail.
    """
    if not Path(CHROMIUM).is_file() and shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install it with 'apt-get install chromium' "
            "(or point HYPERSEARCH_CHROMIUM at a chromium binary)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install playwright")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class Browser:
    """A page plus everything it complained about, and the network requests it made."""

    page: Page
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def screenshot(self, name: str, selector: str | None = None, full_page: bool = True) -> Path:
        """Save the whole page, or one element of it, as test-output/screenshots/NAME.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if selector is None:
            self.page.screenshot(path=str(path), full_page=full_page)
        else:
            self.page.locator(selector).screenshot(path=str(path))
        return path


@pytest.fixture
def browser(browser_context: BrowserContext) -> Iterator[Browser]:
    """A fresh page that records console errors and warnings, uncaught exceptions and requests."""
    page = browser_context.new_page()
    seen = Browser(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            seen.problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.problems.append(f"uncaught: {error}"))
    page.on("request", lambda request: seen.requests.append(request.url))
    try:
        yield seen
    finally:
        page.close()


@pytest.fixture
def write_page(tmp_path: Path) -> Callable[[str, str], str]:
    """Write HTML to a file and give its file:// URL (what a person opening the report gets)."""

    def write(name: str, html: str) -> str:
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        return path.as_uri()

    return write
