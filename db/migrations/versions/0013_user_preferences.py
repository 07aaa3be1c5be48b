"""users: preferences (default date range, refresh interval, theme) and must_change_password

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# (column, its type and default in SQL, its check) as in db/models.py User.
COLUMNS = (
    ("must_change_password", "BOOLEAN NOT NULL DEFAULT {false}", None),
    ("default_range", "VARCHAR(16) NOT NULL DEFAULT '30d'",
     "default_range IN ('today', 'yesterday', '7d', '30d', '90d', 'mtd', 'ytd')"),
    ("refresh_seconds", "INTEGER NOT NULL DEFAULT 30", "refresh_seconds IN (0, 15, 30, 60, 300)"),
    ("theme", "VARCHAR(8) NOT NULL DEFAULT 'light'", "theme IN ('light', 'dark')"),
)


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: SQLite's batch mode would copy and drop `users`, and
    # with foreign keys on, dropping it would cascade to every login and token creator.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, sql, check in COLUMNS:
        sql = sql.format(false="0" if sqlite else "false")
        if check is None:
            op.execute(f"ALTER TABLE users ADD COLUMN {name} {sql}")
        elif sqlite:  # SQLite adds a constraint only with its column
            op.execute(f"ALTER TABLE users ADD COLUMN {name} {sql} CONSTRAINT ck_users_{name} CHECK ({check})")
        else:
            op.execute(f"ALTER TABLE users ADD COLUMN {name} {sql}")
            op.create_check_constraint(f"ck_users_{name}", "users", sa.text(check))


def downgrade() -> None:
    for name, _sql, _check in reversed(COLUMNS):
        op.execute(f"ALTER TABLE users DROP COLUMN {name}")  # its own check goes with it
