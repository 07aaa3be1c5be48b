"""Backfill a simulated Shopify store of N orders (about 3 line items each) into DATABASE_URL
through the real connector and sync engine, then sync incrementally after 1,000 orders change.

    python -m benchmarks.sync --orders 100000 --json [--database-url URL] [--repeat 3]

Prints {"orders", "line_items", "backfill_s", "backfill_orders_per_s", "incremental_1000_s"}
(medians over --repeat runs, each into a fresh company and a fresh store). The store answers like
a Shopify Plus shop; its simulated clock is a month in the past so the connector sees all of it.

The store runs in a process of its own, as Shopify runs on its own servers: it builds a window's
bulk file while this process writes the last one. `platform_s` is the time it spent building
them, most of it overlapping the backfill's wall time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection

from benchmarks import report
from connectors.base import NetworkPolicy
from db import migrate
from db.credentials import CredentialBox
from db.engine import make_engine, make_session_factory, transaction
from db.models import Company, Platform
from jobs.sync import sync_platform
from settings import Settings
from simulators.business import Business
from simulators.catalog import SHOPIFY
from simulators.demand import expected_orders
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, build_shopify
from simulators.store import ManualClock

BASKET = (0.05, 0.2, 0.35, 0.4)  # 1-4 lines per order: about 3 on average
HISTORY_DAYS = 365
CHANGED = 1000
SIMULATOR_NETWORK = NetworkPolicy(allow_loopback=True)  # the benchmark's shop runs on 127.0.0.1


def business_of(orders: int, end: date) -> Business:
    """A business whose Shopify channel places about `orders` orders in the year before `end`."""
    days = [end - timedelta(days=i) for i in range(HISTORY_DAYS)]
    per_scale = sum(expected_orders(SHOPIFY, d) for d in days)
    return Business(scale=orders / per_scale, basket=BASKET)


def serve_shop(orders: int, start: datetime, commands: Connection) -> None:
    """The store, in the benchmark's second process: tells its URL and size, then answers
    "change" (half an hour later, the newest 1,000 orders are edited) and "platform_s" until
    "stop"."""
    business = business_of(orders, start.astimezone(Business().tz).date())
    clock = ManualClock(start)
    with build_shopify(
        business, history_days=HISTORY_DAYS, clock=clock, bucket_size=20000, restore_rate=1000
    ) as server:
        store = server.simulator.store
        placed = store.by_created(clock())
        commands.send({"url": server.url, "orders": len(placed), "line_items": sum(len(o.lines) for o in placed)})
        for command in iter(commands.recv, "stop"):
            if command == "change":
                clock.advance(minutes=30)  # past the lookback window: the incremental reads only the changes
                for order in placed[-CHANGED:]:
                    store.edit(order.order_id)
            commands.send(server.simulator.bulk_seconds)


def run_once(sessions, orders: int, start: datetime, box: CredentialBox) -> dict:
    context = multiprocessing.get_context("spawn")
    commands, theirs = context.Pipe()
    shop_process = context.Process(target=serve_shop, args=(orders, start, theirs), daemon=True)
    shop_process.start()
    try:
        shop = commands.recv()
        with transaction(sessions) as session:
            company = Company(name=f"bench-{time.time_ns()}", timezone=Business().timezone, currency="USD")
            platform = Platform(
                company=company,
                kind="shopify",
                display_name="bench",
                currency="USD",
                config={"shop_domain": SHOP_DOMAIN, "base_url": shop["url"]},
                credentials=box.seal({"access_token": DEV_ACCESS_TOKEN}),
            )
            session.add(platform)
            session.flush()
            platform_id = platform.id

        began = time.perf_counter()
        backfill = sync_platform(sessions, platform_id, box, network=SIMULATOR_NETWORK)
        backfill_s = time.perf_counter() - began
        assert backfill.status == "succeeded", backfill.error
        assert backfill.rows == shop["orders"], backfill

        commands.send("change")
        platform_s = commands.recv()
        began = time.perf_counter()
        incremental = sync_platform(sessions, platform_id, box, network=SIMULATOR_NETWORK)
        incremental_s = time.perf_counter() - began
        assert incremental.status == "succeeded" and incremental.rows >= CHANGED, incremental
        commands.send("stop")
        return {**shop, "backfill_s": backfill_s, "platform_s": platform_s, "incremental_1000_s": incremental_s}
    finally:
        shop_process.join(timeout=10)
        if shop_process.is_alive():
            shop_process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env({"DATABASE_URL": args.database_url} if args.database_url else {})
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    box = CredentialBox(settings.credentials_keys)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    runs = [run_once(sessions, args.orders, start, box) for _ in range(args.repeat)]
    orders = runs[0]["orders"]
    backfill_s = statistics.median(r["backfill_s"] for r in runs)
    result = {
        "orders": orders,
        "line_items": runs[0]["line_items"],
        "backfill_s": round(backfill_s, 2),
        "backfill_orders_per_s": round(orders / backfill_s),
        "platform_s": round(statistics.median(r["platform_s"] for r in runs), 2),
        "incremental_1000_s": round(statistics.median(r["incremental_1000_s"] for r in runs), 2),
        "database": engine.dialect.name,
        "runs": len(runs),
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
