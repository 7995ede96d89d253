"""What the query classes share: selecting a row type's columns, building rows from them, and
an insert that reports a unique violation as :class:`..errors.DuplicateError`."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import Executable, Row, Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from modelgates.server.store.errors import DuplicateError

_R = TypeVar("_R")


def columns(table: Table, row_type: type[Any]) -> list[Any]:
    """The columns of ``table`` that ``row_type`` has, in its field order: rows are built by
    position."""
    return [table.c[field.name] for field in fields(row_type)]


def utc(value: datetime) -> datetime:
    """A datetime as the database gives it back."""
    return value.astimezone(timezone.utc)


def to(row_type: type[_R], row: Row[Any] | None) -> _R | None:
    """A row selected with :func:`columns` of ``row_type``, as one."""
    return None if row is None else row_type(*row)  # type: ignore[call-arg]


def returned(row_type: type[_R], row: Row[Any] | None) -> _R:
    """The row a statement with RETURNING gave back, as ``row_type``: one it must give back."""
    if row is None:
        raise RuntimeError(f"the statement returned no {row_type.__name__}")
    return row_type(*row)  # type: ignore[call-arg]


def insert_unique(
    connection: Connection,
    statement: Executable,
    params: dict[str, Any],
    duplicate: str,
) -> Row[Any] | None:
    """Run an INSERT in a savepoint: DuplicateError(``duplicate``) when it breaks a unique
    constraint, and the transaction goes on; else its RETURNING row, if it has one."""
    try:
        with connection.begin_nested():
            result = connection.execute(statement, params)
            # Read before the savepoint is released, which sqlite3 refuses mid-result.
            return result.first() if result.returns_rows else None
    except IntegrityError:
        raise DuplicateError(duplicate) from None
