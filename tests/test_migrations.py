"""Alembic: empty -> head -> base -> head on SQLite and Postgres, and the models match head."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

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


def test_stored_predictions_become_their_runs_chosen_model_and_back(engine):
    """0012: predictions stored before members' forecasts were are the chosen model's; going
    back keeps only the chosen model's."""
    migrate.downgrade(engine, "0011")
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO companies (name, timezone, currency, refund_dating, data_version, created_at)"
                " VALUES ('Co', 'UTC', 'USD', 'processed', 0, '2026-12-01')"
            )
        )
        company = db.scalar(text("SELECT id FROM companies"))
        db.execute(
            text(
                "INSERT INTO model_runs (company_id, metric, model, status, started_at, horizon, params, accuracy)"
                " VALUES (:c, 'orders', 'ets', 'succeeded', '2026-12-01', 30, '{}', '{}')"
            ),
            {"c": company},
        )
        run = db.scalar(text("SELECT id FROM model_runs"))
        db.execute(text("INSERT INTO predictions (model_run_id, day, mean) VALUES (:r, '2026-12-02', 5)"), {"r": run})
    migrate.upgrade(engine)
    with engine.begin() as db:
        assert db.execute(text("SELECT model, mean FROM predictions")).all() == [("ets", 5)]
        db.execute(
            text("INSERT INTO predictions (model_run_id, model, day, mean) VALUES (:r, 'lstm', '2026-12-02', 6)"),
            {"r": run},
        )
    migrate.downgrade(engine, "0011")
    with engine.begin() as db:
        assert db.execute(text("SELECT mean FROM predictions")).scalars().all() == [5]
    migrate.upgrade(engine)
