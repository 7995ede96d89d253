"""Network failures, timeouts, and who closes which HTTP client."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from modelgates import ModelGates, ModelGatesCore, errors
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


def test_an_httpx_error_from_a_callers_client_never_escapes(server: ScriptedServer) -> None:
    server.answer(200, EXCHANGED)

    def read_too_soon(response: httpx.Response) -> None:
        response.json()  # the body is not read yet: httpx.ResponseNotRead, not an HTTPError

    with httpx.Client(event_hooks={"response": [read_too_soon]}) as own:
        with ModelGates(server_url=server.url, client=own, retry_config=NO_RETRIES) as mg:
            with pytest.raises(errors.ConnectionError) as caught:
                mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert isinstance(caught.value.__cause__, httpx.ResponseNotRead)


# --- check_reachable: fail fast, before a person is asked to do anything -------------------------


def test_an_unreachable_server_fails_the_check_at_once_in_one_line() -> None:
    url = refused_url()
    with ModelGatesCore(server_url=url) as core:  # the default retries would take a minute
        started = time.monotonic()
        with pytest.raises(errors.ConnectionError) as caught:
            core.check_reachable()
    assert time.monotonic() - started < 2
    assert not isinstance(caught.value, errors.TimeoutError)
    message = str(caught.value)
    assert message.startswith(f"cannot reach the ModelGates server at {url}: ")
    assert "\n" not in message and "ConnectError" not in message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_server_that_never_answers_fails_the_check_after_its_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts connections; nobody ever answers them
        port = silent.getsockname()[1]
        with ModelGatesCore(server_url=f"http://127.0.0.1:{port}") as core:
            started = time.monotonic()
            with pytest.raises(errors.TimeoutError, match=r"did not answer within 0\.2 s$"):
                core.check_reachable(timeout_ms=200)
        assert 0.2 <= time.monotonic() - started < 2


def test_any_answer_passes_the_check_which_sends_no_key(server: ScriptedServer) -> None:
    server.error(404, "not here")  # e.g. a proxy in front that passes only the API on
    with ModelGatesCore("sk-mg-v1-secret", server_url=f"{server.origin}/gates/api/v1") as core:
        core.check_reachable()
    (sent,) = server.received
    assert (sent.method, sent.path) == ("GET", "/gates/healthz")  # beside the API, like /auth
    assert "authorization" not in sent.headers


@pytest.mark.anyio
async def test_check_reachable_async(server: ScriptedServer) -> None:
    async with ModelGatesCore(server_url=server.origin) as core:
        await core.check_reachable_async()
    assert server.health_checks == 1 and server.received == []
    async with ModelGatesCore(server_url=refused_url()) as offline:
        with pytest.raises(errors.ConnectionError, match="cannot reach the ModelGates server"):
            await offline.check_reachable_async()


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
