"""Alembic's migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from modelgates.server.store.engine import normalize_url
from modelgates.server.store.migrate import alembic_config, is_current, upgrade
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


def test_0005_drops_titles_of_unknown_provenance_and_keeps_the_apps(
    database_url: str, new_database: Callable[[str], str]
) -> None:
    # A database of its own, taken back to 0004 (the shared one serves other tests).
    url = new_database("sqlite" if database_url.startswith("sqlite") else "postgres")
    command.downgrade(alembic_config(url), "0004")
    engine = create_engine(normalize_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO apps (origin, title, categories, created_at) "
                    "VALUES ('https://old.example', :title, 'cli-agent', '2030-01-01 00:00:00')"
                ),
                {"title": "E" * 200},  # as long as the old column allowed
            )
        upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT origin, operator_title, categories FROM apps")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [("https://old.example", None, "cli-agent")]
    assert is_current(url)
