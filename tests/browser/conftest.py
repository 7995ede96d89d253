"""The browser suite: Debian's Chromium driven by Playwright, against a real server on SQLite.

Chromium must be installed (``apt-get install -y chromium``; ``./scripts/test`` and ``.ci/run``
install it when missing). A missing browser fails these tests: it never skips them.
``MODELGATES_TEST_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from modelgates.server.settings import Settings
from tests.browser.callback_app import CallbackApp
from tests.conftest import free_port, start_server
from tests.server.pages import fast_password_hashing

# Bounds for a failing test, never waited out by a passing one: Playwright's 5 s default for
# assertions is within reach of a page load on a loaded 2-core machine.
expect.set_options(timeout=10_000)

CHROMIUM = os.environ.get("MODELGATES_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 740}


@dataclass(frozen=True)
class Site:
    base_url: str
    database_url: str

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture(scope="module")
def site(new_database: Callable[[str], str]) -> Iterator[Site]:
    """A ModelGates server of the browser suite's own (SQLite keeps it fast)."""
    url = new_database("sqlite")
    port = free_port()
    server, thread = start_server(Settings(database_url=url, host="127.0.0.1", port=port))
    yield Site(base_url=f"http://127.0.0.1:{port}", database_url=url)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `apt-get install -y chromium` "
            "(./scripts/test does it when it can), or set MODELGATES_TEST_CHROMIUM"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile with JavaScript off: every page must work without it."""
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def test_app() -> Iterator[CallbackApp]:
    app = CallbackApp()
    yield app
    app.close()
