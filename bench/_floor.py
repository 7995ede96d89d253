"""The database's own floor: the statements of one exchange, sent straight through the driver.

No HTTP, no SQLAlchemy, no asyncio: the standard library's sqlite3 or psycopg 3, each exchange
one transaction of exactly the statements that ``services.codes.exchange`` issues for a fresh
S256 code (:data:`STATEMENTS`, checked against what the service really sends by
:func:`statements_drift`). Every value is prepared before the clock starts.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_CODE_COLUMNS = (
    "id, code_hash, user_id, app_id, callback_url, code_challenge, code_challenge_method, "
    "limit_micros, usage_limit_type, key_label, key_expires_at, created_at, "
    "expires_at, failed_attempts, spent_at, key_id, sealed_key"
)
_KEY_COLUMNS = (
    "hash, user_id, app_id, label, is_management, limit_micros, limit_reset, usage_micros, "
    "day_index, day_micros, week_index, week_micros, month_index, month_micros, expires_at, "
    "created_at, disabled, revoked_at, held_micros"
)

#: One exchange, in order, with ``:name`` parameters (BEGIN and COMMIT around them).
STATEMENTS = (
    f"SELECT {_CODE_COLUMNS} FROM auth_codes WHERE code_hash = :code_hash",
    f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (:key_hash, :user_id, :app_id, 'Bench', "
    ":false, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, :now, :false, NULL, 0) RETURNING id",
    "UPDATE auth_codes SET pending_challenge = NULL, spent_at = :now, key_id = :key_id, "
    "sealed_key = :sealed WHERE id = :code_id AND spent_at IS NULL AND expires_at > :now "
    "AND failed_attempts < 5 RETURNING id",
    "INSERT INTO audit_events (created_at, event, user_id, key_hash, app_id, code_id, "
    "client_address, detail) VALUES (:now, 'key_issued', :user_id, :key_hash, :app_id, :code_id, "
    "'127.0.0.1', NULL)",
)


def _shape(sql: str) -> str:
    """A statement with its parameters, casts, literals, table prefixes and spacing taken out."""
    sql = re.sub(r"::(TIMESTAMP WITHOUT TIME ZONE|VARCHAR|INTEGER|BIGINT|BOOLEAN|BYTEA)", "", sql)
    # An id RETURNING, ours or SQLAlchemy's implicit one on PostgreSQL, is not a difference.
    sql = re.sub(r"\s+RETURNING (\w+\.)?id$", "", sql)
    sql = re.sub(r"%\(\w+\)s|:\w+|\?|'[^']*'|\b\d+\b|NULL", "?", sql)
    sql = re.sub(r"\b(auth_codes|apps|api_keys)\.", "", sql)
    return re.sub(r"\s+", " ", re.sub(r"\s*([(),=<>])\s*", r"\1", sql)).strip().lower()


def _shapes_of(sql: str) -> tuple[str, str]:
    """The statement's verb and table, and its column lists, order-insensitive for SET."""
    shape = _shape(sql)
    if shape.startswith("update"):
        head, _, rest = shape.partition(" set ")
        sets, _, where = rest.partition(" where ")
        columns = sorted(part.split("=")[0] for part in sets.split(","))
        return head, f"set {','.join(columns)} where {where}"
    return shape.split(" ", 3)[0], shape


def statements_drift(seen: Sequence[str]) -> list[str]:
    """How the statements the service sent for one exchange differ from :data:`STATEMENTS`."""
    seen = [s for s in seen if not re.match(r"\s*(BEGIN|COMMIT|SAVEPOINT|RELEASE)\b", s, re.I)]
    problems = []
    if len(seen) != len(STATEMENTS):
        problems.append(f"the service sent {len(seen)} statements, not {len(STATEMENTS)}")
    for ours, theirs in zip(STATEMENTS, seen, strict=False):
        if _shapes_of(ours)[1] != _shapes_of(theirs)[1]:
            problems.append(f"the service sent: {theirs.strip()[:160]}")
    return problems


async def capture_exchange(database_url: str, body: dict[str, str]) -> list[str]:
    """The SQL one real exchange sends through the service layer (the code is spent)."""
    from sqlalchemy import event

    from modelgates.models.oauth import ExchangeAuthCodeRequest
    from modelgates.server.services import codes
    from modelgates.server.store import Store
    from modelgates.server.store.queries._common import Prepared

    store = Store.open(database_url, pool_size=1)
    seen: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_rest: seen.append(statement),
    )
    # Prepared statements go to the driver's cursor, past SQLAlchemy's events.
    run_prepared = Prepared.rows

    def recorded(self: Prepared, connection: Any, params: dict[str, Any]) -> Any:
        seen.append(self.sql(connection.dialect))
        return run_prepared(self, connection, params)

    Prepared.rows = recorded  # type: ignore[method-assign]
    try:
        await codes.exchange(store, ExchangeAuthCodeRequest(**body), datetime.now(timezone.utc))
    finally:
        Prepared.rows = run_prepared  # type: ignore[method-assign]
        await store.close()
    return seen


def run_floor(
    database_url: str, codes: Sequence[tuple[str, int]], *, seconds: float, conns: int
) -> dict[str, float]:
    """Exchanges per second over ``seconds`` with ``conns`` connections, each spending its share
    of ``codes`` (pairs of code hash and id, unspent) in a loop, and this process's CPU time per
    exchange."""
    connect = _connector(database_url)
    probe = connect()
    user_id, app_id = _one(probe.execute("SELECT user_id, app_id FROM auth_codes LIMIT 1"))
    probe.close()
    is_pg = not database_url.startswith("sqlite")
    statements = [_paramstyle(s, is_pg) for s in STATEMENTS]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp: Any = now if is_pg else now.isoformat(" ")
    params = iter(
        [
            {
                "code_hash": code_hash,
                "code_id": code_id,
                "now": stamp,
                "app_id": app_id,
                "user_id": user_id,
                "false": False,
                "key_hash": os.urandom(32).hex(),
                "sealed": os.urandom(101),
            }
            for code_hash, code_id in codes
        ]
    )  # shared by the threads: next() on a list iterator is atomic
    counts = [0] * conns
    start = threading.Barrier(conns + 1)
    deadline = [0.0]
    ran_out = []

    def loop(k: int) -> None:
        conn = connect()
        start.wait()
        while time.monotonic() < deadline[0]:
            p = next(params, None)
            if p is None:
                ran_out.append(k)
                break
            _exchange(conn, statements, p, is_pg)
            counts[k] += 1
        conn.close()

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(conns)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    began, cpu = time.monotonic(), time.process_time()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = min(time.monotonic(), deadline[0]) - began
    if ran_out:
        raise SystemExit("the floor ran out of codes: mint more")
    done = sum(counts)
    return {"rate": done / elapsed, "cpu_ms": 1000 * (time.process_time() - cpu) / done}


def run_service(database_url: str, bodies: Sequence[dict[str, str]], seconds: float) -> float:
    """CPU milliseconds per exchange through ``services.codes.exchange`` in this process, with
    the server's store and event loop but no HTTP: one exchange at a time, for ``seconds``."""
    from modelgates.models.oauth import ExchangeAuthCodeRequest
    from modelgates.server.services import codes
    from modelgates.server.store import Store

    requests = [ExchangeAuthCodeRequest(**body) for body in bodies]

    async def loop() -> float:
        store = Store.open(database_url)
        try:
            await codes.exchange(store, requests[0], datetime.now(timezone.utc))  # warm up
            deadline, cpu, done = time.monotonic() + seconds, time.process_time(), 0
            for request in requests[1:]:
                if time.monotonic() >= deadline:
                    break
                await codes.exchange(store, request, datetime.now(timezone.utc))
                done += 1
            return 1000 * (time.process_time() - cpu) / done
        finally:
            await store.close()

    try:
        import uvloop

        return float(uvloop.run(loop()))
    except ImportError:
        return asyncio.run(loop())


def _exchange(conn: Any, statements: Sequence[str], p: dict[str, Any], is_pg: bool) -> None:
    if not is_pg:
        conn.execute("BEGIN IMMEDIATE")
    for sql in statements:
        cursor = conn.execute(sql, p)
        if sql.startswith("SELECT"):
            cursor.fetchall()
        elif " RETURNING " in sql:
            p["key_id"] = cursor.fetchone()[0]
    conn.commit() if is_pg else conn.execute("COMMIT")


def _paramstyle(sql: str, is_pg: bool) -> str:
    return re.sub(r":(\w+)", r"%(\1)s", sql) if is_pg else sql


def _one(cursor: Any) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None, "no code in the database"
    return tuple(row)


def _connector(database_url: str) -> Callable[[], Any]:
    """Connections configured as the server configures its own (see store/engine.py)."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])

        def connect_sqlite() -> sqlite3.Connection:
            conn = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON"):
                conn.execute(f"PRAGMA {pragma}")
            return conn

        return connect_sqlite
    import psycopg

    return lambda: psycopg.connect(database_url)


def capture(database_url: str, body: dict[str, str]) -> list[str]:
    return asyncio.run(capture_exchange(database_url, body))
