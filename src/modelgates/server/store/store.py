"""The store: a database's engine and threads, and the one way to use them, :meth:`Store.run`.

A transaction is a plain function of a :class:`.Transaction`, run whole on one of the store's
threads: one hand-off from the event loop per transaction instead of one per statement, on the
synchronous drivers (the standard library's sqlite3, psycopg 3). On SQLite the write lock is
then held only while the statements run, never across event-loop turns, and processes take
turns at it through :mod:`.writer_lock`.

A driver error that means "the database is away for now" leaves :meth:`Store.run` as
:class:`.StoreUnavailable` (:func:`is_unavailable` decides); any other error leaves as it is.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import TypeVar

import sqlalchemy.exc
from sqlalchemy import Engine

from modelgates.server.store.engine import create_engine_for
from modelgates.server.store.errors import StoreUnavailable
from modelgates.server.store.transaction import Transaction
from modelgates.server.store.writer_lock import WriterLock, writer_lock_for

_R = TypeVar("_R")


class Store:
    """A database: runs transactions on its own threads, as many as it has connections."""

    def __init__(
        self,
        engine: Engine,
        *,
        threads: int,
        wait_timeout: float,
        writer_lock: WriterLock | None = None,
    ) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="modelgates-db")
        self._wait_timeout = wait_timeout
        self._writer_lock = writer_lock

    @classmethod
    def open(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 10,
        connect_timeout: int = 5,
    ) -> Store:
        """A store on ``url``, pooled as :func:`create_engine_for` describes."""
        engine = create_engine_for(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            connect_timeout=connect_timeout,
        )
        if engine.dialect.name != "sqlite":
            return cls(engine, threads=pool_size + max_overflow, wait_timeout=pool_timeout)
        path = engine.url.database
        lock = writer_lock_for(path)
        return cls(engine, threads=1, wait_timeout=pool_timeout, writer_lock=lock)

    async def run(self, work: Callable[[Transaction], _R]) -> _R:
        """``work`` in one transaction, on one of the store's threads: committed when it returns,
        rolled back if it raises. ``work`` must not touch the event loop.

        Raises :class:`.StoreUnavailable` when the database is away for now (including when the
        transaction waited for a thread longer than a connection may be waited for).
        """
        deadline = time.monotonic() + self._wait_timeout
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work, deadline)

    def _transaction(self, work: Callable[[Transaction], _R], deadline: float) -> _R:
        if time.monotonic() > deadline:
            # Queued longer than a request may wait for a connection: unavailable, as the pool
            # says when its own wait runs out.
            raise StoreUnavailable("TimeoutError: no database connection free in time")
        try:
            with self._writer_lock.held() if self._writer_lock else nullcontext():
                with self.engine.begin() as connection:
                    return work(Transaction(connection))
        except CANDIDATES as error:
            if is_unavailable(error):
                raise StoreUnavailable(_reason(error)) from error
            raise

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        # Connections are closed on the threads that used them (sqlite3 insists).
        await loop.run_in_executor(self._executor, self.engine.dispose)
        self._executor.shutdown(wait=True)
        if self._writer_lock is not None:
            self._writer_lock.close()


#: The driver errors among which :func:`is_unavailable` decides; any other is never unavailable.
CANDIDATES: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # sqlite3's own constants need Python 3.11


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means "the database cannot be used right now" (answered 503, retry
    later) rather than "something is wrong here" (answered 500, look at the log).

    Unavailable: whatever psycopg reports as OperationalError (PostgreSQL down, restarting,
    refusing or dropping connections, out of connections, a lock or statement timeout, a
    serialization failure or deadlock, which a retry resolves, and a refused login, after which
    nothing can be served either); a connection found dead; no pooled connection free in time;
    SQLite busy or locked past its busy timeout. Not unavailable: SQLite's other
    OperationalErrors (a missing table, a syntax error), which are bugs or a broken database and
    must not be retried into forever.
    """
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error.orig, sqlite3.Error):
            code = getattr(error.orig, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
            return "locked" in str(error.orig)
    return isinstance(error, CANDIDATES)


def _reason(error: Exception) -> str:
    """One line for the log: the error's class and the driver's first line (never the SQL)."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
