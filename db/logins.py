"""Server-side login sessions, and the database storage of the login throttle.

A login session is one row per login: the browser's cookies carry only its random id, so a
logout or a password change that revokes the row ends that login everywhere, replayed cookies
included. The throttle's counters live in Redis when it is configured (limits' RedisStorage) and
otherwise in the `login_throttle` table through `SqlStorage`, so every process shares them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from limits.storage import Storage
from sqlalchemy import Engine, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload

from db.models import LoginSession, LoginThrottleCounter, utcnow

# last_seen_at is written at most this often, not on every request.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user_id: int, idle_limit: timedelta) -> str:
    """A new login of this user; returns its random id (the cookies' value). The user's ended
    logins (revoked, or idle past `idle_limit`) are deleted on the way, so the table stays small."""
    now = utcnow()
    session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user_id,
            or_(LoginSession.revoked_at.is_not(None), LoginSession.last_seen_at < now - idle_limit),
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_digest(token), user_id=user_id, created_at=now, last_seen_at=now))
    return token


def find_live(session: Session, token: str, idle_limit: timedelta) -> LoginSession | None:
    """The login with this id if it is neither revoked nor idle past `idle_limit`, with its user
    loaded; its last_seen_at is refreshed (and committed) when older than LAST_SEEN_RESOLUTION."""
    found = session.scalar(
        select(LoginSession)
        .options(joinedload(LoginSession.user))
        .where(LoginSession.token_hash == _digest(token), LoginSession.revoked_at.is_(None))
    )
    now = utcnow()
    if found is None or now - found.last_seen_at > idle_limit:
        return None
    if now - found.last_seen_at >= LAST_SEEN_RESOLUTION:
        found.last_seen_at = now
        session.commit()
    return found


def revoke(session: Session, token: str) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.token_hash == _digest(token), LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all(session: Session, user_id: int) -> int:
    """End every login of the user (a password change); returns how many were live."""
    result = session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount


class SqlStorage(Storage):
    """A `limits` storage over the `login_throttle` table, for the fixed-window strategy.

    `incr` is one atomic UPSERT (INSERT ... ON CONFLICT DO UPDATE SET count = count + n), so
    concurrent processes never lose a count; a row whose window has ended starts over in place.
    """

    STORAGE_SCHEME = None  # built with an engine, never from a URI

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = utcnow()
        table = LoginThrottleCounter.__table__
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).values(key=key, count=amount, expires_at=now + timedelta(seconds=expiry))
        ended = table.c.expires_at <= now
        upsert = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((ended, insert.excluded.count), else_=table.c.count + insert.excluded.count),
                "expires_at": case((ended, insert.excluded.expires_at), else_=table.c.expires_at),
            },
        ).returning(table.c.count)
        with self.engine.begin() as connection:
            count = connection.execute(upsert).scalar_one()
        if count == amount:  # a new window: also drop the counters whose windows have ended
            with self.engine.begin() as connection:
                connection.execute(delete(table).where(table.c.expires_at <= now))
        return count

    def get(self, key: str) -> int:
        row = self._live(key)
        return row.count if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._live(key)
        return (row.expires_at if row else utcnow()).timestamp()

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(LoginThrottleCounter).where(LoginThrottleCounter.key == key))

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return connection.execute(delete(LoginThrottleCounter)).rowcount

    def _live(self, key: str) -> Row | None:
        table = LoginThrottleCounter.__table__
        query = select(table.c.count, table.c.expires_at).where(table.c.key == key, table.c.expires_at > utcnow())
        with self.engine.connect() as connection:
            return connection.execute(query).first()
