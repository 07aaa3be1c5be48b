"""exchange rates per company

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 04:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fx_rates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_fx_rates_pair_day", type_="unique")
    # Until now rates were shared: every company gets its own copy of them.
    op.execute(
        "INSERT INTO fx_rates (company_id, day, base, quote, rate, source) "
        "SELECT c.id, r.day, r.base, r.quote, r.rate, r.source FROM fx_rates r CROSS JOIN companies c "
        "WHERE r.company_id IS NULL"
    )
    op.execute("DELETE FROM fx_rates WHERE company_id IS NULL")
    with op.batch_alter_table("fx_rates", schema=None) as batch_op:
        batch_op.alter_column("company_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            op.f("fk_fx_rates_company_id_companies"), "companies", ["company_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_unique_constraint("uq_fx_rates_company_pair_day", ["company_id", "base", "quote", "day"])


def downgrade() -> None:
    # Back to shared rates: keep the lowest company's copy of each pair and day.
    op.execute(
        "DELETE FROM fx_rates WHERE id NOT IN (SELECT min(id) FROM fx_rates GROUP BY base, quote, day)"
    )
    with op.batch_alter_table("fx_rates", schema=None) as batch_op:
        batch_op.drop_constraint("uq_fx_rates_company_pair_day", type_="unique")
        batch_op.drop_constraint(op.f("fk_fx_rates_company_id_companies"), type_="foreignkey")
        batch_op.drop_column("company_id")
        batch_op.create_unique_constraint("uq_fx_rates_pair_day", ["base", "quote", "day"])
