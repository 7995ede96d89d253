"""URLs and engines: which drivers, which pool, and how every SQLite connection is set up.

The drivers are ours to choose, and synchronous: the standard library's sqlite3 and psycopg 3
(a transaction runs whole on one of the store's threads, see :mod:`.store`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url


def normalize_url(url: str) -> URL:
    """The SQLAlchemy URL for the ordinary ``sqlite:///`` or ``postgresql://`` forms.

    The drivers are ours to choose: the standard library's sqlite3 and psycopg 3.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def prepare_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and ``BEGIN IMMEDIATE`` on every SQLite connection.

    ``BEGIN IMMEDIATE`` takes the write lock when a transaction starts, so two transactions never
    both read and then deadlock upgrading to write; the busy timeout makes the second one wait.
    synchronous stays at SQLite's FULL: every commit is durable.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine_for(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 10,
    connect_timeout: int = 5,
) -> Engine:
    """An engine; on PostgreSQL, a pool of ``pool_size`` connections (plus ``max_overflow`` under
    load) that checks each connection before lending it, so a restarted server is reconnected to
    without a restart of ours. A request waits at most ``pool_timeout`` seconds for a connection
    and ``connect_timeout`` seconds for a new one; then it fails (and the API answers 503)."""
    sa_url = normalize_url(url)
    if sa_url.get_backend_name() == "sqlite":
        # SQLite has one writer at a time and every transaction here takes the write lock
        # (BEGIN IMMEDIATE): one connection per process queues requests first come first served
        # instead of in SQLite's busy handler, which sleeps up to 100 ms between retries.
        engine = create_engine(
            sa_url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=pool_timeout,
            connect_args={"check_same_thread": False},  # the pool lends it to one thread at a time
        )
        prepare_sqlite(engine)
        return engine
    return create_engine(
        sa_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
        connect_args={"connect_timeout": connect_timeout, "application_name": "modelgates"},
    )
