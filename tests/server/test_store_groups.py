"""Group commit on SQLite: the transactions a process has queued run in one SQLite transaction,
each in a savepoint, answered after the one COMMIT; when that transaction fails, each runs
again alone. On real SQLite files, outside the server: the store's thread is held by one
transaction while the others queue behind it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import event

from modelgates.server.store import Store, StoreUnavailable, Transaction
from modelgates.server.store.store import GROUP_LIMIT

pytestmark = pytest.mark.anyio

Work = Callable[[Transaction], Any]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "groups.db"
    with sqlite3.connect(path) as setup:
        setup.executescript(
            """
            CREATE TABLE parents (id INTEGER PRIMARY KEY);
            CREATE TABLE notes (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                parent_id INTEGER REFERENCES parents (id)
            );
            INSERT INTO parents (id) VALUES (1);
            INSERT INTO notes (name) VALUES ('taken');
            """
        )
    setup.close()
    return path


@pytest.fixture
async def store(database: Path) -> AsyncIterator[Store]:
    store = Store.open(f"sqlite:///{database}", pool_timeout=5)
    yield store
    await store.close()


def commits_of(store: Store) -> list[None]:
    """One entry per COMMIT the store's connection sends (SQLAlchemy's event, not our state)."""
    seen: list[None] = []
    event.listen(store.engine, "commit", lambda _connection: seen.append(None))
    return seen


def note(name: str, parent_id: int | None = None) -> Work:
    def write(tx: Transaction) -> str:
        tx.connection.exec_driver_sql(
            "INSERT INTO notes (name, parent_id) VALUES (?, ?)", (name, parent_id)
        )
        return name

    return write


def counted(runs: list[str], name: str, work: Work) -> Work:
    """``work``, noting each time it runs (the test's own observation, outside the database)."""

    def run(tx: Transaction) -> Any:
        runs.append(name)
        return work(tx)

    return run


def committed_notes(database: Path) -> set[str]:
    """What another connection sees: only what was committed."""
    reader = sqlite3.connect(database)
    try:
        return {name for (name,) in reader.execute("SELECT name FROM notes")}
    finally:
        reader.close()


@contextlib.asynccontextmanager
async def thread_held(store: Store) -> AsyncIterator[None]:
    """Inside, one transaction holds the store's one thread, so that what is run queues; on
    leaving, that transaction is released and answered."""
    inside, release = threading.Event(), threading.Event()

    def hold(_tx: Transaction) -> None:
        inside.set()
        release.wait(5)

    held = asyncio.ensure_future(store.run(hold))
    assert await asyncio.to_thread(inside.wait, 5)
    try:
        yield
    finally:
        release.set()
        await held


async def queued_behind_one(store: Store, works: list[Work]) -> list[asyncio.Task[Any]]:
    """Start ``works`` while another transaction holds the store's one thread, so that they
    queue; that transaction is released, and the works' tasks returned."""
    async with thread_held(store):
        tasks = [asyncio.ensure_future(store.run(work)) for work in works]
        await asyncio.sleep(0.05)  # every one has queued
    return tasks


async def test_works_queued_behind_a_transaction_commit_together(
    store: Store, database: Path
) -> None:
    commits = commits_of(store)
    names = [f"queued-{n}" for n in range(5)]
    tasks = await queued_behind_one(store, [note(name) for name in names])
    assert await asyncio.gather(*tasks) == names
    assert len(commits) == 2  # the one that held the thread, then the five at once
    assert committed_notes(database) >= set(names)


async def test_a_groups_answers_wake_the_event_loop_once(
    store: Store, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread hands a whole group's answers to the loop in one call: each wake-up of the
    loop from another thread is a write to its self-pipe and a turn of the loop."""
    loop = asyncio.get_running_loop()
    wakes: list[None] = []
    call = loop.call_soon_threadsafe

    def counting(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("modelgates-db"):  # the store's thread
            wakes.append(None)
        return call(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    names = [f"woken-{n}" for n in range(6)]
    tasks = await queued_behind_one(store, [note(name) for name in names])
    assert await asyncio.gather(*tasks) == names
    assert len(wakes) == 2  # the transaction that held the thread, then the six at once


async def test_a_group_takes_at_most_the_limit(store: Store, database: Path) -> None:
    commits = commits_of(store)
    names = [f"many-{n}" for n in range(2 * GROUP_LIMIT + 1)]
    tasks = await queued_behind_one(store, [note(name) for name in names])
    assert await asyncio.gather(*tasks) == names
    assert len(commits) == 1 + 3
    assert committed_notes(database) >= set(names)


async def test_a_work_that_raises_fails_alone_and_the_others_commit(
    store: Store, database: Path
) -> None:
    commits = commits_of(store)
    runs: list[str] = []

    def half(tx: Transaction) -> None:
        note("half")(tx)
        raise ValueError("after its write")

    works = [
        counted(runs, "a", note("a")),
        counted(runs, "half", half),
        counted(runs, "c", note("c")),
    ]
    tasks = await queued_behind_one(store, works)
    a, failed, c = await asyncio.gather(*tasks, return_exceptions=True)
    assert (a, c) == ("a", "c")
    assert isinstance(failed, ValueError) and str(failed) == "after its write"
    assert committed_notes(database) >= {"a", "c"}
    assert "half" not in committed_notes(database)
    assert len(commits) == 2 and runs == ["a", "half", "c"]  # one group, nothing ran again


async def test_a_commit_refused_runs_each_work_alone_so_only_its_own_fails(
    store: Store, database: Path
) -> None:
    # A deferred foreign key is checked at COMMIT: the group's COMMIT is refused for one work.
    runs: list[str] = []

    def orphan(tx: Transaction) -> str:
        tx.connection.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
        return str(note("orphan", parent_id=99)(tx))

    works = [note("before", parent_id=1), orphan, note("after", parent_id=1)]
    names = ["before", "orphan", "after"]
    tasks = await queued_behind_one(
        store, [counted(runs, name, work) for name, work in zip(names, works, strict=True)]
    )
    before, failed, after = await asyncio.gather(*tasks, return_exceptions=True)
    assert (before, after) == ("before", "after")
    assert isinstance(failed, sqlalchemy.exc.IntegrityError)
    assert "FOREIGN KEY" in str(failed.orig)
    assert committed_notes(database) >= {"before", "after"}
    assert "orphan" not in committed_notes(database)
    assert runs == names * 2  # the group, then each alone


async def test_a_transaction_sqlite_rolled_back_runs_each_work_alone(
    store: Store, database: Path
) -> None:
    # INSERT OR ROLLBACK on a taken name: SQLite rolls back the whole transaction, savepoints
    # and all, so the work's savepoint cannot be rolled back to.
    def rollback_all(tx: Transaction) -> None:
        tx.connection.exec_driver_sql("INSERT OR ROLLBACK INTO notes (name) VALUES ('taken')")

    runs: list[str] = []
    works = [note("first"), rollback_all, note("last")]
    names = ["first", "rollback_all", "last"]
    tasks = await queued_behind_one(
        store, [counted(runs, name, work) for name, work in zip(names, works, strict=True)]
    )
    first, failed, last = await asyncio.gather(*tasks, return_exceptions=True)
    assert (first, last) == ("first", "last")
    assert isinstance(failed, sqlalchemy.exc.IntegrityError)
    assert committed_notes(database) >= {"first", "last"}
    assert runs == names[:2] + names  # the group, given up where it broke, then each alone


async def test_an_answer_is_given_only_after_its_group_committed(
    store: Store, database: Path
) -> None:
    inside, release = threading.Event(), threading.Event()

    def slow(tx: Transaction) -> str:
        note("slow")(tx)
        inside.set()
        release.wait(5)
        return "slow"

    tasks = await queued_behind_one(store, [note("quick"), slow])
    assert await asyncio.to_thread(inside.wait, 5)
    # "quick" has run, but its group has not committed: its caller waits, and nobody sees it.
    done, _ = await asyncio.wait([tasks[0]], timeout=0.2)
    assert not done
    assert "quick" not in committed_notes(database)
    release.set()
    assert await tasks[0] == "quick"
    assert "quick" in committed_notes(database)  # visible to another connection by then
    assert await tasks[1] == "slow"


async def test_a_busy_database_is_unavailable_to_each_caller(database: Path) -> None:
    # Another program holds SQLite's write lock without our lock file: BEGIN IMMEDIATE waits out
    # the busy timeout (shortened here), for the group and then for each work alone.
    store = Store.open(f"sqlite:///{database}", pool_timeout=5)
    event.listen(
        store.engine,
        "connect",
        lambda dbapi_connection, _record: dbapi_connection.execute("PRAGMA busy_timeout=100"),
    )
    other = sqlite3.connect(database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        first = asyncio.ensure_future(store.run(note("first")))
        await asyncio.sleep(0.03)  # the first waits on the lock; the rest queue behind it
        rest = [asyncio.ensure_future(store.run(note(f"rest-{n}"))) for n in range(3)]
        answers = await asyncio.gather(first, *rest, return_exceptions=True)
        assert all(isinstance(answer, StoreUnavailable) for answer in answers), answers
        other.execute("ROLLBACK")
        assert await store.run(note("later")) == "later"  # and the store goes on serving
    finally:
        other.close()
        await store.close()


async def test_a_caller_that_gave_up_is_not_run(store: Store, database: Path) -> None:
    async with thread_held(store):
        gave_up = asyncio.ensure_future(store.run(note("gave-up")))
        kept = asyncio.ensure_future(store.run(note("kept")))
        await asyncio.sleep(0.05)
        gave_up.cancel()
        await asyncio.sleep(0.05)  # the cancellation reaches the queued work
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    assert "gave-up" not in committed_notes(database)
