"""Network failures, timeouts, and who closes which HTTP client."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from modelgates import ModelGates, errors
from tests.sdk.data import EXCHANGED, NO_RETRIES
from tests.sdk.fake_time import FakeTime
from tests.sdk.scripted_server import ScriptedServer


def refused_url() -> str:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1"


def test_connection_refused_is_our_connection_error() -> None:
    with ModelGates(server_url=refused_url(), retry_config=NO_RETRIES) as mg:
        with pytest.raises(errors.ConnectionError) as caught:
            mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    error = caught.value
    assert not isinstance(error, errors.TimeoutError)
    assert not isinstance(error, httpx.HTTPError)
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert "/api/v1/auth/keys" in str(error)


def test_connection_refused_is_retried_until_the_budget_is_spent() -> None:
    with ModelGates(server_url=refused_url()) as mg:
        fake = FakeTime().install(mg)
        with pytest.raises(errors.ConnectionError):
            mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    # The contract's defaults: from 500 ms by 1.5, at most 60 s a wait and 60 s in all.
    assert fake.sleeps[:3] == pytest.approx([0.5, 0.75, 1.125])
    assert sum(fake.sleeps) == pytest.approx(60.0)
    assert max(fake.sleeps) <= 60


def test_a_slow_server_times_out(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED, delay=30)
    with ModelGates(server_url=server.url, retry_config=NO_RETRIES) as mg:
        started = time.monotonic()
        with pytest.raises(errors.TimeoutError) as caught:
            mg.o_auth.exchange_auth_code_for_api_key(code="abc", timeout_ms=100)
    assert time.monotonic() - started < 10  # far from the server's 30 s, whatever the load
    assert isinstance(caught.value, errors.ConnectionError)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_the_clients_timeout_ms_applies(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED, delay=5)
    with ModelGates(server_url=server.url, retry_config=NO_RETRIES, timeout_ms=100) as mg:
        with pytest.raises(errors.TimeoutError):
            mg.o_auth.exchange_auth_code_for_api_key(code="abc")


def test_default_timeouts_are_explicit(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    client = mg.core._client
    assert client is not None
    assert client.timeout == httpx.Timeout(60.0, connect=5.0)


def test_a_callers_client_is_used_and_never_closed(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED)
    with httpx.Client(headers={"X-Caller": "yes"}) as own:
        with ModelGates(server_url=server.url, client=own) as mg:
            mg.o_auth.exchange_auth_code_for_api_key(code="abc")
        assert not own.is_closed
        assert server.received[0].headers["x-caller"] == "yes"
        # Still usable after the SDK is done with it.
        server.answer(200, EXCHANGED)
        assert own.post(server.url + "/auth/keys", json={}).status_code == 200


def test_sdk_made_client_is_closed_by_with_and_remade_on_next_use(
    server: ScriptedServer,
) -> None:
    server.answer(200, EXCHANGED)
    server.answer(200, EXCHANGED)
    with ModelGates(server_url=server.url) as mg:
        assert mg.core._client is None  # nothing is made before the first call
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
        made = mg.core._client
        assert made is not None and not made.is_closed
    assert made.is_closed
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert mg.core._client is not None and mg.core._client is not made
    mg.close()
    assert len(server.received) == 2


def test_close_without_use_is_harmless() -> None:
    mg = ModelGates()
    mg.close()
    mg.close()
    assert mg.core._client is None


@pytest.mark.anyio
async def test_a_callers_async_client_is_never_closed(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED)
    async with httpx.AsyncClient() as own:
        async with ModelGates(server_url=server.url, async_client=own) as mg:
            await mg.o_auth.exchange_auth_code_for_api_key_async(code="abc")
        assert not own.is_closed
    assert len(server.received) == 1


@pytest.mark.anyio
async def test_async_with_closes_every_client_the_sdk_made(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED)
    server.answer(200, EXCHANGED)
    async with ModelGates(server_url=server.url) as mg:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
        await mg.o_auth.exchange_auth_code_for_api_key_async(code="abc")
        made, made_async = mg.core._client, mg.core._async_client
    assert made is not None and made.is_closed
    assert made_async is not None and made_async.is_closed
