"""Removing a channel (jobs.platforms.remove_platform, behind the Channels page's dialog): every
row that is its own goes (orders with their lines and refunds, products, rollups, sync runs and
state, webhook deliveries, reconciliation reports, its forecasts and their predictions), the
other channel's and the company's rows stay, cached figures are invalidated and the all-channels
forecast is refit. On SQLite and Postgres: both must cascade."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from db.engine import transaction
from db.locks import named_lock
from db.models import (
    AnalyticsDaily,
    AnalyticsProductDaily,
    AnalyticsProductMonthly,
    Company,
    DirtyDay,
    ForecastRun,
    ModelRun,
    Order,
    OrderLineItem,
    Platform,
    PlatformReportDay,
    Prediction,
    Product,
    Refund,
    RefundLine,
    SyncRun,
    SyncState,
    WebhookEvent,
)
from jobs import platforms
from jobs.demo import seed_demo
from simulators.business import Business

ZERO = Decimal("0")


def per_platform(session, platform_id: int) -> dict[str, int]:
    """How many rows of each kind are the platform's own."""

    def count(model, *where) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where))

    orders = select(Order.id).where(Order.platform_id == platform_id)
    refunds = select(Refund.id).where(Refund.platform_id == platform_id)
    fits = select(ModelRun.id).where(ModelRun.platform_id == platform_id)
    return {
        "orders": count(Order, Order.platform_id == platform_id),
        "line items": count(OrderLineItem, OrderLineItem.order_id.in_(orders)),
        "refunds": count(Refund, Refund.platform_id == platform_id),
        "refund lines": count(RefundLine, RefundLine.refund_id.in_(refunds)),
        "products": count(Product, Product.platform_id == platform_id),
        "daily": count(AnalyticsDaily, AnalyticsDaily.platform_id == platform_id),
        "product daily": count(AnalyticsProductDaily, AnalyticsProductDaily.platform_id == platform_id),
        "product monthly": count(AnalyticsProductMonthly, AnalyticsProductMonthly.platform_id == platform_id),
        "sync runs": count(SyncRun, SyncRun.platform_id == platform_id),
        "sync state": count(SyncState, SyncState.platform_id == platform_id),
        "dirty days": count(DirtyDay, DirtyDay.platform_id == platform_id),
        "webhooks": count(WebhookEvent, WebhookEvent.platform_id == platform_id),
        "reports": count(PlatformReportDay, PlatformReportDay.platform_id == platform_id),
        "model runs": count(ModelRun, ModelRun.platform_id == platform_id),
        "predictions": count(Prediction, Prediction.model_run_id.in_(fits)),
    }


def add_history(session, company_id: int, platform_id: int) -> None:
    """What syncs, webhooks, reconciliation and training leave behind for a platform."""
    day = date(2026, 11, 1)
    session.add_all(
        [
            SyncRun(platform_id=platform_id, status="succeeded"),
            SyncState(platform_id=platform_id, stream="orders"),
            DirtyDay(platform_id=platform_id, day=day),
            WebhookEvent(platform_id=platform_id, delivery_id=f"d-{platform_id}", topic="orders/updated"),
            PlatformReportDay(
                platform_id=platform_id,
                day=day,
                source="platform",
                currency="USD",
                orders=1,
                gross_sales=ZERO,
                discounts=ZERO,
                returns=ZERO,
                net_sales=ZERO,
                shipping=ZERO,
                taxes=ZERO,
                total_sales=ZERO,
            ),
        ]
    )
    fit = ModelRun(company_id=company_id, platform_id=platform_id, metric="net_sales", model="ets", status="succeeded")
    session.add(fit)
    session.flush()
    session.add(Prediction(model_run_id=fit.id, model="ets", day=day, mean=Decimal("1.00")))


@pytest.fixture
def demo(sessions) -> dict[str, int]:
    """The demo company with a few weeks of both channels' orders, and each channel's history."""
    seed_demo(sessions, business=Business(scale=0.1), days=20)
    with transaction(sessions) as session:
        ids = {p.kind: p.id for p in session.scalars(select(Platform))}
        company_id = session.scalar(select(Company.id))
        for platform_id in ids.values():
            add_history(session, company_id, platform_id)
        total = ModelRun(company_id=company_id, platform_id=None, metric="net_sales", model="ets", status="succeeded")
        session.add(total)
    return {**ids, "company": company_id}


def test_removing_a_channel_deletes_all_of_its_data_and_nothing_else(sessions, demo):
    with sessions() as session:
        shopify_before, bestbuy_before = per_platform(session, demo["shopify"]), per_platform(session, demo["bestbuy"])
        version = session.get(Company, demo["company"]).data_version
    for name in ("orders", "line items", "refunds", "products", "daily", "product daily", "sync runs", "predictions"):
        assert shopify_before[name] > 0 and bestbuy_before[name] > 0, name  # the test holds something to delete

    with sessions() as session:
        removal = platforms.remove_platform(session, session.get(Platform, demo["shopify"]))
    assert (removal.name, removal.orders, removal.forecasts) == ("Shopify store", shopify_before["orders"], 1)

    with sessions() as session:
        assert session.get(Platform, demo["shopify"]) is None
        assert set(per_platform(session, demo["shopify"]).values()) == {0}
        assert per_platform(session, demo["bestbuy"]) == bestbuy_before
        assert session.get(Company, demo["company"]).data_version == version + 1  # cached figures are stale
        company_fits = select(func.count()).select_from(ModelRun).where(ModelRun.platform_id.is_(None))
        assert session.scalar(company_fits) == 1  # the all-channels series stays until it is refit...
        assert session.scalar(select(ForecastRun.status)) == "requested"  # ...which is requested now


def test_a_channel_is_not_removed_while_its_sync_runs(sessions, demo):
    with named_lock(sessions.kw["bind"], f"sync:{demo['shopify']}") as held:
        assert held
        with sessions() as session, pytest.raises(platforms.PlatformBusy, match="is running"):
            platforms.remove_platform(session, session.get(Platform, demo["shopify"]))
    with sessions() as session:
        assert per_platform(session, demo["shopify"])["orders"] > 0
