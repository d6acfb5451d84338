"""Browser tests keep each phase's report on the test item, so a failing test's page can be
photographed before its browser context closes. The live server and Chromium are shared by
the tests of a module (module scope): each costs seconds to start."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest
from browser_support import CHROMIUM_ARGS, BrowserServer, chromium_or_skip, screenshot
from playwright.sync_api import Browser, Page, sync_playwright

STEP_MS = 30_000  # Playwright's timeout for one page step (the CI machine may be busy)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, Any]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def server() -> Iterator[BrowserServer]:
    with BrowserServer() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_or_skip()
    # Playwright's sync API keeps its event loop registered on this thread (it switches with
    # greenlets), so Django's guard takes every ORM call here for one made inside a coroutine.
    # The calls really are synchronous; the setting is what pytest-playwright documents.
    with (
        pytest.MonkeyPatch.context() as patch,
        sync_playwright() as playwright,
    ):
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    # Wider than 1280 px: the theme folds its sidebar away at 1280 and below.
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(STEP_MS)
    opened = context.new_page()
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        screenshot(opened, f"FAILED-{request.node.name}")
    context.close()
