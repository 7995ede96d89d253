"""The standalone functions return a Result and never raise for API, network or input errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelgates import Err, ModelGatesCore, Ok, errors
from modelgates.funcs import (
    o_auth_create_auth_code,
    o_auth_create_auth_code_async,
    o_auth_exchange_auth_code_for_api_key,
    o_auth_exchange_auth_code_for_api_key_async,
)
from modelgates.models import CreateAuthCodeResponse, ExchangeAuthCodeResponse
from tests.sdk.data import CREATED, EXCHANGED, ISSUED_KEY, NO_RETRIES, VERIFIER
from tests.sdk.scripted_server import ScriptedServer
from tests.sdk.test_sdk_transport import refused_url


@pytest.fixture
def core(server: ScriptedServer) -> Iterator[ModelGatesCore]:
    with ModelGatesCore(
        "sk-mg-v1-user-key", server_url=server.url, retry_config=NO_RETRIES
    ) as made:
        yield made


def test_success(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.answer(200, EXCHANGED)
    result = o_auth_exchange_auth_code_for_api_key(
        core, request_body={"code": "abc", "code_verifier": VERIFIER}
    )
    assert result.ok and result.error is None
    assert isinstance(result.value, ExchangeAuthCodeResponse)
    assert result.unwrap().key == ISSUED_KEY


def test_create_success(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.answer(200, CREATED)
    result = o_auth_create_auth_code(core, callback_url="https://a.example/cb", limit=5)
    assert isinstance(result.unwrap(), CreateAuthCodeResponse)
    assert result.unwrap().data.id == "code_xyz"


def test_an_api_error_is_returned(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.error(403, "cannot be spent")
    result = o_auth_exchange_auth_code_for_api_key(core, code="abc")
    assert not result.ok and result.value is None
    assert isinstance(result.error, errors.ForbiddenResponseError)
    assert result.error.status_code == 403
    with pytest.raises(errors.ForbiddenResponseError) as caught:
        result.unwrap()
    assert caught.value is result.error


def test_a_network_error_is_returned() -> None:
    with ModelGatesCore(server_url=refused_url(), retry_config=NO_RETRIES) as core:
        result = o_auth_create_auth_code(core, callback_url="https://a.example/cb")
    assert isinstance(result.error, errors.ConnectionError)


@pytest.mark.parametrize(
    "params",
    [
        {"code": ""},
        {"request_body": {"code": "a"}, "code_verifier": VERIFIER},
        {"code": "a", "server_url": "nowhere"},
    ],
)
def test_bad_input_is_returned(
    server: ScriptedServer, core: ModelGatesCore, params: dict[str, object]
) -> None:
    result = o_auth_exchange_auth_code_for_api_key(core, **params)  # type: ignore[arg-type]
    assert isinstance(result.error, errors.RequestValidationError)
    assert server.received == []


def test_a_bad_2xx_is_returned(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.answer(200, {"unexpected": True})
    result = o_auth_create_auth_code(core, callback_url="https://a.example/cb")
    assert isinstance(result.error, errors.ResponseValidationError)


def test_a_misspelt_keyword_still_raises(core: ModelGatesCore) -> None:
    # Not an API error: the same TypeError a spelt-out signature would give.
    with pytest.raises(TypeError):
        o_auth_exchange_auth_code_for_api_key(core, cod="abc")  # type: ignore[call-arg]


@pytest.mark.anyio
async def test_async_twins(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.answer(200, EXCHANGED)
    server.answer(200, CREATED)
    server.error(409, "duplicate challenge")
    exchanged = await o_auth_exchange_auth_code_for_api_key_async(core, code="abc")
    created = await o_auth_create_auth_code_async(core, callback_url="https://a.example/cb")
    conflict = await o_auth_create_auth_code_async(core, callback_url="https://a.example/cb")
    invalid = await o_auth_create_auth_code_async(core, callback_url="ftp://a.example/cb")
    await core.aclose()
    assert exchanged.unwrap().user_id == "user_abc"
    assert created.unwrap().data.app_id == 7
    assert isinstance(conflict.error, errors.ConflictResponseError)
    assert isinstance(invalid.error, errors.RequestValidationError)
    assert len(server.received) == 3


def test_result_is_ok_or_err() -> None:
    assert Ok(1).unwrap() == 1 and Ok(1).ok and Ok(1).error is None
    assert Ok(None).ok  # an operation may succeed with nothing to return
    failed = Err(errors.ModelGatesError("x"))
    assert not failed.ok and failed.value is None
    with pytest.raises(errors.ModelGatesError):
        failed.unwrap()
