"""Several server processes on one PostgreSQL database: ``serve --workers N``, and the
five-wrong-verifiers cap holding however the guesses are spread over the processes."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from modelgates import pkce
from modelgates.server.services.secrets import sha256_hex
from modelgates.server.settings import Settings
from modelgates.server.store import CodeRow
from tests.conftest import Account, new_account, run
from tests.server.serving import ServeProcess, stop_all

WORKERS = 2
REDIS_URL = os.environ.get("MODELGATES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("MODELGATES_TEST_REQUIRE_REDIS") == "1"
EXCHANGES_PER_MINUTE = 3


def _client_address() -> dict[str, str]:
    """A client address of this run's own, as the load balancer would forward it (the limits'
    counters in Redis outlive the run, and other runs may share that Redis)."""
    octets = ".".join(str(secrets.randbelow(256)) for _ in range(3))
    return {"X-Forwarded-For": f"10.{octets}"}


@pytest.fixture(scope="module")
def pg_database(new_database: Callable[[str], str]) -> str:
    return new_database("postgres")


@pytest.fixture(scope="module")
def redis_reachable() -> bool:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as client:
            return bool(client.ping())
    except redis.RedisError:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required but unreachable at {REDIS_URL}")
        return False


@pytest.fixture(scope="module")
def three_servers(
    pg_database: str, redis_reachable: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServeProcess]]:
    """Three ``modelgates serve`` processes on one PostgreSQL database and one Redis (from
    ``MODELGATES_REDIS_URL``), behind a "load balancer" on 127.0.0.1 whose ``X-Forwarded-For``
    they believe; the first runs ``--workers 2``. Its environment names another database,
    which the flag must override in the workers too."""
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "not-this.db"
    env = {
        "MODELGATES_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "MODELGATES_RATE_LIMIT_EXCHANGE": f"{EXCHANGES_PER_MINUTE}/minute",
    }
    if redis_reachable:
        env["MODELGATES_REDIS_URL"] = REDIS_URL
    servers = [
        ServeProcess(
            pg_database,
            "--workers",
            str(WORKERS),
            env={**env, "MODELGATES_DATABASE_URL": f"sqlite:///{elsewhere}"},
        ),
        ServeProcess(pg_database, env=env),
        ServeProcess(pg_database, env=env),
    ]
    try:
        for server in servers:
            server.wait_until_up()
        yield servers
    finally:
        stop_all(servers)


def _children(pid: int) -> list[int]:
    """The worker processes ``pid`` spawned (Linux: read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z" and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_settings_survive_the_trip_through_the_environment() -> None:
    settings = Settings(
        database_url="postgresql://mg@db.internal:5432/modelgates",
        host="0.0.0.0",  # noqa: S104
        port=9000,
        code_ttl_seconds=120,
        db_pool_size=3,
        db_max_overflow=0,
        db_connect_timeout_seconds=2,
        workers=4,
        migrate_on_start=False,
        forwarded_allow_ips="10.0.0.0/8,192.0.2.1",
        redis_url="redis://127.0.0.1:6379/2",
        allow_signup=True,
    )
    assert Settings.load(environ=settings.to_environ()) == settings


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_serve_one_port_with_the_parents_settings(
    three_servers: list[ServeProcess], pg_database: str
) -> None:
    server = three_servers[0]
    workers = _children(server.process.pid)
    assert len(workers) == WORKERS
    account = new_account(pg_database)
    # A connection each, so the workers share them; a worker on the environment's database
    # would know neither the key nor the tables.
    for _ in range(12):
        response = httpx.get(
            f"{server.url}/api/v1/key", headers={"Authorization": f"Bearer {account.key}"}
        )
        assert response.status_code == 200, response.text
    assert "Workers:      2" in server.output


def test_every_process_is_ready_with_the_shared_redis(
    three_servers: list[ServeProcess], redis_reachable: bool
) -> None:
    if not redis_reachable:
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    for server in three_servers:
        response = httpx.get(f"{server.url}/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {
            "database": "ok",
            "migrations": "current",
            "redis": "ok",
        }


def test_exchange_limits_are_shared_by_the_processes_per_forwarded_client(
    three_servers: list[ServeProcess], redis_reachable: bool
) -> None:
    if not redis_reachable:
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    client, other_client = _client_address(), _client_address()

    def exchange(server: ServeProcess, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            f"{server.url}/api/v1/auth/keys", json={"code": "no-such-code"}, headers=headers
        )

    # One attempt on each process: the client's three a minute, counted together in Redis.
    assert [exchange(s, client).status_code for s in three_servers] == [403] * 3
    refused = exchange(three_servers[0], client)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == 429
    assert int(refused.headers["retry-after"]) >= 1
    # Another client behind the same load balancer has its own budget.
    assert exchange(three_servers[1], other_client).status_code == 403


def _new_s256_code(server: str, account: Account, verifier: str) -> str:
    response = httpx.post(
        f"{server}/api/v1/auth/keys/code",
        json={
            "callback_url": "https://app.example/cb",
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
        },
        headers={"Authorization": f"Bearer {account.key}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


async def _exchange_concurrently(
    servers: list[str], bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=len(bodies))) as client:
        # Open the connections first, so the exchanges themselves start together.
        await asyncio.gather(
            *(client.get(f"{servers[i % len(servers)]}/healthz") for i in range(len(bodies)))
        )
        return await asyncio.gather(
            *(
                client.post(
                    f"{servers[i % len(servers)]}/api/v1/auth/keys",
                    json=body,
                    headers=_client_address(),  # each guess from elsewhere: no rate limit
                )
                for i, body in enumerate(bodies)
            )
        )


def _code_row(database_url: str, code: str) -> CodeRow:
    async def read(store: Any) -> CodeRow | None:
        row: CodeRow | None = await store.run(lambda tx: tx.codes.by_hash(sha256_hex(code)))
        return row

    row = run(read, database_url)
    assert row is not None
    return row


@pytest.mark.parametrize(("wrong", "expected"), [(4, 200), (5, 403), (30, 403)])
def test_wrong_verifiers_spread_over_processes_burn_the_code_at_five(
    three_servers: list[ServeProcess], pg_database: str, wrong: int, expected: int
) -> None:
    urls = [server.url for server in three_servers]
    account = new_account(pg_database)
    verifier = pkce.create_verifier()
    code = _new_s256_code(urls[0], account, verifier)
    guesses = [
        {"code": code, "code_verifier": pkce.create_verifier(), "code_challenge_method": "S256"}
        for _ in range(wrong)
    ]
    responses = asyncio.run(_exchange_concurrently(urls, guesses))
    assert [r.status_code for r in responses] == [403] * wrong
    assert all(r.json()["error"]["code"] == 403 for r in responses)
    # Every wrong guess counted (none lost to the race), up to the cap at least.
    failed = _code_row(pg_database, code).failed_attempts
    assert failed == wrong if wrong <= 5 else 5 <= failed <= wrong

    right = httpx.post(
        f"{urls[1]}/api/v1/auth/keys",
        json={"code": code, "code_verifier": verifier, "code_challenge_method": "S256"},
        headers=_client_address(),
    )
    assert right.status_code == expected, right.text
    if expected == 200:
        assert right.json()["key"].startswith("sk-mg-v1-")
    else:
        assert right.json()["error"]["code"] == 403


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_stopping_serve_stops_its_workers(three_servers: list[ServeProcess]) -> None:
    server = three_servers[0]
    workers = _children(server.process.pid)
    assert len(workers) == WORKERS
    server.stop()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
    assert server.process.returncode == 0
