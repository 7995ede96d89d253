"""Every answer's own headers, each exactly once, over a real server: a page, an API answer, one
of an endpoint pages on other origins may call (CORS), and its preflight.

Each header has tests of its own elsewhere; these check that an answer carries the whole set and
no header twice (one layer adds them all, replacing what a handler set: ``outer.OuterLayer``).
"""

from __future__ import annotations

import re

import httpx
import pytest

from modelgates.server.web.headers import CSP
from tests.conftest import LiveServer

PAGE = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
}
ID = re.compile(r"[0-9a-f]{16}")


def ours(response: httpx.Response) -> dict[str, list[str]]:
    """The answer's headers by name, each with every value it was sent with."""
    found: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        found.setdefault(name, []).append(value)
    return found


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])  # /readyz sets no-store itself
def test_a_page_carries_each_page_header_once(live_server: LiveServer, path: str) -> None:
    headers = ours(httpx.get(f"{live_server.base_url}{path}"))
    assert {name: headers[name] for name in PAGE} == {k: [v] for k, v in PAGE.items()}
    assert headers["content-security-policy"] == [CSP]
    assert len(headers["x-request-id"]) == 1 and ID.fullmatch(headers["x-request-id"][0])
    assert "access-control-allow-origin" not in headers


def test_a_page_that_sets_its_own_policy_sends_it_once(live_server: LiveServer) -> None:
    # Rendered pages set their policy (the consent page widens form-action: its own tests).
    headers = ours(httpx.get(f"{live_server.base_url}/sign-in"))
    assert headers["content-security-policy"] == [CSP]
    assert {name: headers[name] for name in PAGE} == {k: [v] for k, v in PAGE.items()}


def test_an_api_answer_carries_no_store_once_and_no_page_headers(live_server: LiveServer) -> None:
    headers = ours(httpx.get(f"{live_server.api_url}/keys"))  # no key: 401
    assert headers["cache-control"] == ["no-store"]
    assert headers["www-authenticate"] == ["Bearer"]
    assert len(headers["x-request-id"]) == 1
    assert not {"referrer-policy", "content-security-policy", "access-control-allow-origin"} & set(
        headers
    )


def test_a_cors_endpoint_answers_with_cors_and_its_preflight(live_server: LiveServer) -> None:
    answer = ours(httpx.post(f"{live_server.api_url}/auth/keys", json={}))
    assert answer["access-control-allow-origin"] == ["*"]
    assert answer["cache-control"] == ["no-store"]
    preflight = httpx.options(
        f"{live_server.api_url}/auth/keys", headers={"Origin": "https://spa.example"}
    )
    assert preflight.status_code == 204 and preflight.content == b""
    headers = ours(preflight)
    assert headers["access-control-allow-origin"] == ["*"]
    assert headers["access-control-allow-methods"] == ["POST, OPTIONS"]
    assert headers["access-control-max-age"] == ["600"]
    assert headers["cache-control"] == ["no-store"]
    assert headers["content-length"] == ["0"]
    assert len(headers["x-request-id"]) == 1
