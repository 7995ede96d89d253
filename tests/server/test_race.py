"""Many concurrent exchanges of one code, spread over several real server processes
(``modelgates serve``) on one database: one key, however the race falls."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from modelgates import pkce
from tests.conftest import Account, new_account, run

RACERS = 60
PROCESSES = 3


def _new_code(server: str, account: Account, body: dict[str, Any]) -> str:
    response = httpx.post(
        f"{server}/api/v1/auth/keys/code",
        json={"callback_url": "https://app.example/cb", **body},
        headers={"Authorization": f"Bearer {account.key}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


async def _race(servers: list[str], body: dict[str, Any]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=RACERS)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        # Open the connections first, so the exchanges themselves start together.
        await asyncio.gather(
            *(client.get(f"{servers[i % PROCESSES]}/healthz") for i in range(RACERS))
        )
        return await asyncio.gather(
            *(
                client.post(f"{servers[i % PROCESSES]}/api/v1/auth/keys", json=body)
                for i in range(RACERS)
            )
        )


def _keys_of(account: Account, database_url: str) -> list[Any]:
    from modelgates.server.services import keys

    return run(lambda store: keys.list_keys(store, account.email), database_url)


def test_s256_race_issues_one_key_and_everyone_gets_it(
    servers: list[str], database_url: str
) -> None:
    account = new_account(database_url)
    verifier = pkce.create_verifier()
    code = _new_code(
        servers[0],
        account,
        {"code_challenge": pkce.s256_challenge(verifier), "code_challenge_method": "S256"},
    )
    responses = asyncio.run(
        _race(servers, {"code": code, "code_verifier": verifier, "code_challenge_method": "S256"})
    )
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * RACERS, statuses
    assert len({r.json()["key"] for r in responses}) == 1
    issued = [row for row in _keys_of(account, database_url) if row.app_id is not None]
    assert len(issued) == 1


def test_unchallenged_race_issues_one_key_and_replays_revoke_it(
    servers: list[str], database_url: str
) -> None:
    account = new_account(database_url)
    code = _new_code(servers[1], account, {})
    responses = asyncio.run(_race(servers, {"code": code}))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [403] * (RACERS - 1), statuses
    issued = [row for row in _keys_of(account, database_url) if row.app_id is not None]
    assert len(issued) == 1
    # Every losing presentation was a replay of a code without PKCE: the key is revoked.
    assert issued[0].revoked_at is not None
    assert all(r.json()["error"]["code"] == 403 for r in responses if r.status_code == 403)
