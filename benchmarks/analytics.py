"""Load a company with N orders (about 3 line items each, Shopify + Best Buy, two years) into
DATABASE_URL, then time every analytics endpoint over 90-day and 2-year ranges, with the cache
empty (cold) and filled (warm).

    python -m benchmarks.analytics --orders 1000000 --json [--database-url URL] [--samples 20]

Loading goes through the same upsert and rollup as a sync (COPY on Postgres), fed straight from
the synthetic business instead of over HTTP: the fastest honest path. A company already loaded
with the same size is reused. Requests go through the full Flask stack (auth, validation,
cache, JSON) with a bearer-free test session; times are per request, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app import create_app
from db import accounts, fx, ingest, migrate, rollups
from db.engine import make_engine, make_session_factory, transaction
from db.models import Company, Order, Platform
from jobs.demo import demo_fx_rates
from settings import Settings
from simulators import business as sim
from simulators.business import Business
from simulators.catalog import BESTBUY, CHANNELS, CURRENCY, SHOPIFY
from simulators.demand import expected_orders
from tests.conftest import AuthActions

DAYS = 730
BASKET = (0.05, 0.2, 0.35, 0.4)  # about 3 lines per order
PASSWORD = "benchmark-password"
ENDPOINTS = (
    "metrics",
    "sales-trend",
    "platform-comparison",
    "top-products",
    "dashboard-summary",
)


def business_of(orders: int, end) -> Business:
    days = [end - timedelta(days=i) for i in range(DAYS)]
    per_scale = sum(expected_orders(c, d) for c in CHANNELS for d in days)
    return Business(scale=orders / per_scale, basket=BASKET)


def load(sessions, orders: int) -> Company:
    """The benchmark company with about `orders` orders, loaded once."""
    name = f"Benchmark {orders:,} orders"
    with sessions() as session:
        company = session.scalar(select(Company).where(Company.name == name))
        if (
            company is not None
            and session.scalar(select(func.count()).select_from(Order).where(Order.company_id == company.id))
            >= orders * 0.95
        ):
            return company
    now = datetime.now(UTC)
    tz = ZoneInfo(Business().timezone)
    today = now.astimezone(tz).date()
    business = business_of(orders, today)
    with transaction(sessions) as session:
        company = Company(name=name, timezone=business.timezone, currency="USD")
        accounts.create_user(session, company, f"bench{orders}@example.com", PASSWORD, role="admin")
        platforms = {
            kind: Platform(
                company=company, kind=kind, display_name=f"Bench {kind}", currency=CURRENCY[kind], status="disabled"
            )
            for kind in CHANNELS
        }
        session.add_all(platforms.values())
        session.flush()
        rates = demo_fx_rates(today - timedelta(days=DAYS + 7), today)
        fx.upsert_fx_rates(session, company.id, rates, "benchmark")
    started, written = time.perf_counter(), 0
    for kind in (SHOPIFY, BESTBUY):
        day = today - timedelta(days=DAYS - 1)
        while day <= today:
            batch_end = min(day + timedelta(days=6), today)
            records = [o.to_record(now) for o in business.orders_between(kind, day, batch_end) if o.created_at <= now]
            sim._orders_on.cache_clear()  # a week at a time: a million orders would not fit in the cache
            with transaction(sessions) as session:
                platform = session.get(Platform, platforms[kind].id)
                ingest.mark_dirty(session, platform.id, ingest.upsert_orders(session, platform, records, tz))
            written += len(records)
            day = batch_end + timedelta(days=1)
            print(
                f"loading: {written:,} orders, {written / (time.perf_counter() - started):,.0f}/s", end="\r", flush=True
            )
        with transaction(sessions) as session:
            rollups.rollup_dirty(session, session.get(Platform, platforms[kind].id))
    print(f"loaded {written:,} orders in {time.perf_counter() - started:.0f} s" + " " * 20, flush=True)
    with sessions() as session:
        return session.scalar(select(Company).where(Company.name == name))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(client, cache, url: str, cold: bool, samples: int) -> list[float]:
    times = []
    client.get(url)  # the first request of a kind also warms Python's own imports and plans
    for _ in range(samples):
        if cold:
            cache.clear()
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env(
        {"DATABASE_URL": args.database_url, "LOG_LEVEL": "WARNING"} if args.database_url else {"LOG_LEVEL": "WARNING"}
    )
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    company = load(make_session_factory(engine), args.orders)
    server = create_app(settings)
    cache = server.extensions["channelpulse"].cache
    client = server.test_client()
    AuthActions(client).login(f"bench{args.orders}@example.com", PASSWORD)
    with make_session_factory(engine)() as session:
        orders = session.scalar(select(func.count()).select_from(Order).where(Order.company_id == company.id))
    end = datetime.now(UTC).astimezone(ZoneInfo(company.timezone)).date()
    ranges = {"90d": end - timedelta(days=89), "2y": end - timedelta(days=DAYS - 1)}
    results = []
    for endpoint in ENDPOINTS:
        for label, start in ranges.items():
            url = f"/api/v1/analytics/{endpoint}?start_date={start}&end_date={end}"
            for cold in (True, False):
                times = measure(client, cache, url, cold, args.samples)
                results.append(
                    {
                        "endpoint": endpoint,
                        "range": label,
                        "cache": "cold" if cold else "warm",
                        "p50_ms": round(statistics.median(times), 1),
                        "p95_ms": round(percentile(times, 95), 1),
                    }
                )
    report = {"orders": orders, "database": engine.dialect.name, "samples": args.samples, "results": results}
    if args.json:
        print(json.dumps(report))
    else:
        for r in results:
            print(
                f"{r['endpoint']:20} {r['range']:4} {r['cache']:5} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms"
            )


if __name__ == "__main__":
    main()
