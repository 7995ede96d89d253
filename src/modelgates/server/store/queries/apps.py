"""Apps: who holds keys through OAuth, known by their callback URL's origin."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import columns, returned, to
from modelgates.server.store.rows import AppRow
from modelgates.server.store.tables import apps

_APP = columns(apps, AppRow)
_BY_ID = select(*_APP).where(apps.c.id == bindparam("app_id"))
_BY_ORIGIN = select(*_APP).where(apps.c.origin == bindparam("origin"))


class Apps:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def upsert(
        self,
        origin: str,
        title: str | None,
        default_title: str,
        categories: str | None,
        now: datetime,
    ) -> AppRow:
        """The app, created if new; a given title or categories replace the recorded ones."""
        is_postgresql = self._c.dialect.name == "postgresql"
        dialect_insert = postgresql.insert if is_postgresql else sqlite.insert
        statement = dialect_insert(apps).values(
            origin=origin,
            title=title or default_title,
            categories=categories or "",
            created_at=now,
        )
        changes: dict[str, Any] = {"origin": statement.excluded.origin}
        if title:
            changes["title"] = statement.excluded.title
        if categories is not None:
            changes["categories"] = statement.excluded.categories
        statement = statement.on_conflict_do_update(index_elements=["origin"], set_=changes)
        return returned(AppRow, self._c.execute(statement.returning(*_APP)).first())

    def by_id(self, app_id: int) -> AppRow | None:
        return to(AppRow, self._c.execute(_BY_ID, {"app_id": app_id}).first())

    def by_origin(self, origin: str) -> AppRow | None:
        return to(AppRow, self._c.execute(_BY_ORIGIN, {"origin": origin}).first())

    def by_ids(self, app_ids: Sequence[int]) -> dict[int, AppRow]:
        """The apps with these ids, by id (those that exist)."""
        if not app_ids:
            return {}
        result = self._c.execute(select(*_APP).where(apps.c.id.in_(set(app_ids))))
        return {row.id: row for r in result.all() if (row := to(AppRow, r)) is not None}
