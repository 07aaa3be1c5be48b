"""Store simulators wired to connected platforms, for tests that sync over real HTTP, and the
simulated business's raw events as the oracle's input where data was seeded without a sync."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from connectors.base import NetworkPolicy
from db import fx
from db.credentials import CredentialBox
from db.engine import transaction
from db.models import Platform
from jobs.demo import demo_fx_rates
from settings import Settings
from simulators.business import Business, SimOrder
from simulators.catalog import BESTBUY
from simulators.mirakl import build_mirakl
from simulators.server import FaultPlan, SimulatorServer
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, build_shopify
from simulators.store import ManualClock
from tests import stored
from tests.pandas_metrics import Events
from tests.wire_oracle import mirakl_events, shopify_events

BUSINESS = Business(scale=0.3)
MIRAKL_KEY = "test-mirakl-key"
BOX = CredentialBox(Settings().credentials_keys)
# The simulators listen on 127.0.0.1, which only development's network policy reaches.
DEV_NETWORK = NetworkPolicy.for_app_env("development")
# The simulators' "now": a fixed moment, so every run syncs the same orders whatever the date (its
# 12 days of history hold New York's DST change of 2026-11-01). It lies in the past, so a connector
# that looks at the real clock (Mirakl's update-date windows) sees it all.
START = datetime(2026, 11, 5, 17, 0, tzinfo=UTC)


def build(kind: str, clock: ManualClock, faults: FaultPlan | None = None):
    """A started simulator of `kind` and the (config, secrets) a platform needs to reach it."""
    if kind == "shopify":
        # A Shopify Plus bucket: these tests are about correctness, test_shopify_* about pacing.
        server = build_shopify(
            BUSINESS, history_days=12, clock=clock, faults=faults, bucket_size=20000, restore_rate=1000
        ).start()
        return server, {"shop_domain": SHOP_DOMAIN, "base_url": server.url}, {"access_token": DEV_ACCESS_TOKEN}
    server = build_mirakl(
        BUSINESS, api_key=MIRAKL_KEY, history_days=12, clock=clock, faults=faults, min_interval_seconds=0
    ).start()
    backfill_start = (START - timedelta(days=20)).isoformat()
    # Two-day windows: several calls per sync, so a sync can be interrupted between its pages.
    config = {"base_url": server.url, "min_interval_seconds": "0", "backfill_start": backfill_start, "window_days": "2"}
    return server, config, {"api_key": MIRAKL_KEY}


@dataclass
class Channel:
    kind: str
    server: SimulatorServer
    clock: ManualClock
    platform_id: int
    company_id: int

    def truth(self) -> dict:
        """Every order the platform shows now, snapshotted from the business's own events."""
        return stored.truth(self.server.simulator.store.by_created(self.clock()), self.clock())

    def wire_events(self) -> Events:
        """The platform's orders as its API serves them now, read over HTTP."""
        if self.kind == "shopify":
            return shopify_events(self.server.url, DEV_ACCESS_TOKEN, self.platform_id)
        return mirakl_events(self.server.url, MIRAKL_KEY, self.platform_id)


@pytest.fixture(params=["shopify", "bestbuy"])
def channel(request, sessions, company) -> Channel:
    """A connected platform of each kind, with its simulator running."""
    clock = ManualClock(START)
    server, config, secrets = build(request.param, clock, FaultPlan(seed=7))
    with transaction(sessions) as session:
        platform = Platform(
            company_id=company.id,
            kind=request.param,
            display_name=f"Test {request.param}",
            currency="USD" if request.param == "shopify" else "CAD",
            config=config,
            credentials=BOX.seal(secrets),
        )
        session.add(platform)
        session.flush()
        platform_id = platform.id
        rates = demo_fx_rates(START.date() - timedelta(days=60), START.date() + timedelta(days=60))
        fx.upsert_fx_rates(session, company.id, rates, source="test")
    yield Channel(request.param, server, clock, platform_id, company.id)
    server.stop()


def seeded_events(engine: Engine, company_id: int, business: Business, now: datetime, days: int) -> Events:
    """The raw events of what seed_demo(business=business, now=now, days=days) writes
    without stores, on the company's platforms of each kind."""
    with engine.connect() as conn:
        rows = conn.execute(select(Platform.kind, Platform.id).where(Platform.company_id == company_id)).all()
    return business_events(business, dict(rows), now, days)


def business_events(business: Business, platform_ids: Mapping[str, int], now: datetime, days: int) -> Events:
    """The business's raw events on the `days` local days up to `now`, as they stand then: each
    channel's orders (on the platform `platform_ids` names for it), lines and refunds."""
    today = now.astimezone(business.tz).date()
    start = today - timedelta(days=days - 1)
    rows: tuple[list, list, list, list] = ([], [], [], [])
    for kind, platform_id in platform_ids.items():
        for order in business.orders_between(kind, start, today):
            if order.created_at <= now:
                _order_events(order, platform_id, now, *rows)
    return Events.of(*rows)


def _order_events(
    order: SimOrder, platform_id: int, now: datetime, orders: list, lines: list, refunds: list, refund_lines: list
) -> None:
    key = f"{order.channel}:{order.order_id}"
    accepted = order.channel != BESTBUY or (order.accepted_at is not None and order.accepted_at <= now)
    taxes = sum((li.tax for li in order.lines), order.shipping_tax)
    orders.append(
        (platform_id, key, order.currency, order.created_at, accepted and not order.test, order.shipping, taxes)
    )
    for li in order.lines:
        lines.append((key, li.line_id, li.item.sku, li.quantity, li.unit_price, li.discount, li.is_gift_card))
    for r in order.refunds:
        if r.at <= now:
            refunds.append((key, r.refund_id, r.at, r.shipping, sum((rl.tax for rl in r.lines), r.shipping_tax)))
            refund_lines.extend((key, r.refund_id, rl.line_id, rl.quantity, rl.amount) for rl in r.lines)
