"""``Idempotency-Key`` on code creation, and the rate limits on exchange and create-code."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelgates import pkce
from modelgates.models.keys import CreateKeyRequest
from modelgates.server.secret import server_secret
from modelgates.server.services import keys
from modelgates.server.settings import Settings
from tests.conftest import (
    Account,
    LiveServer,
    free_port,
    new_account,
    run,
    start_server,
    table_counts,
    utcnow,
)
from tests.server.test_api_oauth import assert_error


def create(
    server: LiveServer, account: Account, body: dict[str, object], key: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {account.key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return server.client.post("/auth/keys/code", json=body, headers=headers)


def body() -> dict[str, object]:
    verifier = pkce.create_verifier()
    return {
        "callback_url": "https://app.example/cb",
        "code_challenge": pkce.s256_challenge(verifier),
        "code_challenge_method": "S256",
        "limit": 3,
    }


def test_same_key_and_body_get_the_same_answer(live_server: LiveServer, account: Account) -> None:
    key, request = secrets.token_hex(8), body()
    first = create(live_server, account, request, key)
    before = table_counts(live_server.database_url)
    second = create(live_server, account, request, key)
    assert first.status_code == second.status_code == 200, second.text
    assert first.json() == second.json()
    assert table_counts(live_server.database_url)["auth_codes"] == before["auth_codes"]


def test_same_key_with_another_body_conflicts(live_server: LiveServer, account: Account) -> None:
    key = secrets.token_hex(8)
    assert create(live_server, account, body(), key).status_code == 200
    assert_error(create(live_server, account, body(), key), 409, "Idempotency-Key")


def test_keys_are_per_user(live_server: LiveServer, account: Account) -> None:
    other = new_account(live_server.database_url)
    key, request = secrets.token_hex(8), body()
    mine = create(live_server, account, request, key)
    theirs = create(live_server, other, request, key)
    # Another user's request with the same key is theirs alone: a code of their own.
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["data"]["id"] != theirs.json()["data"]["id"]


def test_concurrent_duplicates_make_one_code(live_server: LiveServer, account: Account) -> None:
    key, request = secrets.token_hex(8), body()
    before = table_counts(live_server.database_url)["auth_codes"]

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_server.api_url) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/auth/keys/code",
                        json=request,
                        headers={"Authorization": f"Bearer {account.key}", "Idempotency-Key": key},
                    )
                    for _ in range(20)
                )
            )

    responses = asyncio.run(race())
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert table_counts(live_server.database_url)["auth_codes"] == before + 1


@pytest.mark.parametrize("value", [b"", b"a" * 256, b"tab\there", "ü".encode()])
def test_malformed_idempotency_keys_are_400(
    live_server: LiveServer, account: Account, value: bytes
) -> None:
    response = live_server.client.post(
        "/auth/keys/code",
        json=body(),
        headers={
            "Authorization": f"Bearer {account.key}",
            "Idempotency-Key": value,  # type: ignore[dict-item]
        },
    )
    assert_error(response, 400, "Idempotency-Key")


def test_stored_answer_is_sealed(live_server: LiveServer, account: Account) -> None:
    from tests.conftest import run

    key = secrets.token_hex(8)
    code = create(live_server, account, body(), key).json()["data"]["id"]

    async def sealed(store: object) -> list[bytes]:
        from sqlalchemy import select

        from modelgates.server.store.tables import idempotency_records

        def read(tx: Any) -> list[bytes]:
            result = tx.connection.execute(select(idempotency_records.c.sealed_response))
            return [row[0] for row in result if row[0] is not None]

        return await store.run(read)  # type: ignore[attr-defined,no-any-return]

    blobs = run(sealed, live_server.database_url)
    assert blobs and all(code.encode() not in blob for blob in blobs)


# --- rate limits on a server of their own --------------------------------------------------


@pytest.fixture
def limited(database_url: str) -> Iterator[str]:
    port = free_port()
    server, thread = start_server(
        Settings(
            database_url=database_url,
            port=port,
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
            rate_limit_exchange="3/minute",
            rate_limit_create_code="2/minute",
        )
    )
    yield f"http://127.0.0.1:{port}/api/v1"
    server.should_exit = True
    thread.join(timeout=10)


def test_exchange_attempts_are_limited_per_address(limited: str) -> None:
    statuses = [
        httpx.post(f"{limited}/auth/keys", json={"code": "nope"}).status_code for _ in range(4)
    ]
    assert statuses == [403, 403, 403, 429]
    refused = httpx.post(f"{limited}/auth/keys", json={"code": "nope"})
    error = assert_error(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert error["metadata"]["retry_after"] == int(refused.headers["retry-after"])


def test_code_creation_is_limited_per_user(limited: str, database_url: str) -> None:
    first, second = new_account(database_url), new_account(database_url)
    # Another key of the first user's brings no allowance of its own.
    another = run(
        lambda store: keys.create_key_for_user(
            store, email=first.email, request=CreateKeyRequest(name="another"), now=utcnow()
        ),
        database_url,
    ).key

    def make(key: str) -> int:
        return httpx.post(
            f"{limited}/auth/keys/code",
            json={"callback_url": "https://app.example/cb"},
            headers={"Authorization": f"Bearer {key}"},
        ).status_code

    assert [make(first.key), make(first.key), make(another)] == [200, 200, 429]
    assert make(second.key) == 200


def test_server_secret_file_is_created_once_and_private(tmp_path: Path) -> None:
    settings = Settings(secret_key_file=str(tmp_path / "secret"))
    first = server_secret(settings)
    assert server_secret(settings) == first and len(first) == 64
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert server_secret(Settings(secret_key="s" * 32)) == b"s" * 32
