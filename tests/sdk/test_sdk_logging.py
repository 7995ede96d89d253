"""Debug logs say what happened and never carry a secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from modelgates import ModelGates
from modelgates._logging import REDACTED, describe_body, redact_json
from tests.sdk.data import CHALLENGE, CREATED, EXCHANGED, ISSUED_KEY, VERIFIER
from tests.sdk.scripted_server import ScriptedServer

API_KEY = "sk-mg-v1-" + "f" * 64
CODE = "auth_code_abc123def456"


@pytest.fixture(autouse=True)
def restore_logger_level() -> Iterator[None]:
    logger = logging.getLogger("modelgates")
    level = logger.level
    yield
    logger.setLevel(level)


def test_a_call_is_logged_with_its_secrets_redacted(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.error(503, "busy")
    server.answer(200, EXCHANGED)
    with ModelGates(API_KEY, server_url=server.url, debug=True) as mg:
        mg.core._sleep = lambda seconds: None
        mg.o_auth.exchange_auth_code_for_api_key(
            code=CODE, code_verifier=VERIFIER, code_challenge_method="S256"
        )
    text = caplog.text
    for secret in (API_KEY, CODE, VERIFIER, ISSUED_KEY):
        assert secret not in text
    assert text.count(REDACTED) >= 6  # the header and two fields, twice; the issued key
    assert f"POST {server.url}/auth/keys" in text
    assert "-> 503 in" in text and "-> 200 in" in text and " ms " in text
    assert "retrying" in text
    assert "user_abc" in text and "S256" in text  # what is not secret stays readable
    assert all(record.name == "modelgates" for record in caplog.records)


def test_the_challenge_is_not_a_secret(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.answer(200, CREATED)
    with ModelGates(API_KEY, server_url=server.url, debug=True) as mg:
        mg.o_auth.create_auth_code(callback_url="https://a.example/cb", code_challenge=CHALLENGE)
    assert CHALLENGE in caplog.text
    assert API_KEY not in caplog.text
    assert "code_xyz" not in caplog.text  # the created code is the answer's data.id


def test_redaction_reaches_any_depth() -> None:
    body = {
        "data": {"key": "k1", "id": "c1", "label": "mine"},
        "items": [{"code": "c2"}, {"nested": [{"code_verifier": "v"}]}],
        "code_challenge": CHALLENGE,
    }
    assert redact_json(body) == {
        "data": {"key": REDACTED, "id": REDACTED, "label": "mine"},
        "items": [{"code": REDACTED}, {"nested": [{"code_verifier": REDACTED}]}],
        "code_challenge": CHALLENGE,
    }


def test_a_body_that_is_not_json_is_described_not_shown() -> None:
    assert describe_body(b"<html>sk-mg-v1-secret</html>") == "(28 bytes, not JSON)"
    assert describe_body(b"\xff\xfe") == "(2 bytes, not JSON)"
    assert describe_body(b"") == "(empty)"


def test_debug_comes_from_the_environment(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger("modelgates").setLevel(logging.NOTSET)
    monkeypatch.setenv("MODELGATES_DEBUG", "1")
    server.answer(200, EXCHANGED)
    with ModelGates(server_url=server.url) as mg:
        mg.o_auth.exchange_auth_code_for_api_key(code=CODE)
    assert logging.getLogger("modelgates").level == logging.NOTSET  # left as it was
    assert "-> 200 in" in caplog.text


def test_debug_is_per_client(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One client's ``debug=True`` turns on neither the package's logger nor another client's
    logging, before or after."""
    logging.getLogger("modelgates").setLevel(logging.WARNING)  # as a quiet app sets it
    monkeypatch.delenv("MODELGATES_DEBUG", raising=False)
    server.answer(200, EXCHANGED)
    server.answer(200, EXCHANGED)
    with ModelGates(server_url=server.url, debug=True) as loud:
        loud.o_auth.exchange_auth_code_for_api_key(code=CODE)
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 2
    caplog.clear()
    with ModelGates(server_url=server.url, debug=False) as quiet:
        quiet.o_auth.exchange_auth_code_for_api_key(code=CODE)
    assert caplog.records == []
    assert logging.getLogger("modelgates").level == logging.WARNING


def test_silent_by_default(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    logging.getLogger("modelgates").setLevel(logging.NOTSET)
    monkeypatch.delenv("MODELGATES_DEBUG", raising=False)
    server.answer(200, EXCHANGED)
    with ModelGates(server_url=server.url) as mg:
        mg.o_auth.exchange_auth_code_for_api_key(code=CODE)
    assert [r for r in caplog.records if r.name == "modelgates"] == []


def test_a_given_logger_is_used(server: ScriptedServer, caplog: pytest.LogCaptureFixture) -> None:
    mine = logging.getLogger("myapp.modelgates")
    server.answer(200, EXCHANGED)
    try:
        with ModelGates(server_url=server.url, debug=True, debug_logger=mine) as mg:
            mg.o_auth.exchange_auth_code_for_api_key(code=CODE)
    finally:
        mine.setLevel(logging.NOTSET)
    assert {r.name for r in caplog.records} == {"myapp.modelgates"}
