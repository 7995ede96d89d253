"""Running Alembic from code: ``modelgates db upgrade`` and ``serve`` both call :func:`upgrade`.

However many processes start at once, one migrates and the others wait for it. :func:`upgrade`
opens one connection, begins a transaction and takes a lock before Alembic reads the database's
revision:

* PostgreSQL: ``pg_advisory_xact_lock`` on :data:`MIGRATION_LOCK_KEY`, released when the
  transaction ends (or the connection drops, if the process dies);
* SQLite: ``BEGIN EXCLUSIVE``, the database's write lock.

Alembic then runs every pending migration inside that one transaction (both databases have
transactional DDL), so a process that waited finds the database at the newest revision and does
nothing, and a migration that fails leaves nothing half done.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, pool, text
from sqlalchemy.exc import OperationalError

from modelgates.server.store.engine import normalize_url
from modelgates.server.store.store import Store

MIGRATIONS = Path(__file__).parent / "migrations"

#: The PostgreSQL advisory lock that serializes migrations ("modelgat" in ASCII). Advisory locks
#: belong to one database, so databases on one server do not block each other.
MIGRATION_LOCK_KEY = 0x6D6F_6465_6C67_6174

#: How long a migration waits for another process's on SQLite before giving up. PostgreSQL waits
#: as long as the migrating process holds its lock (it is released if that process dies).
SQLITE_LOCK_WAIT_SECONDS = 120

#: Seconds to wait for a TCP connection to PostgreSQL.
CONNECT_TIMEOUT_SECONDS = 5

#: Logged (stderr, without logging configured) when a process has to wait to migrate.
WAITING = "waiting for the migration lock, which another process holds"

logger = logging.getLogger("modelgates.server")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    sync_url = normalize_url(database_url)
    # Alembic's ini interpolation treats % specially; a password may contain one.
    config.set_main_option(
        "sqlalchemy.url", sync_url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default), one process at a time."""
    config = alembic_config(database_url)
    with _connect(database_url) as connection:
        _lock(connection)
        config.attributes["connection"] = connection  # env.py migrates on it, inside our lock
        command.upgrade(config, revision)
        connection.commit()


def is_current(database_url: str) -> bool:
    """Whether the database is at the newest revision."""
    with _connect(database_url) as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == _heads()


class SchemaState(str, enum.Enum):
    """Where the database's revision stands against the migrations this code ships."""

    CURRENT = "current"
    #: Migrations this code has are not applied yet: the code may need columns that are missing.
    BEHIND = "behind"
    #: The database carries a revision this code does not know: a newer release migrated it.
    AHEAD = "ahead"


async def schema_state(store: Store) -> SchemaState:
    """The database's revision against this code's (for readiness checks)."""
    return _state(set(await store.run(lambda tx: _current_heads(tx.connection))))


def database_state(database_url: str) -> SchemaState:
    """:func:`schema_state` without a Store, for the commands that open the database once. A
    database with no revision at all (no tables of ours) is ``BEHIND``."""
    with _connect(database_url) as connection:
        return _state(set(_current_heads(connection)))


def _state(current: set[str]) -> SchemaState:
    if current == _heads():
        return SchemaState.CURRENT
    if current <= _known_revisions():
        return SchemaState.BEHIND
    return SchemaState.AHEAD


def _current_heads(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


@functools.lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def _heads() -> set[str]:
    return set(_script().get_heads())


@functools.lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _script().walk_revisions())


@contextmanager
def _connect(database_url: str) -> Iterator[Connection]:
    engine = _engine(database_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _engine(database_url: str) -> Engine:
    url = normalize_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(
            url,
            poolclass=pool.NullPool,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "application_name": "modelgates-migrate",
            },
        )
    engine = create_engine(url, poolclass=pool.NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, in _lock

    return engine


def _lock(connection: Connection) -> None:
    """Begin the migration's transaction holding the migration lock; say so when waiting."""
    if connection.dialect.name == "postgresql":
        key = {"key": MIGRATION_LOCK_KEY}
        if not connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), key):
            logger.warning(WAITING)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)
        return
    # SQLite's migration lock is its write lock, which writers also take for a few milliseconds.
    connection.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        connection.exec_driver_sql("BEGIN EXCLUSIVE")
        return
    except OperationalError:
        connection.rollback()
    logger.warning(WAITING)
    connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_LOCK_WAIT_SECONDS * 1000}")
    connection.exec_driver_sql("BEGIN EXCLUSIVE")
