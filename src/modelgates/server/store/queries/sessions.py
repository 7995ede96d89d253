"""Browser sessions of the consent and account pages, kept by the SHA-256 of their token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import columns, to
from modelgates.server.store.rows import UserRow
from modelgates.server.store.tables import sessions, users

_INSERT = insert(sessions)
_USER_OF = (
    select(*columns(users, UserRow))
    .join(sessions, sessions.c.user_id == users.c.id)
    .where(
        sessions.c.token_hash == bindparam("token_hash"), sessions.c.expires_at > bindparam("now")
    )
)
_DELETE = delete(sessions).where(sessions.c.token_hash == bindparam("token_hash"))
_DELETE_EXPIRED = delete(sessions).where(
    sessions.c.user_id == bindparam("user_id"), sessions.c.expires_at <= bindparam("now")
)


class Sessions:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(
        self, *, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        params = {
            "token_hash": token_hash,
            "user_id": user_id,
            "created_at": created_at,
            "expires_at": expires_at,
        }
        self._c.execute(_INSERT, params)

    def user_of(self, token_hash: str, now: datetime) -> UserRow | None:
        """The user signed in by the session with this hash, while it has not expired."""
        result = self._c.execute(_USER_OF, {"token_hash": token_hash, "now": now})
        return to(UserRow, result.first())

    def delete(self, token_hash: str) -> None:
        self._c.execute(_DELETE, {"token_hash": token_hash})

    def delete_expired(self, user_id: str, now: datetime) -> None:
        """Forget the user's sessions that have expired."""
        self._c.execute(_DELETE_EXPIRED, {"user_id": user_id, "now": now})
