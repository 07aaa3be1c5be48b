"""The read path: every dashboard and API number comes from the rollups through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import AnalyticsDaily, Company, Platform, SyncRun

ZERO = Decimal("0.00")
MONEY_FIELDS = ("gross_sales", "discounts", "returns", "net_sales", "taxes", "shipping", "total_sales")
COUNT_FIELDS = ("orders", "units", "units_returned")


@dataclass(frozen=True)
class Kpis:
    currency: str
    gross_sales: Decimal
    discounts: Decimal
    returns: Decimal
    net_sales: Decimal
    taxes: Decimal
    shipping: Decimal
    total_sales: Decimal
    orders: int
    units: int
    units_returned: int
    fx_rate_age_days: int  # oldest exchange rate used, in days

    @property
    def aov(self) -> Decimal:
        """Average order value as Shopify defines it since 2023: (gross sales - discounts) / orders."""
        if not self.orders:
            return ZERO
        return ((self.gross_sales - self.discounts) / self.orders).quantize(Decimal("0.01"), ROUND_HALF_UP)


def company_today(company: Company, now: datetime | None = None) -> date:
    """Today on the company's calendar."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(company.timezone)).date()


def _filters(company_id: int, start: date, end: date, platform_ids: Sequence[int] | None):
    conditions = [AnalyticsDaily.company_id == company_id, AnalyticsDaily.day >= start, AnalyticsDaily.day <= end]
    if platform_ids is not None:
        conditions.append(AnalyticsDaily.platform_id.in_(platform_ids))
    return conditions


def kpis(session: Session, company: Company, start: date, end: date, platform_ids: Sequence[int] | None = None) -> Kpis:
    """Totals over local days start..end inclusive, in the company's currency."""
    columns = [func.coalesce(func.sum(getattr(AnalyticsDaily, f)), 0) for f in MONEY_FIELDS + COUNT_FIELDS]
    conditions = _filters(company.id, start, end, platform_ids)
    row = session.execute(select(*columns).where(*conditions)).one()
    rate_age = session.scalar(select(func.max(AnalyticsDaily.fx_rate_age_days)).where(*conditions))
    money = {f: Decimal(row[i]).quantize(Decimal("0.01")) for i, f in enumerate(MONEY_FIELDS)}
    counts = {f: int(row[len(MONEY_FIELDS) + i]) for i, f in enumerate(COUNT_FIELDS)}
    return Kpis(currency=company.currency, fx_rate_age_days=rate_age or 0, **money, **counts)


@dataclass(frozen=True)
class DailyRow:
    day: date
    platform_id: int
    platform: str
    net_sales: Decimal
    gross_sales: Decimal
    total_sales: Decimal
    orders: int
    units: int


def daily_by_platform(
    session: Session, company: Company, start: date, end: date, platform_ids: Sequence[int] | None = None
) -> list[DailyRow]:
    """One row per (day, platform) that has data, oldest first."""
    rows = session.execute(
        select(
            AnalyticsDaily.day,
            Platform.id,
            Platform.display_name,
            AnalyticsDaily.net_sales,
            AnalyticsDaily.gross_sales,
            AnalyticsDaily.total_sales,
            AnalyticsDaily.orders,
            AnalyticsDaily.units,
        )
        .join(Platform, Platform.id == AnalyticsDaily.platform_id)
        .where(*_filters(company.id, start, end, platform_ids))
        .order_by(AnalyticsDaily.day, Platform.id)
    )
    return [
        DailyRow(day, pid, name, Decimal(net), Decimal(gross), Decimal(total), orders, units)
        for day, pid, name, net, gross, total, orders, units in rows
    ]


def platforms(session: Session, company_id: int) -> list[Platform]:
    return list(session.scalars(select(Platform).where(Platform.company_id == company_id).order_by(Platform.id)))


def latest_sync_runs(session: Session, company_id: int) -> dict[int, SyncRun]:
    """The most recent sync run of each of the company's platforms."""
    newest = (
        select(SyncRun.platform_id, func.max(SyncRun.id).label("run_id"))
        .join(Platform, Platform.id == SyncRun.platform_id)
        .where(Platform.company_id == company_id)
        .group_by(SyncRun.platform_id)
        .subquery()
    )
    runs = session.scalars(select(SyncRun).join(newest, SyncRun.id == newest.c.run_id))
    return {run.platform_id: run for run in runs}


@dataclass(frozen=True)
class PlatformStatus:
    """A platform and where its syncing stands, as the Channels page and the API show it."""

    id: int
    kind: str
    name: str
    currency: str
    status: str
    status_message: str | None
    last_sync_at: datetime | None
    queued: bool
    run: SyncRun | None

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.status == "running"

    @property
    def progress(self) -> float | None:
        """Share of the expected rows written by the running sync, when the platform said how many."""
        if not self.running or not self.run.expected_rows:
            return None
        return min(1.0, self.run.rows / self.run.expected_rows)


def sync_status(session: Session, company_id: int) -> list[PlatformStatus]:
    runs = latest_sync_runs(session, company_id)
    return [
        PlatformStatus(
            p.id,
            p.kind,
            p.display_name,
            p.currency,
            p.status,
            p.status_message,
            p.last_sync_at,
            p.sync_requested_at is not None,
            runs.get(p.id),
        )
        for p in platforms(session, company_id)
    ]
