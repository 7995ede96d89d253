"""Which real failures of PostgreSQL, SQLite and Redis count as "unavailable" (503, retry)
and which are failures of ours (500)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import create_engine, pool, text

from modelgates.server.ratelimit import RateLimiter, RateLimiterUnavailable
from modelgates.server.store.store import is_unavailable
from tests.conftest import free_port


def _raised(action: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as raised:
        action()
    return raised.value


def test_a_locked_sqlite_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.connect() as connection:
            error = _raised(lambda: connection.execute(text("SELECT * FROM t")))
    finally:
        engine.dispose()
        holder.close()
    assert isinstance(error, sqlalchemy.exc.OperationalError)
    assert is_unavailable(error)


def test_a_missing_sqlite_table_is_a_failure_of_ours(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/empty.db")
    try:
        with engine.connect() as connection:
            error = _raised(lambda: connection.execute(text("SELECT * FROM nowhere")))
    finally:
        engine.dispose()
    assert isinstance(error, sqlalchemy.exc.OperationalError)
    assert not is_unavailable(error)


def test_postgresql_refusing_connections_is_unavailable() -> None:
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    try:
        error = _raised(engine.connect)
    finally:
        engine.dispose()
    assert is_unavailable(error)


def test_a_missing_postgresql_table_is_a_failure_of_ours(postgres_admin: str) -> None:
    engine = create_engine(postgres_admin.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            error = _raised(lambda: connection.execute(text("SELECT * FROM nowhere")))
    finally:
        engine.dispose()
    assert isinstance(error, sqlalchemy.exc.ProgrammingError)
    assert not is_unavailable(error)


def test_no_pooled_connection_in_time_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path}/pool.db",
        poolclass=pool.QueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.1,
    )
    try:
        with engine.connect():
            error = _raised(engine.connect)
    finally:
        engine.dispose()
    assert isinstance(error, sqlalchemy.exc.TimeoutError)
    assert is_unavailable(error)


def test_redis_not_answering_is_unavailable() -> None:
    limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    error = _raised(lambda: asyncio.run(limiter.hit("5/minute", "test")))
    assert isinstance(error, RateLimiterUnavailable)


def test_anything_else_is_not() -> None:
    assert not is_unavailable(ValueError("a bug"))
