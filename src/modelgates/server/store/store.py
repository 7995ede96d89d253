"""The store: a database's engine and threads, and the one way to use them, :meth:`Store.run`.

A transaction is a plain function of a :class:`.Transaction`, run whole on one of the store's
threads: one hand-off from the event loop per transaction instead of one per statement, on the
synchronous drivers (the standard library's sqlite3, psycopg 3). On SQLite the write lock is
then held only while the statements run, never across event-loop turns, and processes take
turns at it through :mod:`.writer_lock`.

Group commit, on SQLite: a process has one connection and one writer at a time, and each
commit costs an fsync (synchronous=FULL), so at saturation the write lock is held mostly for
fsyncs. When the store's thread has its turn at the writer lock it takes every transaction
queued by then (up to :data:`GROUP_LIMIT`) into one ``BEGIN IMMEDIATE ... COMMIT``, each in a
savepoint of its own, and answers them all once that one COMMIT has returned: as durable as
one commit each, one fsync for all. A work that raises is rolled back to its savepoint and its
caller alone gets the exception. When the group's transaction itself fails (the lock or
BEGIN, a COMMIT refused such as a deferred foreign key, or a work's error after which SQLite
rolled the whole transaction back) every work of the group runs again alone, in its own
transaction as if never grouped, so only the bad one fails. Hence the rule in
:meth:`Store.run`: a work may run twice.

PostgreSQL is not grouped: it has a pool of connections, many transactions commit at once, and
its own WAL writer already flushes concurrent commits together (the pool's threads wait on one
flush); grouping there would only make transactions wait on each other's row locks.

A driver error that means "the database is away for now" leaves :meth:`Store.run` as
:class:`.StoreUnavailable` (:func:`is_unavailable` decides); any other error leaves as it is.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import Any, Generic, TypeVar

import sqlalchemy.exc
from sqlalchemy import Engine

from modelgates.server.store.engine import create_engine_for
from modelgates.server.store.errors import StoreUnavailable
from modelgates.server.store.transaction import Transaction
from modelgates.server.store.writer_lock import WriterLock, writer_lock_for

_R = TypeVar("_R")

#: The most transactions one SQLite commit takes. The group holds the write lock, and with it
#: every other process on the database, for all its works' statements. Measured in-process on
#: the bench machine, an exchange's statements take ~0.5 ms and a commit's fsync 2-3 ms: a lone
#: exchange holds the lock ~3 ms, a group of 16 ~8.5 ms plus one fsync, ~11 ms, where 16 alone
#: would take ~50 ms. The fsync is then a quarter of the turn; doubling the bound would
#: save at most another eighth while doubling how long the other processes wait for one turn.
#: A process has one transaction queued per request in flight, so at the tens of connections
#: per process a server usually sees the bound seldom bites.
GROUP_LIMIT = 16


class _Queued(Generic[_R]):
    """A work waiting for the SQLite thread, and where its answer goes: a future of its caller's
    event loop, which the thread answers in one call a group (one wake-up of the loop, not one
    per transaction)."""

    __slots__ = ("deadline", "future", "loop", "work")

    def __init__(
        self, work: Callable[[Transaction], _R], deadline: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.work = work
        self.deadline = deadline
        self.loop = loop
        self.future: asyncio.Future[_R] = loop.create_future()


_Answered = list[tuple[_Queued[Any], tuple[BaseException | None, Any]]]


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
        self._grouped = engine.dialect.name == "sqlite"
        self._queue: deque[_Queued[Any]] = deque()
        #: Whether the thread has a turn to come (which takes whatever is queued by then).
        self._turn_due = False
        self._turns = threading.Lock()

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
        rolled back if it raises; its answer is given once the commit has returned.

        A work is a function of its transaction alone: on SQLite it may run twice (its group's
        transaction failed, see the module's docstring), and only the run that committed is
        answered. So it reads and writes only through ``tx``, and whatever else it needs (the
        time, a new secret or id, a price) is made before and given to it; it changes nothing
        outside the database (no list it appends to, no counter but its own locals), and it must
        not touch the event loop.

        Raises :class:`.StoreUnavailable` when the database is away for now (including when the
        transaction waited for a thread longer than a connection may be waited for).
        """
        deadline = time.monotonic() + self._wait_timeout
        if not self._grouped:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._transaction, work, deadline)
        queued = _Queued(work, deadline, asyncio.get_running_loop())
        with self._turns:
            self._queue.append(queued)
            start, self._turn_due = not self._turn_due, True
        if start:
            self._executor.submit(self._turns_until_empty)
        return await queued.future

    def _transaction(
        self, work: Callable[[Transaction], _R], deadline: float, *, locked: bool = False
    ) -> _R:
        """``work`` alone in a transaction of its own (``locked``: the writer lock is held)."""
        if time.monotonic() > deadline:
            # Queued longer than a request may wait for a connection: unavailable, as the pool
            # says when its own wait runs out.
            raise StoreUnavailable("TimeoutError: no database connection free in time")
        try:
            with nullcontext() if locked else self._writing(), self.engine.begin() as connection:
                return work(Transaction(connection))
        except CANDIDATES as error:
            if is_unavailable(error):
                raise StoreUnavailable(_reason(error)) from error
            raise

    def _turns_until_empty(self) -> None:
        try:
            while True:
                _deliver(self._run_queued())
                with self._turns:
                    if not self._queue:
                        self._turn_due = False
                        return
        except BaseException:
            # Not meant to happen (a turn answers its works' errors): the next work queued
            # starts the thread again rather than waiting for a turn that never comes.
            with self._turns:
                self._turn_due = False
            raise

    def _run_queued(self) -> _Answered:
        """One turn: a group taken and run, and what to answer."""
        answered: _Answered = []
        group: list[_Queued[Any]] = []
        answers = None
        try:
            # The turn at the writer lock comes first, then the group is taken: what queued
            # while the other processes wrote joins it.
            with self._writing():
                group = self._take(answered)
                if len(group) == 1:
                    answers = [self._attempt(group[0], locked=True)]
                elif group:
                    answers = self._together(group)
        except BaseException:
            if answers is None:
                # The lock or the group's transaction failed, not one work: each runs again as
                # if never grouped (a work that caused it fails again, alone).
                for queued in group or self._take(answered):
                    answered.append((queued, self._attempt(queued)))
                return answered
            # Committed: the answers stand, whatever failed after (only the lock's release can).
        answered.extend(zip(group, answers or [], strict=True))
        return answered

    def _take(self, answered: _Answered) -> list[_Queued[Any]]:
        """The works queued now, up to :data:`GROUP_LIMIT`; those whose callers gave up are
        dropped, and those past their deadline answered unavailable (into ``answered``)."""
        group: list[_Queued[Any]] = []
        while len(group) < GROUP_LIMIT:
            try:
                queued = self._queue.popleft()
            except IndexError:
                break
            if queued.future.cancelled():
                continue  # its caller gave up waiting
            if time.monotonic() > queued.deadline:
                answered.append((queued, self._attempt(queued)))  # unavailable, at once
            else:
                group.append(queued)
        return group

    def _together(self, group: list[_Queued[Any]]) -> list[tuple[BaseException | None, Any]]:
        """The works in one transaction, each in a savepoint: each one's error or result, once
        the transaction has committed."""
        answers: list[tuple[BaseException | None, Any]] = []
        with self.engine.begin() as connection:
            # The savepoints go straight to sqlite3: through SQLAlchemy each cost ~40 µs, more
            # than a work's own statements (its Prepared ones, docs/performance.md).
            driver = connection.connection.driver_connection
            if driver is None:
                raise RuntimeError("the connection is closed")
            for queued in group:
                driver.execute("SAVEPOINT work")
                try:
                    result = queued.work(Transaction(connection))
                except BaseException as error:
                    # Raises in turn when SQLite rolled the whole transaction back (it does on
                    # some errors), savepoints and all: then the group has failed.
                    driver.execute("ROLLBACK TO work")
                    driver.execute("RELEASE work")
                    answers.append((_unavailable_or_itself(error), None))
                else:
                    driver.execute("RELEASE work")
                    answers.append((None, result))
        return answers

    def _attempt(
        self, queued: _Queued[Any], *, locked: bool = False
    ) -> tuple[BaseException | None, Any]:
        """``queued`` alone: its error, or its result."""
        try:
            return None, self._transaction(queued.work, queued.deadline, locked=locked)
        except BaseException as error:
            return error, None

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if self._writer_lock is None:
            yield
        else:
            with self._writer_lock.held():
                yield

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        # Connections are closed on the threads that used them (sqlite3 insists).
        await loop.run_in_executor(self._executor, self.engine.dispose)
        self._executor.shutdown(wait=True)
        if self._writer_lock is not None:
            self._writer_lock.close()


def _deliver(answered: _Answered) -> None:
    """The answers, handed to their callers' loops in one call each."""
    by_loop: dict[asyncio.AbstractEventLoop, _Answered] = {}
    for item in answered:
        by_loop.setdefault(item[0].loop, []).append(item)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_set_answers, items)
        except RuntimeError:
            pass  # the loop was closed: nobody waits for these answers any more


def _set_answers(answered: _Answered) -> None:
    for queued, (error, result) in answered:
        if queued.future.done():
            continue  # its caller was cancelled meanwhile
        if error is None:
            queued.future.set_result(result)
        else:
            queued.future.set_exception(error)


def _unavailable_or_itself(error: BaseException) -> BaseException:
    if isinstance(error, CANDIDATES) and is_unavailable(error):
        unavailable = StoreUnavailable(_reason(error))
        unavailable.__cause__ = error
        return unavailable
    return error


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
