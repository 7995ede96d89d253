"""``serve`` migrates at start, one process at a time, on a fresh database of each backend."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from modelgates.server.store.engine import normalize_url
from modelgates.server.store.migrate import MIGRATION_LOCK_KEY, WAITING, is_current, upgrade
from tests.conftest import BACKENDS, _create_postgres_database, _drop_postgres_database
from tests.server.serving import ServeProcess, start_all, stop_all


@pytest.fixture
def fresh_postgres_database(postgres_admin: str) -> Iterator[str]:
    """A PostgreSQL database nothing has migrated yet."""
    url = _create_postgres_database(postgres_admin)
    try:
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of each backend nothing has migrated yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fresh.db"
    return str(request.getfixturevalue("fresh_postgres_database"))


@contextmanager
def migration_lock_held(database_url: str) -> Iterator[Callable[[], bool]]:
    """Hold the lock migrations take; yields a probe: has anything been migrated yet?"""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(str(url.database), isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        query = "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
        try:
            yield lambda: connection.execute(query).fetchone() != (0,)
        finally:
            connection.execute("COMMIT")
            connection.close()
        return
    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        probe = "SELECT to_regclass('alembic_version') IS NOT NULL"
        try:
            yield lambda: bool(pg.execute(probe).fetchone() == (True,))
        finally:
            pg.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def version_rows(database_url: str) -> list[str]:
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT * FROM alembic_version"))]
    finally:
        engine.dispose()


def test_servers_starting_at_once_on_a_fresh_database_migrate_it_once(
    fresh_postgres_database: str,
) -> None:
    url = fresh_postgres_database
    servers = start_all(url, 3)
    try:
        for server in servers:
            assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert len(version_rows(url)) == 1
        assert is_current(url)
        assert not any("Traceback" in server.output for server in servers)
    finally:
        stop_all(servers)


def test_a_server_waits_while_another_process_migrates(fresh_database: str) -> None:
    server: ServeProcess | None = None
    try:
        with migration_lock_held(fresh_database) as migrated:
            server = ServeProcess(fresh_database)
            server.wait_for_output(WAITING)
            # Waiting, it neither migrates behind the holder's back nor serves.
            assert not migrated()
            assert not server.is_up()
        server.wait_until_up()
        assert len(version_rows(fresh_database)) == 1
        assert is_current(fresh_database)
    finally:
        if server is not None:
            server.stop()


def test_no_migrate_serves_but_is_not_ready_until_the_database_is_migrated(
    fresh_postgres_database: str,
) -> None:
    fresh_database = fresh_postgres_database
    server = ServeProcess(fresh_database, "--no-migrate")
    try:
        server.wait_until_up()
        response = httpx.get(f"{server.url}/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        error = response.json()["error"]
        assert error["code"] == 503
        assert "modelgates db upgrade" in error["message"]
        assert error["metadata"]["checks"]["migrations"] == "behind"
        assert not is_current(fresh_database)

        upgrade(fresh_database)  # what `modelgates db upgrade` does
        response = httpx.get(f"{server.url}/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["migrations"] == "current"
    finally:
        server.stop()
