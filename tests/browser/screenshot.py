"""Render the consent screen to a PNG (the README's picture):

    .venv/bin/python -m tests.browser.screenshot docs/consent.png

A server on a temporary SQLite file, a user, an app that recorded its title through the API,
and Chromium signed in on that app's request.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

from modelgates import pkce
from modelgates.server.services import apps, users
from modelgates.server.settings import Settings
from modelgates.server.store import Store
from modelgates.server.store.migrate import upgrade
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import free_port, run, start_server, utcnow


def main(target: str) -> None:
    database_url = f"sqlite:///{tempfile.mkdtemp()}/screenshot.db"
    upgrade(database_url)
    email, password = "ada@example.com", "correct horse battery"
    run(lambda store: users.create_user(store, email, password, utcnow()), database_url)
    app = apps.identify(
        callback_url="https://notes.acme.example/oauth/callback",
        http_referer=None,
        title="Acme Notes",
        categories=None,
    )

    async def record_app() -> None:
        store = Store.open(database_url)
        await store.run(
            lambda tx: tx.apps.upsert(app.origin, app.title, app.default_title, None, utcnow())
        )
        await store.close()

    asyncio.run(record_app())
    port = free_port()
    server, thread = start_server(Settings(database_url=database_url, port=port))
    query = urlencode(
        {
            "callback_url": "https://notes.acme.example/oauth/callback",
            "code_challenge": pkce.s256_challenge(pkce.create_verifier()),
            "code_challenge_method": "S256",
            "limit": "10",
            "key_label": "Acme Notes on MacBook",
            "usage_limit_type": "monthly",
            "state": "x",
        }
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(
            viewport={"width": 640, "height": 760}, device_scale_factor=2, color_scheme="light"
        )
        page.goto(f"http://127.0.0.1:{port}/auth?{query}")
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("button", name="Approve", exact=True).wait_for()
        page.screenshot(path=target, full_page=True)
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    print(f"wrote {Path(target).resolve()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/consent.png")
