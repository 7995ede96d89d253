"""The SDK's api_keys and usage namespaces against a real server, sync, async and standalone."""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal

import pytest

from modelgates import ModelGates, RetryConfig
from modelgates.core import ModelGatesCore
from modelgates.errors import (
    ConflictResponseError,
    ForbiddenResponseError,
    NotFoundResponseError,
    PaymentRequiredResponseError,
    UnauthorizedResponseError,
)
from modelgates.funcs import api_keys_get, api_keys_list_async, usage_record
from modelgates.server.services import usage
from tests.conftest import LiveServer, new_account, run, utcnow

NO_RETRIES = RetryConfig("none")


@pytest.fixture(scope="module")
def service_token(live_server: LiveServer) -> str:
    return run(
        lambda store: usage.create_service_token(store, "gw", utcnow()), live_server.database_url
    )


def test_management_and_metering_sync(live_server: LiveServer, service_token: str) -> None:
    manager = new_account(live_server.database_url, management=True)
    with ModelGates(api_key=manager.key, server_url=live_server.api_url) as mg:
        made = mg.api_keys.create(name="sdk made", limit=1, limit_reset="daily")
        assert made.key not in repr(made)
        assert mg.api_keys.get(hash=made.data.hash).data.name == "sdk made"
        assert made.data.hash in {k.hash for k in mg.api_keys.list().data}
        renamed = mg.api_keys.update(hash=made.data.hash, name="renamed", limit=None)
        assert renamed.data.name == "renamed" and renamed.data.limit is None
        mg.api_keys.update(hash=made.data.hash, limit=0.5)

        with ModelGates(api_key=service_token, server_url=live_server.api_url) as gateway:
            charged = gateway.usage.record(
                key_hash=made.data.hash, amount=0.25, request_id=secrets.token_hex(6)
            )
            assert charged.data.limit_remaining == Decimal("0.25")
            with pytest.raises(PaymentRequiredResponseError) as refused:
                gateway.usage.record(
                    key_hash=made.data.hash, amount=0.5, request_id=secrets.token_hex(6)
                )
            assert refused.value.data is not None and refused.value.data.metadata == {
                "reason": "limit_exceeded",
                "limit_remaining": 0.25,
            }
            request_id = secrets.token_hex(6)
            gateway.usage.record(key_hash=made.data.hash, amount=0.01, request_id=request_id)
            with pytest.raises(ConflictResponseError):
                gateway.usage.record(key_hash=made.data.hash, amount=0.02, request_id=request_id)

        with ModelGates(api_key=made.key, server_url=live_server.api_url) as app:
            record = app.api_keys.get_current_key().data
            assert record.usage_daily == Decimal("0.26") and record.limit_remaining == Decimal(
                "0.24"
            )
            with pytest.raises(ForbiddenResponseError):
                app.api_keys.list()  # not a management key
            assert app.api_keys.revoke_current_key().deleted is True
            with pytest.raises(UnauthorizedResponseError):
                app.api_keys.get_current_key(retries=NO_RETRIES)

        assert mg.api_keys.delete(hash=made.data.hash).deleted is True
        with pytest.raises(NotFoundResponseError):
            mg.api_keys.get(hash=made.data.hash)


def test_standalone_and_async_forms(live_server: LiveServer, service_token: str) -> None:
    manager = new_account(live_server.database_url, management=True)
    stranger = new_account(live_server.database_url)
    core = ModelGatesCore(api_key=manager.key, server_url=live_server.api_url)
    try:
        hidden = api_keys_get(core, hash=stranger.key_hash)
        assert not hidden.ok and isinstance(hidden.error, NotFoundResponseError)

        async def listing() -> int:
            result = await api_keys_list_async(core, include_disabled=True)
            assert result.ok and result.value is not None
            return len(result.value.data)

        assert asyncio.run(listing()) == 1
    finally:
        core.close()
    gateway = ModelGatesCore(api_key=service_token, server_url=live_server.api_url)
    try:
        unknown = usage_record(gateway, key_hash="0" * 64, amount=1, request_id="x")
        assert isinstance(unknown.error, NotFoundResponseError)
        ok = usage_record(
            gateway,
            request_body={
                "key_hash": stranger.key_hash,
                "amount": 2,
                "request_id": secrets.token_hex(6),
            },
        )
        assert ok.ok and ok.value is not None and ok.value.data.usage == 2
    finally:
        gateway.close()
