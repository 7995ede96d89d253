"""The PKCE endpoints over HTTP against a real server: the contract's rules and every error path."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from modelgates import pkce
from tests.conftest import Account, LiveServer, new_account, table_counts

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def create(
    server: LiveServer, key: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return server.client.post(
        "/auth/keys/code",
        json=body,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
    )


def exchange(
    server: LiveServer, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return server.client.post("/auth/keys", json=body, headers=headers)


def new_code(server: LiveServer, account: Account, **fields: Any) -> tuple[str, str]:
    """A fresh S256 code (unless ``fields`` say otherwise) and its verifier."""
    verifier = pkce.create_verifier()
    body = {
        "callback_url": "https://app.example/callback",
        "code_challenge": pkce.s256_challenge(verifier),
        "code_challenge_method": "S256",
        **fields,
    }
    response = create(server, account.key, {k: v for k, v in body.items() if v is not None})
    assert response.status_code == 200, response.text
    return response.json()["data"]["id"], verifier


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "metadata"}
    assert error["code"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    if field is not None:
        assert error["metadata"]["field"] == field, error
    return error


# --- the happy path ---------------------------------------------------------------------------


def test_create_then_exchange_issues_a_key_with_the_codes_terms(
    live_server: LiveServer, account: Account
) -> None:
    code, verifier = new_code(
        live_server,
        account,
        limit=12.5,
        key_label="Laptop CLI",
        expires_at="2099-01-01T00:00:00Z",
        usage_limit_type="monthly",
    )
    response = exchange(
        live_server, {"code": code, "code_verifier": verifier, "code_challenge_method": "S256"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["user_id"] == account.user_id
    assert pkce.re.fullmatch(r"sk-mg-v1-[0-9a-f]{64}", body["key"])

    record = live_server.client.get(
        "/key", headers={"Authorization": f"Bearer {body['key']}"}
    ).json()["data"]
    assert record["label"] == "Laptop CLI"
    assert record["limit"] == 12.5
    assert record["limit_remaining"] == 12.5
    assert record["limit_reset"] == "monthly"
    assert record["expires_at"] == "2099-01-01T00:00:00Z"
    assert record["creator_user_id"] == account.user_id
    assert record["is_management_key"] is False
    assert isinstance(record["app_id"], int)


def test_create_answers_id_app_id_and_utc_created_at(
    live_server: LiveServer, account: Account
) -> None:
    response = create(live_server, account.key, {"callback_url": "https://app.example/cb"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == {"id", "app_id", "created_at"}
    assert data["created_at"].endswith("Z")
    assert len(data["id"]) >= 43


def test_the_app_is_the_callbacks_origin_whatever_the_referer(
    live_server: LiveServer, account: Account
) -> None:
    # The browser visits the callback, so the callback names the app: a referer naming another
    # app's origin must not file this code (and its key) under that app.
    with_referer = create(
        live_server,
        account.key,
        {"callback_url": "https://elsewhere.example/cb"},
        {"HTTP-Referer": "https://myapp.example/some/page", "X-ModelGates-Title": "My App"},
    ).json()["data"]["app_id"]
    same_app = create(
        live_server, account.key, {"callback_url": "https://ELSEWHERE.example:443/other"}
    ).json()["data"]["app_id"]
    the_referers = create(
        live_server, account.key, {"callback_url": "https://myapp.example/cb"}
    ).json()["data"]["app_id"]
    assert with_referer == same_app
    assert the_referers != with_referer


@pytest.mark.parametrize(
    "title",
    [
        "ModelGates",
        "\U0001f512 Verified by ModelGates",
        "M\u043edelGates",  # Cyrillic o
        "\uff2d\uff4f\uff44\uff45\uff4c\uff27\uff41\uff54\uff45\uff53",  # fullwidth
        "Model-Gates official",
        "rnodelgates",
        "p\u0430ypal",  # Latin with a Cyrillic a: a lookalike of another name
    ],
)
def test_titles_that_impersonate_are_refused_and_write_nothing(
    live_server: LiveServer, account: Account, title: str
) -> None:
    before = table_counts(live_server.database_url)
    refused = create(
        live_server,
        account.key,
        {"callback_url": "https://impersonator.example/cb"},
        {"X-ModelGates-Title": title.encode()},  # type: ignore[dict-item]  # UTF-8, as the SDK sends
    )
    error = assert_error(refused, 400, "X-ModelGates-Title")
    assert error["message"] == (  # one sentence, whatever the title: never the title
        "X-ModelGates-Title: must not read as ModelGates nor mix Latin with lookalike letters"
    )
    assert table_counts(live_server.database_url) == before


def test_key_label_defaults_to_the_apps_title(live_server: LiveServer, account: Account) -> None:
    verifier = pkce.create_verifier()
    code = create(
        live_server,
        account.key,
        {
            "callback_url": "http://localhost:8123/cb",
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
        },
    ).json()["data"]["id"]
    key = exchange(live_server, {"code": code, "code_verifier": verifier}).json()["key"]
    record = live_server.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    # An app on localhost is titled by its host and port.
    assert record.json()["data"]["label"] == "localhost:8123"


def test_legacy_x_title_names_the_app(live_server: LiveServer, account: Account) -> None:
    verifier = pkce.create_verifier()
    code = create(
        live_server,
        account.key,
        {"callback_url": "https://legacy-title.example/cb", "code_challenge": verifier},
        {"X-Title": "Legacy Name", "X-ModelGates-Categories": "cli-agent,Bad Entry,,cloud-agent"},
    ).json()["data"]["id"]
    key = exchange(live_server, {"code": code, "code_verifier": verifier}).json()["key"]
    record = live_server.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    assert record.json()["data"]["label"] == "Legacy Name"


def test_exchange_ignores_any_authorization_header(
    live_server: LiveServer, account: Account
) -> None:
    code, verifier = new_code(live_server, account)
    response = exchange(
        live_server,
        {"code": code, "code_verifier": verifier},
        {"Authorization": "Bearer garbage-that-is-not-a-key"},
    )
    assert response.status_code == 200, response.text


def test_plain_challenge_defaults_when_method_is_absent(
    live_server: LiveServer, account: Account
) -> None:
    verifier = pkce.create_verifier()
    response = create(
        live_server,
        account.key,
        {"callback_url": "https://app.example/cb", "code_challenge": verifier},
    )
    code = response.json()["data"]["id"]
    # The code is "plain": presenting S256 as the method is a mismatch.
    assert_error(
        exchange(
            live_server, {"code": code, "code_verifier": verifier, "code_challenge_method": "S256"}
        ),
        403,
    )
    ok = exchange(
        live_server, {"code": code, "code_verifier": verifier, "code_challenge_method": "plain"}
    )
    assert ok.status_code == 200, ok.text


def test_code_without_challenge_needs_no_verifier(
    live_server: LiveServer, account: Account
) -> None:
    response = create(live_server, account.key, {"callback_url": "https://app.example/cb"})
    ok = exchange(live_server, {"code": response.json()["data"]["id"]})
    assert ok.status_code == 200, ok.text


# --- spending rules through HTTP -------------------------------------------------------------


def test_s256_retry_returns_the_same_key(live_server: LiveServer, account: Account) -> None:
    code, verifier = new_code(live_server, account)
    body = {"code": code, "code_verifier": verifier, "code_challenge_method": "S256"}
    first = exchange(live_server, body)
    second = exchange(live_server, body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()


def test_s256_wrong_verifier_after_spending_refuses_without_revoking(
    live_server: LiveServer, account: Account
) -> None:
    code, verifier = new_code(live_server, account)
    key = exchange(live_server, {"code": code, "code_verifier": verifier}).json()["key"]
    assert_error(
        exchange(live_server, {"code": code, "code_verifier": pkce.create_verifier()}), 403
    )
    still = live_server.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    assert still.status_code == 200


def test_replaying_a_code_without_challenge_revokes_its_key(
    live_server: LiveServer, account: Account
) -> None:
    code = create(live_server, account.key, {"callback_url": "https://app.example/cb"}).json()[
        "data"
    ]["id"]
    key = exchange(live_server, {"code": code}).json()["key"]
    replay = exchange(live_server, {"code": code})
    assert_error(replay, 403)
    after = live_server.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    assert_error(after, 401)


def test_replaying_a_plain_code_revokes_its_key(live_server: LiveServer, account: Account) -> None:
    verifier = pkce.create_verifier()
    code = create(
        live_server,
        account.key,
        {
            "callback_url": "https://app.example/cb",
            "code_challenge": verifier,
            "code_challenge_method": "plain",
        },
    ).json()["data"]["id"]
    key = exchange(live_server, {"code": code, "code_verifier": verifier}).json()["key"]
    assert_error(exchange(live_server, {"code": code, "code_verifier": verifier}), 403)
    assert (
        live_server.client.get("/key", headers={"Authorization": f"Bearer {key}"}).status_code
        == 401
    )


def test_five_wrong_verifiers_burn_the_code(live_server: LiveServer, account: Account) -> None:
    code, verifier = new_code(live_server, account)
    messages = set()
    for _ in range(5):
        messages.add(
            assert_error(
                exchange(live_server, {"code": code, "code_verifier": pkce.create_verifier()}), 403
            )["message"]
        )
    burnt = assert_error(exchange(live_server, {"code": code, "code_verifier": verifier}), 403)
    messages.add(burnt["message"])
    unknown = assert_error(exchange(live_server, {"code": "no-such-code"}), 403)
    messages.add(unknown["message"])
    assert len(messages) == 1  # one message for every reason


def test_four_wrong_verifiers_do_not_burn_the_code(
    live_server: LiveServer, account: Account
) -> None:
    code, verifier = new_code(live_server, account)
    for _ in range(4):
        assert_error(
            exchange(live_server, {"code": code, "code_verifier": pkce.create_verifier()}), 403
        )
    assert exchange(live_server, {"code": code, "code_verifier": verifier}).status_code == 200


def test_method_swap_is_refused(live_server: LiveServer, account: Account) -> None:
    """An S256 code presented as "plain" with the challenge itself as the verifier."""
    code, verifier = new_code(live_server, account)
    challenge = pkce.s256_challenge(verifier)
    assert_error(
        exchange(
            live_server,
            {"code": code, "code_verifier": challenge, "code_challenge_method": "plain"},
        ),
        403,
    )
    assert_error(exchange(live_server, {"code": code, "code_verifier": challenge}), 403)
    assert exchange(live_server, {"code": code, "code_verifier": verifier}).status_code == 200


def test_missing_verifier_for_a_challenged_code_is_refused(
    live_server: LiveServer, account: Account
) -> None:
    code, verifier = new_code(live_server, account)
    assert_error(exchange(live_server, {"code": code}), 403)
    assert exchange(live_server, {"code": code, "code_verifier": verifier}).status_code == 200


def test_pending_duplicate_challenge_conflicts(live_server: LiveServer, account: Account) -> None:
    body = {
        "callback_url": "https://app.example/cb",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    other = new_account(live_server.database_url)
    first = create(live_server, other.key, body)
    assert first.status_code == 200
    before = table_counts(live_server.database_url)
    assert_error(create(live_server, other.key, body), 409, "code_challenge")
    assert table_counts(live_server.database_url) == before
    # Once spent, the challenge may be used again.
    code = first.json()["data"]["id"]
    assert exchange(live_server, {"code": code, "code_verifier": VERIFIER}).status_code == 200
    assert create(live_server, other.key, body).status_code == 200


# --- authentication of create-code ------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer sk-mg-v1-" + "0" * 64,  # well-formed, unknown
        "Bearer sk-mg-v1-" + "Z" * 64,  # wrong alphabet
        "Bearer " + "x" * 5000,
        "Bearer sk-mg-v1-00",
    ],
)
def test_create_without_a_valid_key_is_401(
    live_server: LiveServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = live_server.client.post(
        "/auth/keys/code",
        json={"callback_url": "https://app.example/cb"},
        headers=headers,
    )
    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_key_is_401(live_server: LiveServer) -> None:
    from modelgates.server.services import keys
    from tests.conftest import run, utcnow

    account = new_account(live_server.database_url)
    run(
        lambda store: keys.revoke_by_hash(store, account.key_hash, utcnow()),
        live_server.database_url,
    )
    assert_error(create(live_server, account.key, {"callback_url": "https://app.example/cb"}), 401)


def test_oauth_issued_key_cannot_create_codes(live_server: LiveServer, account: Account) -> None:
    code, verifier = new_code(live_server, account)
    app_key = exchange(live_server, {"code": code, "code_verifier": verifier}).json()["key"]
    assert_error(create(live_server, app_key, {"callback_url": "https://app.example/cb"}), 403)


# --- bad input: 400 in the error shape, naming the field, writing nothing ----------------------

BAD_CREATE_BODIES: list[tuple[str, Any, str]] = [
    ("relative url", {"callback_url": "/callback"}, "callback_url"),
    ("javascript url", {"callback_url": "javascript:alert(1)"}, "callback_url"),
    ("data url", {"callback_url": "data:text/html,<script>1</script>"}, "callback_url"),
    ("http non-loopback", {"callback_url": "http://app.example/cb"}, "callback_url"),
    ("lookalike host", {"callback_url": "http://localhost.evil.example/cb"}, "callback_url"),
    ("userinfo", {"callback_url": "http://localhost@evil.example/cb"}, "callback_url"),
    ("https userinfo", {"callback_url": "https://user:pw@app.example/cb"}, "callback_url"),
    ("backslash", {"callback_url": "https://evil.example\\@app.example/cb"}, "callback_url"),
    ("fragment", {"callback_url": "https://app.example/cb#frag"}, "callback_url"),
    ("empty fragment", {"callback_url": "https://app.example/cb#"}, "callback_url"),
    ("too long", {"callback_url": "https://app.example/" + "a" * 2040}, "callback_url"),
    ("bad port", {"callback_url": "https://app.example:99999/cb"}, "callback_url"),
    ("space", {"callback_url": "https://app.example/c b"}, "callback_url"),
    ("missing url", {}, "callback_url"),
    ("url not a string", {"callback_url": 12}, "callback_url"),
    ("ftp", {"callback_url": "ftp://app.example/cb"}, "callback_url"),
    (
        "s256 too short",
        {"code_challenge": CHALLENGE[:-1], "code_challenge_method": "S256"},
        "code_challenge",
    ),
    (
        "s256 too long",
        {"code_challenge": CHALLENGE + "A", "code_challenge_method": "S256"},
        "code_challenge",
    ),
    (
        "s256 alphabet",
        {"code_challenge": CHALLENGE[:-2] + "+M", "code_challenge_method": "S256"},
        "code_challenge",
    ),
    (
        "s256 newline",
        {"code_challenge": CHALLENGE + "\n", "code_challenge_method": "S256"},
        "code_challenge",
    ),
    (
        "plain too short",
        {"code_challenge": "a" * 42, "code_challenge_method": "plain"},
        "code_challenge",
    ),
    ("plain too long", {"code_challenge": "a" * 129}, "code_challenge"),
    ("plain alphabet", {"code_challenge": "a" * 42 + "!"}, "code_challenge"),
    ("method without challenge", {"code_challenge_method": "S256"}, "code_challenge"),
    (
        "unknown method",
        {"code_challenge": CHALLENGE, "code_challenge_method": "S512"},
        "code_challenge_method",
    ),
    (
        "lowercase method",
        {"code_challenge": CHALLENGE, "code_challenge_method": "s256"},
        "code_challenge_method",
    ),
    ("negative limit", {"limit": -1}, "limit"),
    ("string limit", {"limit": "10"}, "limit"),
    ("bool limit", {"limit": True}, "limit"),
    ("huge limit", {"limit": 1e300}, "limit"),
    ("too precise limit", {"limit": 0.0000001}, "limit"),
    ("past expiry", {"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ("naive expiry", {"expires_at": "2099-01-01T00:00:00"}, "expires_at"),
    ("garbage expiry", {"expires_at": "tomorrow"}, "expires_at"),
    ("long label", {"key_label": "x" * 101}, "key_label"),
    ("empty label", {"key_label": ""}, "key_label"),
    ("bad interval", {"usage_limit_type": "hourly"}, "usage_limit_type"),
    ("unknown field", {"code_chalenge": CHALLENGE}, "code_chalenge"),
]


@pytest.mark.parametrize(
    ("name", "fields", "field"), BAD_CREATE_BODIES, ids=[b[0] for b in BAD_CREATE_BODIES]
)
def test_bad_create_body_is_400_and_writes_nothing(
    live_server: LiveServer, account: Account, name: str, fields: dict[str, Any], field: str
) -> None:
    body = {"callback_url": "https://app.example/cb", **fields}
    if name == "missing url":
        body.pop("callback_url")
    before = table_counts(live_server.database_url)
    error = assert_error(create(live_server, account.key, body), 400, field)
    assert field in error["message"]
    assert table_counts(live_server.database_url) == before


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"null", "application/json", 400),
        (b"", "application/json", 400),
        (b'{"callback_url": "https://app.example/cb", "limit": NaN}', "application/json", 400),
        (b'{"callback_url": "https://app.example/cb"}', "text/plain", 415),
        (b"callback_url=https://app.example/cb", "application/x-www-form-urlencoded", 415),
        (b'{"callback_url": "' + b"a" * 2_000_000 + b'"}', "application/json", 413),
    ],
    ids=["not-json", "empty-array", "array", "null", "empty", "nan", "text-plain", "form", "2mb"],
)
def test_malformed_create_bodies(
    live_server: LiveServer, account: Account, raw: bytes, content_type: str, status: int
) -> None:
    before = table_counts(live_server.database_url)
    response = live_server.client.post(
        "/auth/keys/code",
        content=raw,
        headers={"Authorization": f"Bearer {account.key}", "Content-Type": content_type},
    )
    assert_error(response, status)
    assert table_counts(live_server.database_url) == before


BAD_EXCHANGE_BODIES: list[tuple[str, Any, str]] = [
    ("missing code", {"code_verifier": VERIFIER}, "code"),
    ("code not a string", {"code": 123}, "code"),
    ("empty code", {"code": ""}, "code"),
    ("unknown method", {"code": "abc", "code_challenge_method": "S512"}, "code_challenge_method"),
    ("short verifier", {"code": "abc", "code_verifier": "a" * 42}, "code_verifier"),
    ("long verifier", {"code": "abc", "code_verifier": "a" * 129}, "code_verifier"),
    ("verifier alphabet", {"code": "abc", "code_verifier": "a" * 42 + "="}, "code_verifier"),
    ("verifier newline", {"code": "abc", "code_verifier": VERIFIER + "\n"}, "code_verifier"),
    ("unknown field", {"code": "abc", "client_secret": "x"}, "client_secret"),
]


@pytest.mark.parametrize(
    ("name", "body", "field"), BAD_EXCHANGE_BODIES, ids=[b[0] for b in BAD_EXCHANGE_BODIES]
)
def test_bad_exchange_body_is_400(
    live_server: LiveServer, name: str, body: Any, field: str
) -> None:
    before = table_counts(live_server.database_url)
    assert_error(exchange(live_server, body), 400, field)
    assert table_counts(live_server.database_url) == before


def test_validation_errors_never_echo_the_secret(live_server: LiveServer) -> None:
    secret = "s" * 40 + "!!!"
    response = exchange(live_server, {"code": "abc", "code_verifier": secret})
    assert_error(response, 400, "code_verifier")
    assert secret not in response.text


# --- protocol-level errors and headers ---------------------------------------------------------


def test_unknown_path_and_wrong_method_answer_in_the_error_shape(live_server: LiveServer) -> None:
    assert_error(live_server.client.get("/nothing-here"), 404)
    assert_error(live_server.client.get("/auth/keys"), 405)
    assert_error(live_server.client.delete("/auth/keys/code"), 405)


def test_exchange_answers_cors_preflight(live_server: LiveServer) -> None:
    response = live_server.client.options(
        "/auth/keys",
        headers={
            "Origin": "https://spa.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_exchange_errors_also_carry_cors(live_server: LiveServer) -> None:
    response = exchange(live_server, {"code": "unknown"}, {"Origin": "https://spa.example"})
    assert_error(response, 403)
    assert response.headers["access-control-allow-origin"] == "*"


def test_create_code_is_not_cors_enabled(live_server: LiveServer, account: Account) -> None:
    response = create(live_server, account.key, {"callback_url": "https://app.example/cb"})
    assert "access-control-allow-origin" not in response.headers


def test_error_bodies_are_json_with_content_type(live_server: LiveServer) -> None:
    response = exchange(live_server, {"code": "unknown"})
    assert response.headers["content-type"].startswith("application/json")
    json.loads(response.text)
