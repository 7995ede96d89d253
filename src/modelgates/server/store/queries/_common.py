"""What the query classes share: selecting a row type's columns, building rows from them, an
insert that reports a unique violation as :class:`..errors.DuplicateError`, and
:class:`Prepared`, the hot statements' way to run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import Dialect, Executable, Insert, Row, Table, bindparam, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

from modelgates.server.store.errors import DuplicateError

_R = TypeVar("_R")


def columns(table: Table, row_type: type[Any]) -> list[Any]:
    """The columns of ``table`` that ``row_type`` has, in its field order: rows are built by
    position."""
    return [table.c[field.name] for field in fields(row_type)]


def utc(value: datetime) -> datetime:
    """A datetime as the database gives it back."""
    return value.astimezone(timezone.utc)


def to(row_type: type[_R], row: Row[Any] | tuple[Any, ...] | None) -> _R | None:
    """A row selected with :func:`columns` of ``row_type``, as one."""
    return None if row is None else row_type(*row)


def returned_id(row: tuple[Any, ...] | None) -> int:
    """The id an INSERT ... RETURNING id gave back."""
    if row is None:
        raise RuntimeError("the statement returned no id")
    return int(row[0])


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


def bound_insert(table: Table, *, generated: tuple[str, ...] = ("id",)) -> Insert:
    """An INSERT of every column of ``table`` but the ``generated`` ones, each a bound parameter
    of its own name: a :class:`Prepared` statement takes exactly these."""
    return insert(table).values(
        {c.name: bindparam(c.name) for c in table.c if c.name not in generated}
    )


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: The parameters' names in the SQL's order (positional drivers), else None (named ones).
    order: tuple[str, ...] | None
    #: The type processing of the parameters a caller gives.
    bind: tuple[tuple[str, Callable[[Any], Any]], ...]
    #: The values the statement carries itself (its literals, as bound parameters), processed.
    literals: dict[str, Any]
    result: tuple[Callable[[Any], Any] | None, ...]


class Prepared:
    """A statement run on every request (a key's lookup, the ceiling's hold and settlement, the
    exchange's four: the code's lookup, the key's insert, the claim, the audit event), compiled
    once per dialect and run on the driver's cursor with SQLAlchemy's own type processing, but
    without its per-execution machinery, which cost ~40 µs a statement against the driver's
    ~2 µs (docs/performance.md). Driver errors leave as SQLAlchemy's exceptions, as from
    :meth:`Connection.execute`, so that callers and :func:`..store.is_unavailable` read them
    alike. Other statements run through :meth:`Connection.execute`."""

    def __init__(self, statement: Select[Any] | UpdateBase) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self._statement.compile(dialect=dialect)
            bind = []
            literals = {}
            for name, parameter in done.binds.items():
                processor = parameter.type.dialect_impl(dialect).bind_processor(dialect)
                if not parameter.required:
                    value = parameter.effective_value
                    literals[name] = value if processor is None else processor(value)
                elif processor is not None:
                    bind.append((name, processor))
            result = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self._statement.exported_columns
            )
            order = tuple(done.positiontup) if done.positional and done.positiontup else None
            compiled = self._compiled[dialect.name] = _Compiled(
                done.string, order, tuple(bind), literals, result
            )
        return compiled

    def sql(self, dialect: Dialect) -> str:
        """The statement as the driver gets it."""
        return self._for(dialect).sql

    def rows(self, connection: Connection, params: dict[str, Any]) -> Sequence[tuple[Any, ...]]:
        """The statement's rows (none for a statement without RETURNING)."""
        dialect = connection.dialect
        compiled = self._for(dialect)
        values = {**compiled.literals, **params}
        for name, process in compiled.bind:
            if name in values:
                values[name] = process(values[name])
        driver_params: Any = (
            values if compiled.order is None else tuple(map(values.__getitem__, compiled.order))
        )
        raw = connection.connection.dbapi_connection
        if raw is None:
            raise RuntimeError("the connection is closed")
        cursor = raw.cursor()
        try:
            cursor.execute(compiled.sql, driver_params)
            fetched = cursor.fetchall() if cursor.description is not None else []
        except dialect.loaded_dbapi.Error as error:
            invalidated = dialect.is_disconnect(error, raw, cursor)
            if invalidated:
                connection.invalidate(error)
            raise DBAPIError.instance(
                compiled.sql,
                driver_params,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=invalidated,
                dialect=dialect,
            ) from error
        finally:
            cursor.close()
        processors = compiled.result
        if not any(processors):
            return [tuple(row) for row in fetched]
        return [
            tuple(
                value if f is None else f(value) for f, value in zip(processors, row, strict=True)
            )
            for row in fetched
        ]

    def first(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(connection, params)
        return found[0] if found else None
