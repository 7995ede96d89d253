"""Driving the consent and account pages over HTTP, as a browser without JavaScript would."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher

from modelgates import pkce
from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services import sessions, users
from modelgates.server.store import Store

PASSWORD = "correct horse battery"  # what tests.conftest.create_account gives every user
CALLBACK = "https://app.example/cb?from=modelgates"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@contextmanager
def fast_password_hashing() -> Iterator[None]:
    """Accounts made meanwhile (and the stand-in for unknown e-mails) get cheap argon2id
    parameters, so signing in costs milliseconds instead of a good part of a second (as Django's
    docs advise for tests). Verification is the real thing; only the work factor is lower."""
    with pytest.MonkeyPatch.context() as patch:
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        patch.setattr(users, "_hasher", cheap)
        patch.setattr(sessions, "_dummy_hash", lambda: cheap.hash("an unknown account"))
        yield


#: The server secret the service-level sign-in tests sign device cookies with.
DEVICE_SECRET = b"d" * 32


async def attempt_sign_in(
    store: Store,
    limiter: RateLimiter,
    email: str,
    password: str,
    address: str,
    now: datetime,
    device: str | None = None,
    limits: sessions.LoginLimits = sessions.LOGIN_LIMITS,
) -> sessions.Session:
    """One sign-in attempt at the service, with device cookies on (under DEVICE_SECRET)."""
    return await sessions.sign_in(
        store,
        limiter,
        email=email,
        password=password,
        client_address=address,
        now=now,
        limits=limits,
        server_secret=DEVICE_SECRET,
        device_cookie=device,
    )


def auth_query(verifier: str | None = None, **fields: Any) -> str:
    """``/auth``'s query: an S256 request to CALLBACK, changed (or, with None, dropped) by
    ``fields``."""
    params: dict[str, Any] = {
        "callback_url": CALLBACK,
        "code_challenge": pkce.s256_challenge(verifier or pkce.create_verifier()),
        "code_challenge_method": "S256",
        "state": "st-123",
    }
    params.update(fields)
    return urlencode({k: v for k, v in params.items() if v is not None})


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token of the page's first form (``""`` in forms shown signed out)."""
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def callback_params(response: httpx.Response) -> dict[str, list[str]]:
    """The query of the callback a 303 sends the browser to."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("https://app.example/cb?"), location
    return parse_qs(urlsplit(location).query)


def assert_loads_the_copy_script_only(page: httpx.Response) -> None:
    """The page's one script is the site's Copy button, allowed by file, never inline."""
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe" not in csp
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/copy.js" defer>']


class PageClient:
    """A cookie-keeping client on the site's pages (never following redirects)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.http.post(path, data=data, **kwargs)

    def sign_in(
        self, email: str, password: str = PASSWORD, next_url: str = "/account"
    ) -> httpx.Response:
        form = self.get("/sign-in", params={"next": next_url})
        assert form.status_code == 200, form.text
        return self.post(
            "/sign-in",
            {"csrf": csrf_of(form), "email": email, "password": password, "next": next_url},
        )

    def signed_in(self, email: str) -> PageClient:
        response = self.sign_in(email)
        assert response.status_code == 303, response.text
        return self

    def consent(self, query: str) -> httpx.Response:
        page = self.get(f"/auth?{query}")
        assert page.status_code == 200, page.text
        assert "Approve" in page.text, page.text
        return page

    def decide(self, query: str, decision: str, **fields: str) -> httpx.Response:
        """Open the consent page and press ``decision`` (``approve`` or ``deny``)."""
        page = self.consent(query)
        form = {"csrf": csrf_of(page), "decision": decision, **fields}
        if decision == "approve" and "limit" not in fields:
            form["limit"] = _field_value(page.text, "limit")
        return self.post(f"/auth?{query}", form)


def _field_value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page, re.S)
    assert found is not None, page
    return html.unescape(found.group(1))
