"""The ceiling across processes: 200 concurrent streamed completions over three server
processes on one PostgreSQL database against a small limit, and a process killed mid-stream
whose hold the sweeper settles. The provider is the scripted one (tests/gateway/upstream.py,
the one stand-in: no model provider is reachable here)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from modelgates.server.app import ABANDONED_HOLD_GRACE_SECONDS, create_app, sweep
from modelgates.server.services import money
from modelgates.server.settings import Settings
from tests.conftest import UPSTREAM_KEY, utcnow
from tests.gateway.conftest import Gateway
from tests.gateway.upstream import INPUT_PRICE, Upstream
from tests.server.serving import ServeProcess, stop_all

REQUESTS = 200
LIMIT_USD = 0.2


@pytest.fixture(scope="module")
def pg_database(new_database: Callable[[str], str]) -> str:
    return new_database("postgres")


def _env(providers_file: Path) -> dict[str, str]:
    return {
        "MODELGATES_PROVIDERS_FILE": str(providers_file),
        "MODELGATES_TEST_UPSTREAM_KEY": UPSTREAM_KEY,
        "MODELGATES_SECRET_KEY": os.environ["MODELGATES_SECRET_KEY"],
    }


@pytest.fixture(scope="module")
def three_gateways(
    pg_database: str, providers_file: Path, upstream: Upstream
) -> Iterator[list[ServeProcess]]:
    servers = [ServeProcess(pg_database, env=_env(providers_file)) for _ in range(3)]
    try:
        for server in servers:
            server.wait_until_up()
        yield servers
    finally:
        stop_all(servers)


def _gateway_on(server: ServeProcess, database_url: str, upstream: Upstream) -> Gateway:
    return Gateway(
        server.url, database_url, httpx.Client(base_url=f"{server.url}/api/v1"), upstream
    )


async def _stream(client: httpx.AsyncClient, url: str, key: str) -> tuple[int, int | None]:
    """One streamed completion: its status, and its cost in micro-dollars when answered."""
    body = {
        "model": "script/echo",
        "messages": [{"role": "user", "content": "race"}],
        "stream": True,
        "max_tokens": 4,
        "stream_options": {"include_usage": True},
    }
    async with client.stream(
        "POST",
        f"{url}/api/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        if response.status_code != 200:
            await response.aread()
            return response.status_code, None
        cost = None
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    cost = money.to_micros(money.Decimal(str(chunk["usage"]["cost"])))
        return 200, cost


def test_concurrent_streams_over_three_processes_never_pass_the_limit(
    three_gateways: list[ServeProcess], pg_database: str, upstream: Upstream
) -> None:
    gateway = _gateway_on(three_gateways[0], pg_database, upstream)
    account = gateway.key(limit=LIMIT_USD)

    async def race() -> list[tuple[int, int | None]]:
        limits = httpx.Limits(max_connections=REQUESTS)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(_stream(client, three_gateways[i % 3].url, account.key) for i in range(REQUESTS))
            )

    results = asyncio.run(race())
    statuses = [status for status, _ in results]
    answered = [cost for status, cost in results if status == 200]
    assert set(statuses) <= {200, 402}, statuses
    assert 0 < len(answered) < REQUESTS  # some fitted, the rest were refused
    assert all(cost is not None and cost > 0 for cost in answered)
    key = gateway.key_row(account.key_hash)
    limit = money.to_micros(money.Decimal(str(LIMIT_USD)))
    charged = sum(g.charged_micros for g in gateway.generations_of(account.key_hash))
    assert key.held_micros == 0
    assert key.usage_micros == charged == sum(c for c in answered if c is not None)
    assert key.usage_micros <= limit
    # Refused requests left nothing behind; answered ones are all completed.
    generations = gateway.generations_of(account.key_hash)
    assert len(generations) == len(answered)
    assert {g.status for g in generations} == {"completed"}


def test_a_hold_whose_process_died_is_settled_by_the_sweeper(
    providers_file: Path, upstream: Upstream, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'killed.db'}"
    server = ServeProcess(database_url, env=_env(providers_file))
    try:
        server.wait_until_up()
        gateway = _gateway_on(server, database_url, upstream)
        account = gateway.key(limit=1)
        body = {
            "model": "script/slow",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
        }
        with (
            httpx.Client(timeout=10) as client,
            client.stream(
                "POST",
                f"{server.url}/api/v1/chat/completions",
                content=json.dumps(body).encode(),
                headers={
                    "Authorization": f"Bearer {account.key}",
                    "Content-Type": "application/json",
                },
            ) as response,
        ):
            lines = response.iter_lines()
            next(line for line in lines if line.startswith("data:"))
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=10)
    finally:
        server.stop()

    (held,) = gateway.generations_of(account.key_hash)
    assert held.status == "in_progress" and held.settled_at is None
    key = gateway.key_row(account.key_hash)
    assert key.held_micros == held.held_micros > 0 and key.usage_micros == 0

    # The sweeper of any other process, once the hold is older than any request can live.
    app = create_app(
        Settings(
            database_url=database_url,
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
            providers_file=str(providers_file),
        )
    )
    context = app.state.context
    too_old = context.gateway.longest_request_seconds + ABANDONED_HOLD_GRACE_SECONDS + 1

    async def sweep_later() -> None:
        context.now = lambda: utcnow() + timedelta(seconds=too_old)
        await sweep(context)
        await sweep(context)  # a second sweep finds nothing more to settle
        await context.gateway.aclose()
        await context.store.close()

    started = time.monotonic()
    asyncio.run(sweep_later())
    assert time.monotonic() - started < 30
    (settled,) = gateway.generations_of(account.key_hash)
    assert settled.status == "abandoned"
    # Charged the prompt part of its hold: the request's body bytes at the input price.
    assert settled.charged_micros == held.held_prompt_micros == len(json.dumps(body)) * INPUT_PRICE
    key = gateway.key_row(account.key_hash)
    assert key.held_micros == 0 and key.usage_micros == settled.charged_micros
