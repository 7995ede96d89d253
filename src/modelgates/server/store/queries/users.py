"""Users: the accounts that sign in and own keys."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import columns, insert_unique, to
from modelgates.server.store.rows import UserRow
from modelgates.server.store.tables import users

_USER = columns(users, UserRow)
_INSERT = insert(users)
_BY_EMAIL = select(*_USER).where(users.c.email == bindparam("email"))
_BY_ID = select(*_USER).where(users.c.id == bindparam("user_id"))


class Users:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(self, row: UserRow) -> None:
        """Insert a user; DuplicateError when the e-mail is taken."""
        params = {
            "id": row.id,
            "email": row.email,
            "password_hash": row.password_hash,
            "created_at": row.created_at,
        }
        insert_unique(self._c, _INSERT, params, "email")

    def by_email(self, email: str) -> UserRow | None:
        return to(UserRow, self._c.execute(_BY_EMAIL, {"email": email}).first())

    def by_id(self, user_id: str) -> UserRow | None:
        return to(UserRow, self._c.execute(_BY_ID, {"user_id": user_id}).first())
