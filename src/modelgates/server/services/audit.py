"""Reading the audit trail of security events (written by the services, in the transaction of
the action each one records)."""

from __future__ import annotations

from typing import Any

from modelgates.server.store import AuditRow, Store


async def tail(store: Store, limit: int, after_id: int = 0) -> list[AuditRow]:
    """The newest ``limit`` events after ``after_id``, oldest first."""
    return list(await store.run(lambda tx: tx.audit.tail(limit, after_id)))


def as_json(row: AuditRow) -> dict[str, Any]:
    """An event as one JSON object, without the empty fields."""
    fields = {
        "id": row.id,
        "at": row.created_at.isoformat().replace("+00:00", "Z"),
        "event": row.event,
        "user_id": row.user_id,
        "key_hash": row.key_hash,
        "app_id": row.app_id,
        "code_id": row.code_id,
        "client_address": row.client_address,
        "detail": row.detail,
    }
    return {name: value for name, value in fields.items() if value is not None}
