"""The read cache: disk by default, Redis when configured; keyed by data version so a sync's new
data is never hidden, and by the database's identity so two databases sharing a cache never read
each other's numbers; a cache that is down costs a recomputation, never an error.

Redis tests use the shared TEST_REDIS_URL database: each works in a namespace of its own and
removes only its own keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import make_url

from app import create_app
from db.cache import ReadCache, database_identity
from tests.conftest import AuthActions, require

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        require("REQUIRE_REDIS", f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture(params=["disk", "redis"])
def cache(request, tmp_path) -> Iterator[ReadCache]:
    """A cache of this test's own: its own directory, or its own namespace in the shared Redis."""
    if request.param == "disk":
        yield ReadCache(tmp_path / "cache", namespace="test")
        return
    cache = ReadCache(tmp_path / "unused", request.getfixturevalue("redis_url"), namespace=uuid.uuid4().hex)
    yield cache
    cache.clear()


def test_hits_until_the_data_version_moves(cache):
    calls = []

    def compute():
        calls.append(1)
        return {"net_sales": "10.00", "n": len(calls)}

    company = uuid.uuid4().int % 10**6
    first = cache.get_or_compute(company, 3, "metrics", {"start": "2026-01-01", "end": "2026-01-31"}, compute)
    again = cache.get_or_compute(company, 3, "metrics", {"end": "2026-01-31", "start": "2026-01-01"}, compute)
    assert first == again == {"net_sales": "10.00", "n": 1} and len(calls) == 1
    cache.get_or_compute(company, 4, "metrics", {"start": "2026-01-01", "end": "2026-01-31"}, compute)
    cache.get_or_compute(company + 1, 3, "metrics", {"start": "2026-01-01", "end": "2026-01-31"}, compute)
    assert len(calls) == 3  # a new data version, another company: computed afresh


def test_a_cache_that_is_down_still_answers(tmp_path):
    down = ReadCache(tmp_path, "redis://127.0.0.1:1/0")
    assert down.get_or_compute(1, 1, "x", {}, lambda: 42) == 42


@pytest.mark.usefixtures("company")
def test_the_app_uses_redis_when_configured(redis_url, settings):
    server = create_app(replace(settings, redis_url=redis_url))
    cache = server.extensions["channelpulse"].cache
    own = f"cp:{database_identity(settings.database_url)}:*"
    assert cache.backend == "redis" and cache.namespace == database_identity(settings.database_url)
    store = redis.Redis.from_url(redis_url)
    try:
        web = server.test_client()
        AuthActions(web).login()
        assert web.get("/api/v1/analytics/metrics").status_code == 200
        assert any(store.scan_iter(own))
    finally:
        cache.clear()  # this test's keys only: the database is shared
    assert not any(store.scan_iter(own))


@pytest.mark.parametrize("backend", ["disk", "redis"])
def test_two_databases_sharing_a_cache_never_see_each_others_numbers(request, tmp_path, backend):
    """Two deployments (or two test databases) on one cache dir or one Redis: company 1 at data
    version 1 exists in both, and each must be served its own numbers."""
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    shared = tmp_path / "shared-cache"
    first_url = make_url(f"sqlite:///{tmp_path / 'first.db'}")
    second_url = make_url(f"postgresql+psycopg://app:secret@db.example.com/{uuid.uuid4().hex}")
    first = ReadCache(shared, redis_url, namespace=database_identity(first_url))
    second = ReadCache(shared, redis_url, namespace=database_identity(second_url))
    try:
        assert first.get_or_compute(1, 1, "metrics", {}, lambda: {"net_sales": "100.00"}) == {"net_sales": "100.00"}
        assert second.get_or_compute(1, 1, "metrics", {}, lambda: {"net_sales": "7.00"}) == {"net_sales": "7.00"}
        assert first.get_or_compute(1, 1, "metrics", {}, lambda: "recomputed") == {"net_sales": "100.00"}
        second.clear()  # clears its own entries only
        assert first.get_or_compute(1, 1, "metrics", {}, lambda: "recomputed") == {"net_sales": "100.00"}
        assert second.get_or_compute(1, 1, "metrics", {}, lambda: "recomputed") == "recomputed"
    finally:
        first.clear()
        second.clear()


def test_a_database_identity_ignores_the_password_and_tells_databases_apart(tmp_path):
    url = make_url("postgresql+psycopg://app:secret@db.example.com:5432/shop?sslmode=require")
    assert database_identity(url) == database_identity(url.set(password="rotated", query={}))
    others = [url.set(database="other"), url.set(host="db2.example.com"), url.set(port=6543), url.set(username="x")]
    assert len({database_identity(u) for u in [url, *others]}) == 5
    relative = make_url("sqlite:///instance/x.db")
    assert database_identity(relative) == database_identity(make_url(f"sqlite:///{Path('instance/x.db').resolve()}"))
