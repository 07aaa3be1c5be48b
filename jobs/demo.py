"""The demo company: its user, channels, exchange rates, catalog and history. The only module
that imports the simulators: the demo business lives there."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import records
from db import accounts, fx, ingest, rollups
from db.credentials import CredentialBox
from db.engine import transaction
from db.models import Company, Order, Platform
from jobs.progress import Progress
from simulators.business import Business, cad_usd_rate
from simulators.catalog import BESTBUY, CHANNELS, CURRENCY, SHOPIFY

log = logging.getLogger(__name__)


DEMO_COMPANY = "Northwind Audio (demo)"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo"
DEMO_DAYS = 730
# Orders change for about six weeks after they are placed (shipping, returns): a top-up
# re-reads that long a tail so the demo stays exactly as the business would report it.
DEMO_TAIL_DAYS = 45
DEMO_PLATFORMS = {
    SHOPIFY: ("Shopify store", {"shop_domain": "northwind-audio.myshopify.com"}),
    BESTBUY: ("Best Buy Marketplace", {"shop_id": "2001", "shop_name": "Northwind Audio CA"}),
}


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    orders: int
    days: int


def seed_demo(
    sessions: sessionmaker[Session],
    *,
    business: Business | None = None,
    connections: Mapping[str, tuple[dict[str, str], dict[str, str]]] | None = None,
    box: CredentialBox | None = None,
    now: datetime | None = None,
    days: int = DEMO_DAYS,
    progress: Progress | None = None,
) -> DemoSummary:
    """Create the demo company (once) with its exchange rates and catalog, then fill in history.

    Given `connections` (running store simulators: kind -> config, secrets), its platforms are
    connected to them and the scheduler's syncs bring the history in through the real
    connectors. Without, the business's history up to `now` is written straight into the
    database (tests, benchmarks); run again, that only tops up what changed since.
    """
    business = business or Business()
    now = now or datetime.now(UTC)
    tz = ZoneInfo(business.timezone)
    today = now.astimezone(tz).date()

    with transaction(sessions) as session:
        company = session.scalar(select(Company).where(Company.name == DEMO_COMPANY))
        created = company is None
        if created:
            company = Company(name=DEMO_COMPANY, timezone=business.timezone, currency="USD")
            session.add(company)
            accounts.create_user(session, company, DEMO_EMAIL, DEMO_PASSWORD, role="admin")
            for kind, (name, config) in DEMO_PLATFORMS.items():
                session.add(
                    Platform(company=company, kind=kind, display_name=name, currency=CURRENCY[kind], config=config)
                )
            session.flush()
        platforms = {p.kind: p for p in session.scalars(select(Platform).where(Platform.company_id == company.id))}
        for kind, platform in platforms.items():
            if connections:
                config, secrets = connections[kind]
                platform.config, platform.credentials = config, box.seal(secrets)
                platform.status, platform.status_message = "active", None
            else:
                platform.status, platform.status_message = "disabled", "Demo data loaded directly: no store connected."
        newest = session.scalar(select(func.max(Order.order_day)).where(Order.company_id == company.id))
        start = today - timedelta(days=days - 1)
        rates = demo_fx_rates(start - timedelta(days=7), today + timedelta(days=7))
        fx.upsert_fx_rates(session, company.id, rates, "demo")
        for kind in CHANNELS:
            ingest.upsert_products(session, platforms[kind], business.products(kind))
    if connections:
        return DemoSummary(created=created, orders=0, days=0)

    if newest is not None:
        start = min(newest, today) - timedelta(days=DEMO_TAIL_DAYS)
    batches = {
        kind: [o.to_record(now) for o in business.orders_between(kind, start, today) if o.created_at <= now]
        for kind in CHANNELS
    }
    total = sum(len(b) for b in batches.values())
    loaded = 0
    for kind, orders in batches.items():
        offset = loaded

        def overall(done: int, _total: int, offset: int = offset) -> None:
            if progress:
                progress(offset + done, total)

        write_orders(sessions, platforms[kind], orders, tz, overall)
        loaded += len(orders)
    log.info("demo seeded created=%s orders=%d from=%s to=%s", created, loaded, start, today)
    return DemoSummary(created=created, orders=loaded, days=(today - start).days + 1)


def demo_fx_rates(start: date, end: date) -> Iterable[tuple[date, str, str, object]]:
    day = start
    while day <= end:
        rate = cad_usd_rate(day)
        if rate is not None:
            yield day, "CAD", "USD", rate
        day += timedelta(days=1)


def write_orders(
    sessions: sessionmaker[Session],
    platform: Platform,
    orders: list[records.Order],
    tz: ZoneInfo,
    progress: Progress | None = None,
    page_size: int = 1000,
) -> set[date]:
    """Upsert orders page by page (a transaction each) and roll up the days they touched."""
    touched: set[date] = set()
    for offset in range(0, len(orders), page_size):
        with transaction(sessions) as session:
            touched |= ingest.upsert_orders(session, platform, orders[offset : offset + page_size], tz)
        if progress:
            progress(min(offset + page_size, len(orders)), len(orders))
    with transaction(sessions) as session:
        rollups.rollup_daily(session, session.get(Platform, platform.id), touched)
    return touched
