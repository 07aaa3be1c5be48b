"""`make run`'s embedded mode end to end: `python app.py` serves the demo stores, the demo company
backfills through the real connectors, and an order placed in a store reaches the database within
a sync interval."""

from __future__ import annotations

import re
import time

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from db.models import Order

pytestmark = pytest.mark.slow

SYNC_INTERVAL = 2


def login(url: str) -> requests.Session:
    web = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', web.get(f"{url}/login").text).group(1)
    landed = web.post(f"{url}/login", data={"email": "demo@example.com", "password": "demo", "csrf_token": token})
    assert landed.url == f"{url}/"
    return web


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_demo_backfills_and_new_orders_arrive_within_a_sync_interval(live_server):
    url = live_server.start(env={"DEMO_HISTORY_DAYS": "6", "SYNC_INTERVAL_SECONDS": str(SYNC_INTERVAL)})
    web = login(url)

    def backfilled():
        platforms = web.get(f"{url}/api/v1/sync/status").json()["platforms"]
        return len(platforms) == 2 and all(p["last_sync_at"] for p in platforms) and platforms

    platforms = wait_for(backfilled, 120, "the first backfill of both demo stores")
    assert all(p["last_run"]["status"] == "succeeded" and p["last_run"]["rows"] > 0 for p in platforms)
    engine = create_engine(live_server.database_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Order)) > 100

    stores = {p["kind"]: p["config"]["base_url"] for p in web.get(f"{url}/api/v1/platforms").json()["platforms"]}
    created = requests.post(f"{stores['bestbuy']}/_sim/orders", timeout=10).json()
    placed_at = time.monotonic()

    def arrived():
        with engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM orders WHERE external_id = :id"), {"id": created["order_id"]})

    wait_for(arrived, SYNC_INTERVAL * 3 + 10, "the new order to be synced")
    assert time.monotonic() - placed_at < SYNC_INTERVAL * 3 + 10
    today = web.get(f"{url}/api/v1/analytics/dashboard-summary").json()
    assert int(today["metrics"]["orders"]["value"]) > 0
    engine.dispose()
