"""The SDK against a real ModelGates server over a socket: the contract's flow in every form,
and each error class raised by a real server answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelgates import ModelGates, RetryConfig
from modelgates.core import ModelGatesCore
from modelgates.errors import (
    BadRequestResponseError,
    ConflictResponseError,
    ConnectionError,
    ForbiddenResponseError,
    InternalServerResponseError,
    ModelGatesDefaultError,
    RequestValidationError,
    UnauthorizedResponseError,
)
from modelgates.funcs import (
    o_auth_create_auth_code,
    o_auth_create_auth_code_async,
    o_auth_exchange_auth_code_for_api_key,
    o_auth_exchange_auth_code_for_api_key_async,
)
from modelgates.retries import BackoffStrategy
from modelgates.server.settings import Settings
from modelgates.server.store.migrate import upgrade
from tests.conftest import Account, LiveServer, free_port, start_server

NO_RETRIES = RetryConfig("none")
CALLBACK = "https://myapp.example/callback"


def key_record(server: LiveServer, key: str) -> httpx.Response:
    return server.client.get("/key", headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def mg(live_server: LiveServer, account: Account) -> Iterator[ModelGates]:
    with ModelGates(
        http_referer="https://myapp.example",
        app_title="My App",
        app_categories="cli-agent",
        api_key=account.key,
        server_url=live_server.api_url,
    ) as client:
        yield client


def test_sync_flow_request_object_form(
    live_server: LiveServer, account: Account, mg: ModelGates
) -> None:
    pair = mg.o_auth.create_sha256_code_challenge()
    created = mg.o_auth.create_auth_code(
        request_body={
            "callback_url": CALLBACK,
            "code_challenge": pair.code_challenge,
            "code_challenge_method": "S256",
            "limit": 100,
        }
    )
    assert isinstance(created.data.app_id, int)
    assert created.data.created_at.tzinfo is not None
    result = mg.o_auth.exchange_auth_code_for_api_key(
        request_body={
            "code": created.data.id,
            "code_challenge_method": "S256",
            "code_verifier": pair.code_verifier,
        }
    )
    assert result.user_id == account.user_id
    assert result.key not in repr(result)
    record = key_record(live_server, result.key)
    assert record.status_code == 200
    data = record.json()["data"]
    assert data["limit"] == 100
    assert data["label"] == "My App"  # the app's title from the client's attribution
    assert data["app_id"] == created.data.app_id


def test_sync_flow_flat_form_and_exactly_once_retry(
    live_server: LiveServer, mg: ModelGates
) -> None:
    pair = mg.o_auth.create_sha256_code_challenge()
    code = mg.o_auth.create_auth_code(
        callback_url=CALLBACK, code_challenge=pair.code_challenge, code_challenge_method="S256"
    ).data.id
    first = mg.o_auth.exchange_auth_code_for_api_key(
        code=code, code_verifier=pair.code_verifier, code_challenge_method="S256"
    )
    # A client whose answer was lost sends the same exchange again: the same key comes back.
    again = mg.o_auth.exchange_auth_code_for_api_key(
        code=code, code_verifier=pair.code_verifier, code_challenge_method="S256"
    )
    assert again.key == first.key
    assert key_record(live_server, first.key).status_code == 200


def test_async_flow(live_server: LiveServer, account: Account) -> None:
    async def flow() -> str:
        async with ModelGates(api_key=account.key, server_url=live_server.api_url) as mg:
            pair = mg.o_auth.create_sha256_code_challenge()
            created = await mg.o_auth.create_auth_code_async(
                callback_url="http://127.0.0.1:9999/cb",
                code_challenge=pair.code_challenge,
                code_challenge_method="S256",
                key_label="async key",
            )
            result = await mg.o_auth.exchange_auth_code_for_api_key_async(
                code=created.data.id, code_verifier=pair.code_verifier
            )
            assert result.user_id == account.user_id
            return result.key

    key = asyncio.run(flow())
    assert key_record(live_server, key).json()["data"]["label"] == "async key"


def test_standalone_functions_return_results(live_server: LiveServer, account: Account) -> None:
    core = ModelGatesCore(api_key=account.key, server_url=live_server.api_url)
    try:
        pair = ModelGates().o_auth.create_sha256_code_challenge()
        created = o_auth_create_auth_code(
            core,
            callback_url=CALLBACK,
            code_challenge=pair.code_challenge,
            code_challenge_method="S256",
        )
        assert created.ok and created.value is not None and created.error is None
        exchanged = o_auth_exchange_auth_code_for_api_key(
            core, code=created.value.data.id, code_verifier=pair.code_verifier
        )
        assert exchanged.ok and exchanged.value is not None
        assert key_record(live_server, exchanged.value.key).status_code == 200

        refused = o_auth_exchange_auth_code_for_api_key(
            core, code="not-a-real-code", retries=NO_RETRIES
        )
        assert not refused.ok and refused.value is None
        assert isinstance(refused.error, ForbiddenResponseError)
        assert refused.error.status_code == 403
    finally:
        core.close()


def test_standalone_async_functions(live_server: LiveServer, account: Account) -> None:
    async def flow() -> None:
        core = ModelGatesCore(api_key=account.key, server_url=live_server.api_url)
        try:
            created = await o_auth_create_auth_code_async(core, callback_url=CALLBACK)
            assert created.ok and created.value is not None
            exchanged = await o_auth_exchange_auth_code_for_api_key_async(
                core, request_body={"code": created.value.data.id}
            )
            assert exchanged.ok and exchanged.value is not None
            assert exchanged.value.user_id == account.user_id
            bad = await o_auth_create_auth_code_async(
                core, callback_url=CALLBACK, expires_at="2001-01-01T00:00:00Z", retries=NO_RETRIES
            )
            assert isinstance(bad.error, BadRequestResponseError)
        finally:
            await core.aclose()

    asyncio.run(flow())


# --- each error class from a real server answer -----------------------------------------------


def test_bad_request_from_the_server(mg: ModelGates) -> None:
    # The past expiry is a rule only the server's clock can judge, so the request is sent.
    with pytest.raises(BadRequestResponseError) as raised:
        mg.o_auth.create_auth_code(callback_url=CALLBACK, expires_at="2001-01-01T00:00:00Z")
    error = raised.value
    assert error.status_code == 400
    assert error.data is not None and error.data.metadata is not None
    assert error.data.metadata["field"] == "expires_at"
    assert error.headers["content-type"].startswith("application/json")


def test_unauthorized_from_the_server(live_server: LiveServer) -> None:
    with ModelGates(api_key="sk-mg-v1-" + "a" * 64, server_url=live_server.api_url) as mg:
        with pytest.raises(UnauthorizedResponseError) as raised:
            mg.o_auth.create_auth_code(callback_url=CALLBACK)
    assert raised.value.status_code == 401
    assert raised.value.data is not None and raised.value.data.code == 401


def test_forbidden_from_the_server(mg: ModelGates) -> None:
    with pytest.raises(ForbiddenResponseError) as raised:
        mg.o_auth.exchange_auth_code_for_api_key(code="unknown-code", code_verifier="a" * 43)
    assert raised.value.status_code == 403


def test_conflict_from_the_server(mg: ModelGates) -> None:
    pair = mg.o_auth.create_sha256_code_challenge()
    mg.o_auth.create_auth_code(
        callback_url=CALLBACK, code_challenge=pair.code_challenge, code_challenge_method="S256"
    )
    with pytest.raises(ConflictResponseError) as raised:
        mg.o_auth.create_auth_code(
            callback_url=CALLBACK, code_challenge=pair.code_challenge, code_challenge_method="S256"
        )
    assert raised.value.status_code == 409


def test_default_error_for_other_statuses(live_server: LiveServer) -> None:
    with ModelGates(server_url=f"{live_server.base_url}/api/v0") as mg:
        with pytest.raises(ModelGatesDefaultError) as raised:
            mg.o_auth.exchange_auth_code_for_api_key(code="x")
    assert raised.value.status_code == 404
    assert raised.value.data is not None and raised.value.data.code == 404


def test_request_validation_happens_before_sending(mg: ModelGates) -> None:
    with pytest.raises(RequestValidationError):
        mg.o_auth.create_auth_code(callback_url="http://evil.example/cb")


def test_connection_error_on_a_closed_port() -> None:
    with ModelGates(server_url=f"http://127.0.0.1:{free_port()}/api/v1") as mg:
        with pytest.raises(ConnectionError):
            mg.o_auth.exchange_auth_code_for_api_key(code="x", retries=NO_RETRIES)


@pytest.fixture
def broken_server(tmp_path: Path) -> Iterator[str]:
    """A real server whose database lost a table under it: every exchange fails inside."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'broken.db'}"
    upgrade(url)
    port = free_port()
    server, thread = start_server(Settings(database_url=url, port=port))
    with sqlite3.connect(tmp_path / "broken.db") as connection:
        connection.execute("DROP TABLE auth_codes")
    yield f"http://127.0.0.1:{port}/api/v1"
    server.should_exit = True
    thread.join(timeout=10)


def test_internal_server_error_after_retries(broken_server: str) -> None:
    quick = RetryConfig(
        "backoff",
        BackoffStrategy(initial_interval=10, max_interval=20, exponent=1.5, max_elapsed_time=200),
    )
    with ModelGates(server_url=broken_server) as mg:
        with pytest.raises(InternalServerResponseError) as raised:
            mg.o_auth.exchange_auth_code_for_api_key(code="anything", retries=quick)
    error = raised.value
    assert error.status_code == 500
    assert error.data is not None and error.data.message == "Internal server error."
    assert "Traceback" not in error.body and "auth_codes" not in error.body
