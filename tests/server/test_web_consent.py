"""``GET /auth`` and its forms over HTTP against a real server, on SQLite and PostgreSQL: the
consent rules, CSRF, sessions, sign-in limits and the headers every page carries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from modelgates import pkce
from modelgates.server.services import apps, secrets
from tests.conftest import Account, LiveServer, new_account, run, table_counts, utcnow
from tests.server.pages import (
    CALLBACK,
    PageClient,
    assert_loads_the_copy_script_only,
    auth_query,
    callback_params,
    csrf_of,
    fast_password_hashing,
)
from tests.server.test_sign_in_limits import start_of_a_quarter_hour_with_room


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture
def browser(live_server: LiveServer) -> Iterator[PageClient]:
    """A browser of its own, signed out."""
    client = PageClient(live_server.base_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def user(live_server: LiveServer) -> Account:
    return new_account(live_server.database_url)


@pytest.fixture(scope="module")
def signed_in(live_server: LiveServer, user: Account) -> Iterator[PageClient]:
    """A browser signed in as ``user``, shared by the tests that do not sign out (argon2 makes
    each sign-in cost a fraction of a second)."""
    client = PageClient(live_server.base_url).signed_in(user.email)
    yield client
    client.close()


def exchange(server: LiveServer, code: str, verifier: str) -> httpx.Response:
    return server.client.post(
        "/auth/keys",
        json={"code": code, "code_verifier": verifier, "code_challenge_method": "S256"},
    )


def key_record(server: LiveServer, key: str) -> httpx.Response:
    return server.client.get("/key", headers={"Authorization": f"Bearer {key}"})


def codes_made(server: LiveServer) -> int:
    return table_counts(server.database_url)["auth_codes"]


# --- the page and its headers -----------------------------------------------------------------


def test_signed_out_visitors_get_the_sign_in_form_naming_the_app(browser: PageClient) -> None:
    page = browser.get(f"/auth?{auth_query()}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<label for="email">Email</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert ">Sign in</button>" in page.text
    assert "https://app.example" in page.text
    assert "Approve" not in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("mg_browser=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()


PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    ("path", "as_user"),
    [
        ("/auth?QUERY", True),  # the consent screen
        ("/auth?QUERY", False),  # the sign-in form
        ("/auth?callback_url=http://evil.example/cb", True),  # the error page
        ("/account", True),
        ("/sign-in", False),
        ("/account/keys", True),  # a GET where only POST acts
        ("/account/keys/HASH/revoke", True),  # Revoke's confirmation
    ],
)
def test_every_page_sends_the_security_headers_and_nothing_third_party(
    live_server: LiveServer,
    request: pytest.FixtureRequest,
    user: Account,
    path: str,
    as_user: bool,
) -> None:
    client = request.getfixturevalue("signed_in" if as_user else "browser")
    page = client.get(path.replace("QUERY", auth_query()).replace("HASH", user.key_hash))
    assert page.status_code in (200, 400, 405), page.text
    assert page.headers["content-type"].startswith("text/html"), page.text
    for name, value in PAGE_HEADERS.items():
        assert page.headers[name] == value
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    # The only other origin a page may name is the callback's, as a form target (the redirect
    # after Approve or Deny), never as a source of content.
    content_policy = re.sub(r"form-action [^;]*", "", csp)
    assert "http" not in content_policy
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)
    assert "<script" not in page.text


def test_the_consent_csp_lets_the_form_go_to_the_callback_origin_only(
    signed_in: PageClient,
) -> None:
    page = signed_in.consent(auth_query())
    assert "form-action 'self' https://app.example;" in page.headers["content-security-policy"]


def test_the_stylesheet_is_served_from_the_site(browser: PageClient) -> None:
    css = browser.get("/static/modelgates.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "@media (max-width" in css.text  # readable on a phone


# --- invalid requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"callback_url": "http://evil.example/cb"}, "callback_url"),
        ({"callback_url": "https://app.example/cb#frag"}, "callback_url"),
        ({"callback_url": "http://localhost@evil.example/cb"}, "callback_url"),
        ({"callback_url": "javascript:alert(1)"}, "callback_url"),
        (
            {"callback_url": None, "code_challenge": None, "code_challenge_method": None},
            "callback_url",
        ),
        ({"code_challenge": "too-short"}, "code_challenge"),
        ({"code_challenge_method": "S512"}, "code_challenge_method"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "5 dollars"}, "limit"),
        ({"limit": "1.0000001"}, "limit"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"usage_limit_type": "hourly"}, "usage_limit_type"),
        ({"key_label": "x" * 101}, "key_label"),
        ({"state": "\u00e9t\u00e9"}, "state"),
        ({"code_chalenge": "typo"}, "code_chalenge"),
    ],
)
def test_an_invalid_request_renders_the_error_page_and_never_redirects(
    live_server: LiveServer,
    signed_in: PageClient,
    query: dict[str, str | None],
    field: str,
) -> None:
    before = codes_made(live_server)
    page = signed_in.get(f"/auth?{auth_query(**query)}")
    assert page.status_code == 400, page.text
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert "This sign-in link is not valid" in page.text
    assert f"<code>{field}</code>" in page.text
    assert "Approve" not in page.text
    assert codes_made(live_server) == before


def test_a_repeated_parameter_is_refused(browser: PageClient) -> None:
    page = browser.get(f"/auth?{auth_query()}&callback_url={quote('https://other.example/cb')}")
    assert page.status_code == 400
    assert "is given more than once" in page.text


# --- approving and denying --------------------------------------------------------------------


def test_approve_redirects_to_the_callback_and_the_key_carries_the_lowered_limit(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    verifier = pkce.create_verifier()
    query = auth_query(
        verifier,
        limit="10",
        key_label="Laptop",
        usage_limit_type="weekly",
        expires_at="2099-01-01T00:00:00Z",
    )
    page = signed_in.consent(query)
    assert "Laptop" in page.text and "Weekly" in page.text and "1 Jan 2099" in page.text
    assert "$10" in page.text
    # What the limit buys, said before the user approves it.
    assert "The key pays for the AI models this server offers" in page.text
    assert "can never cost more than the limit" in page.text

    response = signed_in.decide(query, "approve", limit="2.5")
    params = callback_params(response)
    assert params["from"] == ["modelgates"]  # the callback's own query is kept
    assert params["state"] == ["st-123"]
    (code,) = params["code"]

    exchanged = exchange(live_server, code, verifier)
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["user_id"] == user.user_id
    record = key_record(live_server, exchanged.json()["key"]).json()["data"]
    assert record["limit"] == 2.5
    assert record["label"] == "Laptop"
    assert record["limit_reset"] == "weekly"
    assert record["expires_at"] == "2099-01-01T00:00:00Z"
    assert record["app_id"] is not None


def claim_title(server: LiveServer, key: str, title: str, callback: str, **headers: str) -> None:
    """A key's create-code call that names the app ``title`` (as any app, or attacker, can)."""
    claimed = server.client.post(
        "/auth/keys/code",
        json={"callback_url": callback},
        headers={"Authorization": f"Bearer {key}", "X-ModelGates-Title": title, **headers},
    )
    assert claimed.status_code == 200, claimed.text


def test_a_title_claimed_through_a_key_is_shown_to_that_keys_owner_only(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    claim_title(live_server, user.key, "Titled App", "https://titled.example/cb")
    mine = signed_in.consent(auth_query(callback_url="https://titled.example/other"))
    assert '<span class="app">Titled App</span>' in mine.text
    assert "the name your own key gave it" in mine.text
    assert "https://titled.example" in mine.text
    stranger = PageClient(live_server.base_url).signed_in(
        new_account(live_server.database_url).email
    )
    theirs = stranger.consent(auth_query(callback_url="https://titled.example/other"))
    assert "Titled App" not in theirs.text
    assert '<span class="app">titled.example</span>' in theirs.text
    stranger.close()


def test_the_operators_name_is_shown_to_everyone_as_the_operators(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    claim_title(live_server, user.key, "My Name For It", "https://operated.example/cb")
    run(
        lambda store: apps.name_app(store, "https://operated.example", "Operated", utcnow()),
        live_server.database_url,
    )
    query = auth_query(callback_url="https://operated.example/cb")
    page = signed_in.consent(query)
    assert '<span class="app">Operated</span>' in page.text
    assert "named by this server\u2019s operator" in page.text
    assert "My Name For It" not in page.text
    signed_out = PageClient(live_server.base_url)
    assert "<strong>Operated</strong>" in signed_out.get(f"/auth?{query}").text
    signed_out.close()


def test_no_one_can_rename_another_users_app(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    # The victim approved an app once; its key is listed under the app on their account page.
    query = auth_query(callback_url="https://victim-app.example/cb")
    assert signed_in.decide(query, "approve").status_code == 303
    attacker = new_account(live_server.database_url)
    # By the callback's origin, and by a referer naming the app with a callback elsewhere.
    claim_title(live_server, attacker.key, "Evil", "https://victim-app.example/cb")
    claim_title(
        live_server,
        attacker.key,
        "Evil Too",
        "https://attacker.example/cb",
        **{"HTTP-Referer": "https://victim-app.example/"},
    )
    page = signed_in.consent(query)
    assert '<span class="app">victim-app.example</span>' in page.text
    for shown in (page.text, signed_in.get("/account").text):
        assert "Evil" not in shown
    sign_in_form = PageClient(live_server.base_url)
    assert "Evil" not in sign_in_form.get(f"/auth?{query}").text
    sign_in_form.close()


def test_a_loopback_app_is_called_by_host_and_port(signed_in: PageClient) -> None:
    page = signed_in.consent(auth_query(callback_url="http://localhost:43123/callback"))
    assert '<span class="app">localhost:43123</span>' in page.text
    assert "runs on your computer" in page.text
    assert "http://localhost:43123/callback" in page.text  # the warning shows where it goes


def test_the_limit_cannot_be_raised_or_removed(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    query = auth_query(limit="5")
    before = codes_made(live_server)
    for typed in ("6", "", "abc", "-1"):
        page = signed_in.decide(query, "approve", limit=typed)
        assert page.status_code == 400, page.text
        assert 'role="alert" id="limit-error"' in page.text
        assert "Approve" in page.text  # the consent screen again, to correct it
    assert codes_made(live_server) == before


def test_a_limit_can_be_set_when_the_app_asked_for_none(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    verifier = pkce.create_verifier()
    query = auth_query(verifier)
    (code,) = callback_params(signed_in.decide(query, "approve", limit="$3"))["code"]
    key = exchange(live_server, code, verifier).json()["key"]
    assert key_record(live_server, key).json()["data"]["limit"] == 3


def test_approving_without_a_limit_leaves_the_key_unlimited(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    verifier = pkce.create_verifier()
    query = auth_query(verifier)
    (code,) = callback_params(signed_in.decide(query, "approve", limit=""))["code"]
    key = exchange(live_server, code, verifier).json()["key"]
    assert key_record(live_server, key).json()["data"]["limit"] is None


def test_deny_redirects_with_access_denied_and_state_and_creates_nothing(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    before = codes_made(live_server)
    params = callback_params(signed_in.decide(auth_query(), "deny"))
    assert params == {"from": ["modelgates"], "error": ["access_denied"], "state": ["st-123"]}
    assert codes_made(live_server) == before


def test_a_request_can_be_approved_once(signed_in: PageClient) -> None:
    query = auth_query()
    callback_params(signed_in.decide(query, "approve"))
    again = signed_in.decide(query, "approve")
    assert again.status_code == 409
    assert "location" not in again.headers
    assert "approved already" in again.text


def test_headless_approval_shows_the_code_to_paste(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    verifier = pkce.create_verifier()
    query = auth_query(verifier, callback_url=None, limit="1")
    page = signed_in.consent(query)
    assert "Headless sign-in" in page.text
    assert "form-action 'self';" in page.headers["content-security-policy"]
    shown = signed_in.decide(query, "approve")
    assert shown.status_code == 200, shown.text
    assert "location" not in shown.headers
    code = re.search(r'id="code"[^>]*>([^<]+)</textarea>', shown.text)
    assert code is not None, shown.text
    key = exchange(live_server, code.group(1), verifier).json()["key"]
    assert key_record(live_server, key).json()["data"]["limit"] == 1


def test_the_code_page_loads_the_copy_script(signed_in: PageClient) -> None:
    shown = signed_in.decide(auth_query(callback_url=None), "approve")
    assert shown.status_code == 200, shown.text
    assert_loads_the_copy_script_only(shown)
    assert 'data-copy="Copy code"' in shown.text


def test_the_copy_script_is_served_from_the_site(browser: PageClient) -> None:
    script = browser.get("/static/copy.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "navigator.clipboard" in script.text


def test_headless_deny_shows_a_page(live_server: LiveServer, signed_in: PageClient) -> None:
    page = signed_in.decide(auth_query(callback_url=None), "deny")
    assert page.status_code == 200
    assert "Request denied" in page.text


# --- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["missing", "empty", "wrong", "another session's", "pre-session"])
def test_a_form_without_this_sessions_csrf_token_is_refused_and_creates_nothing(
    live_server: LiveServer, signed_in: PageClient, user: Account, token: str
) -> None:
    query = auth_query()
    page = signed_in.consent(query)
    form = {"decision": "approve", "limit": ""}
    if token == "empty":
        form["csrf"] = ""
    elif token == "wrong":
        form["csrf"] = "0" * 64
    elif token == "another session's":
        other = PageClient(live_server.base_url)
        form["csrf"] = csrf_of(other.signed_in(user.email).consent(query))
        other.close()
        assert form["csrf"] != csrf_of(page)
    elif token == "pre-session":
        signed_out = PageClient(live_server.base_url)
        form["csrf"] = csrf_of(signed_out.get("/sign-in"))
        signed_out.close()
    before = table_counts(live_server.database_url)
    refused = signed_in.post(f"/auth?{query}", form)
    assert refused.status_code == 403, refused.text
    assert "location" not in refused.headers
    assert "This form cannot be accepted" in refused.text
    assert table_counts(live_server.database_url) == before
    # The same form with the right token goes through.
    accepted = signed_in.post(f"/auth?{query}", {**form, "csrf": csrf_of(page)})
    assert accepted.status_code == 303


def test_approving_by_get_is_refused(live_server: LiveServer, signed_in: PageClient) -> None:
    query = auth_query()
    csrf = csrf_of(signed_in.consent(query))
    before = codes_made(live_server)
    page = signed_in.get(f"/auth?{query}&decision=approve&csrf={csrf}&limit=")
    assert page.status_code == 400
    assert "location" not in page.headers
    assert codes_made(live_server) == before


def test_a_form_from_a_signed_out_browser_asks_to_sign_in_and_approves_nothing(
    live_server: LiveServer, browser: PageClient
) -> None:
    before = codes_made(live_server)
    page = browser.post(f"/auth?{auth_query()}", {"decision": "approve", "csrf": "x"})
    assert page.status_code == 200
    assert ">Sign in</button>" in page.text and "nothing was approved" in page.text
    assert codes_made(live_server) == before


def test_forms_are_post_only_and_urlencoded(signed_in: PageClient) -> None:
    for path in ("/sign-out", "/account/keys"):
        refused = signed_in.get(path)
        assert refused.status_code == 405
        assert refused.headers["allow"] == "POST"
    as_json = signed_in.http.post(f"/auth?{auth_query()}", json={"decision": "approve"})
    assert as_json.status_code == 415


# --- signing in and out -------------------------------------------------------------------------


def test_signing_in_sets_an_http_only_lax_session_cookie_and_goes_back_to_the_request(
    live_server: LiveServer, browser: PageClient, user: Account
) -> None:
    query = auth_query()
    response = browser.sign_in(user.email, next_url=f"/auth?{query}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/auth?{query}"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("mg_session=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    assert "Secure" not in cookie  # served over http here
    # Only the token's hash is stored.
    token = cookie.split(";")[0].split("=", 1)[1]

    async def stored(store: object) -> list[str]:
        from sqlalchemy import text

        def read(tx: Any) -> list[str]:
            return [
                row[0] for row in tx.connection.execute(text("SELECT token_hash FROM sessions"))
            ]

        return await store.run(read)  # type: ignore[attr-defined,no-any-return]

    hashes = run(stored, live_server.database_url)
    assert secrets.sha256_hex(token) in hashes
    assert token not in hashes


def test_over_https_the_session_cookie_is_secure_and_host_only(
    live_server: LiveServer, user: Account
) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as it would from a local TLS proxy.
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=live_server.base_url, headers=https) as client:
        form = client.get("/sign-in")
        assert "__Host-mg_browser=" in form.headers["set-cookie"]
        assert "Secure" in form.headers["set-cookie"]
        # httpx keeps Secure cookies for https, so hand this one over as a browser would.
        browser_cookie = form.headers["set-cookie"].split(";")[0]
        response = client.post(
            "/sign-in",
            data={"csrf": csrf_of(form), "email": user.email, "password": "correct horse battery"},
            headers={"Cookie": browser_cookie},
        )
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-mg_session=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie


def test_a_wrong_password_is_refused_with_one_message(browser: PageClient, user: Account) -> None:
    for email, password in ((user.email, "wrong password"), ("nobody@example.com", "whatever1")):
        page = browser.sign_in(email, password)
        assert page.status_code == 400
        assert "The email or password is not right." in page.text
        assert "set-cookie" not in page.headers or "mg_session" not in page.headers["set-cookie"]


def test_sign_in_attempts_are_limited_per_account_with_a_clear_message(
    live_server: LiveServer, browser: PageClient
) -> None:
    user = new_account(live_server.database_url)  # locked out for 15 minutes by this test
    # Attempts that straddle a quarter hour would let the 11th through (the sliding window
    # weighs the last quarter's ten at less than one).
    start_of_a_quarter_hour_with_room()
    for _ in range(10):
        assert browser.sign_in(user.email, "wrong password").status_code == 400
    limited = browser.sign_in(user.email)  # even the right password, now
    assert limited.status_code == 429
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 900
    minutes = -(-retry_after // 60)
    unit = "minute" if minutes == 1 else "minutes"
    assert f"Too many sign-in attempts. Try again in {minutes} {unit}." in limited.text
    assert "mg_session" not in limited.headers.get("set-cookie", "")


def test_signing_out_ends_the_session_on_the_server(
    live_server: LiveServer, browser: PageClient, user: Account
) -> None:
    response = browser.sign_in(user.email)
    token = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    account_page = browser.get("/account")
    out = browser.post("/sign-out", {"csrf": csrf_of(account_page), "next": "/account"})
    assert out.status_code == 303
    assert 'mg_session=""' in out.headers["set-cookie"]
    # The old cookie, replayed, signs nobody in.
    with httpx.Client(base_url=live_server.base_url, cookies={"mg_session": token}) as replay:
        page = replay.get("/account")
        assert ">Sign in</button>" in page.text


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/"])
def test_sign_in_never_redirects_off_our_pages(
    browser: PageClient, user: Account, next_url: str
) -> None:
    response = browser.sign_in(user.email, next_url=next_url)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


def test_sign_up_is_off_by_default(browser: PageClient) -> None:
    assert browser.get("/sign-up").status_code == 404
    form = browser.get("/sign-in")
    assert "Create an account" not in form.text
    refused = browser.post(
        "/sign-up", {"csrf": csrf_of(form), "email": "new@example.com", "password": "long enough"}
    )
    assert refused.status_code == 404


def test_a_callback_with_its_own_query_keeps_it(signed_in: PageClient) -> None:
    assert "?" in CALLBACK
    params = callback_params(signed_in.decide(auth_query(), "approve"))
    assert list(params) == ["from", "code", "state"]
