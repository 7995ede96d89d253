"""``GET /readyz``: ready when the database answers at the expected revision and Redis answers
when configured; otherwise 503 in the contract's error shape, saying which check failed."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services import health
from modelgates.server.settings import Settings
from modelgates.server.store import Store
from modelgates.server.store.engine import normalize_url
from modelgates.server.store.migrate import upgrade
from tests.conftest import LiveServer, free_port, start_server

REDIS_URL = os.environ.get("MODELGATES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("MODELGATES_TEST_REQUIRE_REDIS") == "1"


@contextmanager
def serving(database_url: str, **settings: Any) -> Iterator[httpx.Client]:
    """The app in this process on a free port, with a client on its origin."""
    port = free_port()
    server, thread = start_server(Settings(database_url=database_url, port=port, **settings))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _set_revision(database_url: str, revision: str) -> None:
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def _assert_not_ready(response: httpx.Response, check: str, state: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == 503
    assert error["message"].startswith("Not ready: ")
    assert error["metadata"]["checks"][check] == state
    assert response.headers["retry-after"] == "5"
    assert response.headers["cache-control"] == "no-store"


def test_ready_on_a_migrated_database(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.base_url}/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "current", "redis": "not configured"},
    }
    assert response.headers["cache-control"] == "no-store"


def test_ready_with_redis_when_redis_answers(database_url: str) -> None:
    with serving(database_url, redis_url=REDIS_URL) as client:
        response = client.get("/readyz")
    if response.status_code == 503 and not REQUIRE_REDIS:
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"] == "ok"


def test_not_ready_when_configured_redis_does_not_answer(database_url: str) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with serving(database_url, redis_url=nobody) as client:
        response = client.get("/readyz")
        # Attempts that must be counted are refused rather than let through uncounted.
        exchange = client.post("/api/v1/auth/keys", json={"code": "anything"})
    _assert_not_ready(response, "redis", "unreachable")
    assert response.json()["error"]["message"] == "Not ready: Redis does not answer."
    assert response.json()["error"]["metadata"]["checks"]["database"] == "ok"
    assert exchange.status_code == 503
    assert exchange.json()["error"]["code"] == 503
    assert exchange.headers["retry-after"] == "2"


def test_not_ready_while_migrations_are_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/behind.db"
    upgrade(url, "0001")
    with serving(url) as client:
        response = client.get("/readyz")
        _assert_not_ready(response, "migrations", "behind")
        upgrade(url)
        assert client.get("/readyz").status_code == 200


def test_ready_when_a_newer_release_has_migrated_the_database(tmp_path: Path) -> None:
    """During a rolling upgrade the new release migrates first; the old replicas keep serving
    (migrations are written to be compatible with the release before them)."""
    url = f"sqlite:///{tmp_path}/ahead.db"
    upgrade(url)
    _set_revision(url, "9999_from_the_future")
    with serving(url) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["migrations"] == "ahead"


def test_an_unreachable_database_is_not_ready_and_the_log_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def check() -> health.Readiness:
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/x"  # nothing listens there
        store = Store.open(url, connect_timeout=1)
        try:
            return await health.readiness(store, RateLimiter(), redis_configured=False)
        finally:
            await store.close()

    with caplog.at_level(logging.WARNING, logger="modelgates.server"):
        result = asyncio.run(check())
    assert result.checks["database"] == "unreachable"
    assert result.problems == ["the database does not answer"]
    assert "readiness: database check failed: OperationalError: " in caplog.text
