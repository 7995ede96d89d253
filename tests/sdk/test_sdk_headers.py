"""What goes on the wire: headers, URLs and bodies."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from modelgates import ModelGates, RequestValidationError
from modelgates.core import DEFAULT_SERVER_URL
from tests.sdk.data import CHALLENGE, CREATED, EXCHANGED, VERIFIER
from tests.sdk.scripted_server import ScriptedServer


def test_client_options_become_headers(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", code_verifier=VERIFIER)
    (sent,) = server.received
    assert sent.method == "POST"
    assert sent.path == "/api/v1/auth/keys"
    assert sent.headers["authorization"] == "Bearer sk-mg-v1-user-key"
    assert sent.headers["http-referer"] == "https://myapp.example"
    assert sent.headers["x-modelgates-title"] == "My App"
    assert sent.headers["x-modelgates-categories"] == "cli-agent"
    assert sent.headers["user-agent"] == "modelgates-python/0.1.0"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"


def test_no_authorization_without_a_key(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED)
    with ModelGates(server_url=server.url) as mg:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    (sent,) = server.received
    assert "authorization" not in sent.headers
    assert "http-referer" not in sent.headers
    assert "x-modelgates-title" not in sent.headers
    assert "x-modelgates-categories" not in sent.headers


def test_per_call_attribution_overrides_the_client(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(
        request_body={"code": "abc"},
        http_referer="https://other.example",
        app_title="Other",
        app_categories=["cli-agent", "cloud-agent"],
    )
    (sent,) = server.received
    assert sent.headers["http-referer"] == "https://other.example"
    assert sent.headers["x-modelgates-title"] == "Other"
    assert sent.headers["x-modelgates-categories"] == "cli-agent,cloud-agent"


def test_an_empty_per_call_value_omits_the_header(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", app_title="")
    (sent,) = server.received
    assert "x-modelgates-title" not in sent.headers
    assert sent.headers["http-referer"] == "https://myapp.example"


def test_extra_headers_are_added_and_may_replace_ours(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(
        code="abc", http_headers={"X-Request-Id": "r-1", "user-agent": "my-wrapper/2"}
    )
    (sent,) = server.received
    assert sent.headers["x-request-id"] == "r-1"
    assert sent.headers["user-agent"] == "my-wrapper/2"


def test_a_non_ascii_title_is_sent_as_utf8(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED)
    with ModelGates(server_url=server.url, app_title="Café ☕") as mg:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    # http.server decodes header bytes as Latin-1; undo that to see the bytes sent.
    sent = server.received[0].headers["x-modelgates-title"]
    assert sent.encode("latin-1").decode("utf-8") == "Café ☕"


def test_a_non_ascii_extra_header_is_sent_as_utf8(server: ScriptedServer, mg: ModelGates) -> None:
    # The second call starts from the headers kept from the first: they must not have fixed the
    # encoding to ASCII (as httpx's Headers.copy() would), or this header could not be set.
    server.answer(200, EXCHANGED)
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", http_headers={"X-Note": "Café"})
    sent = server.received[1].headers["x-note"]
    assert sent.encode("latin-1").decode("utf-8") == "Café"


def test_headers_follow_changes_to_the_client_between_calls(
    server: ScriptedServer, mg: ModelGates
) -> None:
    for _ in range(4):
        server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    mg.core.app_title = "Renamed"
    categories = ["cli-agent"]
    mg.core.app_categories = categories
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    categories.append("cloud-agent")  # changed in place: the same list, other headers
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", http_referer="https://other.example")
    mg.core.http_referer = None
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    titles = [sent.headers["x-modelgates-title"] for sent in server.received]
    assert titles == ["My App", "Renamed", "Renamed", "Renamed"]
    assert [sent.headers["x-modelgates-categories"] for sent in server.received] == [
        "cli-agent",
        "cli-agent",
        "cli-agent,cloud-agent",
        "cli-agent,cloud-agent",
    ]
    referers = [sent.headers.get("http-referer") for sent in server.received]
    assert referers == [
        "https://myapp.example",
        "https://myapp.example",
        "https://other.example",
        None,
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"app_title": "evil\r\nX-Injected: 1"},
        {"http_headers": {"X-Ok": "line\nbreak"}},
        {"http_headers": {"Bad Name": "value"}},
    ],
)
def test_header_injection_is_refused_before_sending(
    server: ScriptedServer, mg: ModelGates, options: dict[str, object]
) -> None:
    with pytest.raises(RequestValidationError):
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", **options)  # type: ignore[arg-type]
    assert server.received == []


def test_per_call_server_url(server: ScriptedServer, mg: ModelGates) -> None:
    other = ScriptedServer().start()
    try:
        other.answer(200, EXCHANGED)
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", server_url=other.url + "/")
        assert [r.path for r in other.received] == ["/api/v1/auth/keys"]
        assert server.received == []
    finally:
        other.stop()


def test_server_url_comes_from_the_environment_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELGATES_BASE_URL", raising=False)
    assert ModelGates().core.server_url == DEFAULT_SERVER_URL
    monkeypatch.setenv("MODELGATES_BASE_URL", "http://127.0.0.1:9/api/v1/")
    mg = ModelGates()
    assert mg.core.server_url == "http://127.0.0.1:9/api/v1"
    monkeypatch.setenv("MODELGATES_BASE_URL", "https://elsewhere.example/api/v1")
    assert mg.core.server_url == "http://127.0.0.1:9/api/v1"
    assert ModelGates(server_url="https://given.example/api/v1").core.server_url == (
        "https://given.example/api/v1"
    )


@pytest.mark.parametrize("slash", ["", "/"])
def test_a_bare_origin_means_its_api_wherever_it_is_given(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, slash: str
) -> None:
    origin = server.origin + slash  # what `modelgates serve` prints first
    for _ in range(3):
        server.answer(200, EXCHANGED)
    with ModelGates(server_url=origin) as mg:
        assert mg.core.server_url == server.url
        mg.o_auth.exchange_auth_code_for_api_key(code="given")
    monkeypatch.setenv("MODELGATES_BASE_URL", origin)
    with ModelGates() as mg:
        assert mg.core.server_url == server.url
        mg.o_auth.exchange_auth_code_for_api_key(code="environment")
    with ModelGates(server_url="https://elsewhere.invalid/api/v1") as mg:
        mg.o_auth.exchange_auth_code_for_api_key(code="per-call", server_url=origin)
    assert [r.path for r in server.received] == ["/api/v1/auth/keys"] * 3


def test_create_sends_a_fresh_uuid_idempotency_key_per_call(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.answer(200, CREATED)
    server.answer(200, CREATED)
    server.answer(200, EXCHANGED)
    for _ in range(2):
        mg.o_auth.create_auth_code(callback_url="https://myapp.example/cb")
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    first, second, exchange = (r.headers.get("idempotency-key") for r in server.received)
    assert first is not None and second is not None
    assert uuid.UUID(first).version == 4
    assert first != second
    assert exchange is None


def test_a_caller_may_bring_its_own_idempotency_key(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, CREATED)
    mg.o_auth.create_auth_code(
        callback_url="https://myapp.example/cb", http_headers={"Idempotency-Key": "mine"}
    )
    assert server.received[0].headers["idempotency-key"] == "mine"


def test_bodies_are_json_without_nulls(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, CREATED)
    server.answer(200, EXCHANGED)
    mg.o_auth.create_auth_code(
        callback_url="http://localhost:3000/cb",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
        limit=100,
        expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        usage_limit_type="monthly",
    )
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", code_verifier=None)
    created, exchanged = server.received
    assert created.path == "/api/v1/auth/keys/code"
    assert json.loads(created.body) == {
        "callback_url": "http://localhost:3000/cb",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "limit": 100.0,
        "expires_at": "2030-01-02T03:04:05Z",
        "usage_limit_type": "monthly",
    }
    assert exchanged.json() == {"code": "abc"}
