"""The sync engine over real HTTP against both simulators, on SQLite and Postgres: whatever the
network does (and even when the process is killed mid-sync), the database ends up holding
exactly the platform's orders, line items and refunds, and daily rollups equal to the metrics
computed from the platform's own payloads (tests/wire_oracle.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from connectors import CONNECTORS, make_connector
from connectors.base import AuthError
from db import ingest
from db import rollups as db_rollups
from db.engine import transaction
from db.models import AnalyticsDaily, DirtyDay, Order, Platform, SyncRun, SyncState
from jobs.sync import sync_platform
from settings import PROJECT_ROOT
from simulators.business import SimLine, SimOrder, SimRefund, refund_line
from simulators.catalog import GIFT_CARD, SHOPIFY, money
from simulators.server import FAULT_KINDS
from simulators.shopify import SHOP_DOMAIN
from tests.conftest import wait_for
from tests.pandas_metrics import expected_daily
from tests.sims import BOX, DEV_NETWORK, Channel
from tests.stored import stored

DAILY = ("gross_sales", "discounts", "returns", "net_sales", "taxes", "shipping", "total_sales")
DAILY_COUNTS = ("orders", "units", "units_returned")


def rollups(engine, platform_id: int) -> dict:
    """The platform's daily rollups: day -> every metric."""
    columns = [getattr(AnalyticsDaily, c) for c in ("day", *DAILY, *DAILY_COUNTS)]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).where(AnalyticsDaily.platform_id == platform_id)).all()
    return {day: tuple(values) for day, *values in rows}


def assert_synced(engine, channel: Channel) -> None:
    """The database holds exactly the platform's orders, and its rollups are the metrics of the
    orders the platform serves, computed from its payloads."""
    assert stored(engine, channel.platform_id) == channel.truth()
    daily = expected_daily(engine, channel.company_id, channel.wire_events())
    want = {row.day: tuple(getattr(row, c) for c in (*DAILY, *DAILY_COUNTS)) for row in daily.itertuples()}
    assert want and rollups(engine, channel.platform_id) == want


@pytest.mark.calendar  # Best Buy's update-date windows run from the simulated past to the real now
def test_full_then_incremental_sync(engine, sessions, channel):
    result = sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK)
    assert result.status == "succeeded" and result.rows > 30
    assert_synced(engine, channel)

    store = channel.server.simulator.store
    clock = channel.clock
    clock.advance(days=3)  # new days of orders, shipping, returns
    some = store.by_created(clock())[:3]
    store.refund(some[0].order_id)
    store.cancel(some[1].order_id)
    store.edit(some[2].order_id)
    store.create_order()
    again = sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK)
    assert again.status == "succeeded"
    assert 0 < again.rows < result.rows  # only what changed (plus the lookback), not everything
    assert_synced(engine, channel)

    with sessions() as session:
        platform = session.get(Platform, channel.platform_id)
        cursor = session.get(SyncState, (channel.platform_id, "orders")).cursor
        assert platform.last_sync_at is not None and platform.status == "active"
        assert cursor == max(o.updated_at for o in store.records(clock()))
        assert (
            session.scalar(
                select(func.count())
                .select_from(AnalyticsDaily)
                .where(AnalyticsDaily.platform_id == channel.platform_id)
            )
            >= 12
        )


def test_a_stale_page_never_rolls_an_order_back(engine, sessions, channel):
    """A page read before an order was refunded (a slow sync, a replayed re-read) arrives after
    the refund was stored: the refund and the newer order stay, whoever writes the old page."""
    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    connector = quick_connector(channel, sessions)
    stale_pages = list(connector.fetch_orders(None))
    store = channel.server.simulator.store
    refunded = store.refund(store.by_created(channel.clock())[0].order_id)
    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    assert_synced(engine, channel)

    edited = store.edit(store.by_created(channel.clock())[1].order_id)  # a page mixes stale and new
    page = [o for stale in stale_pages for o in stale] + [edited.to_record(channel.clock())]
    with transaction(sessions) as session:
        platform = session.get(Platform, channel.platform_id)
        ingest.upsert_orders(session, platform, page, ZoneInfo(platform.company.timezone))
    assert_synced(engine, channel)
    with sessions() as session:
        kept = session.scalars(select(Order).where(Order.external_id == refunded.external_id)).one()
        now = refunded.to_record(channel.clock())
        assert kept.updated_at == now.updated_at and len(kept.refunds) == len(now.refunds) > 0


def made_order(channel: Channel, n: int, placed: datetime, refund_after: timedelta | None = None) -> SimOrder:
    """An order of the business placed at `placed` and accepted at once, with a 10% discount on
    its first line, a gift card too on Shopify, and one unit of its first line refunded
    `refund_after` it was placed."""
    business = channel.server.simulator.store.business
    order = business.make_order(channel.kind, 5 * 10**13 + n, placed.astimezone(UTC), f"oracle:{n}")
    first = order.lines[0]
    lines = [replace(first, discount=money(first.unit_price * first.quantity / 10)), *order.lines[1:]]
    if channel.kind == SHOPIFY:
        zero = Decimal(0)
        lines.append(SimLine(order.order_id * 10 + 9, GIFT_CARD, 1, Decimal(50), zero, zero, zero, is_gift_card=True))
    refunds = ()
    if refund_after is not None:
        refunds = (
            SimRefund(order.order_id * 10 + 1, order.created_at + refund_after, "refund", (refund_line(lines[0], 1),)),
        )
    return replace(
        order, lines=tuple(lines), refunds=refunds, accepted_at=order.created_at, cancelled_at=None, edited_at=()
    )


def test_gift_cards_discounts_and_midnight_roll_up_as_the_wire_says(engine, sessions, channel):
    """Orders minutes either side of local midnight, with a discount (and on Shopify a gift card),
    and a refund minutes before midnight: each amount lands on the day the platform's payloads say."""
    store = channel.server.simulator.store
    tz = store.business.tz
    day = channel.clock().astimezone(tz).date() - timedelta(days=3)
    late = store.place(made_order(channel, 1, datetime.combine(day, clock_time(23, 40), tz)))
    after_midnight = datetime.combine(day + timedelta(days=1), clock_time(0, 20), tz)
    early = store.place(made_order(channel, 2, after_midnight, refund_after=timedelta(hours=23, minutes=25)))
    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    assert_synced(engine, channel)

    events = channel.wire_events()  # the orders really are on the wire as made
    lines = events.lines[events.lines["order"].isin([late.external_id, early.external_id])]
    assert (lines["discount"] > 0).sum() == 2 and lines["gift_card"].sum() == (2 if channel.kind == SHOPIFY else 0)
    refunded = events.refunds[events.refunds["order"] == early.external_id]["processed_at"]
    assert [t.astimezone(tz).time() for t in refunded] == [clock_time(23, 45)]


def quick_connector(channel: Channel, sessions):
    """The platform's connector with a 1-second read timeout, so a timeout fault costs a second.
    Best Buy's reads update-date windows up to the simulator's clock, not the real one: as many
    calls (and injected faults) whatever the date."""
    with sessions() as session:
        platform = session.get(Platform, channel.platform_id)
        config, secrets = platform.config, BOX.open(platform.credentials)
    clock = {"clock": channel.clock} if channel.kind == "bestbuy" else {}
    return CONNECTORS[channel.kind](config, secrets, network=DEV_NETWORK, timeout=(1.0, 1.0), **clock)


@pytest.mark.parametrize("fault", [*FAULT_KINDS, "mixed"])
def test_sync_under_faults_loses_and_doubles_nothing(engine, sessions, channel, fault):
    faults = channel.server.faults
    if fault == "mixed":
        rates = {"error": 0.1, "drop": 0.05, "malformed": 0.05, "rate_limit": 0.1, "slow": 0.05, "timeout": 0.02}
        faults.configure({"rates": rates, "slow_seconds": 0.05, "timeout_seconds": 1.5})
    else:
        faults.configure({"queue": [fault] * 3, "slow_seconds": 0.05, "timeout_seconds": 1.5})
    assert (
        sync_platform(sessions, channel.platform_id, BOX, connector=quick_connector(channel, sessions)).status
        == "succeeded"
    )
    channel.clock.advance(days=2)
    faults.configure({"queue": [fault] * 2} if fault != "mixed" else {})
    assert (
        sync_platform(sessions, channel.platform_id, BOX, connector=quick_connector(channel, sessions)).status
        == "succeeded"
    )
    assert_synced(engine, channel)
    assert sum(faults.state()["served"].values()) > 0


def test_bad_credentials_flag_the_platform_and_write_nothing(engine, sessions, channel):
    wrong = {"access_token": "shpat_wrong"} if channel.kind == "shopify" else {"api_key": "wrong"}
    with transaction(sessions) as session:
        session.get(Platform, channel.platform_id).credentials = BOX.seal(wrong)
    result = sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK)
    assert result.status == "failed" and "refused" in result.error
    with sessions() as session:
        platform = session.get(Platform, channel.platform_id)
        assert platform.status == "needs_attention" and "refused" in platform.status_message
        assert (
            session.scalar(select(func.count()).select_from(Order).where(Order.platform_id == channel.platform_id)) == 0
        )
        run = session.scalars(select(SyncRun).where(SyncRun.platform_id == channel.platform_id)).one()
        assert run.status == "failed" and run.rows == 0


def test_two_syncs_of_one_platform_never_overlap(sessions, channel):
    """The second sync starts once the first is known to be running (its run is recorded under
    the lock) and every answer is slow, so the first is still mid-way; then the store speeds up."""
    channel.server.faults.configure({"rates": {"slow": 1.0}, "slow_seconds": 1.0})
    results = []

    def sync():
        return sync_platform(sessions, channel.platform_id, BOX, connector=quick_connector(channel, sessions))

    first = threading.Thread(target=lambda: results.append(sync()))
    first.start()
    try:

        def first_running() -> bool:
            with sessions() as session:
                running = select(SyncRun).where(SyncRun.platform_id == channel.platform_id, SyncRun.status == "running")
                return session.scalars(running).first() is not None

        wait_for(first_running, 30, "the first sync to record its run")
        second = sync()
    finally:
        channel.server.faults.configure({"rates": {}})
        first.join(timeout=60)
    assert second.status == "busy"
    assert results[0].status == "succeeded"


@pytest.mark.slow
def test_sync_killed_mid_way_resumes_without_loss(engine, sessions, channel, db_url):
    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    # A backlog of several pages: for Shopify big enough to come as a bulk operation, whose file is
    # then written a page at a time; for Best Buy several update-date windows.
    channel.clock.advance(days=120 if channel.kind == "shopify" else 6)
    channel.server.faults.configure({"rates": {"slow": 1.0}, "slow_seconds": 0.4})
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "sync", "--platform-id", str(channel.platform_id)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sessions() as session:
                pages = session.scalar(
                    select(func.max(SyncRun.pages)).where(
                        SyncRun.platform_id == channel.platform_id, SyncRun.status == "running"
                    )
                )
            if pages and pages >= 2:
                break
            assert process.poll() is None, "the sync finished before it could be killed"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert stored(engine, channel.platform_id) != channel.truth()  # it really stopped half-way

    channel.server.faults.configure({"rates": {}})
    resumed = sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK)
    assert resumed.status == "succeeded"
    assert_synced(engine, channel)
    with sessions() as session:
        statuses = sorted(session.scalars(select(SyncRun.status).where(SyncRun.platform_id == channel.platform_id)))
        assert statuses == ["failed", "succeeded", "succeeded"]  # the killed run is marked, not left running


def test_auth_error_is_raised_by_check(channel):
    url = channel.server.url
    config = {"shop_domain": SHOP_DOMAIN, "base_url": url} if channel.kind == "shopify" else {"base_url": url}
    secrets = {"access_token": "nope"} if channel.kind == "shopify" else {"api_key": "nope"}
    with pytest.raises(AuthError):
        make_connector(channel.kind, config, secrets, network=DEV_NETWORK).check()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_day_marked_while_it_is_rolled_up_stays_marked(sessions, company, monkeypatch):
    """A webhook's order can land on a day a sync's rollup is computing: its mark waits for the
    rollup and outlives it, so the next rollup counts that order."""
    day = date(2026, 3, 2)
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="Shop", currency="USD", config={})
        session.add(platform)
        session.flush()
        platform_id = platform.id
        ingest.mark_dirty(session, platform_id, [day])
    marked = threading.Event()

    def mark_again() -> None:
        with transaction(sessions) as session:
            ingest.mark_dirty(session, platform_id, [day])
        marked.set()

    writer = threading.Thread(target=mark_again)
    rollup_daily = db_rollups.rollup_daily

    def rollup_while_a_writer_marks(*args):
        writer.start()
        assert not marked.wait(0.5)  # the writer waits for the rollup to commit
        return rollup_daily(*args)

    monkeypatch.setattr(db_rollups, "rollup_daily", rollup_while_a_writer_marks)
    with transaction(sessions) as rollup:
        assert db_rollups.rollup_dirty(rollup, rollup.get(Platform, platform_id)) == 1
    writer.join(10)
    assert marked.is_set()
    with sessions() as session:
        assert session.scalars(select(DirtyDay.day).where(DirtyDay.platform_id == platform_id)).all() == [day]
