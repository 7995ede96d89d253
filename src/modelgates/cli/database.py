"""The server's settings and database as the administration commands and ``serve`` open them.

Needs the [server] extra.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError

from modelgates.cli.common import CommandError
from modelgates.server.services.errors import ServiceError
from modelgates.server.settings import Settings, SettingsError
from modelgates.server.store import Store
from modelgates.server.store.migrate import SchemaState, database_state, upgrade

T = TypeVar("T")


def settings_of(args: argparse.Namespace, **flags: Any) -> Settings:
    try:
        return Settings.load({"database_url": args.database_url, **flags})
    except SettingsError as error:
        raise CommandError(str(error)) from None


def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` against the database, mapping refusals to one-line errors."""
    require_database(settings)

    async def run() -> T:
        store = Store.open(settings.database_url, pool_size=1)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ServiceError as error:
        raise CommandError(error.message) from None


def require_database(settings: Settings) -> None:
    """Fail in one line unless the database is there and migrated. An administration command
    creates no database and migrates none: one it does not find is most often one ``serve``
    made in another folder, and an empty one made here would answer "no user"."""
    url = settings.database_url
    file = sqlite_file(url)
    if file is not None and not os.path.exists(file):
        where = os.path.abspath(file)
        if os.path.isabs(file):
            raise CommandError(
                f"no database at {where}; `modelgates serve` or `modelgates db upgrade` creates "
                "it, or name another with --database-url (or MODELGATES_DATABASE_URL)"
            )
        raise CommandError(
            f"no database at {where} ({url} is relative to the current folder); run this in "
            "the folder where `modelgates serve` ran, or give --database-url "
            "sqlite:////path/to/file.db (or MODELGATES_DATABASE_URL)"
        )
    try:
        state = database_state(url)
    except DatabaseError as error:
        raise CommandError(f"cannot open {location(url)}: {reason(error)}") from None
    # A database a newer release migrated still works with this one (docs/deploy.md).
    if state is SchemaState.BEHIND:
        raise CommandError(
            f"the database at {location(url)} is not migrated for this version of ModelGates; "
            "run `modelgates db upgrade` with the same database URL"
        )


def reason(error: DBAPIError) -> str:
    return str(error.orig or error).strip().splitlines()[0]


def migrate(settings: Settings) -> None:
    """Apply the migrations (one process at a time, however many start), or fail in one line."""
    try:
        upgrade(settings.database_url)
    except OperationalError as error:
        raise CommandError(
            f"cannot migrate {redact(settings.database_url)}: {reason(error)}"
        ) from None


def redact(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def sqlite_file(database_url: str) -> str | None:
    """An SQLite database's file as its URL names it (``sqlite:///name.db`` is relative to the
    current folder); None for PostgreSQL, and for SQLite in memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def location(database_url: str) -> str:
    """The database as an operator can find it: an SQLite file's absolute path, else the URL
    without its password."""
    if make_url(database_url).get_backend_name() != "sqlite":
        return redact(database_url)
    file = sqlite_file(database_url)
    return "SQLite in memory" if file is None else os.path.abspath(file)
