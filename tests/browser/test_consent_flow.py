"""The whole "Sign in with ModelGates" path in a real browser, JavaScript off: an app's page, the
consent page, the app's callback, the SDK's exchange; Deny; an invalid request; the account page;
headless mode; a phone-sized screen."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from modelgates import ModelGates, pkce
from tests.browser.callback_app import CallbackApp
from tests.browser.conftest import PHONE, Site
from tests.conftest import Account, free_port, new_account

PASSWORD = "correct horse battery"
EXAMPLE = Path(__file__).parents[2] / "examples" / "signin_app.py"


@pytest.fixture(scope="module")
def user(site: Site) -> Account:
    # In a thread of its own: Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(new_account, site.database_url).result()


def sdk(site: Site) -> ModelGates:
    return ModelGates(server_url=site.api_url)


def key_record(site: Site, key: str) -> httpx.Response:
    return httpx.get(f"{site.api_url}/key", headers={"Authorization": f"Bearer {key}"})


def sign_in(page: Page, user: Account) -> None:
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def start_from_the_app(page: Page, site: Site, app: CallbackApp, **terms: object) -> str:
    """Open the app's page, whose link goes to the consent page; the PKCE verifier."""
    pair = sdk(site).o_auth.create_sha256_code_challenge()
    app.authorization_url = sdk(site).o_auth.create_authorization_url(
        callback_url=app.callback_url,
        code_challenge=pair.code_challenge,
        code_challenge_method="S256",
        state="state-42",
        **terms,  # type: ignore[arg-type]
    )
    page.goto(app.origin)
    page.get_by_role("link", name="Sign in with ModelGates").click()
    return pair.code_verifier


def test_sign_in_lower_the_limit_approve_and_the_sdk_gets_a_key_with_that_limit(
    page: Page, site: Site, test_app: CallbackApp, user: Account
) -> None:
    verifier = start_from_the_app(page, site, test_app, limit=10, key_label="Browser test")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, user)

    expect(page.get_by_role("heading")).to_contain_text(f"localhost:{test_app.port}")
    expect(page.get_by_text(test_app.callback_url)).to_be_visible()  # where it will go
    limit = page.get_by_label("Limit", exact=True)
    expect(limit).to_have_value("10")
    limit.fill("2.5")
    page.get_by_role("button", name="Approve", exact=True).click()

    page.wait_for_url(f"{test_app.callback_url}?*")
    expect(page.get_by_role("heading")).to_have_text("Callback received")
    (received,) = test_app.received
    assert received["state"] == ["state-42"]
    (code,) = received["code"]
    with sdk(site) as client:
        exchanged = client.o_auth.exchange_auth_code_for_api_key(
            code=code, code_verifier=verifier, code_challenge_method="S256"
        )
    assert exchanged.user_id == user.user_id
    record = key_record(site, exchanged.key).json()["data"]
    assert record["limit"] == 2.5
    assert record["label"] == "Browser test"


def test_deny_sends_access_denied_to_the_callback(
    page: Page, site: Site, test_app: CallbackApp, user: Account
) -> None:
    start_from_the_app(page, site, test_app)
    sign_in(page, user)
    page.get_by_role("button", name="Deny", exact=True).click()
    page.wait_for_url(f"{test_app.callback_url}?*")
    assert test_app.received == [{"error": ["access_denied"], "state": ["state-42"]}]


def test_an_invalid_callback_shows_the_error_page_and_goes_nowhere(
    page: Page, site: Site, test_app: CallbackApp
) -> None:
    challenge = pkce.s256_challenge(pkce.create_verifier())
    url = (
        f"{site.base_url}/auth?callback_url=http://evil.example/cb&code_challenge={challenge}"
        "&code_challenge_method=S256"
    )
    response = page.goto(url)
    assert response is not None and response.status == 400
    expect(page.get_by_role("heading", name="This sign-in link is not valid")).to_be_visible()
    expect(page.get_by_text("must use https")).to_be_visible()
    assert page.url == url
    assert page.get_by_role("button", name="Approve").count() == 0
    assert test_app.received == []


def key_through_the_app(page: Page, site: Site, app: CallbackApp, user: Account, label: str) -> str:
    verifier = start_from_the_app(page, site, app, key_label=label)
    sign_in(page, user)
    page.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_url(f"{app.callback_url}?*")
    (code,) = app.received[-1]["code"]
    with sdk(site) as client:
        key = client.o_auth.exchange_auth_code_for_api_key(
            code=code, code_verifier=verifier, code_challenge_method="S256"
        ).key
    assert key_record(site, key).status_code == 200
    return key


def test_the_account_page_revokes_a_key_after_asking_and_it_then_gets_401(
    page: Page, site: Site, test_app: CallbackApp, user: Account
) -> None:
    key = key_through_the_app(page, site, test_app, user, "Revoke me")
    page.goto(f"{site.base_url}/account")
    row = page.get_by_role("row").filter(has_text="Revoke me")
    expect(row).to_contain_text(f"localhost:{test_app.port}")
    row.get_by_role("link", name="Revoke").click()

    expect(page.get_by_role("heading", name="Revoke the key “Revoke me”?")).to_be_visible()
    expect(page.locator("dl")).to_contain_text(f"http://localhost:{test_app.port}")
    assert key_record(site, key).status_code == 200  # asking changed nothing
    page.get_by_role("button", name="Revoke", exact=True).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Revoke me")).to_have_count(0)
    assert key_record(site, key).status_code == 401


def test_cancel_keeps_an_apps_access_and_revoke_ends_it(
    page: Page, site: Site, test_app: CallbackApp, user: Account
) -> None:
    key = key_through_the_app(page, site, test_app, user, "Cancel me")
    app_name = f"localhost:{test_app.port}"
    for choice in ("Cancel", "Revoke"):
        page.goto(f"{site.base_url}/account")
        page.get_by_role("link", name=f"Revoke {app_name}", exact=True).click()
        expect(page.get_by_role("heading")).to_have_text(f"Revoke access for {app_name}?")
        expect(page.get_by_role("listitem").filter(has_text="Cancel me")).to_be_visible()
        if choice == "Cancel":
            page.get_by_role("link", name="Cancel", exact=True).click()
            expect(page.get_by_role("heading", name="Your account")).to_be_visible()
            expect(page.get_by_role("row").filter(has_text="Cancel me")).to_have_count(1)
            assert key_record(site, key).status_code == 200
        else:
            page.get_by_role("button", name="Revoke", exact=True).click()
            expect(page.get_by_role("heading", name="Your account")).to_be_visible()
            expect(page.get_by_role("link", name=f"Revoke {app_name}")).to_have_count(0)
            assert key_record(site, key).status_code == 401


def test_headless_mode_shows_the_code_to_paste(page: Page, site: Site, user: Account) -> None:
    verifier = pkce.create_verifier()
    challenge = pkce.s256_challenge(verifier)
    page.goto(f"{site.base_url}/auth?code_challenge={challenge}&code_challenge_method=S256")
    sign_in(page, user)
    expect(page.get_by_role("heading")).to_contain_text("A program wants an API key")
    page.get_by_role("button", name="Approve", exact=True).click()
    code = page.get_by_label("Authorization code").input_value()
    with sdk(site) as client:
        key = client.o_auth.exchange_auth_code_for_api_key(
            code=code, code_verifier=verifier, code_challenge_method="S256"
        ).key
    assert key_record(site, key).status_code == 200


def test_the_consent_screen_fits_a_phone(
    chromium: Browser, site: Site, test_app: CallbackApp, user: Account
) -> None:
    # JavaScript on here only so that the test can measure the page.
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        start_from_the_app(page, site, test_app, limit=5)
        sign_in(page, user)
        approve = page.get_by_role("button", name="Approve", exact=True)
        expect(approve).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = approve.bounding_box()
        assert box is not None and box["height"] >= 40  # a comfortable target for a thumb
        font = page.evaluate("getComputedStyle(document.body).fontSize")
        assert re.fullmatch(r"1[6-9]px", font)
    finally:
        context.close()


# --- the README's example app -------------------------------------------------------------------


@pytest.fixture
def example_app(site: Site) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--modelgates", site.base_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "Example app on" in process.stdout.readline()
        yield f"http://localhost:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_example_app_signs_in_and_shows_its_key(
    page: Page, example_app: str, user: Account
) -> None:
    page.goto(example_app)
    expect(page.get_by_role("heading")).to_have_text("Not connected")
    page.get_by_role("link", name="Sign in with ModelGates").click()
    sign_in(page, user)
    expect(page.get_by_label("Limit", exact=True)).to_have_value("5")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("heading")).to_have_text("Connected")
    expect(page.get_by_text("Limit: $5")).to_be_visible()
    assert page.url == f"{example_app}/"
