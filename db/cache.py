"""A cache of analytics reads: on disk by default, in Redis when REDIS_URL is set.

Every key holds the database's identity, the company, the company's data version and the
request's parameters. Company ids and data versions restart in every database, so without the
identity two databases sharing one cache (two deployments on one Redis, two test databases on one
cache dir) would read each other's numbers. A sync
that writes new data bumps the version (db.rollups.bump_data_version), so the next refresh asks
for a key nobody has stored yet: nothing is ever served staler than the last sync, and nothing
needs deleting. Old keys simply expire.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import diskcache
import redis
from sqlalchemy.engine import URL

from db.models import Company

log = logging.getLogger(__name__)

T = TypeVar("T")
TTL_SECONDS = 24 * 3600
DISK_LIMIT_BYTES = 512 * 1024 * 1024


def database_identity(url: URL) -> str:
    """A short stable id of the database `url` names: a hash of its driver, host, port, user and
    database (an absolute file path for SQLite), never of its password or options."""
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        database = str(Path(database).resolve())
    parts = (url.get_backend_name(), url.host or "", str(url.port or ""), url.username or "", database)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class ReadCache:
    def __init__(self, cache_dir: Path, redis_url: str | None = None, namespace: str = "") -> None:
        """`namespace`: the database's identity (database_identity); every key starts with it."""
        self.namespace = namespace
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5) if redis_url else None
        )
        self._disk = None if redis_url else diskcache.Cache(str(cache_dir), size_limit=DISK_LIMIT_BYTES)

    @property
    def backend(self) -> str:
        return "redis" if self._redis else "disk"

    def key(self, company_id: int, data_version: int, name: str, params: Mapping[str, Any]) -> str:
        digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:20]
        return f"cp:{self.namespace}:{company_id}:v{data_version}:{name}:{digest}"

    def get_or_compute(
        self, company_id: int, data_version: int, name: str, params: Mapping[str, Any], compute: Callable[[], T]
    ) -> T:
        """The cached value, or `compute()` stored for next time. A cache that is down costs a
        recomputation, never an error."""
        key = self.key(company_id, data_version, name, params)
        try:
            raw = self._redis.get(key) if self._redis else self._disk.get(key)
        except (redis.RedisError, OSError) as exc:
            log.warning("cache read failed backend=%s error=%s", self.backend, type(exc).__name__)
            return compute()
        if raw is not None:
            return pickle.loads(raw)
        value = compute()
        try:
            blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            if self._redis:
                self._redis.set(key, blob, ex=TTL_SECONDS)
            else:
                self._disk.set(key, blob, expire=TTL_SECONDS, tag=self.namespace)
        except (redis.RedisError, OSError) as exc:
            log.warning("cache write failed backend=%s error=%s", self.backend, type(exc).__name__)
        return value

    def read(self, company: Company, name: str, params: Mapping[str, Any], compute: Callable[[], T]) -> T:
        """The read path the API and the pages share: `compute()`, or its stored result for this
        company, parameters and data version, so a refresh with no new data runs no query."""
        return self.get_or_compute(company.id, company.data_version, name, params, compute)

    def clear(self) -> None:
        """Remove this database's entries, and no one else's (benchmarks measure cold reads with it)."""
        if self._redis:
            for key in self._redis.scan_iter(f"cp:{self.namespace}:*"):
                self._redis.delete(key)
        else:
            self._disk.evict(self.namespace)
