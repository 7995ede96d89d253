"""Apps: who holds keys through OAuth, known by their callback URL's origin; the name the
operator gave each, and the names apps claimed through each user's keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import columns, returned, to
from modelgates.server.store.rows import AppRow
from modelgates.server.store.tables import app_titles, apps

_APP = columns(apps, AppRow)
_BY_ID = select(*_APP).where(apps.c.id == bindparam("app_id"))
_BY_ORIGIN = select(*_APP).where(apps.c.origin == bindparam("origin"))
_ALL = select(*_APP).order_by(apps.c.id)
_CLAIMED = select(app_titles.c.app_id, app_titles.c.title).where(
    app_titles.c.user_id == bindparam("user_id")
)


class Apps:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def _insert(self) -> Any:
        is_postgresql = self._c.dialect.name == "postgresql"
        return postgresql.insert if is_postgresql else sqlite.insert

    def upsert(self, origin: str, categories: str | None, now: datetime) -> AppRow:
        """The app, created if new; given categories replace the recorded ones."""
        statement = self._insert()(apps).values(
            origin=origin, operator_title=None, categories=categories or "", created_at=now
        )
        changes: dict[str, Any] = {"origin": statement.excluded.origin}
        if categories is not None:
            changes["categories"] = statement.excluded.categories
        statement = statement.on_conflict_do_update(index_elements=["origin"], set_=changes)
        return returned(AppRow, self._c.execute(statement.returning(*_APP)).first())

    def set_operator_title(self, origin: str, title: str | None, now: datetime) -> AppRow:
        """The app (created if new) with the operator's name for it, or none."""
        statement = self._insert()(apps).values(
            origin=origin, operator_title=title, categories="", created_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=["origin"], set_={"operator_title": statement.excluded.operator_title}
        )
        return returned(AppRow, self._c.execute(statement.returning(*_APP)).first())

    def claim_title(self, app_id: int, user_id: str, title: str, now: datetime) -> None:
        """Record what the app called itself in a call made with ``user_id``'s key."""
        statement = self._insert()(app_titles).values(
            app_id=app_id, user_id=user_id, title=title, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=["app_id", "user_id"],
            set_={"title": statement.excluded.title, "updated_at": statement.excluded.updated_at},
        )
        self._c.execute(statement)

    def claimed_titles(self, user_id: str, app_ids: Sequence[int]) -> dict[int, str]:
        """What these apps called themselves through ``user_id``'s keys, by app id."""
        if not app_ids:
            return {}
        query = _CLAIMED.where(app_titles.c.app_id.in_(set(app_ids)))
        return {app_id: title for app_id, title in self._c.execute(query, {"user_id": user_id})}

    def by_id(self, app_id: int) -> AppRow | None:
        return to(AppRow, self._c.execute(_BY_ID, {"app_id": app_id}).first())

    def by_origin(self, origin: str) -> AppRow | None:
        return to(AppRow, self._c.execute(_BY_ORIGIN, {"origin": origin}).first())

    def all(self) -> list[AppRow]:
        """Every app, oldest first (for the operator)."""
        return [row for r in self._c.execute(_ALL).all() if (row := to(AppRow, r)) is not None]

    def by_ids(self, app_ids: Sequence[int]) -> dict[int, AppRow]:
        """The apps with these ids, by id (those that exist)."""
        if not app_ids:
            return {}
        result = self._c.execute(select(*_APP).where(apps.c.id.in_(set(app_ids))))
        return {row.id: row for r in result.all() if (row := to(AppRow, r)) is not None}
