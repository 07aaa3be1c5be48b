"""Alembic environment: migrations run on the connection handed in by db.migrate (tests, the
app's CLI) or, for the plain `alembic` command, on DATABASE_URL from the settings."""

from __future__ import annotations

from alembic import context

from db.engine import make_engine
from db.models import Base
from settings import Settings

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = make_engine(Settings.from_env().database_url)
    with engine.connect() as conn:
        run_migrations(conn)
    engine.dispose()
