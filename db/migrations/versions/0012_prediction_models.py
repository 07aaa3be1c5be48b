"""predictions per model: each member's forecast is stored beside the chosen one

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=32), nullable=True))
    # Until now a run stored only its chosen model's days.
    op.execute(
        "UPDATE predictions SET model = (SELECT model_runs.model FROM model_runs"
        " WHERE model_runs.id = predictions.model_run_id)"
    )
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.alter_column("model", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint("uq_predictions_run_day", type_="unique")
        batch_op.create_unique_constraint("uq_predictions_run_model_day", ["model_run_id", "model", "day"])


def downgrade() -> None:
    # Back to one forecast per run: the members' days go, the chosen model's stay.
    op.execute(
        "DELETE FROM predictions WHERE model <> (SELECT model_runs.model FROM model_runs"
        " WHERE model_runs.id = predictions.model_run_id)"
    )
    with op.batch_alter_table("predictions") as batch_op:
        batch_op.drop_constraint("uq_predictions_run_model_day", type_="unique")
        batch_op.create_unique_constraint("uq_predictions_run_day", ["model_run_id", "day"])
        batch_op.drop_column("model")
