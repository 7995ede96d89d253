"""Idempotent answers of code creation: each ``Idempotency-Key`` claimed once, then its answer
kept sealed until it expires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from modelgates.server.store.errors import DuplicateError
from modelgates.server.store.queries._common import columns, insert_unique, to
from modelgates.server.store.rows import IdempotencyRow
from modelgates.server.store.tables import idempotency_records

_IDEMPOTENCY = columns(idempotency_records, IdempotencyRow)
_INSERT = insert(idempotency_records)


class Idempotency:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def claim(
        self, user_id: str, key_hash: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> IdempotencyRow | None:
        """Claim ``key_hash`` for a new request: None when claimed, else the live record that
        holds it (a concurrent claimant waits on the unique index, then sees that record). An
        expired record is taken over."""
        values = {
            "user_id": user_id,
            "key_hash": key_hash,
            "fingerprint": fingerprint,
            "sealed_response": None,
            "created_at": now,
            "expires_at": expires_at,
        }
        try:
            insert_unique(self._c, _INSERT, values, "key_hash")
            return None
        except DuplicateError:
            pass
        r = idempotency_records.c
        taken_over = self._c.execute(
            update(idempotency_records)
            .where(r.user_id == user_id, r.key_hash == key_hash, r.expires_at <= now)
            .values(**values)
        )
        if taken_over.rowcount == 1:
            return None
        result = self._c.execute(
            select(*_IDEMPOTENCY).where(r.user_id == user_id, r.key_hash == key_hash)
        )
        return to(IdempotencyRow, result.first())

    def settle(self, user_id: str, key_hash: str, sealed_response: bytes) -> None:
        """Keep the claimed request's answer, sealed."""
        r = idempotency_records.c
        self._c.execute(
            update(idempotency_records)
            .where(r.user_id == user_id, r.key_hash == key_hash)
            .values(sealed_response=sealed_response)
        )

    def forget_expired(self, now: datetime) -> int:
        """Drop the records past their lifetime; how many."""
        result = self._c.execute(
            delete(idempotency_records).where(idempotency_records.c.expires_at <= now)
        )
        return int(result.rowcount)
