"""What a sync leaves behind when things go wrong, over real HTTP against both simulators, on
SQLite and Postgres: the daily rescan catching a change the incremental window missed, an
answer the connector cannot read (the internal-error branch), and orders in a currency with no
exchange rate yet. Faults come from the simulators or the data, never from patching our code."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

import jobs.sync
import records
from db import fx
from db.engine import transaction
from db.models import AnalyticsDaily, Company, DirtyDay, FxRate, Platform, SyncRun, SyncState
from jobs.demo import demo_fx_rates
from jobs.sync import RESCAN_LOOKBACK, SyncResult, rescan_all, sync_platform
from simulators.business import cad_usd_rate
from tests.sims import BOX, DEV_NETWORK, Channel
from tests.stored import stored

CENT = Decimal("0.01")


def sync(sessions, channel: Channel) -> SyncResult:
    return sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK)


def cursor(sessions, platform_id: int) -> datetime | None:
    with sessions() as session:
        state = session.get(SyncState, (platform_id, "orders"))
        return state.cursor if state else None


def runs(sessions, platform_id: int) -> list[tuple[str, str | None]]:
    with sessions() as session:
        rows = session.execute(
            select(SyncRun.status, SyncRun.error).where(SyncRun.platform_id == platform_id).order_by(SyncRun.id)
        )
        return [tuple(row) for row in rows]


def add_platform(sessions, channel: Channel, kind: str, status: str) -> int:
    """Another platform of the channel's company (reaching the same simulator when not csv)."""
    with transaction(sessions) as session:
        first = session.get(Platform, channel.platform_id)
        platform = Platform(
            company_id=first.company_id,
            kind=kind,
            display_name=f"{kind} {status}",
            currency=first.currency,
            config=first.config if kind != "csv" else {},
            credentials=first.credentials if kind != "csv" else None,
            status=status,
        )
        session.add(platform)
        session.flush()
        return platform.id


# --- rescan_all ------------------------------------------------------------------------------


def backdated_refund(channel: Channel, age: timedelta) -> str:
    """Refund, `age` ago, an order that had not changed for longer: a change that becomes visible
    late with an older updated_at (platform replication lag), which an incremental window misses.
    Returns the order's external id."""
    store, now = channel.server.simulator.store, channel.clock()
    quiet = next(
        o
        for o in store.by_created(now)
        if store.updated_at(o.order_id, now) < now - 2 * age and not o.refunds_as_of(now) and o.cancelled_at is None
    )
    channel.clock.moment = now - age
    try:
        store.refund(quiet.order_id)
    finally:
        channel.clock.moment = now
    return quiet.external_id


def test_rescan_all_rereads_days_an_incremental_sync_skips(engine, sessions, channel):
    """rescan_all re-reads RESCAN_LOOKBACK of every active platform that syncs (not a disabled
    one, not a CSV one), so a backdated change the 10-minute lookback misses gets stored."""
    disabled = add_platform(sessions, channel, channel.kind, "disabled")
    csv_channel = add_platform(sessions, channel, "csv", "active")
    assert sync(sessions, channel).status == "succeeded"
    changed = backdated_refund(channel, timedelta(days=1))
    assert sync(sessions, channel).status == "succeeded"
    before = stored(engine, channel.platform_id)
    truth = channel.truth()
    assert before != truth and {k for k in truth if before[k] != truth[k]} == {changed}

    results = rescan_all(sessions, BOX, DEV_NETWORK)

    assert [(r.platform_id, r.status) for r in results] == [(channel.platform_id, "succeeded")]
    assert results[0].rows > 0
    assert stored(engine, channel.platform_id) == truth
    assert runs(sessions, disabled) == [] and runs(sessions, csv_channel) == []
    assert [status for status, _ in runs(sessions, channel.platform_id)] == ["succeeded"] * 3


def test_rescan_all_is_bounded_by_its_lookback(engine, sessions, channel):
    """A change backdated past RESCAN_LOOKBACK is left for a full re-read: the rescan re-reads
    days, not the whole history."""
    assert sync(sessions, channel).status == "succeeded"
    changed = backdated_refund(channel, RESCAN_LOOKBACK + timedelta(hours=12))
    assert [r.status for r in rescan_all(sessions, BOX, DEV_NETWORK)] == ["succeeded"]
    after, truth = stored(engine, channel.platform_id), channel.truth()
    assert {k for k in truth if after[k] != truth[k]} == {changed}


# --- an answer the connector cannot read -----------------------------------------------------


def test_an_unreadable_answer_fails_the_run_safely_and_the_next_sync_recovers(engine, sessions, channel):
    """A 200 whose records have renamed fields makes the connector raise what it never expects
    (a KeyError). The run ends failed with a message that shows no payload, the pages committed
    before it stay with the cursor at the newest of them, and the next sync brings it all in."""
    assert sync(sessions, channel).status == "succeeded"
    first_cursor = cursor(sessions, channel.platform_id)
    first_state = stored(engine, channel.platform_id)
    channel.clock.advance(days=6)  # Best Buy: several two-day windows, the third one refused
    healthy = ["none", "none"] if channel.kind == "bestbuy" else []
    channel.server.faults.configure({"queue": [*healthy, "renamed_fields"]})

    failed = sync(sessions, channel)

    assert channel.server.faults.state()["served"] == {"renamed_fields": 1}
    assert failed.status == "failed" and failed.error == "internal error (KeyError)"
    with sessions() as session:
        platform = session.get(Platform, channel.platform_id)
        assert platform.status == "active" and platform.status_message == failed.error  # not the user's fault
    assert runs(sessions, channel.platform_id)[-1] == ("failed", "internal error (KeyError)")
    now_stored = stored(engine, channel.platform_id)
    assert now_stored != channel.truth()
    newest_stored = max(snapshot[5] for snapshot in now_stored.values())  # [5]: updated_at
    assert cursor(sessions, channel.platform_id) == newest_stored  # never past what was written
    if channel.kind == "bestbuy":
        assert newest_stored > first_cursor  # the windows read before the bad answer are kept
    else:
        assert now_stored == first_state and cursor(sessions, channel.platform_id) == first_cursor

    recovered = sync(sessions, channel)
    assert recovered.status == "succeeded" and recovered.error is None
    assert stored(engine, channel.platform_id) == channel.truth()
    with sessions() as session:
        assert session.get(Platform, channel.platform_id).status_message is None


# --- a currency with no exchange rate --------------------------------------------------------


def rate_on_or_before(day: date) -> tuple[Decimal, int]:
    """The simulated CAD->USD rate a day converts at (weekends borrow Friday's), and its age."""
    for age in range(7):
        rate = cad_usd_rate(day - timedelta(days=age))
        if rate is not None:
            return rate, age
    raise AssertionError(f"no rate in the week before {day}")


def expected_sales(orders: list[records.Order], tz: ZoneInfo) -> dict[date, tuple[int, Decimal, int]]:
    """(orders, gross sales in USD, age of the oldest rate used) per local day, from the
    simulator's order lines (price x quantity, gift cards excluded) at the rate of the order's
    day; a return booked on a day converts at its order's day's rate, which can be older."""
    gross: dict[date, Decimal] = defaultdict(Decimal)
    counts: dict[date, int] = defaultdict(int)
    ages: dict[date, int] = defaultdict(int)
    for order in orders:
        day = order.processed_at.astimezone(tz).date()
        if order.excluded_reason is None:
            counts[day] += 1
            gross[day] += sum(
                (li.unit_price * li.quantity for li in order.line_items if not li.is_gift_card), Decimal(0)
            )
            ages[day] = max(ages[day], rate_on_or_before(day)[1])
        if order.excluded_reason in (None, records.RETURNS_ONLY):
            for refund in order.refunds:
                booked = refund.processed_at.astimezone(tz).date()
                ages[booked] = max(ages[booked], rate_on_or_before(day)[1])
    return {
        day: (count, (gross[day] * rate_on_or_before(day)[0]).quantize(CENT, ROUND_HALF_UP), ages[day])
        for day, count in counts.items()
    }


DAILY_SALES = (AnalyticsDaily.day, AnalyticsDaily.orders, AnalyticsDaily.gross_sales, AnalyticsDaily.fx_rate_age_days)


def dashboard_sales(sessions, platform_id: int) -> dict[date, tuple[int, Decimal, int]]:
    with sessions() as session:
        rows = session.execute(
            select(*DAILY_SALES).where(AnalyticsDaily.platform_id == platform_id, AnalyticsDaily.orders > 0)
        )
        return {day: (orders, Decimal(gross).quantize(CENT), age) for day, orders, gross, age in rows}


@pytest.mark.parametrize("channel", ["bestbuy"], indirect=True)
def test_orders_without_an_exchange_rate_are_kept_and_counted_once_it_arrives(engine, sessions, channel, monkeypatch):
    """Best Buy sells in CAD, the company reports in USD. With no CAD rate on or before the first
    days, the sync stores every order (all of its pages, even with a rollup between every two
    pages) but no day is rolled up with a made-up rate: the run fails saying which rate is
    missing and the days stay marked. Once the rates arrive, the next sync rolls them up; a
    weekend, which has no rate of its own, converts at Friday's and says how old it is."""
    monkeypatch.setattr(jobs.sync, "BACKFILL_ROLLUP_EVERY_SECONDS", 0.0)  # a rollup before every page
    monkeypatch.setattr(jobs.sync, "ROLLUP_EVERY_SECONDS", 0.0)
    store = channel.server.simulator.store
    truth_orders = store.records(channel.clock())
    with sessions() as session:
        company = session.get(Company, session.get(Platform, channel.platform_id).company_id)
        company_id, tz = company.id, ZoneInfo(company.timezone)
    days = sorted({o.processed_at.astimezone(tz).date() for o in truth_orders})
    cut = next(d for d in days[len(days) // 2 :] if d.weekday() == 0)  # a Monday: rates from it on
    with transaction(sessions) as session:
        session.execute(delete(FxRate).where(FxRate.company_id == company_id, FxRate.day < cut))

    failed = sync(sessions, channel)

    assert failed.status == "failed"
    missing = re.fullmatch(r"no CAD->USD exchange rate on or before (\d{4}-\d\d-\d\d)", failed.error)
    assert missing and date.fromisoformat(missing.group(1)) < cut, failed.error
    assert stored(engine, channel.platform_id) == channel.truth()  # every order is in
    assert cursor(sessions, channel.platform_id) == max(o.updated_at for o in truth_orders)
    touched = {o.processed_at.astimezone(tz).date() for o in truth_orders}
    touched |= {r.processed_at.astimezone(tz).date() for o in truth_orders for r in o.refunds}
    with sessions() as session:
        platform = session.get(Platform, channel.platform_id)
        assert platform.status == "active" and platform.status_message == failed.error
        assert platform.last_sync_at is None  # due again at once
        assert set(session.scalars(select(DirtyDay.day).where(DirtyDay.platform_id == channel.platform_id))) == touched
        rolled = select(func.count()).where(AnalyticsDaily.platform_id == channel.platform_id)
        assert session.scalar(rolled) == 0  # nothing converted at a guessed rate

    with transaction(sessions) as session:
        fx.upsert_fx_rates(session, company_id, demo_fx_rates(cut - timedelta(days=60), cut), "test")
    recovered = sync(sessions, channel)

    assert recovered.status == "succeeded", recovered.error
    expected = expected_sales(truth_orders, tz)
    assert dashboard_sales(sessions, channel.platform_id) == expected
    assert any(age > 0 for _, _, age in expected.values())  # a weekend was among the days
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DirtyDay)) == 0
        assert session.get(Platform, channel.platform_id).status_message is None
