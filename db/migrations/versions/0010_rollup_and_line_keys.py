"""keys that cost an import less: one index per rollup table, natural line item keys

A CSV import writes half a million line items and a quarter of a million product-days in one
transaction, and every index and foreign-key check is paid per row:

- the rollup tables' primary keys lead with (company, period), the dashboard's only access
  path, so the separate (company, period) index goes;
- their two foreign keys (company, platform) become one to (platform, company), which also
  makes a row's company its platform's (platforms gets a unique key on both for it);
- order_line_items loses its surrogate id, referred to by nothing: the line's own key
  (order_id, external_id), unique already, is the primary key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The names SQLite's unnamed reflected constraints get, so batch mode can drop them.
NAMING = {
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
}
# table: (period column, the primary key before, after)
ROLLUPS = {
    "analytics_daily": ("day", ["company_id", "platform_id", "day"], ["company_id", "day", "platform_id"]),
    "analytics_product_daily": (
        "day",
        ["company_id", "platform_id", "day", "sku"],
        ["company_id", "day", "platform_id", "sku"],
    ),
    "analytics_product_monthly": (
        "month",
        ["company_id", "platform_id", "month", "sku"],
        ["company_id", "month", "platform_id", "sku"],
    ),
}
OLD_INDEXES = {
    "analytics_daily": "ix_analytics_daily_company_day",
    "analytics_product_daily": "ix_analytics_product_daily_company_day",
    "analytics_product_monthly": "ix_analytics_product_monthly_company_month",
}


def upgrade() -> None:
    with op.batch_alter_table("platforms", naming_convention=NAMING) as batch_op:
        batch_op.create_unique_constraint("uq_platforms_id_company", ["id", "company_id"])
    for table, (_, _, new_key) in ROLLUPS.items():
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            batch_op.drop_index(OLD_INDEXES[table])
            batch_op.drop_constraint(f"fk_{table}_company_id_companies", type_="foreignkey")
            batch_op.drop_constraint(f"fk_{table}_platform_id_platforms", type_="foreignkey")
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", new_key)
            batch_op.create_foreign_key(
                f"fk_{table}_platform_id_platforms",
                "platforms",
                ["platform_id", "company_id"],
                ["id", "company_id"],
                ondelete="CASCADE",
            )
    with op.batch_alter_table("order_line_items", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint("pk_order_line_items", type_="primary")
        batch_op.drop_constraint("uq_order_line_items_order_external", type_="unique")
        batch_op.drop_column("id")
        batch_op.create_primary_key("pk_order_line_items", ["order_id", "external_id"])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("order_line_items", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint("pk_order_line_items", type_="primary")
        batch_op.create_unique_constraint("uq_order_line_items_order_external", ["order_id", "external_id"])
    if postgres:  # numbers the existing lines
        op.execute("ALTER TABLE order_line_items ADD COLUMN id BIGSERIAL")
        op.create_primary_key("pk_order_line_items", "order_line_items", ["id"])
    else:  # an INTEGER PRIMARY KEY numbers the copied rows itself
        with op.batch_alter_table("order_line_items", naming_convention=NAMING) as batch_op:
            batch_op.add_column(sa.Column("id", sa.Integer(), nullable=False, primary_key=True))
    for table, (period, old_key, _) in ROLLUPS.items():
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_platform_id_platforms", type_="foreignkey")
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", old_key)
            batch_op.create_foreign_key(
                f"fk_{table}_company_id_companies", "companies", ["company_id"], ["id"], ondelete="CASCADE"
            )
            batch_op.create_foreign_key(
                f"fk_{table}_platform_id_platforms", "platforms", ["platform_id"], ["id"], ondelete="CASCADE"
            )
            batch_op.create_index(OLD_INDEXES[table], ["company_id", period], unique=False)
    with op.batch_alter_table("platforms", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint("uq_platforms_id_company", type_="unique")
