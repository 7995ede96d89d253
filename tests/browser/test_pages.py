"""Pages in Chromium beyond the sign-in path: the not-found page, and the Copy button beside a
value shown once, which JavaScript adds and whose absence leaves the value there to copy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from modelgates import pkce
from tests.browser.callback_app import CallbackApp
from tests.browser.conftest import PHONE, Site
from tests.browser.test_consent_flow import key_record, key_through_the_app, sign_in
from tests.conftest import Account, new_account

KEY = re.compile(r"sk-mg-v1-[0-9a-f]{64}")


@pytest.fixture(scope="module")
def user(site: Site) -> Account:
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps a loop in this thread
        return thread.submit(new_account, site.database_url).result()


@pytest.fixture
def scripted(chromium: Browser, site: Site) -> Iterator[BrowserContext]:
    """A profile with JavaScript on (as most people's is) that lets the site use the
    clipboard, as a person who allowed it would."""
    context = chromium.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base_url)
    context.set_default_timeout(10_000)
    yield context
    context.close()


class Console:
    """What the browser reported on the page's console that matters here: a script or style
    blocked by the CSP, a script's error. (Not every error: Chromium also logs the 404 of
    ``/favicon.ico``, whenever it gets round to asking.)"""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._on_message)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))

    def _on_message(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.messages.append(f"{message.type}: {message.text}")


def signed_in_page(context: BrowserContext, site: Site, user: Account) -> tuple[Page, Console]:
    """A new page of ``context``, its console listened to from the start, signed in."""
    page = context.new_page()
    console = Console(page)
    page.goto(f"{site.base_url}/sign-in")
    sign_in(page, user)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    return page, console


def new_management_key(page: Page, site: Site, name: str) -> None:
    page.goto(f"{site.base_url}/account")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create key", exact=True).click()
    expect(page.get_by_role("heading", name="Your new management key")).to_be_visible()


def headless_code(page: Page, site: Site) -> None:
    challenge = pkce.s256_challenge(pkce.create_verifier())
    page.goto(f"{site.base_url}/auth?code_challenge={challenge}&code_challenge_method=S256")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("heading", name="Your authorization code")).to_be_visible()


def test_an_unknown_address_shows_the_not_found_page(page: Page, site: Site) -> None:
    response = page.goto(f"{site.base_url}/acount")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Go to your account").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_the_copy_button_puts_a_new_key_on_the_clipboard(
    scripted: BrowserContext, site: Site, user: Account
) -> None:
    page, console = signed_in_page(scripted, site, user)
    new_management_key(page, site, "Copied key")
    key = page.get_by_label("Key “Copied key”").input_value()
    assert KEY.fullmatch(key)
    page.get_by_role("button", name="Copy key", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Copied to the clipboard.")
    expect(page.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert key_record(site, key).status_code == 200
    assert console.messages == []


def test_the_copy_button_puts_the_headless_code_on_the_clipboard(
    scripted: BrowserContext, site: Site, user: Account
) -> None:
    page, console = signed_in_page(scripted, site, user)
    headless_code(page, site)
    code = page.get_by_label("Authorization code").input_value()
    assert code
    page.get_by_role("button", name="Copy code", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == code
    assert console.messages == []


def test_without_javascript_there_is_no_button_and_the_values_are_shown(
    context: BrowserContext, site: Site, user: Account
) -> None:
    page, console = signed_in_page(context, site, user)
    new_management_key(page, site, "Plain key")
    key = page.get_by_label("Key “Plain key”")
    expect(key).to_be_visible()
    expect(key).to_have_value(KEY)
    expect(key).to_be_editable(editable=False)  # read-only, yet selectable to copy by hand
    expect(page.get_by_role("button", name="Copy key")).to_have_count(0)

    headless_code(page, site)
    code = page.get_by_label("Authorization code")
    expect(code).to_be_visible()
    expect(code).not_to_have_value("")
    expect(page.get_by_role("button", name="Copy code")).to_have_count(0)
    assert console.messages == []


def test_on_a_phone_a_value_shown_once_is_shown_whole_and_terms_stay_on_a_line(
    chromium: Browser, site: Site, test_app: CallbackApp, user: Account
) -> None:
    # JavaScript on here only so that the test can measure the page.
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        key_through_the_app(page, site, test_app, user, "An app's key")  # signs in too
        new_management_key(page, site, "A key with a long name to show on a phone")
        field = page.get_by_label(re.compile("^Key “A key with a long name"))
        expect(field).to_have_value(KEY)
        hidden = field.evaluate(
            "f => f.scrollWidth > f.clientWidth || f.scrollHeight > f.clientHeight"
        )
        assert hidden is False  # no part of it scrolled out of sight
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        page.goto(f"{site.base_url}/account")
        page.get_by_role("row").filter(has_text="An app's key").get_by_role(
            "link", name="Revoke"
        ).click()
        # Lines of each term's text (its box stretches to the row, whose value may wrap).
        lines = page.locator(".terms dt").evaluate_all(
            """terms => terms.map(term => {
                const range = document.createRange();
                range.selectNodeContents(term);
                return range.getClientRects().length;
            })"""
        )
        assert lines and set(lines) == {1}, lines  # "Held by" does not break in two
    finally:
        context.close()
