"""the product of a refund line, stored with it

A cancellation invoice of a CSV import names its goods but not the invoice they were sold on, so
its refund lines point to no stored line item; their SKU and title are kept on the refund line
itself, and the product rollup reads them from there (falling back to the line item).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refund_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sku", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("title", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refund_lines", schema=None) as batch_op:
        batch_op.drop_column("title")
        batch_op.drop_column("sku")
