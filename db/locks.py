"""Named locks held across processes for as long as a job runs.

Postgres: a session-level advisory lock on a dedicated connection; if the process dies, the
connection closes and the server releases the lock. SQLite: an exclusive flock on a file next
to the database; if the process dies, the kernel releases it. Either way a killed sync never
leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

NAMESPACE = 0x4350  # "CP": keeps our advisory lock keys apart from anyone else's


def lock_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@contextmanager
def named_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Try to take the lock without waiting; yields whether this process holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            params = {"ns": NAMESPACE, "key": lock_key(name)}
            held = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:ns, :key)"), params))
            connection.commit()
            try:
                yield held
            finally:
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), params)
                    connection.commit()
        return
    path = _lock_dir(engine) / f"{name.replace(':', '-').replace('/', '-')}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_dir(engine: Engine) -> Path:
    database = engine.url.database
    base = Path(database).parent if database and database != ":memory:" else Path(tempfile.gettempdir())
    directory = base / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
