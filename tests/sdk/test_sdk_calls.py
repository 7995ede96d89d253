"""The two call forms, and input rejected before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from modelgates import ModelGates, ModelGatesError, RequestValidationError
from modelgates.funcs.o_auth import CreateAuthCodeParams, ExchangeAuthCodeParams, RequestOptions
from modelgates.models import (
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from tests.sdk.data import CHALLENGE, CREATED, EXCHANGED, ISSUED_KEY, VERIFIER
from tests.sdk.scripted_server import ScriptedServer

EXCHANGE_BODY = {
    "code": "auth_code_abc123def456",
    "code_challenge_method": "S256",
    "code_verifier": VERIFIER,
}
CREATE_BODY = {
    "callback_url": "https://myapp.com/auth/callback",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
    "limit": 100,
}


@pytest.mark.parametrize(
    "call",
    [
        {"request_body": EXCHANGE_BODY},
        {"request_body": ExchangeAuthCodeRequest.model_validate(EXCHANGE_BODY)},
        EXCHANGE_BODY,
    ],
    ids=["dict", "model", "flat"],
)
def test_exchange_in_every_form(
    server: ScriptedServer, mg: ModelGates, call: dict[str, Any]
) -> None:
    server.answer(200, EXCHANGED)
    result = mg.o_auth.exchange_auth_code_for_api_key(**call)
    assert isinstance(result, ExchangeAuthCodeResponse)
    assert (result.key, result.user_id) == (ISSUED_KEY, "user_abc")
    assert server.received[0].json() == EXCHANGE_BODY


@pytest.mark.parametrize(
    "call",
    [
        {"request_body": CREATE_BODY},
        {"request_body": CreateAuthCodeRequest.model_validate(CREATE_BODY)},
        CREATE_BODY,
    ],
    ids=["dict", "model", "flat"],
)
def test_create_in_every_form(server: ScriptedServer, mg: ModelGates, call: dict[str, Any]) -> None:
    server.answer(200, CREATED)
    result = mg.o_auth.create_auth_code(**call)
    assert isinstance(result, CreateAuthCodeResponse)
    assert (result.data.id, result.data.app_id) == ("code_xyz", 7)
    assert result.data.created_at.isoformat() == "2030-01-01T00:00:00+00:00"
    assert server.received[0].json() == {**CREATE_BODY, "limit": 100.0}


def test_mixing_the_forms_is_refused(server: ScriptedServer, mg: ModelGates) -> None:
    with pytest.raises(RequestValidationError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(request_body={"code": "a"}, code_verifier=VERIFIER)
    assert caught.value.errors()[0]["loc"] == ("request_body",)
    assert "code_verifier" in str(caught.value)
    assert server.received == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({}, "code"),
        ({"code": ""}, "code"),
        ({"code": "a", "code_verifier": "too-short"}, "code_verifier"),
        ({"code": "a", "code_challenge_method": "S512"}, "code_challenge_method"),
        ({"request_body": {"code": "a", "code_chalenge": "x"}}, "code_chalenge"),
        ({"request_body": ["not", "an", "object"]}, "(body)"),
        (
            {"request_body": CreateAuthCodeRequest(callback_url="https://a.example/cb")},
            "callback_url",
        ),
    ],
)
def test_bad_exchange_input_fails_locally(
    server: ScriptedServer, mg: ModelGates, call: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(**call)
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, ModelGatesError)
    assert field in str(error)
    assert server.received == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"callback_url": "http://myapp.example/cb"}, "callback_url"),  # http off loopback
        ({"callback_url": "https://myapp.example/cb#frag"}, "callback_url"),
        ({"callback_url": "https://a.example/cb", "limit": -1}, "limit"),
        ({"callback_url": "https://a.example/cb", "limit": "10"}, "limit"),
        (
            {
                "callback_url": "https://a.example/cb",
                "code_challenge": "short",
                "code_challenge_method": "S256",
            },
            "code_challenge",
        ),
        (
            {"callback_url": "https://a.example/cb", "code_challenge_method": "S256"},
            "code_challenge",
        ),
        ({"callback_url": "https://a.example/cb", "key_label": "x" * 101}, "key_label"),
        (
            {"callback_url": "https://a.example/cb", "usage_limit_type": "hourly"},
            "usage_limit_type",
        ),
        (
            {"callback_url": "https://a.example/cb", "expires_at": "2030-01-01T00:00:00"},
            "expires_at",
        ),
    ],
)
def test_bad_create_input_fails_locally(
    server: ScriptedServer, mg: ModelGates, call: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        mg.o_auth.create_auth_code(**call)
    assert field in [str(part) for detail in caught.value.errors() for part in detail["loc"]]
    assert server.received == []


def test_validation_errors_do_not_repeat_the_input(mg: ModelGates) -> None:
    bad_verifier = "secret+verifier+that+is+long+enough+to+be+a+verifier"
    with pytest.raises(RequestValidationError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(code="a", code_verifier=bad_verifier)
    assert bad_verifier not in str(caught.value)
    assert all("input" not in detail for detail in caught.value.errors())


def test_an_unknown_keyword_is_a_type_error(server: ScriptedServer, mg: ModelGates) -> None:
    with pytest.raises(TypeError, match="verifier"):
        mg.o_auth.exchange_auth_code_for_api_key(code="a", verifier=VERIFIER)  # type: ignore[call-arg]
    assert server.received == []


@pytest.mark.parametrize(
    ("params", "model"),
    [
        (ExchangeAuthCodeParams, ExchangeAuthCodeRequest),
        (CreateAuthCodeParams, CreateAuthCodeRequest),
    ],
)
def test_the_flat_form_names_exactly_the_models_fields(
    params: type, model: type[BaseModel]
) -> None:
    # The typed keywords are written out for IDEs; the model is the truth they must follow.
    flat = set(params.__annotations__) - set(RequestOptions.__annotations__) - {"request_body"}
    assert flat == set(model.model_fields)


@pytest.mark.parametrize(
    "options",
    [{"server_url": "ftp://example.com"}, {"server_url": "no-scheme"}, {"timeout_ms": 0}],
)
def test_bad_call_options_fail_locally(
    server: ScriptedServer, mg: ModelGates, options: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        mg.o_auth.exchange_auth_code_for_api_key(code="a", **options)
    assert server.received == []


@pytest.mark.parametrize(
    "options",
    [
        {"server_url": "modelgates.ai/api/v1"},
        {"server_url": "https://modelgates.ai/api/v1?x=1"},
        {"timeout_ms": -5},
    ],
)
def test_bad_client_options_fail_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(RequestValidationError):
        ModelGates(**options)
