"""The usage namespace: a gateway, holding a service token, charges a key once per request id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from modelgates import ModelGates, ModelGatesCore, errors
from modelgates.funcs import RecordUsageParams, RequestOptions, usage_record, usage_record_async
from modelgates.models import RecordUsageRequest, RecordUsageResponse
from tests.sdk.data import FAST_RETRIES, KEY_HASH, NO_RETRIES, SERVICE_TOKEN
from tests.sdk.scripted_server import ScriptedServer
from tests.sdk.test_sdk_transport import refused_url

CHARGE: dict[str, Any] = {"key_hash": KEY_HASH, "amount": 0.25, "request_id": "req_123"}
CHARGED: dict[str, Any] = {
    "data": {
        "request_id": "req_123",
        "key_hash": KEY_HASH,
        "amount": 0.25,
        "usage": 2.75,
        "limit_remaining": 7.25,
        "created_at": "2030-01-01T00:00:00Z",
    }
}


@pytest.fixture
def gateway(server: ScriptedServer) -> Iterator[ModelGates]:
    with ModelGates(SERVICE_TOKEN, server_url=server.url, retry_config=FAST_RETRIES) as client:
        yield client


@pytest.fixture
def core(server: ScriptedServer) -> Iterator[ModelGatesCore]:
    with ModelGatesCore(SERVICE_TOKEN, server_url=server.url, retry_config=NO_RETRIES) as made:
        yield made


@pytest.mark.parametrize(
    "call",
    [
        {"request_body": CHARGE},
        {"request_body": RecordUsageRequest.model_validate(CHARGE)},
        CHARGE,
    ],
    ids=["dict", "model", "flat"],
)
def test_record_in_every_form(
    server: ScriptedServer, gateway: ModelGates, call: dict[str, Any]
) -> None:
    server.answer(200, CHARGED)
    result = gateway.usage.record(**call)
    assert isinstance(result, RecordUsageResponse)
    assert (result.data.usage, result.data.limit_remaining) == (2.75, 7.25)
    assert result.data.created_at.isoformat() == "2030-01-01T00:00:00+00:00"
    (sent,) = server.received
    assert (sent.method, sent.path) == ("POST", "/api/v1/usage")
    assert sent.headers["authorization"] == f"Bearer {SERVICE_TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == CHARGE


@pytest.mark.parametrize(
    ("amount", "sent"),
    [
        (Decimal("0.001"), "0.001"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("1000000000"), "1000000000"),
        (2, "2"),
        (0.1, "0.1"),
    ],
)
def test_the_amount_is_sent_exactly(
    server: ScriptedServer, gateway: ModelGates, amount: Decimal | float, sent: str
) -> None:
    server.answer(200, CHARGED)
    gateway.usage.record(key_hash=KEY_HASH, amount=amount, request_id="r")
    body = json.loads(server.received[0].body, parse_float=Decimal)
    assert body["amount"] == Decimal(sent)


def test_no_limit_means_nothing_remaining_is_reported(
    server: ScriptedServer, gateway: ModelGates
) -> None:
    server.answer(200, {"data": {**CHARGED["data"], "limit_remaining": None}})
    assert gateway.usage.record(**CHARGE).data.limit_remaining is None


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({**CHARGE, "amount": 0}, "amount"),
        ({**CHARGE, "amount": -1}, "amount"),
        ({**CHARGE, "amount": float("nan")}, "amount"),
        ({**CHARGE, "amount": float("inf")}, "amount"),
        ({**CHARGE, "amount": Decimal("1e12")}, "amount"),
        ({**CHARGE, "amount": 0.1 + 0.2}, "amount"),  # more than 6 decimal places
        ({**CHARGE, "amount": Decimal("0.0000001")}, "amount"),
        ({**CHARGE, "amount": "1.5"}, "amount"),  # the model wants a number
        ({**CHARGE, "amount": True}, "amount"),
        ({"key_hash": KEY_HASH, "request_id": "r"}, "amount"),
        ({**CHARGE, "key_hash": KEY_HASH.upper()}, "key_hash"),
        ({**CHARGE, "key_hash": "sk-mg-v1-" + KEY_HASH}, "key_hash"),
        ({"amount": 1, "request_id": "r"}, "key_hash"),
        ({**CHARGE, "request_id": ""}, "request_id"),
        ({**CHARGE, "request_id": "r" * 201}, "request_id"),
        ({"request_body": {**CHARGE, "user": "u"}}, "user"),
        ({"request_body": CHARGE, "amount": 1}, "request_body"),
    ],
)
def test_bad_input_fails_locally(
    server: ScriptedServer, gateway: ModelGates, call: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.RequestValidationError) as caught:
        gateway.usage.record(**call)
    assert field in [str(part) for detail in caught.value.errors() for part in detail["loc"]]
    assert server.received == []


def test_a_charge_that_does_not_fit_is_payment_required(
    server: ScriptedServer, gateway: ModelGates
) -> None:
    server.error(402, "the key has 0.1 left", limit_remaining=0.1)
    with pytest.raises(errors.PaymentRequiredResponseError) as caught:
        gateway.usage.record(**CHARGE)
    error = caught.value
    assert isinstance(error, errors.ModelGatesDefaultError)
    assert error.status_code == 402
    assert error.data is not None and error.data.metadata == {"limit_remaining": 0.1}
    assert len(server.received) == 1  # a 402 is final


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestResponseError),
        (401, errors.UnauthorizedResponseError),
        (403, errors.ForbiddenResponseError),
        (404, errors.NotFoundResponseError),
    ],
)
def test_final_errors(
    server: ScriptedServer, gateway: ModelGates, status: int, cls: type[errors.APIError]
) -> None:
    server.error(status)
    with pytest.raises(cls):
        gateway.usage.record(**CHARGE)
    assert len(server.received) == 1


def test_retries_resend_the_same_request_id(server: ScriptedServer, gateway: ModelGates) -> None:
    # Safe because the server charges a request_id once: a lost answer costs nothing twice.
    server.error(500)
    server.drop()
    server.error(429)
    server.answer(200, CHARGED)
    assert gateway.usage.record(**CHARGE).data.request_id == "req_123"
    assert len(server.received) == 4
    assert {r.body for r in server.received} == {server.received[0].body}


def test_too_many_requests_after_the_budget(server: ScriptedServer, gateway: ModelGates) -> None:
    server.error(429, "slow down")
    with pytest.raises(errors.TooManyRequestsResponseError):
        gateway.usage.record(**CHARGE, retries=NO_RETRIES)


def test_the_functions_return_results(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.answer(200, CHARGED)
    server.error(402, "no credit left")
    ok = usage_record(core, **CHARGE)
    refused = usage_record(core, **CHARGE)
    invalid = usage_record(core, key_hash=KEY_HASH, amount=-1, request_id="r")
    assert ok.ok and ok.unwrap().data.amount == 0.25
    assert isinstance(refused.error, errors.PaymentRequiredResponseError)
    assert isinstance(invalid.error, errors.RequestValidationError)
    assert len(server.received) == 2
    with pytest.raises(TypeError, match="amout"):
        usage_record(core, key_hash=KEY_HASH, amout=1, request_id="r")  # type: ignore[call-arg]
    with ModelGatesCore(server_url=refused_url(), retry_config=NO_RETRIES) as offline:
        assert isinstance(usage_record(offline, **CHARGE).error, errors.ConnectionError)


@pytest.mark.anyio
async def test_async_twins(server: ScriptedServer) -> None:
    server.answer(200, CHARGED)
    server.error(503)
    server.answer(200, CHARGED)
    server.error(402, "no credit left")
    async with ModelGates(SERVICE_TOKEN, server_url=server.url, retry_config=FAST_RETRIES) as mg:
        charged = await mg.usage.record_async(request_body=CHARGE)
        retried = await usage_record_async(mg.core, **CHARGE)
        refused = await usage_record_async(mg.core, **CHARGE)
        with pytest.raises(errors.PaymentRequiredResponseError):
            refused.unwrap()
        with pytest.raises(errors.RequestValidationError):
            await mg.usage.record_async(key_hash="x", amount=1, request_id="r")
    assert charged.data.key_hash == KEY_HASH
    assert retried.unwrap().data.usage == 2.75
    assert len(server.received) == 4
    assert all(r.json() == CHARGE for r in server.received)


def test_the_flat_form_names_exactly_the_models_fields() -> None:
    flat = (
        set(RecordUsageParams.__annotations__)
        - set(RequestOptions.__annotations__)
        - {"request_body"}
    )
    assert flat == set(RecordUsageRequest.model_fields)
