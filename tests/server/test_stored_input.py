"""What the server stores, and what it says when it refuses, on SQLite and PostgreSQL alike.

PostgreSQL refuses NUL in text and a string longer than its column, where SQLite keeps both: a
500 (or a dropped connection) on one database and a 200 on the other. Every stored string is
held to the wire models' rules first (``Label``, ``Text``), so both answer 400 and store
nothing. No refusal repeats what was submitted, whichever library found the fault. Integers
taken from a path are bounded to what the database can hold. Making keys and apps is rate-limited
per user.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelgates.models.keys import CreateKeyRequest
from modelgates.server.services import keys, usage, users
from modelgates.server.services.errors import InvalidInput
from modelgates.server.settings import Settings
from tests.conftest import (
    NO_RATE_LIMITS,
    Account,
    LiveServer,
    free_port,
    new_account,
    run,
    start_server,
    table_counts,
    utcnow,
)
from tests.server.pages import PageClient, csrf_of, fast_password_hashing
from tests.server.test_api_oauth import assert_error


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture(scope="module")
def manager(live_server: LiveServer) -> Account:
    return new_account(live_server.database_url, management=True)


def _post(server: LiveServer, path: str, key: str, body: Any, **headers: str) -> httpx.Response:
    return server.client.post(
        path, json=body, headers={"Authorization": f"Bearer {key}", **headers}
    )


# --- strings the server stores ------------------------------------------------------------------

CALLBACK = "https://stored.example/cb"
#: Text PostgreSQL cannot store, or people cannot read as what it is.
UNSTORABLE = ["a\x00b", "line\nbreak", "tab\there", "bell\x07", "c1\x85", "rtl\u202eoverride"]


@pytest.mark.parametrize("label", UNSTORABLE)
def test_a_key_label_that_is_not_printable_is_400_and_stores_nothing(
    live_server: LiveServer, manager: Account, label: str
) -> None:
    # A NUL in key_label answered 500 on PostgreSQL ("text fields cannot contain NUL").
    before = table_counts(live_server.database_url)
    response = _post(
        live_server, "/auth/keys/code", manager.key, {"callback_url": CALLBACK, "key_label": label}
    )
    assert_error(response, 400, "key_label")
    assert table_counts(live_server.database_url) == before


@pytest.mark.parametrize("name", UNSTORABLE)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_key_name_that_is_not_printable_is_400_and_stores_nothing(
    live_server: LiveServer, manager: Account, name: str, method: str
) -> None:
    # A NUL in a key's name dropped the connection on PostgreSQL.
    before = table_counts(live_server.database_url)
    path = "/keys" if method == "POST" else f"/keys/{manager.key_hash}"
    response = live_server.client.request(
        method, path, json={"name": name}, headers={"Authorization": f"Bearer {manager.key}"}
    )
    assert_error(response, 400, "name")
    assert table_counts(live_server.database_url) == before


def test_a_usage_request_id_with_nul_is_400(live_server: LiveServer, manager: Account) -> None:
    token = run(
        lambda store: usage.create_service_token(store, "t", utcnow()), live_server.database_url
    )
    body = {"key_hash": manager.key_hash, "amount": 0.01, "request_id": "r\x00"}
    assert_error(_post(live_server, "/usage", token, body), 400, "request_id")


@pytest.mark.parametrize(
    "email", ["eve\x00@example.com", "eve@exa\x00mple.com", "e\u202e@example.com"]
)
def test_signing_in_with_an_unstorable_email_is_a_plain_refusal(
    live_server: LiveServer, email: str
) -> None:
    # NUL in the e-mail answered 500 on PostgreSQL: even the look-up cannot carry it.
    client = PageClient(live_server.base_url)
    try:
        refused = client.sign_in(email)
        assert refused.status_code == 400, refused.text
        assert "The email or password is not right." in refused.text
    finally:
        client.close()


def test_signing_up_with_nul_in_the_email_is_refused(live_server: LiveServer) -> None:
    with pytest.raises(InvalidInput):
        run(
            lambda store: users.create_user(
                store, "eve\x00@example.com", "correct horse battery", utcnow()
            ),
            live_server.database_url,
        )


# --- integers from paths ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_in(live_server: LiveServer) -> Iterator[PageClient]:
    client = PageClient(live_server.base_url).signed_in(new_account(live_server.database_url).email)
    yield client
    client.close()


@pytest.mark.parametrize(
    "app_id", ["9223372036854775808", "2147483648", "0", "99999999999999999999"]
)
def test_an_app_id_past_the_databases_integers_is_404(signed_in: PageClient, app_id: str) -> None:
    # 9223372036854775808 raised OverflowError in sqlite3; 2147483648 is past PostgreSQL's integer.
    path = f"/account/apps/{app_id}/revoke"
    assert signed_in.get(path).status_code == 404
    csrf = csrf_of(signed_in.get("/account"))
    refused = signed_in.post(path, {"csrf": csrf})
    assert refused.status_code == 404, refused.text
    assert "No such app" in refused.text


# --- no refusal repeats what was submitted ------------------------------------------------------

MARK = "secretvalue"

#: (method, path, JSON body, extra headers): each puts MARK where a library or a message might
#: repeat it. The callback cases reach urlsplit, whose ValueError quotes the host.
API_CASES: list[tuple[str, str, Any, dict[str, str]]] = [
    *(
        ("POST", "/auth/keys/code", {"callback_url": url}, {})
        for url in (
            f"https://[{MARK}]/cb",
            f"https://[::1{MARK}]/cb",
            f"https://a.example:{MARK}/cb",
            f"https://a.example:99999{MARK}/",
            f"http://{MARK}.example/cb",
            # A scheme of a native app is a callback (RFC 8252); one a browser runs is not.
            f"javascript://{MARK}",
            MARK,
            f"https://{MARK}@a.example/",
            f"https://a.example/{MARK}#frag",
            f"https://a.example/{MARK}\\x",
            f"https://a.example/{MARK}" + "x" * 2048,
        )
    ),
    *(
        ("POST", "/auth/keys/code", {"callback_url": CALLBACK, field: value}, {})
        for field, value in (
            ("code_challenge", MARK),
            ("code_challenge_method", MARK),
            ("limit", MARK),
            ("limit", f"1{MARK}"),
            ("expires_at", MARK),
            ("expires_at", f"2030-01-01T00:00:00{MARK}"),
            ("key_label", f"{MARK}\x00"),
            ("key_label", MARK * 20),
            ("usage_limit_type", MARK),
        )
    ),
    ("POST", "/auth/keys/code", {"callback_url": CALLBACK}, {"Idempotency-Key": f"{MARK} x"}),
    ("POST", "/auth/keys/code", f"{MARK}", {}),
    ("POST", "/auth/keys/code", [MARK], {}),
    ("POST", "/auth/keys", {"code": f"{MARK}\x00"}, {}),
    ("POST", "/auth/keys", {"code": "c", "code_verifier": MARK}, {}),
    ("POST", "/auth/keys", {"code": "c", "code_challenge_method": MARK}, {}),
    ("POST", "/keys", {"name": f"{MARK}\n"}, {}),
    ("POST", "/keys", {"name": "n", "limit": MARK}, {}),
    ("POST", "/keys", {"name": "n", "limit_reset": MARK}, {}),
    ("POST", "/keys", {"name": "n", "expires_at": MARK}, {}),
    ("POST", "/keys", {"name": "n", "limit": {MARK: 1}}, {}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), API_CASES)
def test_api_refusals_never_repeat_the_submitted_value(
    live_server: LiveServer,
    manager: Account,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
) -> None:
    response = live_server.client.request(
        method, path, json=body, headers={"Authorization": f"Bearer {manager.key}", **headers}
    )
    assert 400 <= response.status_code < 500, response.text
    assert MARK not in response.text


def test_query_and_path_refusals_never_repeat_the_submitted_value(
    live_server: LiveServer, manager: Account
) -> None:
    auth = {"Authorization": f"Bearer {manager.key}"}
    for params in ({"offset": MARK}, {"include_disabled": MARK}, {"offset": f"1{MARK}"}):
        response = live_server.client.get("/keys", params=params, headers=auth)
        assert_error(response, 400)
        assert MARK not in response.text
    for method in ("GET", "PATCH", "DELETE"):
        response = live_server.client.request(method, f"/keys/{MARK}", headers=auth, json={})
        assert 400 <= response.status_code < 500
        assert MARK not in response.text


@pytest.mark.parametrize(
    "query",
    [
        {"callback_url": f"https://[{MARK}]/cb"},
        {"callback_url": f"https://a.example:{MARK}/"},
        {"callback_url": CALLBACK, "limit": MARK},
        {"callback_url": CALLBACK, "expires_at": MARK},
        {"callback_url": CALLBACK, "key_label": f"{MARK}\x00"},
        {"callback_url": CALLBACK, "code_challenge": MARK},
        {"callback_url": CALLBACK, f"{MARK} x": "1"},
        {"callback_url": CALLBACK, "state": f"{MARK}\x00"},
    ],
)
def test_the_consent_pages_refusals_never_repeat_the_submitted_value(
    live_server: LiveServer, query: dict[str, str]
) -> None:
    response = httpx.get(f"{live_server.base_url}/auth", params=query)
    assert response.status_code == 400, response.text
    assert MARK not in response.text


# --- rate limits on making keys and apps --------------------------------------------------------


@pytest.fixture
def limited(database_url: str) -> Iterator[str]:
    port = free_port()
    rules = {
        **NO_RATE_LIMITS,
        "rate_limit_create_key": "2/hour",
        "rate_limit_create_app": "2/hour",
    }
    server, thread = start_server(
        Settings(
            database_url=database_url,
            port=port,
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
            **rules,
        )
    )
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _second_key(database_url: str, email: str, *, management: bool = False) -> str:
    request = CreateKeyRequest(name="second")
    return run(
        lambda store: keys.create_key_for_user(
            store, email=email, request=request, now=utcnow(), is_management=management
        ),
        database_url,
    ).key


def test_key_creation_is_limited_per_user(limited: str, database_url: str) -> None:
    # A management key made 100 keys in 0.3 s; each new key then had an allowance of its own.
    first, other = (new_account(database_url, management=True) for _ in range(2))
    second = _second_key(database_url, first.email, management=True)

    def make(key: str) -> int:
        return httpx.post(
            f"{limited}/api/v1/keys", json={"name": "k"}, headers={"Authorization": f"Bearer {key}"}
        ).status_code

    assert [make(first.key), make(first.key), make(second)] == [201, 201, 429]
    # The account page counts against the same allowance.
    page = PageClient(limited).signed_in(first.email)
    try:
        made = page.post("/account/keys", {"csrf": csrf_of(page.get("/account")), "name": "p"})
        assert made.status_code == 429, made.text
    finally:
        page.close()
    assert make(other.key) == 201


def test_app_creation_is_limited_per_user(limited: str, database_url: str) -> None:
    # 50 referers made 50 app rows.
    first, other = new_account(database_url), new_account(database_url)
    second = _second_key(database_url, first.email)
    origins = [f"https://{secrets.token_hex(6)}.example" for _ in range(4)]

    def make(key: str, origin: str) -> httpx.Response:
        return httpx.post(
            f"{limited}/api/v1/auth/keys/code",
            json={"callback_url": f"{origin}/cb"},
            headers={"Authorization": f"Bearer {key}"},
        )

    apps_before = table_counts(database_url)["apps"]
    assert [make(first.key, origins[0]).status_code, make(first.key, origins[1]).status_code] == [
        200,
        200,
    ]
    refused = make(second, origins[2])
    assert_error(refused, 429)
    assert table_counts(database_url)["apps"] == apps_before + 2
    # An app already known is no new row: codes for it go on.
    assert make(second, origins[0]).status_code == 200
    assert make(other.key, origins[3]).status_code == 200
