"""Store simulators wired to connected platforms, for tests that sync over real HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

import jobs
from connectors.base import NetworkPolicy
from db import ingest
from db.credentials import CredentialBox
from db.engine import transaction
from db.models import Platform
from settings import Settings
from simulators.business import Business
from simulators.mirakl import build_mirakl
from simulators.server import FaultPlan, SimulatorServer
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, build_shopify
from simulators.store import ManualClock
from tests.stored import expected

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

    def truth(self) -> dict:
        return expected(self.server.simulator.store.records(self.clock()))


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
        rates = jobs.demo_fx_rates(START.date() - timedelta(days=60), START.date() + timedelta(days=60))
        ingest.upsert_fx_rates(session, company.id, rates, source="test")
    yield Channel(request.param, server, clock, platform_id)
    server.stop()
