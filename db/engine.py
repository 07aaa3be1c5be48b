"""Engine and sessions: one engine per process, pre-ping pooling, SQLite made safe to share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: URL | str, **kwargs: Any) -> Engine:
    """Create the engine for `url`. Postgres gets a pre-pinged pool that recycles connections
    before Neon's or a load balancer's idle timeout cuts them; SQLite gets WAL, foreign keys
    and a busy timeout so the web process and the scheduler can share the file."""
    engine_url = make_url(url)
    if engine_url.get_backend_name() == "sqlite":
        if engine_url.database and engine_url.database != ":memory:":
            Path(engine_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(engine_url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options = {
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 10,
        "pool_recycle": 300,
        # Plan every statement for its own parameters: a plan cached while a table was
        # still empty (a first backfill) would otherwise keep scanning it in full.
        "connect_args": {"prepare_threshold": None},
    }
    options.update(kwargs)
    return create_engine(engine_url, **options)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session
