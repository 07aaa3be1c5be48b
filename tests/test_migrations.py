"""Alembic: empty -> head -> base -> head on SQLite and Postgres, and the models match head."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db import migrate
from db.models import Base

TABLES = {t.name for t in Base.metadata.sorted_tables}


def test_upgrade_downgrade_upgrade(engine):
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES

    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_models_match_the_migrations(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_cli_db_upgrade_is_idempotent(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db-upgrade"])
    assert result.exit_code == 0, result.output
    assert f"database at revision {migrate.head_revision()}" in result.output
