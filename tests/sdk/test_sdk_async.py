"""The async twins share the sync path's policy; these check that they really do."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from modelgates import ModelGates, errors
from tests.sdk.data import CREATED, EXCHANGED, FAST_RETRIES, ISSUED_KEY, NO_RETRIES, VERIFIER
from tests.sdk.fake_time import FakeTime
from tests.sdk.scripted_server import ScriptedServer
from tests.sdk.test_sdk_transport import refused_url

pytestmark = pytest.mark.anyio


@pytest.fixture
async def amg(server: ScriptedServer) -> AsyncIterator[ModelGates]:
    async with ModelGates(
        "sk-mg-v1-user-key",
        app_title="Async App",
        server_url=server.url,
        retry_config=FAST_RETRIES,
    ) as client:
        yield client


async def test_exchange(server: ScriptedServer, amg: ModelGates) -> None:
    server.answer(200, EXCHANGED)
    result = await amg.o_auth.exchange_auth_code_for_api_key_async(
        request_body={"code": "abc", "code_verifier": VERIFIER}, http_headers={"X-Extra": "1"}
    )
    assert result.key == ISSUED_KEY
    (sent,) = server.received
    assert sent.json() == {"code": "abc", "code_verifier": VERIFIER}
    assert sent.headers["authorization"] == "Bearer sk-mg-v1-user-key"
    assert sent.headers["x-modelgates-title"] == "Async App"
    assert sent.headers["user-agent"] == "modelgates-python/0.1.0"
    assert sent.headers["x-extra"] == "1"


async def test_create_retries_with_one_idempotency_key(
    server: ScriptedServer, amg: ModelGates
) -> None:
    fake = FakeTime().install(amg)
    server.answer(503, body="", headers={"retry-after-ms": "15"})
    server.drop()
    server.answer(200, CREATED)
    result = await amg.o_auth.create_auth_code_async(callback_url="https://a.example/cb")
    assert result.data.id == "code_xyz"
    assert len({r.headers["idempotency-key"] for r in server.received}) == 1
    assert len(server.received) == 3
    assert fake.sleeps == pytest.approx([0.015, 0.001])  # as asked, then the schedule


async def test_async_sleeps_really_wait(server: ScriptedServer, amg: ModelGates) -> None:
    server.answer(429, body="", headers={"retry-after-ms": "50"})
    server.answer(200, EXCHANGED)
    started = time.monotonic()
    await amg.o_auth.exchange_auth_code_for_api_key_async(code="abc")
    assert 0.02 <= time.monotonic() - started < 10  # really slept (at least the 20 ms cap)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, errors.BadRequestResponseError), (401, errors.UnauthorizedResponseError)],
)
async def test_errors(
    server: ScriptedServer, amg: ModelGates, status: int, cls: type[errors.APIError]
) -> None:
    server.error(status, "bad", field="callback_url")
    with pytest.raises(cls) as caught:
        await amg.o_auth.create_auth_code_async(callback_url="https://a.example/cb")
    assert caught.value.data is not None
    assert caught.value.data.metadata == {"field": "callback_url"}
    assert len(server.received) == 1


async def test_validation_fails_locally(server: ScriptedServer, amg: ModelGates) -> None:
    with pytest.raises(errors.RequestValidationError):
        await amg.o_auth.create_auth_code_async(callback_url="http://public.example/cb")
    assert server.received == []


async def test_timeout(server: ScriptedServer, amg: ModelGates) -> None:
    server.answer(200, EXCHANGED, delay=5)
    with pytest.raises(errors.TimeoutError):
        await amg.o_auth.exchange_auth_code_for_api_key_async(
            code="abc", timeout_ms=100, retries=NO_RETRIES
        )


async def test_connection_refused() -> None:
    async with ModelGates(server_url=refused_url(), retry_config=NO_RETRIES) as mg:
        with pytest.raises(errors.ConnectionError):
            await mg.o_auth.exchange_auth_code_for_api_key_async(code="abc")
