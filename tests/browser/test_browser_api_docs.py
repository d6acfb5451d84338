"""The API docs render in a browser that may reach nothing but our server (offline, no CDN).

Swagger UI and ReDoc come from drf-spectacular-sidecar's static files; every request to another
origin is aborted and recorded, and the page must still list the API's operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import CHROMIUM_ARGS, BrowserServer, chromium_or_skip
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

pytestmark = pytest.mark.django_db(transaction=True)

STEP_MS = 30_000


@pytest.fixture(scope="module")
def server() -> Iterator[BrowserServer]:
    with BrowserServer() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_or_skip()
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def offline_page(browser: Browser, server: BrowserServer) -> Iterator[tuple[Page, list[str]]]:
    """A page whose requests to anything but our server are aborted (and listed)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_MS)
    blocked: list[str] = []

    def only_ours(route: Route, request: Any) -> None:
        if request.url.startswith(server.url) or request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    context.route("**/*", only_ours)
    yield context.new_page(), blocked
    context.close()


def test_swagger_ui_lists_the_operations_offline(
    offline_page: tuple[Page, list[str]], server: BrowserServer
) -> None:
    page, blocked = offline_page

    page.goto(f"{server.url}/api/v1/voice/docs/")

    expect(page.locator(".opblock").first).to_be_visible()
    campaigns = page.locator(".opblock-summary-path", has_text="/api/v1/voice/campaigns")
    expect(campaigns.first).to_be_visible()
    assert page.locator(".opblock").count() > 20
    assert blocked == []


def test_redoc_lists_the_operations_offline(
    offline_page: tuple[Page, list[str]], server: BrowserServer
) -> None:
    page, blocked = offline_page

    page.goto(f"{server.url}/api/v1/voice/redoc/")

    expect(page.get_by_text("Anvil Voice API").first).to_be_visible()
    expect(page.locator("[data-section-id^='tag/']").first).to_be_attached()
    assert blocked == []
