"""forecast runs: a company's retrain, its progress, and what each series' fit recorded

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("series_total", sa.Integer(), nullable=False),
        sa.Column("series_done", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_forecast_runs_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_runs")),
    )
    with op.batch_alter_table("forecast_runs") as batch_op:
        batch_op.create_index("ix_forecast_runs_company_requested", ["company_id", "requested_at"], unique=False)
    with op.batch_alter_table("model_runs") as batch_op:
        batch_op.add_column(sa.Column("forecast_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fallback_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("train_start", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("fit_s", sa.Float(), nullable=True))
        batch_op.create_foreign_key(
            "fk_model_runs_forecast_run_id_forecast_runs",
            "forecast_runs",
            ["forecast_run_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("model_runs") as batch_op:
        batch_op.drop_constraint("fk_model_runs_forecast_run_id_forecast_runs", type_="foreignkey")
        batch_op.drop_column("fit_s")
        batch_op.drop_column("train_start")
        batch_op.drop_column("fallback_reason")
        batch_op.drop_column("forecast_run_id")
    with op.batch_alter_table("forecast_runs") as batch_op:
        batch_op.drop_index("ix_forecast_runs_company_requested")
    op.drop_table("forecast_runs")
