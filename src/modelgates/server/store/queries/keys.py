"""API keys: inserted when issued, read when presented, changed by their owners, revoked.

Their usage counters are changed by :meth:`.usage.Usage.charge_key`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import (
    Prepared,
    bound_insert,
    columns,
    returned_id,
    to,
    utc,
)
from modelgates.server.store.rows import KeyRow
from modelgates.server.store.tables import api_keys

if TYPE_CHECKING:
    from typing_extensions import Unpack

_KEY = columns(api_keys, KeyRow)
_INSERT = Prepared(bound_insert(api_keys).returning(api_keys.c.id))
_BY_HASH = Prepared(select(*_KEY).where(api_keys.c.hash == bindparam("key_hash")))
_BY_ID = select(*_KEY).where(api_keys.c.id == bindparam("key_id"))
_OF_USER = select(*_KEY).where(api_keys.c.user_id == bindparam("user_id")).order_by(api_keys.c.id)
_DELETE = delete(api_keys).where(api_keys.c.id == bindparam("key_id"))
_REVOKE = (
    update(api_keys)
    .where(api_keys.c.id == bindparam("key_id"), api_keys.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)


class KeyChanges(TypedDict, total=False):
    """What :meth:`Keys.update` may change; a name left out is left as it is."""

    label: str
    disabled: bool
    limit_micros: int | None
    limit_reset: str | None
    expires_at: datetime | None


class Keys:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(
        self,
        *,
        key_hash: str,
        user_id: str,
        app_id: int | None,
        label: str,
        is_management: bool,
        limit_micros: int | None,
        limit_reset: str | None,
        expires_at: datetime | None,
        created_at: datetime,
    ) -> KeyRow:
        """Insert a new key: nothing used yet, enabled, not revoked. Only the id comes back from
        the database (building a result of 19 columns cost more than the rest of the statement
        on PostgreSQL); the row is what was inserted."""
        params = {
            "hash": key_hash,
            "user_id": user_id,
            "app_id": app_id,
            "label": label,
            "is_management": is_management,
            "limit_micros": limit_micros,
            "limit_reset": limit_reset,
            "usage_micros": 0,
            "day_index": 0,
            "day_micros": 0,
            "week_index": 0,
            "week_micros": 0,
            "month_index": 0,
            "month_micros": 0,
            "expires_at": expires_at,
            "created_at": created_at,
            "disabled": False,
            "revoked_at": None,
            "held_micros": 0,
        }
        key_id = returned_id(_INSERT.first(self._c, params))
        return KeyRow(
            key_id,
            key_hash,
            user_id,
            app_id,
            label,
            is_management,
            limit_micros,
            limit_reset,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            None if expires_at is None else utc(expires_at),
            utc(created_at),
            False,
            None,
            0,
        )

    def by_hash(self, key_hash: str) -> KeyRow | None:
        return to(KeyRow, _BY_HASH.first(self._c, {"key_hash": key_hash}))

    def by_id(self, key_id: int) -> KeyRow | None:
        return to(KeyRow, self._c.execute(_BY_ID, {"key_id": key_id}).first())

    def of_user(self, user_id: str) -> Sequence[KeyRow]:
        """Every key of the user's, revoked ones too, oldest first."""
        result = self._c.execute(_OF_USER, {"user_id": user_id})
        return [row for r in result.all() if (row := to(KeyRow, r)) is not None]

    def page_of_user(
        self, user_id: str, *, offset: int, limit: int, include_disabled: bool
    ) -> Sequence[KeyRow]:
        """A user's keys that are not revoked (deleted), oldest first."""
        query = select(*_KEY).where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        if not include_disabled:
            query = query.where(api_keys.c.disabled.is_(False))
        result = self._c.execute(query.order_by(api_keys.c.id).offset(offset).limit(limit))
        return [row for r in result.all() if (row := to(KeyRow, r)) is not None]

    def update(self, key_id: int, **changes: Unpack[KeyChanges]) -> KeyRow | None:
        """Change a key that is not revoked; its new row, or None."""
        result = self._c.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(**changes)
            .returning(*_KEY)
        )
        return to(KeyRow, result.first())

    def delete(self, key_id: int) -> None:
        self._c.execute(_DELETE, {"key_id": key_id})

    def revoke(self, key_id: int, now: datetime) -> bool:
        """Revoke a key that is not revoked yet; whether this call did it."""
        return self._c.execute(_REVOKE, {"key_id": key_id, "now": now}).rowcount == 1

    def revoke_held_by_app(self, user_id: str, app_id: int, now: datetime) -> list[str]:
        """Revoke every unrevoked key of ``user_id`` held by ``app_id``; their hashes."""
        result = self._c.execute(
            update(api_keys)
            .where(
                api_keys.c.user_id == user_id,
                api_keys.c.app_id == app_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .returning(api_keys.c.hash)
        )
        return [row.hash for row in result]
