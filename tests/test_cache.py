"""The read cache: disk by default, Redis when configured; keyed by data version so a sync's new
data is never hidden, and a cache that is down costs a recomputation, never an error."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace

import pytest
import redis

from app import create_app
from db.cache import ReadCache
from tests.conftest import AuthActions

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(params=["disk", "redis"])
def cache(request, tmp_path) -> ReadCache:
    if request.param == "disk":
        return ReadCache(tmp_path / "cache")
    cache = ReadCache(tmp_path / "unused", request.getfixturevalue("redis_url"))
    cache.clear()
    return cache


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
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    web = server.test_client()
    AuthActions(web).login()
    assert web.get("/api/v1/analytics/metrics").status_code == 200
    assert any(key.startswith(b"cp:") for key in store.scan_iter())
