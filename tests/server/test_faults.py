"""Faults under load, bounded in time and on loopback only: a server process killed with SIGKILL
in the middle of a load of exchanges on PostgreSQL loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from modelgates import pkce
from modelgates.models.oauth import CreateAuthCodeRequest
from modelgates.server.services import apps, codes
from modelgates.server.store import Store
from tests.conftest import create_account, run, utcnow
from tests.server.serving import ServeProcess

CODES = 120
CONCURRENCY = 16
# A load from one address far past what the per-address limit allows a real client.
UNLIMITED = {"MODELGATES_RATE_LIMIT_EXCHANGE": "off"}


async def _mint(store: Store) -> tuple[str, list[tuple[str, str]]]:
    account = await create_account(store)
    app = apps.identify(callback_url="https://app.example/cb", title="Load", categories=None)
    minted = []
    for _ in range(CODES):
        verifier = pkce.create_verifier()
        request = CreateAuthCodeRequest(
            callback_url="https://app.example/cb",
            code_challenge=pkce.s256_challenge(verifier),
            code_challenge_method="S256",
        )
        created = await codes.create_code(
            store,
            user_id=account.user_id,
            request=request,
            app=app,
            now=utcnow(),
            ttl=timedelta(minutes=10),
        )
        minted.append((created.code, verifier))
    return account.user_id, minted


async def _exchange_all(
    urls: Callable[[], str], minted: list[tuple[str, str]], on_progress: Callable[[int], None]
) -> dict[str, str]:
    """Exchange every code, retrying a failed attempt (as the SDK would) until it gets an answer."""
    keys: dict[str, str] = {}
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in minted:
        queue.put_nowait(item)
    deadline = time.monotonic() + 120

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            code, verifier = queue.get_nowait()
            while time.monotonic() < deadline:
                try:
                    response = await client.post(
                        f"{urls()}/api/v1/auth/keys",
                        json={
                            "code": code,
                            "code_verifier": verifier,
                            "code_challenge_method": "S256",
                        },
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
                    continue
                if response.status_code == 503:
                    await asyncio.sleep(0.1)
                    continue
                assert response.status_code == 200, response.text
                keys[code] = response.json()["key"]
                on_progress(len(keys))
                break

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return keys


def test_sigkill_mid_load_loses_and_duplicates_nothing(new_database: Callable[[str], str]) -> None:
    database_url = new_database("postgres")
    user_id, minted = run(_mint, database_url)
    victim, survivor = (
        ServeProcess(database_url, env=UNLIMITED),
        ServeProcess(database_url, env=UNLIMITED),
    )
    restarted: list[ServeProcess] = []
    try:
        victim.wait_until_up()
        survivor.wait_until_up()
        target = {"url": victim.url}

        def progress(done: int) -> None:
            if done == CODES // 3 and victim.process.poll() is None:
                os.kill(victim.process.pid, signal.SIGKILL)  # mid-load: requests are in flight
                target["url"] = survivor.url

        keys = asyncio.run(_exchange_all(lambda: target["url"], minted, progress))
        assert victim.process.wait(timeout=10) == -signal.SIGKILL

        # The killed server comes back and serves.
        restarted.append(ServeProcess(database_url, env=UNLIMITED))
        restarted[0].wait_until_up()

        assert len(keys) == CODES and len(set(keys.values())) == CODES
        with httpx.Client(base_url=f"{restarted[0].url}/api/v1") as client:
            for key in keys.values():
                assert (
                    client.get("/key", headers={"Authorization": f"Bearer {key}"}).status_code
                    == 200
                )

        async def issued(store: Store) -> dict[str, Any]:
            from sqlalchemy import func, select

            from modelgates.server.store.tables import api_keys, auth_codes

            def count(tx: Any) -> dict[str, Any]:
                keys_made = tx.connection.scalar(
                    select(func.count())
                    .select_from(api_keys)
                    .where(api_keys.c.user_id == user_id, api_keys.c.app_id.is_not(None))
                )
                spent = tx.connection.scalar(
                    select(func.count())
                    .select_from(auth_codes)
                    .where(auth_codes.c.user_id == user_id, auth_codes.c.key_id.is_not(None))
                )
                return {"keys": keys_made, "spent": spent}

            return await store.run(count)

        # One key per code: no code issued two keys, none issued a key nobody received.
        assert run(issued, database_url) == {"keys": CODES, "spent": CODES}
    finally:
        for server in (victim, survivor, *restarted):
            server.stop()
