"""Apps built for OpenRouter's PKCE flow, over HTTP against a real server on SQLite and
PostgreSQL: IDE extensions called back through their editor's URI scheme, callbacks a browser
reads differently from Python, browser apps calling the key endpoints from a page, and web UIs
on a private network.

No request here goes to a private address: the consent page's 303 is read, never followed."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from modelgates import pkce
from modelgates.server.store import Store
from tests.conftest import NO_RATE_LIMITS, Account, LiveServer, new_account, run, serve_live
from tests.server.pages import PageClient, auth_query, csrf_of, fast_password_hashing

CLINE = "vscode://saoudrizwan.claude-dev/openrouter"
ROO_IN_CURSOR = "cursor://rooveterinaryinc.roo-cline/openrouter"
LAN_UI = "http://192.168.1.20:8000/oauth/callback"


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture(scope="module")
def user(live_server: LiveServer) -> Account:
    return new_account(live_server.database_url)


@pytest.fixture(scope="module")
def signed_in(live_server: LiveServer, user: Account) -> Iterator[PageClient]:
    client = PageClient(live_server.base_url).signed_in(user.email)
    yield client
    client.close()


@pytest.fixture(scope="module")
def lan_server(database_url: str) -> Iterator[LiveServer]:
    """A server whose operator allows private-network http callbacks."""
    yield from serve_live(database_url, allow_private_http_callbacks=True, **NO_RATE_LIMITS)


def create(server: LiveServer, account: Account, callback_url: str) -> httpx.Response:
    return server.client.post(
        "/auth/keys/code",
        json={"callback_url": callback_url},
        headers={"Authorization": f"Bearer {account.key}"},
    )


def approve(client: PageClient, query: str) -> httpx.Response:
    page = client.consent(query)
    response = client.post(f"/auth?{query}", {"csrf": csrf_of(page), "decision": "approve"})
    assert response.status_code == 303, response.text
    return response


def recorded_origin(server: LiveServer, app_id: int) -> str:
    async def origin(store: Store) -> str:
        rows = await store.run(lambda tx: tx.apps.by_ids([app_id]))
        return rows[app_id].origin

    return run(origin, server.database_url)


def key_record(server: LiveServer, key: str) -> dict[str, object]:
    response = server.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


# --- IDE extensions: the editor's own URI scheme -----------------------------------------------


def test_an_ide_extension_without_pkce_signs_in_through_its_editors_scheme(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    # Cline's request as it sends it: the callback alone, no challenge.
    query = auth_query(callback_url=CLINE, code_challenge=None, code_challenge_method=None)
    page = signed_in.consent(query)
    assert '<span class="origin">vscode://saoudrizwan.claude-dev</span>' in page.text
    assert "an app on this device" in page.text
    assert "This request has no PKCE challenge" in page.text
    assert "that registered\n    <strong>vscode:</strong> links" in page.text
    assert "form-action 'self' vscode:;" in page.headers["content-security-policy"]

    location = approve(signed_in, query).headers["location"]
    assert location.startswith(f"{CLINE}?code=")
    (code,) = parse_qs(urlsplit(location).query)["code"]
    # ... and exchanges {"code": ...} alone.
    exchanged = live_server.client.post("/auth/keys", json={"code": code})
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["user_id"] == user.user_id
    app_id = key_record(live_server, exchanged.json()["key"])["app_id"]
    assert isinstance(app_id, int)
    assert recorded_origin(live_server, app_id) == "vscode://saoudrizwan.claude-dev"


def test_an_ide_extension_with_s256_gets_no_warning_about_pkce(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    verifier = pkce.create_verifier()
    query = auth_query(verifier, callback_url=ROO_IN_CURSOR)
    page = signed_in.consent(query)
    assert "an app on this device" in page.text
    assert "no PKCE challenge" not in page.text
    location = approve(signed_in, query).headers["location"]
    params = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{ROO_IN_CURSOR}?code=")
    assert params["state"] == ["st-123"]
    exchanged = live_server.client.post(
        "/auth/keys",
        json={
            "code": params["code"][0],
            "code_verifier": verifier,
            "code_challenge_method": "S256",
        },
    )
    assert exchanged.status_code == 200, exchanged.text


def test_the_api_creates_codes_for_a_native_app(live_server: LiveServer, account: Account) -> None:
    response = create(live_server, account, "com.example.app:/oauth2redirect/example-provider")
    assert response.status_code == 200, response.text
    assert recorded_origin(live_server, response.json()["data"]["app_id"]) == "com.example.app:"


# --- URLs read as a browser reads them ---------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://[::1]evil.example/cb", "https://[v1.secret]/cb", "https://[2001:db8::zz]/cb"]
)
def test_a_callback_no_browser_can_follow_is_refused_without_echo(
    live_server: LiveServer, account: Account, signed_in: PageClient, url: str
) -> None:
    response = create(live_server, account, url)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["metadata"]["field"] == "callback_url"
    for shown in (response.text, signed_in.get(f"/auth?{auth_query(callback_url=url)}").text):
        assert "evil" not in shown and "secret" not in shown and "zz" not in shown

    page = signed_in.get(f"/auth?{auth_query(callback_url=url)}")
    assert page.status_code == 400 and "location" not in page.headers


def test_the_app_is_the_host_the_browser_visits(
    live_server: LiveServer, account: Account, signed_in: PageClient
) -> None:
    response = create(live_server, account, "https://evil%2eexample/cb")
    assert response.status_code == 200, response.text
    assert recorded_origin(live_server, response.json()["data"]["app_id"]) == (
        "https://evil.example"
    )
    page = signed_in.consent(auth_query(callback_url="https://evil%2eexample/cb"))
    assert '<span class="origin">https://evil.example</span>' in page.text
    assert "form-action 'self' https://evil.example;" in page.headers["content-security-policy"]


# --- web UIs on a private network --------------------------------------------------------------


def test_private_network_callbacks_are_refused_by_default(
    live_server: LiveServer, account: Account, signed_in: PageClient
) -> None:
    response = create(live_server, account, LAN_UI)
    assert response.status_code == 400, response.text
    assert "192.168" not in response.text
    page = signed_in.get(f"/auth?{auth_query(callback_url=LAN_UI)}")
    assert page.status_code == 400 and "192.168" not in page.text


def test_where_the_operator_allows_them_a_lan_web_ui_signs_in_with_a_warning(
    lan_server: LiveServer, user: Account
) -> None:
    assert create(lan_server, user, LAN_UI).status_code == 200
    client = PageClient(lan_server.base_url).signed_in(user.email)
    try:
        verifier = pkce.create_verifier()
        query = auth_query(verifier, callback_url=LAN_UI)
        page = client.consent(query)
        assert '<span class="app">192.168.1.20:8000</span>' in page.text
        assert "on your local network" in page.text
        assert "The code travels unencrypted on your local network" in page.text
        csp = page.headers["content-security-policy"]
        assert "form-action 'self' http://192.168.1.20:8000;" in csp
        location = approve(client, query).headers["location"]
    finally:
        client.close()
    assert location.startswith(f"{LAN_UI}?code=")
    (code,) = parse_qs(urlsplit(location).query)["code"]
    exchanged = lan_server.client.post(
        "/auth/keys",
        json={"code": code, "code_verifier": verifier, "code_challenge_method": "S256"},
    )
    assert exchanged.status_code == 200, exchanged.text


def test_a_private_address_is_never_named_by_a_recorded_title(
    lan_server: LiveServer, user: Account
) -> None:
    # Every network has its own 192.168.1.20: someone else's title says nothing about this one.
    titled = lan_server.client.post(
        "/auth/keys/code",
        json={"callback_url": "http://10.1.2.3:8080/cb"},
        headers={"Authorization": f"Bearer {user.key}", "X-ModelGates-Title": "Bank of Trust"},
    )
    assert titled.status_code == 200, titled.text
    client = PageClient(lan_server.base_url).signed_in(user.email)
    try:
        page = client.consent(auth_query(callback_url="http://10.1.2.3:8080/other"))
    finally:
        client.close()
    assert "Bank of Trust" not in page.text
    assert '<span class="app">10.1.2.3:8080</span>' in page.text


# --- CORS: what a browser app calls with its key ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "method"), [("/key", "GET"), ("/key", "DELETE"), ("/auth/key", "GET")]
)
def test_the_key_endpoints_answer_preflights_allowing_authorization(
    live_server: LiveServer, path: str, method: str
) -> None:
    response = live_server.client.options(
        path,
        headers={
            "Origin": "https://spa.example",
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert method in response.headers["access-control-allow-methods"].split(", ")
    allowed = [
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    ]
    assert "authorization" in allowed
    assert "access-control-allow-credentials" not in response.headers


def test_the_key_endpoints_answer_a_page_on_any_origin(
    live_server: LiveServer, account: Account
) -> None:
    origin = {"Origin": "https://spa.example"}
    own = live_server.client.get(
        "/key", headers={**origin, "Authorization": f"Bearer {account.key}"}
    )
    assert own.status_code == 200
    assert own.headers["access-control-allow-origin"] == "*"
    refused = live_server.client.get("/auth/key", headers={**origin, "Authorization": "Bearer x"})
    assert refused.status_code == 401  # a page can read why, too
    assert refused.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/auth/keys/code", "POST"),
        ("/keys", "GET"),
        ("/keys", "POST"),
        ("/keys/" + "0" * 64, "DELETE"),
        ("/usage", "POST"),
    ],
)
def test_code_creation_management_and_usage_stay_closed_to_pages(
    live_server: LiveServer, path: str, method: str
) -> None:
    preflight = live_server.client.options(
        path,
        headers={"Origin": "https://spa.example", "Access-Control-Request-Method": method},
    )
    assert "access-control-allow-origin" not in preflight.headers
    answer = live_server.client.request(
        method, path, headers={"Origin": "https://spa.example", "Authorization": "Bearer x"}
    )
    assert "access-control-allow-origin" not in answer.headers
