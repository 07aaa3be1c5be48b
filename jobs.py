"""The only glue between connectors, the database and forecasting: demo seeding, syncs,
rollups. Each job opens its own sessions, so the web process, the scheduler and the CLI can
all run them."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors import base as records
from db import ingest
from db.engine import transaction
from db.models import Company, Order, Platform, User
from simulators.business import BESTBUY, CHANNELS, CURRENCY, SHOPIFY, Business, cad_usd_rate

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

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


class ProgressLine:
    """A one-line progress report for the CLI: rewritten in place on a terminal, printed every
    10% otherwise (logs, CI), and finished with a done line."""

    def __init__(self, label: str, stream=sys.stderr) -> None:
        self.label, self.stream = label, stream
        self.started = time.monotonic()
        self._last_step = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if self.stream.isatty():
            self.stream.write(f"\r{self.label}: {pct:3d}% ({done:,}/{total:,})")
        elif pct // 10 != self._last_step:
            self._last_step = pct // 10
            self.stream.write(f"{self.label}: {pct}% ({done:,}/{total:,})\n")
        self.stream.flush()

    def finish(self, summary: str) -> None:
        end = "\n" if self.stream.isatty() else ""
        self.stream.write(f"{end}{self.label}: done, {summary} in {time.monotonic() - self.started:.1f} s\n")
        self.stream.flush()


def create_user(session: Session, company: Company, email: str, password: str, role: str = "viewer") -> User:
    from dashboard.auth import hash_password  # argon2 set-up lives with the login

    user = User(email=email.strip().lower(), password_hash=hash_password(password), company=company, role=role)
    session.add(user)
    return user


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    orders: int
    days: int


def seed_demo(
    sessions: sessionmaker[Session],
    *,
    business: Business | None = None,
    now: datetime | None = None,
    days: int = DEMO_DAYS,
    progress: Progress | None = None,
) -> DemoSummary:
    """Create the demo company (once) and load the business's history up to `now`.

    Run again, it only tops up: days since the last run plus the tail still changing.
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
            create_user(session, company, DEMO_EMAIL, DEMO_PASSWORD, role="admin")
            for kind, (name, config) in DEMO_PLATFORMS.items():
                session.add(
                    Platform(company=company, kind=kind, display_name=name, currency=CURRENCY[kind], config=config)
                )
            session.flush()
        platforms = {p.kind: p for p in session.scalars(select(Platform).where(Platform.company_id == company.id))}
        newest = session.scalar(select(func.max(Order.order_day)).where(Order.company_id == company.id))

    start = today - timedelta(days=days - 1) if newest is None else min(newest, today) - timedelta(days=DEMO_TAIL_DAYS)
    with transaction(sessions) as session:
        ingest.upsert_fx_rates(session, demo_fx_rates(start - timedelta(days=7), today), source="demo")
        for kind in CHANNELS:
            ingest.upsert_products(session, platforms[kind], business.products(kind))

    batches = {
        kind: [o.to_record(now) for o in business.orders_between(kind, start, today) if o.created_at <= now]
        for kind in CHANNELS
    }
    total = sum(len(b) for b in batches.values())
    loaded = 0
    for kind, orders in batches.items():
        offset = loaded
        write_orders(
            sessions,
            platforms[kind],
            orders,
            tz,
            progress and (lambda done, _total, offset=offset: progress(offset + done, total)),
        )
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
        ingest.rollup_daily(session, session.get(Platform, platform.id), touched)
    return touched
