"""The store's transactions: one function, run whole on a store thread; on SQLite, processes
take turns at the write lock through an OS file lock."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import event, func, select

from modelgates.server.services import codes
from modelgates.server.store import Store, StoreUnavailable, Transaction
from modelgates.server.store.migrate import upgrade
from modelgates.server.store.tables import apps
from tests.conftest import create_account, free_port, utcnow

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(database_url: str) -> Any:
    store = Store.open(database_url, pool_size=2, max_overflow=0, pool_timeout=0.5)
    yield store
    await store.close()


def _apps_named(tx: Transaction, origin: str) -> int:
    return int(tx.connection.scalar(select(func.count()).where(apps.c.origin == origin)) or 0)


async def test_work_is_committed_when_it_returns(store: Store) -> None:
    origin = f"https://committed-{os.urandom(4).hex()}.example"
    app = await store.run(lambda tx: tx.apps.upsert(origin, None, utcnow()))
    assert (app.origin, app.operator_title) == (origin, None)
    assert await store.run(lambda tx: _apps_named(tx, origin)) == 1


async def test_work_that_raises_writes_nothing(store: Store) -> None:
    origin = f"https://rolled-back-{os.urandom(4).hex()}.example"

    def half(tx: Transaction) -> None:
        tx.apps.upsert(origin, None, utcnow())
        raise RuntimeError("after the first write")

    with pytest.raises(RuntimeError, match="after the first write"):
        await store.run(half)
    assert await store.run(lambda tx: _apps_named(tx, origin)) == 0


async def test_work_runs_off_the_event_loop_thread(store: Store) -> None:
    ran_on = await store.run(lambda _tx: threading.current_thread())
    assert ran_on is not threading.current_thread()
    assert ran_on.name.startswith("modelgates-db")


async def test_a_transaction_queued_past_the_pool_timeout_is_unavailable(tmp_path: Any) -> None:
    # SQLite: one connection, one thread. While one transaction is held open, the next waits in
    # the queue; past pool_timeout it fails as an exhausted pool does (answered 503).
    store = Store.open(f"sqlite:///{tmp_path}/queue.db", pool_timeout=0.2)
    release = threading.Event()
    try:
        first = asyncio.ensure_future(store.run(lambda _tx: release.wait(5)))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(store.run(lambda _tx: "ran"))
        await asyncio.sleep(0.4)
        release.set()
        assert await first is True
        with pytest.raises(StoreUnavailable):
            await queued
        assert await store.run(lambda _tx: "ran") == "ran"  # and the store goes on serving
    finally:
        await store.close()


async def test_a_database_away_for_now_is_unavailable_and_a_bug_is_not(tmp_path: Any) -> None:
    # The store answers for the driver: its own error when the database is away (here nothing
    # listens on the port), the driver's when the statement is wrong (here no table: a bug).
    away = Store.open(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=1)
    try:
        with pytest.raises(StoreUnavailable) as raised:
            await away.run(lambda tx: tx.count("users"))
        assert isinstance(raised.value.__cause__, sqlalchemy.exc.OperationalError)
        assert str(raised.value).startswith("OperationalError: ")
    finally:
        await away.close()
    unmigrated = Store.open(f"sqlite:///{tmp_path}/empty.db")
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError, match="no such table"):
            await unmigrated.run(lambda tx: tx.count("users"))
    finally:
        await unmigrated.close()


async def test_sqlite_processes_take_turns_through_a_lock_file(tmp_path: Any) -> None:
    database = tmp_path / "locked.db"
    store = Store.open(f"sqlite:///{database}")
    lock_file = f"{database}-writer.lock"
    inside, release = threading.Event(), threading.Event()

    def hold(_tx: Transaction) -> None:
        inside.set()
        release.wait(5)

    def taken_by_another_process() -> bool:
        # flock locks belong to open files: a separate open() competes as another process would.
        fd = os.open(lock_file, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the lock if we got it
        return False

    try:
        held = asyncio.ensure_future(store.run(hold))
        assert await asyncio.to_thread(inside.wait, 5)
        assert taken_by_another_process()
        release.set()
        await held
        assert not taken_by_another_process()
    finally:
        await store.close()


async def test_the_sweeper_reads_only_the_codes_holding_secrets(tmp_path: Any) -> None:
    # Without the partial index its UPDATE scanned every code ever made, each minute, holding
    # SQLite's write lock (32 ms at 200,000 codes).
    url = f"sqlite:///{tmp_path}/sweep.db"
    upgrade(url)
    store = Store.open(url)
    sent: list[tuple[str, Any]] = []
    listen = event.listens_for(store.engine, "before_cursor_execute")
    listen(lambda _conn, _cursor, sql, params, *_rest: sent.append((sql, params)))
    try:
        await codes.forget_expired_secrets(store, utcnow())
        sweep = next((sql, p) for sql, p in sent if sql.lstrip().startswith("UPDATE auth_codes"))
        plan = await store.run(
            lambda tx: tx.connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sweep[0]}", sweep[1]
            ).all()
        )
        details = " ".join(str(row[-1]) for row in plan)
    finally:
        await store.close()
    assert "USING INDEX ix_auth_codes_holding_secrets" in details, details


async def test_a_prepared_statement_fails_as_sqlalchemy_says_and_rolls_back(
    store: Store, database_url: str
) -> None:
    """The hot statements run on the driver's cursor (queries/_common.py, Prepared): its errors
    must leave as SQLAlchemy's, as every other statement's do, and the transaction roll back."""
    account = await create_account(store)
    row = await store.run(lambda tx: tx.keys.by_hash(account.key_hash))
    assert row is not None and row.created_at.tzinfo is not None  # types read back as before
    generation = {
        "generation_id": "gen-" + os.urandom(16).hex(),
        "key_id": row.id,
        "user_id": row.user_id,
        "app_id": None,
        "referer_origin": None,
        "model": "m",
        "streamed": False,
        "held_micros": 1,
        "held_prompt_micros": 1,
        "created_at": utcnow(),
    }

    def twice(tx: Transaction) -> None:
        tx.generations.insert(**generation)  # type: ignore[arg-type]
        tx.generations.insert(**generation)  # type: ignore[arg-type]

    with pytest.raises(sqlalchemy.exc.IntegrityError):
        await store.run(twice)
    found = await store.run(lambda tx: tx.generations.by_id(str(generation["generation_id"])))
    assert found is None
