"""Apps written for OpenRouter's PKCE flow, pointed at ModelGates by changing the host, in real
Chromium: IDE extensions called back through their editor's URI scheme (with and without PKCE),
a single-page app on another origin that exchanges the code and reads its key from the page, a
terminal tool whose consent URL is pasted together without URL-encoding, and a callback with a
query of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from modelgates import ModelGates, pkce
from tests.browser.callback_app import CallbackApp
from tests.browser.conftest import Site
from tests.conftest import Account, new_account

PASSWORD = "correct horse battery"
CLINE = "vscode://saoudrizwan.claude-dev/openrouter"
ROO_IN_CURSOR = "cursor://rooveterinaryinc.roo-cline/openrouter"


@pytest.fixture(scope="module")
def user(site: Site) -> Account:
    # In a thread of its own: Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(new_account, site.database_url).result()


class Console:
    """Everything the browser reported as an error or warning: a CSP violation, a blocked
    cross-origin fetch, a script's error."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._on_message)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))

    def _on_message(self, message: ConsoleMessage) -> None:
        # Chromium logs the 404 of /favicon.ico whenever it gets round to asking for it.
        if message.type in ("error", "warning") and "favicon" not in message.location["url"]:
            self.messages.append(f"{message.type}: {message.text}")


def sign_in(page: Page, user: Account) -> None:
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def approve_and_capture(page: Page, scheme: str) -> str:
    """Press Approve and return where the browser was sent: the request Chromium started for
    the app's URL (no app handles it here, so the navigation then aborts)."""
    with page.expect_request(lambda request: request.url.startswith(f"{scheme}:")) as sent:
        page.get_by_role("button", name="Approve", exact=True).click()
    return sent.value.url


def exchange(site: Site, body: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{site.api_url}/auth/keys", json=body)


def test_an_ide_extension_without_pkce_is_sent_its_code_through_the_editors_scheme(
    page: Page, site: Site, user: Account
) -> None:
    console = Console(page)
    # Cline's consent URL, as it writes it: the callback unencoded, no challenge.
    page.goto(f"{site.base_url}/auth?callback_url={CLINE}")
    sign_in(page, user)
    expect(page.get_by_role("heading")).to_contain_text("saoudrizwan.claude-dev")
    expect(page.locator(".origin")).to_have_text("vscode://saoudrizwan.claude-dev")
    expect(page.get_by_text("an app on this device")).to_be_visible()
    expect(page.get_by_text("This request has no PKCE challenge.")).to_be_visible()

    sent_to = approve_and_capture(page, "vscode")
    assert sent_to.startswith(f"{CLINE}?code=")
    assert console.messages == []  # in particular, no form-action violation on the redirect
    (code,) = parse_qs(urlsplit(sent_to).query)["code"]
    exchanged = exchange(site, {"code": code})  # the code alone, as Cline exchanges it
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["user_id"] == user.user_id


def test_an_ide_extension_with_s256_is_sent_its_code_and_state(
    page: Page, site: Site, user: Account
) -> None:
    console = Console(page)
    with ModelGates(server_url=site.api_url) as mg:
        pair = mg.o_auth.create_sha256_code_challenge()
        page.goto(
            mg.o_auth.create_authorization_url(
                callback_url=ROO_IN_CURSOR,
                code_challenge=pair.code_challenge,
                code_challenge_method="S256",
                state="roo-7",
            )
        )
        sign_in(page, user)
        expect(page.get_by_text("an app on this device")).to_be_visible()
        expect(page.get_by_text("no PKCE challenge")).to_have_count(0)
        sent_to = approve_and_capture(page, "cursor")
        assert console.messages == []
        params = parse_qs(urlsplit(sent_to).query)
        assert sent_to.startswith(f"{ROO_IN_CURSOR}?code=")
        assert params["state"] == ["roo-7"]
        exchanged = mg.o_auth.exchange_auth_code_for_api_key(
            code=params["code"][0], code_verifier=pair.code_verifier, code_challenge_method="S256"
        )
    assert exchanged.user_id == user.user_id


@pytest.fixture
def scripted(chromium: Browser) -> Iterator[BrowserContext]:
    """JavaScript on: a single-page app is a script."""
    context = chromium.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


SPA_CALLBACK = """
<h1>Signing you in</h1><p id="out">working</p>
<script>
(async () => {
  const out = document.getElementById("out");
  const code = new URLSearchParams(location.search).get("code");
  const api = %(api)s;
  const exchanged = await fetch(api + "/auth/keys", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({code, code_verifier: %(verifier)s, code_challenge_method: "S256"}),
  });
  const {key} = await exchanged.json();
  const auth = {headers: {Authorization: "Bearer " + key}};
  const record = (await (await fetch(api + "/key", auth)).json()).data;
  const legacy = (await (await fetch(api + "/auth/key", auth)).json()).data;
  const signedOut = await fetch(api + "/key", {method: "DELETE", ...auth});
  const after = await fetch(api + "/key", auth);
  out.textContent = [
    "label=" + record.label, "remaining=" + record.limit_remaining,
    "legacy=" + legacy.label, "deleted=" + (await signedOut.json()).deleted,
    "after=" + after.status,
  ].join(" ");
})().catch((error) => { document.getElementById("out").textContent = "failed: " + error; });
</script>
"""


def test_a_page_on_another_origin_exchanges_the_code_and_reads_its_key(
    scripted: BrowserContext, site: Site, test_app: CallbackApp, user: Account
) -> None:
    page = scripted.new_page()
    console = Console(page)
    verifier = pkce.create_verifier()
    test_app.callback_page = SPA_CALLBACK % {
        "api": json.dumps(site.api_url),
        "verifier": json.dumps(verifier),
    }
    with ModelGates(server_url=site.api_url) as mg:
        test_app.authorization_url = mg.o_auth.create_authorization_url(
            callback_url=test_app.callback_url,
            code_challenge=pkce.s256_challenge(verifier),
            code_challenge_method="S256",
            limit=5,
            key_label="Chat in a tab",
        )
    assert urlsplit(test_app.origin).netloc != urlsplit(site.base_url).netloc  # another origin
    page.goto(test_app.origin)
    page.get_by_role("link", name="Sign in with ModelGates").click()
    sign_in(page, user)
    page.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_url(f"{test_app.callback_url}?*")
    expect(page.locator("#out")).to_have_text(
        "label=Chat in a tab remaining=5 legacy=Chat in a tab deleted=true after=401"
    )
    # A failed fetch on a 401 is no CORS error; anything else on the console would be.
    assert [m for m in console.messages if "401" not in m] == []


def test_a_terminal_tool_whose_consent_url_is_not_url_encoded(
    page: Page, site: Site, test_app: CallbackApp, user: Account
) -> None:
    verifier = pkce.create_verifier()
    challenge = pkce.s256_challenge(verifier)
    # As aider-style tools paste it together: f"{host}/auth?callback_url={url}&code_challenge=…"
    loopback = test_app.callback_url.replace("localhost", "127.0.0.1")
    page.goto(
        f"{site.base_url}/auth?callback_url={loopback}"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    sign_in(page, user)
    expect(page.get_by_text("runs on your computer")).to_be_visible()
    page.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_url(f"{loopback}?*")
    (received,) = test_app.received
    exchanged = exchange(
        site,
        {"code": received["code"][0], "code_verifier": verifier, "code_challenge_method": "S256"},
    )
    assert exchanged.status_code == 200, exchanged.text


def test_a_callback_with_its_own_query_keeps_it_and_gets_the_code_added(
    page: Page, site: Site, test_app: CallbackApp, user: Account
) -> None:
    callback = f"{test_app.callback_url}?session=abc123&next=%2Fchat"
    verifier = pkce.create_verifier()
    with ModelGates(server_url=site.api_url) as mg:
        page.goto(
            mg.o_auth.create_authorization_url(
                callback_url=callback,
                code_challenge=pkce.s256_challenge(verifier),
                code_challenge_method="S256",
                state="s-1",
            )
        )
    sign_in(page, user)
    page.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_url(f"{test_app.callback_url}?session=abc123&next=%2Fchat&code=*")
    (received,) = test_app.received
    assert list(received) == ["session", "next", "code", "state"]
    assert received["next"] == ["/chat"] and received["state"] == ["s-1"]
    exchanged = exchange(
        site,
        {"code": received["code"][0], "code_verifier": verifier, "code_challenge_method": "S256"},
    )
    assert exchanged.status_code == 200, exchanged.text
