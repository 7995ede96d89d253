"""The spending rules at the service level, with a clock the test controls."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from modelgates import pkce
from modelgates.models.oauth import CreateAuthCodeRequest, ExchangeAuthCodeRequest
from modelgates.server.services import apps, codes, keys
from modelgates.server.services.errors import CodeRejected, InvalidInput, NotPermitted
from modelgates.server.store import Store
from tests.conftest import Account, create_account, new_account

pytestmark = pytest.mark.anyio

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
TTL = timedelta(minutes=10)
APP = apps.identify(callback_url="https://app.example/cb", title="Test App", categories=None)


@pytest.fixture(scope="module")
def owner(database_url: str) -> Account:
    return new_account(database_url)


@pytest.fixture
async def store(database_url: str) -> Any:
    store = Store.open(database_url, pool_size=2)
    yield store
    await store.close()


async def make_code(
    store: Store, owner: Account, now: datetime = T0, **fields: Any
) -> tuple[str, str]:
    verifier = pkce.create_verifier()
    request = CreateAuthCodeRequest.model_validate(
        {
            "callback_url": "https://app.example/cb",
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
            **fields,
        }
    )
    created = await codes.create_code(
        store, user_id=owner.user_id, request=request, app=APP, now=now, ttl=TTL
    )
    return created.code, verifier


def spend(
    code: str, verifier: str | None = None, method: str | None = None
) -> ExchangeAuthCodeRequest:
    return ExchangeAuthCodeRequest.model_validate(
        {"code": code, "code_verifier": verifier, "code_challenge_method": method}
    )


async def test_code_expires_after_its_lifetime(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner)
    with pytest.raises(CodeRejected):
        await codes.exchange(store, spend(code, verifier), T0 + TTL)
    code, verifier = await make_code(store, owner)
    result = await codes.exchange(store, spend(code, verifier), T0 + TTL - timedelta(seconds=1))
    assert result.user_id == owner.user_id


async def test_retry_window_closes_with_the_codes_lifetime(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner)
    first = await codes.exchange(store, spend(code, verifier), T0 + timedelta(minutes=1))
    again = await codes.exchange(store, spend(code, verifier), T0 + timedelta(minutes=9))
    assert again.key == first.key
    with pytest.raises(CodeRejected):
        await codes.exchange(store, spend(code, verifier), T0 + TTL)


async def test_expired_sealed_keys_are_forgotten(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner)
    await codes.exchange(store, spend(code, verifier), T0)
    from modelgates.server.services.secrets import sha256_hex

    row = await store.run(lambda tx: tx.codes.by_hash(sha256_hex(code)))
    assert row is not None and row.sealed_key is not None
    assert await codes.forget_expired_secrets(store, T0 + TTL - timedelta(seconds=1)) >= 0
    row = await store.run(lambda tx: tx.codes.by_hash(sha256_hex(code)))
    assert row is not None and row.sealed_key is not None
    assert await codes.forget_expired_secrets(store, T0 + TTL) >= 1
    row = await store.run(lambda tx: tx.codes.by_hash(sha256_hex(code)))
    assert row is not None and row.sealed_key is None


async def test_sealed_key_is_not_the_key_in_the_clear(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner)
    result = await codes.exchange(store, spend(code, verifier), T0)
    from modelgates.server.services.secrets import sha256_hex

    row = await store.run(lambda tx: tx.codes.by_hash(sha256_hex(code)))
    assert row is not None and row.sealed_key is not None
    assert result.key.encode() not in row.sealed_key
    assert result.key[9:].encode() not in row.sealed_key
    assert code not in repr(row)  # only its hash is stored


async def test_retry_of_a_revoked_key_is_refused(
    store: Store, owner: Account, database_url: str
) -> None:
    code, verifier = await make_code(store, owner)
    result = await codes.exchange(store, spend(code, verifier), T0)
    from modelgates.server.services.secrets import sha256_hex

    await keys.revoke_by_hash(store, sha256_hex(result.key), T0)
    with pytest.raises(CodeRejected):
        await codes.exchange(store, spend(code, verifier), T0)


async def test_expiry_must_be_in_the_future_by_the_servers_clock(
    store: Store, owner: Account
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await make_code(store, owner, expires_at=T0.isoformat())
    assert refused.value.metadata == {
        "field": "expires_at",
        "errors": [{"field": "expires_at", "message": "must be in the future"}],
    }
    await make_code(store, owner, expires_at=(T0 + timedelta(seconds=1)).isoformat())


async def test_duplicate_challenge_is_free_again_once_the_code_expires(
    store: Store, owner: Account
) -> None:
    verifier = pkce.create_verifier()
    fields = {"code_challenge": pkce.s256_challenge(verifier), "code_challenge_method": "S256"}
    request = CreateAuthCodeRequest.model_validate(
        {"callback_url": "https://a.example/cb", **fields}
    )
    await codes.create_code(store, user_id=owner.user_id, request=request, app=APP, now=T0, ttl=TTL)
    from modelgates.server.services.errors import Conflict

    with pytest.raises(Conflict):
        await codes.create_code(
            store, user_id=owner.user_id, request=request, app=APP, now=T0 + TTL / 2, ttl=TTL
        )
    await codes.create_code(
        store, user_id=owner.user_id, request=request, app=APP, now=T0 + TTL, ttl=TTL
    )


async def test_duplicate_challenge_is_per_user(store: Store, owner: Account) -> None:
    someone_else = await create_account(store)
    verifier = pkce.create_verifier()
    request = CreateAuthCodeRequest.model_validate(
        {
            "callback_url": "https://a.example/cb",
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    for user in (owner, someone_else):
        await codes.create_code(
            store, user_id=user.user_id, request=request, app=APP, now=T0, ttl=TTL
        )


async def test_burnt_code_releases_its_challenge(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner)
    for _ in range(codes.MAX_FAILED_ATTEMPTS):
        with pytest.raises(CodeRejected):
            await codes.exchange(store, spend(code, pkce.create_verifier()), T0)
    with pytest.raises(CodeRejected):
        await codes.exchange(store, spend(code, verifier), T0)
    # The same challenge may now be used for a new code.
    request = CreateAuthCodeRequest.model_validate(
        {
            "callback_url": "https://a.example/cb",
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    await codes.create_code(store, user_id=owner.user_id, request=request, app=APP, now=T0, ttl=TTL)


async def test_wrong_method_counts_as_a_failed_attempt(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner)
    for _ in range(codes.MAX_FAILED_ATTEMPTS):
        with pytest.raises(CodeRejected):
            await codes.exchange(store, spend(code, verifier, "plain"), T0)
    with pytest.raises(CodeRejected):
        await codes.exchange(store, spend(code, verifier, "S256"), T0)


async def test_oauth_keys_may_not_create_codes(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner)
    result = await codes.exchange(store, spend(code, verifier), T0)
    from modelgates.server.services.secrets import sha256_hex

    app_key = await store.run(lambda tx: tx.keys.by_hash(sha256_hex(result.key)))
    own_key = await store.run(lambda tx: tx.keys.by_hash(owner.key_hash))
    assert app_key is not None and own_key is not None
    with pytest.raises(NotPermitted):
        codes.require_code_creator(app_key)
    codes.require_code_creator(own_key)


async def test_issued_key_carries_limit_in_exact_micros(store: Store, owner: Account) -> None:
    code, verifier = await make_code(store, owner, limit=0.000001, usage_limit_type="daily")
    result = await codes.exchange(store, spend(code, verifier), T0)
    from modelgates.server.services.secrets import sha256_hex

    row = await store.run(lambda tx: tx.keys.by_hash(sha256_hex(result.key)))
    assert row is not None
    assert row.limit_micros == 1
    assert row.limit_reset == "daily"
    assert row.app_id is not None
    assert row.label == "Test App"


async def test_a_long_host_name_makes_a_label_cut_to_a_labels_length(
    store: Store, owner: Account
) -> None:
    host = ".".join(["a" * 60, "b" * 60, "c" * 60]) + ".example"
    callback = f"https://{host}/cb"
    verifier = pkce.create_verifier()
    request = CreateAuthCodeRequest(
        callback_url=callback,
        code_challenge=pkce.s256_challenge(verifier),
        code_challenge_method="S256",
    )
    app = apps.identify(callback_url=callback, title=None, categories=None)
    created = await codes.create_code(
        store, user_id=owner.user_id, request=request, app=app, now=T0, ttl=TTL
    )
    result = await codes.exchange(store, spend(created.code, verifier), T0)
    from modelgates.server.services.secrets import sha256_hex

    row = await store.run(lambda tx: tx.keys.by_hash(sha256_hex(result.key)))
    assert row is not None and row.label == host[:100]
