"""The account page's spending chart and recent completions in Chromium, after completions made
through the gateway against the scripted provider (the one stand-in: no model provider is
reachable here)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import PHONE
from tests.browser.test_consent_flow import sign_in
from tests.conftest import Account
from tests.gateway.conftest import Gateway, gateway  # noqa: F401
from tests.gateway.test_metering import ECHO_5, app_key

T = TypeVar("T")

# The gateway's server on SQLite: the browser adds nothing a second database would change.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: Where the screenshots go, to be looked at (never the repository).
SHOTS = Path(os.environ.get("MODELGATES_TEST_SCREENSHOTS", "/tmp/modelgates-shots"))  # noqa: S108


def in_thread(make: Callable[[], T]) -> T:
    # Playwright's sync API keeps an event loop in this thread; the store's helpers run one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(make).result()


def spend(gateway: Gateway) -> Account:  # noqa: F811
    """A user whose own key and two apps' keys made completions, one streamed, one failed."""
    return in_thread(lambda: _spend(gateway))


def _spend(gateway: Gateway) -> Account:  # noqa: F811
    user = gateway.key(limit=5)
    for key, calls in (
        (user.key, 1),
        (app_key(gateway, user, "Notebook"), 2),
        (app_key(gateway, user, "Mail & Calendar"), 1),
    ):
        for _ in range(calls):
            assert gateway.chat(key, model="script/echo", max_tokens=5).status_code == 200
    with gateway.stream(user.key, model="script/echo", max_tokens=5) as stream:
        assert stream.status_code == 200
        for _line in stream.iter_lines():
            pass
    assert gateway.chat(user.key, model="script/fail").status_code == 500
    return user


def open_account(page: Page, gateway: Gateway, user: Account) -> None:  # noqa: F811
    page.goto(f"{gateway.base_url}/account")
    sign_in(page, user)
    expect(page.get_by_role("heading", name="Spending in the last 30 days")).to_be_visible()


def test_the_chart_and_the_completions_are_shown_without_javascript(
    page: Page,
    gateway: Gateway,  # noqa: F811
) -> None:
    user = spend(gateway)
    open_account(page, gateway, user)

    chart = page.get_by_role("img", name=re.compile(r"^Spend per day, \d+ \w+ to \d+ \w+$"))
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_description(re.compile(r"stacked by app: \$0\.02535 in all"))
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 100
    # Today's column: one bar an app, the user's own keys one too; sized by what each spent.
    bars = page.locator("svg.chart rect")
    expect(bars).to_have_count(3)
    heights = sorted(bar.bounding_box()["height"] for bar in bars.all())  # type: ignore[index]
    assert heights[2] == pytest.approx(2 * heights[0], rel=0.05)  # Notebook's two, others' one

    by_app = page.get_by_role("table", name="By app")
    expect(by_app.get_by_role("row")).to_have_count(4)
    expect(by_app.get_by_role("row", name=re.compile("^Notebook"))).to_contain_text(
        f"${2 * ECHO_5 / 1e6:.5f}"
    )
    expect(by_app.get_by_role("row", name=re.compile("^Mail & Calendar"))).to_contain_text(
        "$0.00507"
    )
    # The user's own key: a call of max 5 tokens and a stream of as many.
    expect(by_app.get_by_role("row", name=re.compile("^Your own keys"))).to_contain_text(
        f"${2 * ECHO_5 / 1e6:.5f}"
    )
    # Each row's share of the largest, drawn in its app's colour (as the chart's legend).
    shares = [
        rect.bounding_box()["width"]  # type: ignore[index]
        for rect in by_app.locator("svg.share-bar rect").all()
    ]
    assert shares[0] == pytest.approx(shares[1]) == pytest.approx(2 * shares[2], rel=0.05)
    assert shares[2] > 20
    by_key = page.get_by_role("table", name="By key")
    expect(by_key.get_by_role("row", name=re.compile("^Notebook's key"))).to_be_visible()

    # The daily figures, for whoever cannot see the chart, behind a summary.
    page.get_by_text("Spend by day", exact=True).click()
    expect(page.locator("details.by-day tbody tr")).to_have_count(3)

    recent = page.get_by_role("table").filter(has_text="Model")
    rows = recent.locator("tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.first).to_contain_text("script/fail")
    expect(rows.first).to_contain_text("provider error")
    expect(rows.nth(1)).to_contain_text("7 + 5")
    expect(rows.nth(1)).to_contain_text("$0.00507")
    expect(rows.nth(1)).to_contain_text("Your own keys")

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SHOTS / "spending-desktop.png"), full_page=True)


def test_on_a_phone_the_page_fits_its_width(chromium: Browser, gateway: Gateway) -> None:  # noqa: F811
    user = spend(gateway)
    # JavaScript on here only so that the test can measure the page.
    context: BrowserContext = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        open_account(page, gateway, user)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        chart = page.locator("svg.chart").bounding_box()
        assert chart is not None and chart["width"] > 200 and chart["height"] > 100
        # The axis labels are text of the page, legible at a phone's width.
        size = page.locator(".y-axis span").first.evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)"
        )
        assert size >= 11
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "spending-phone.png"), full_page=True)
        spending = page.get_by_role("region", name="Spending in the last 30 days")
        spending.screenshot(path=str(SHOTS / "spending-phone-card.png"))
        recent = page.get_by_role("region", name="Recent completions")
        recent.screenshot(path=str(SHOTS / "recent-phone-card.png"))
        # Nothing of the card's tables reaches past the card.
        card = spending.bounding_box()
        assert card is not None
        for table in spending.get_by_role("table").all():
            box = table.bounding_box()
            assert box is not None and box["x"] + box["width"] <= card["x"] + card["width"]
    finally:
        context.close()


def test_without_spend_there_is_no_chart(page: Page, gateway: Gateway) -> None:  # noqa: F811
    user = in_thread(gateway.key)
    open_account(page, gateway, user)
    expect(page.get_by_text("Nothing spent in the last 30 days.")).to_be_visible()
    expect(page.get_by_text("No completions yet.")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(0)
