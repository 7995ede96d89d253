"""The audit trail: security events, each written in the transaction of the action it records.
Only public ids are recorded (a key's hash, an app's id, a code's row id), never a secret."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import Prepared, bound_insert, columns, to, utc
from modelgates.server.store.rows import AuditRow
from modelgates.server.store.tables import audit_events

_AUDIT = columns(audit_events, AuditRow)
_INSERT = Prepared(bound_insert(audit_events))


class Audit:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def record(
        self,
        event: str,
        now: datetime,
        *,
        user_id: str | None = None,
        key_hash: str | None = None,
        app_id: int | None = None,
        code_id: int | None = None,
        client_address: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Record a security event in this transaction, so it is as durable as the action."""
        params = {
            "created_at": now,
            "event": event,
            "user_id": user_id,
            "key_hash": key_hash,
            "app_id": app_id,
            "code_id": code_id,
            "client_address": client_address,
            "detail": detail,
        }
        _INSERT.rows(self._c, params)

    def times_of(self, user_id: str, event: str, since: datetime) -> list[datetime]:
        """When ``event`` happened to ``user_id`` since ``since``, newest first."""
        result = self._c.execute(
            select(audit_events.c.created_at)
            .where(
                audit_events.c.created_at >= since,
                audit_events.c.user_id == user_id,
                audit_events.c.event == event,
            )
            .order_by(audit_events.c.created_at.desc())
            .limit(100)
        )
        return [utc(at) for (at,) in result.all()]

    def tail(self, limit: int, after_id: int = 0) -> Sequence[AuditRow]:
        """The newest ``limit`` events after ``after_id``, oldest first."""
        result = self._c.execute(
            select(*_AUDIT)
            .where(audit_events.c.id > after_id)
            .order_by(audit_events.c.id.desc())
            .limit(limit)
        )
        rows = [row for r in result.all() if (row := to(AuditRow, r)) is not None]
        return rows[::-1]
