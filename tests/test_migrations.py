"""Alembic: empty -> head -> base -> head on SQLite and Postgres, and the models match head."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

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


def test_user_preferences_come_with_defaults_checks_and_go_again(engine):
    """0013: existing users get the default preferences and keep their logins and the tokens they
    made (a SQLite table copy of `users` would have cascaded both away); the checks refuse values
    that are not choices; the downgrade drops the columns and nothing else."""
    migrate.downgrade(engine, "0012")
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
                "INSERT INTO users (email, password_hash, company_id, role, created_at)"
                " VALUES ('a@example.com', 'x', :c, 'admin', '2026-12-01')"
            ),
            {"c": company},
        )
        user = db.scalar(text("SELECT id FROM users"))
        db.execute(
            text(
                "INSERT INTO login_sessions (token_hash, user_id, created_at, last_seen_at)"
                " VALUES ('h', :u, '2026-12-01', '2026-12-01')"
            ),
            {"u": user},
        )
        db.execute(
            text(
                "INSERT INTO api_tokens (company_id, name, prefix, token_hash, created_by, created_at)"
                " VALUES (:c, 't', 'cp_x', 'th', :u, '2026-12-01')"
            ),
            {"c": company, "u": user},
        )
    migrate.upgrade(engine)

    def kept() -> tuple:
        with engine.connect() as db:
            return db.scalar(text("SELECT count(*) FROM login_sessions")), db.scalar(
                text("SELECT created_by FROM api_tokens")
            )

    with engine.connect() as db:
        row = db.execute(text("SELECT default_range, refresh_seconds, theme, must_change_password FROM users")).one()
    assert tuple(row[:3]) == ("30d", 30, "light") and not row[3]
    assert kept() == (1, user)
    for bad in ("theme = 'neon'", "refresh_seconds = 45", "default_range = '2y'"):
        with pytest.raises(IntegrityError), engine.begin() as db:
            db.execute(text(f"UPDATE users SET {bad}"))
    with engine.begin() as db:
        db.execute(text("UPDATE users SET theme = 'dark', refresh_seconds = 0, default_range = 'ytd'"))

    migrate.downgrade(engine, "0012")
    columns = {c["name"] for c in inspect(engine).get_columns("users")}
    assert not columns & {"default_range", "refresh_seconds", "theme", "must_change_password"}
    assert {"email", "role", "last_login_at"} <= columns and kept() == (1, user)
    migrate.upgrade(engine)
