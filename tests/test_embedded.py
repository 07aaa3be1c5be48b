"""`make run`'s embedded mode end to end: `python app.py` serves the demo stores, the demo company
backfills through the real connectors, and an order placed in a store reaches the database within
a sync interval; taken ports move the stores elsewhere, and a store that cannot start at all never
stops the scheduler."""

from __future__ import annotations

import re
import socket
from dataclasses import replace

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from app import create_app
from db.models import Order, Platform
from embedded import connect_demo_company, start_background
from simulators.demo import MIRAKL_PORT, SHOPIFY_PORT, available_port
from tests.conftest import wait_for

pytestmark = pytest.mark.slow

SYNC_INTERVAL = 2


def login(url: str) -> requests.Session:
    web = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', web.get(f"{url}/login").text).group(1)
    landed = web.post(f"{url}/login", data={"email": "demo@example.com", "password": "demo", "csrf_token": token})
    assert landed.url == f"{url}/"
    return web


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

    def arrived():
        with engine.connect() as conn:
            return conn.scalar(text("SELECT id FROM orders WHERE external_id = :id"), {"id": created["order_id"]})

    # The scheduler's next due sync brings it: at most a couple of intervals, plus a sync's own time.
    order_id = wait_for(arrived, SYNC_INTERVAL * 3 + 10, "the new order to be synced", interval=0.25)
    # What arrived is the order the store placed: its lines and quantities, not just its id.
    query = text("SELECT external_id, quantity FROM order_line_items WHERE order_id = :id")
    with engine.connect() as conn:
        lines = [tuple(row) for row in conn.execute(query, {"id": order_id})]
    assert sorted(lines) == sorted((line["order_line_id"], line["quantity"]) for line in created["lines"])
    today = web.get(f"{url}/api/v1/analytics/dashboard-summary").json()
    assert int(today["metrics"]["orders"]["value"]) > 0
    engine.dispose()


def hold(port: int, listen: bool) -> socket.socket | None:
    """Take `port` the way another program might (bound only, or listening and never accepting);
    None if someone already has it. A listener sets SO_REUSEADDR as servers do, so a connection
    of an earlier test left in TIME_WAIT on the port cannot stop it."""
    holder = socket.socket()
    if listen:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("127.0.0.1", port))
    except OSError:
        holder.close()
        return None
    if listen:
        holder.listen()
    return holder


@pytest.mark.parametrize("listen", [False, True], ids=["bound", "listening"])
def test_available_port_skips_a_taken_port(listen):
    holder = hold(0, listen)  # a port the system gives this test, held while it looks
    port = holder.getsockname()[1]
    try:
        assert available_port(port) != port
    finally:
        holder.close()
    assert available_port(port) == port


def test_demo_stores_move_off_taken_ports_and_backfill(live_server):
    """Something listens on the demo stores' usual ports without answering: `make run` picks free
    ports, so the stores start, the scheduler runs and both backfill."""
    holders = [hold(port, listen=True) for port in (SHOPIFY_PORT, MIRAKL_PORT)]
    try:
        url = live_server.start(env={"DEMO_HISTORY_DAYS": "3", "SYNC_INTERVAL_SECONDS": str(SYNC_INTERVAL)})
        web = login(url)

        def backfilled():
            platforms = web.get(f"{url}/api/v1/sync/status").json()["platforms"]
            return len(platforms) == 2 and all(p["last_sync_at"] for p in platforms) and platforms

        wait_for(backfilled, 120, "the first backfill of both demo stores")
        stores = [p["config"]["base_url"] for p in web.get(f"{url}/api/v1/platforms").json()["platforms"]]
        assert not {f"http://127.0.0.1:{port}" for port in (SHOPIFY_PORT, MIRAKL_PORT)} & set(stores)
    finally:
        for holder in holders:
            if holder:
                holder.close()


def test_the_scheduler_starts_when_a_demo_store_cannot(settings, sessions, capsys):
    """A port taken between choosing it and binding it: the failure is logged with the port,
    printed, and shown on the demo channels, and the scheduler runs anyway."""
    app_state = create_app(replace(settings, demo_history_days=3)).extensions["channelpulse"]
    ports = connect_demo_company(app_state)
    holder = hold(ports[0], listen=True)
    scheduler = None
    try:
        scheduler = start_background(app_state, ports, "http://127.0.0.1:9/webhooks/shopify")
        assert scheduler.running and {job.id for job in scheduler.get_jobs()} == {"sync-due", "rescan", "forecasts"}
    finally:
        if holder:  # None: another program had the port, which takes it as well
            holder.close()
        if scheduler:
            scheduler.shutdown(wait=True)
    taken = f"127.0.0.1:{ports[0]} is taken"
    console = capsys.readouterr().err.splitlines()  # the log goes to stderr too (create_app's logging)
    assert any("level=ERROR" in line and taken in line for line in console)
    assert any(line.startswith(f"channelpulse: The demo store could not start: {taken}") for line in console)
    with sessions() as session:
        demo = session.scalars(select(Platform).where(Platform.kind != "csv")).all()
    assert len(demo) == 2
    assert all(p.status == "disabled" and "demo store could not start" in p.status_message for p in demo)
    assert all(taken in p.status_message for p in demo)


def test_under_xdist_the_demo_port_tests_share_one_group(request):
    """`make test` runs two pytest-xdist workers with --dist loadgroup: the tests that can bind the
    demo stores' fixed ports must run on one worker, so this module's node ids carry the group
    (tests/conftest.py adds it before xdist reads it; pytest 9.2 silently dropped it)."""
    if not getattr(request.config.option, "loadgroup", False):  # set in the workers of --dist loadgroup
        pytest.skip("not run with --dist loadgroup")
    assert request.node.nodeid.endswith("@demo-store-ports")
