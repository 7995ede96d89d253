"""Round two of the adversarial review, in Chromium (JavaScript off): an app's name cannot be
borrowed from another user's consent page, a stranger's guesses do not lock the owner's browser
out, and sign-up says nothing about which addresses have accounts."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from modelgates import pkce
from modelgates.server.settings import Settings
from tests.browser.conftest import Site
from tests.conftest import Account, free_port, new_account, start_server
from tests.server.pages import PASSWORD, PageClient
from tests.server.test_sign_in_limits import start_of_a_quarter_hour_with_room


def account_of(site: Site) -> Account:
    # In a thread of its own: Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(new_account, site.database_url).result()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_another_users_title_never_names_the_app_on_my_consent_page(page: Page, site: Site) -> None:
    me, attacker = account_of(site), account_of(site)
    for callback, referer in (
        ("https://borrowed.example/cb", None),
        ("https://attacker.example/cb", "https://borrowed.example/"),
    ):
        claimed = httpx.post(
            f"{site.api_url}/auth/keys/code",
            json={"callback_url": callback},
            headers={
                "Authorization": f"Bearer {attacker.key}",
                "X-ModelGates-Title": "Evil",
                **({"HTTP-Referer": referer} if referer else {}),
            },
        )
        assert claimed.status_code == 200, claimed.text
    challenge = pkce.s256_challenge(pkce.create_verifier())
    page.goto(
        f"{site.base_url}/auth?callback_url=https://borrowed.example/cb"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    expect(page.get_by_text("Evil")).to_have_count(0)  # signed out: the sign-in form
    sign_in(page, me.email)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "borrowed.example wants an API key for your account"
    )
    expect(page.get_by_text("Evil")).to_have_count(0)


def test_the_owners_browser_signs_in_while_a_stranger_is_held_back(
    chromium: Browser, site: Site
) -> None:
    owner = account_of(site)
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{site.base_url}/sign-in")
    sign_in(page, owner.email)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    start_of_a_quarter_hour_with_room()
    stranger = PageClient(site.base_url)
    for _ in range(10):
        assert stranger.sign_in(owner.email, "a guess").status_code == 400
    assert stranger.sign_in(owner.email).status_code == 429  # even with the right password
    stranger.close()

    page.goto(f"{site.base_url}/sign-in")
    sign_in(page, owner.email)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    context.close()


@pytest.fixture(scope="module")
def open_site(new_database: Callable[[str], str]) -> Iterator[str]:
    """A server that offers sign-up."""
    url = new_database("sqlite")
    port = free_port()
    server, thread = start_server(
        Settings(database_url=url, host="127.0.0.1", port=port, allow_signup=True)
    )
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sign_up_shows_the_same_page_for_a_taken_and_a_new_address(
    chromium: Browser, open_site: str
) -> None:
    taken = f"taken-{secrets.token_hex(4)}@example.com"
    seen = []
    for email in (taken, taken, f"new-{secrets.token_hex(4)}@example.com"):
        context = chromium.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{open_site}/sign-up")
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill("a long password")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        seen.append(
            (
                page.url,
                page.get_by_role("status").inner_text(),
                sorted(c["name"] for c in context.cookies()),
            )
        )
        context.close()
    assert seen[1] == seen[2]  # taken, or new: one answer
    assert "its account is ready" in seen[1][1]
