"""Alembic's migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from modelgates.server.store.engine import normalize_url
from modelgates.server.store.migrate import is_current, upgrade
from modelgates.server.store.tables import metadata


def test_migrated_database_matches_the_tables(database_url: str) -> None:
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_upgrade_is_idempotent_and_reports_current(database_url: str) -> None:
    assert is_current(database_url)
    upgrade(database_url)
    assert is_current(database_url)


def test_fresh_database_is_not_current_until_upgraded(
    new_database: Callable[[str], str], tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    assert not is_current(url)
    upgrade(url)
    assert is_current(url)
