"""Render the consent screen to a PNG (the README's picture):

    .venv/bin/python -m tests.browser.screenshot docs/consent.png

A server on a temporary SQLite file, a user, an app the operator named,
and Chromium signed in on that app's request.

    .venv/bin/python -m tests.browser.screenshot --pages DIRECTORY

renders the other pages (the consent screen for an app on the device, with and without PKCE,
and for one on a private network; the account page, Revoke's confirmations, a new key and the
headless code with and without JavaScript, the not-found page) at desktop and phone width into
DIRECTORY, to look at; nothing commits them.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from playwright.sync_api import Browser, Page, Route, sync_playwright

from modelgates import pkce
from modelgates.server.services import apps, users
from modelgates.server.settings import Settings
from modelgates.server.store import Store
from modelgates.server.store.migrate import upgrade
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.conftest import free_port, run, start_server, utcnow

EMAIL, PASSWORD = "ada@example.com", "correct horse battery"
CALLBACK = "https://notes.acme.example/oauth/callback"
DESKTOP = {"width": 1280, "height": 800}


@contextmanager
def serving() -> Iterator[str]:
    """A server with a user and an app the operator named; its base URL."""
    database_url = f"sqlite:///{tempfile.mkdtemp()}/screenshot.db"
    upgrade(database_url)
    run(lambda store: users.create_user(store, EMAIL, PASSWORD, utcnow()), database_url)

    async def record_app() -> None:
        store = Store.open(database_url)
        await apps.name_app(store, CALLBACK, "Acme Notes", utcnow())
        await store.close()

    asyncio.run(record_app())
    port = free_port()
    server, thread = start_server(
        Settings(database_url=database_url, port=port, allow_private_http_callbacks=True)
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def consent_query(verifier: str, **terms: str) -> str:
    return urlencode(
        {
            "callback_url": CALLBACK,
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
            "state": "x",
            **terms,
        }
    )


#: The consent screen for the kinds of app that are not a web site (shown, never approved: the
#: private address must not be visited).
OTHER_APP_KINDS = {
    "consent-native-no-pkce": {"callback_url": "vscode://saoudrizwan.claude-dev/openrouter"},
    "consent-native": {
        "callback_url": "cursor://rooveterinaryinc.roo-cline/openrouter",
        "code_challenge": pkce.s256_challenge(pkce.create_verifier()),
        "code_challenge_method": "S256",
    },
    "consent-private-network": {
        "callback_url": "http://192.168.1.20:8000/oauth/callback",
        "code_challenge": pkce.s256_challenge(pkce.create_verifier()),
        "code_challenge_method": "S256",
        "limit": "5",
    },
}


def sign_in(page: Page) -> None:
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def main(target: str) -> None:
    query = consent_query(
        pkce.create_verifier(),
        limit="10",
        key_label="Acme Notes on MacBook",
        usage_limit_type="monthly",
    )
    with serving() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(
            viewport={"width": 640, "height": 760}, device_scale_factor=2, color_scheme="light"
        )
        page.goto(f"{base}/auth?{query}")
        sign_in(page)
        page.get_by_role("button", name="Approve", exact=True).wait_for()
        page.screenshot(path=target, full_page=True)
        browser.close()
    print(f"wrote {Path(target).resolve()}")


def _app_key(page: Page, base: str, label: str) -> None:
    """Approve Acme Notes' request for a key labelled ``label`` and exchange its code; the
    callback is answered here (the app's host does not exist)."""
    verifier = pkce.create_verifier()
    codes: list[str] = []

    def callback(route: Route) -> None:
        codes.extend(parse_qs(urlsplit(route.request.url).query)["code"])
        route.fulfill(body="ok", content_type="text/plain")

    page.route(f"{CALLBACK}*", callback)
    page.goto(f"{base}/auth?{consent_query(verifier, key_label=label, limit='5')}")
    page.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_url(f"{CALLBACK}?*")
    page.unroute(f"{CALLBACK}*")
    exchanged = httpx.post(
        f"{base}/api/v1/auth/keys",
        json={"code": codes[0], "code_verifier": verifier, "code_challenge_method": "S256"},
    )
    exchanged.raise_for_status()


def _shoot(browser: Browser, base: str, directory: Path, width: str, javascript: bool) -> None:
    viewport = PHONE if width == "phone" else DESKTOP
    context = browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if width == "phone" else 1,
        is_mobile=width == "phone",
        has_touch=width == "phone",
        color_scheme="light",
        java_script_enabled=javascript,
    )
    if javascript:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    suffix = f"{width}{'' if javascript else '-nojs'}"

    def shot(name: str) -> None:
        path = directory / f"{name}-{suffix}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"wrote {path}")

    page.goto(f"{base}/no-such-page")
    shot("not-found")
    page.goto(f"{base}/sign-in")
    sign_in(page)
    for name, query in OTHER_APP_KINDS.items():
        page.goto(f"{base}/auth?{urlencode(query)}")
        shot(name)
    _app_key(page, base, f"Acme Notes on {suffix}")
    page.goto(f"{base}/account")
    shot("account")
    page.get_by_role("row").filter(has_text=f"Acme Notes on {suffix}").get_by_role(
        "link", name="Revoke"
    ).click()
    shot("confirm-key")
    page.goto(f"{base}/account")
    page.get_by_role("link", name="Revoke Acme Notes", exact=True).click()
    shot("confirm-app")
    page.goto(f"{base}/account")
    page.get_by_label("Name", exact=True).fill(f"Deploy script ({suffix})")
    page.get_by_role("button", name="Create key", exact=True).click()
    shot("new-key")
    if javascript:
        page.get_by_role("button", name="Copy key").click()
        page.get_by_role("status").filter(has_text="Copied").wait_for()
        shot("new-key-copied")
    challenge = pkce.s256_challenge(pkce.create_verifier())
    page.goto(f"{base}/auth?code_challenge={challenge}&code_challenge_method=S256")
    page.get_by_role("button", name="Approve", exact=True).click()
    shot("code")
    context.close()


def pages(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with serving() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width in ("desktop", "phone"):
            for javascript in (True, False):
                _shoot(browser, base, directory, width, javascript)
        browser.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--pages"]:
        pages(Path(sys.argv[2] if len(sys.argv) > 2 else "screenshots"))
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "docs/consent.png")
