"""The read path: every dashboard and API number comes from the rollups through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from db import metrics, periods
from db.models import AnalyticsDaily, AnalyticsProductDaily, AnalyticsProductMonthly, Company, Platform, SyncRun
from db.rollups import day_sums_until, next_month
from records import ZERO

GRANULARITIES = ("day", "week", "month")
# Dates outside these years name no sales; refusing them also keeps "the period before" and
# "30 days before" arithmetic far from the calendar's ends.
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2199, 12, 31)
PRODUCT_SORTS = ("net_sales", "units")


def _money(value: object) -> Decimal:
    """A sum read back from the database as an exact cent amount (SQLite hands back floats)."""
    exact = value if isinstance(value, Decimal) else Decimal(str(value or 0))
    return exact.quantize(metrics.CENT)


@dataclass(frozen=True)
class Totals:
    """Sums over a set of rollup rows, in the company's currency."""

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
    fx_rate_age_days: int  # the oldest exchange rate used, in days

    @classmethod
    def zero(cls, currency: str) -> Totals:
        """Nothing sold: what a channel without rollup rows in a range sums to."""
        money = dict.fromkeys(metrics.MONEY_SUMS, ZERO)
        return cls(currency=currency, fx_rate_age_days=0, **money, **dict.fromkeys(metrics.COUNT_SUMS, 0))

    @property
    def aov(self) -> Decimal:
        return metrics.aov(self.gross_sales, self.discounts, self.orders)

    def value(self, key: str) -> Decimal | int:
        return self.aov if key == "aov" else getattr(self, key)


SUM_COLUMNS = [func.coalesce(func.sum(getattr(AnalyticsDaily, f)), 0) for f in metrics.MONEY_SUMS + metrics.COUNT_SUMS]


def _totals(currency: str, row: Sequence) -> Totals:
    """Totals from a row of SUM_COLUMNS followed by the max rate age."""
    n = len(metrics.MONEY_SUMS)
    money = {f: _money(row[i]) for i, f in enumerate(metrics.MONEY_SUMS)}
    counts = {f: int(row[n + i] or 0) for i, f in enumerate(metrics.COUNT_SUMS)}
    return Totals(currency=currency, fx_rate_age_days=int(row[-1] or 0), **money, **counts)


def company_today(company: Company, now: datetime | None = None) -> date:
    """Today on the company's calendar."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(company.timezone)).date()


def _filters(company_id: int, start: date, end: date, platform_ids: Sequence[int] | None):
    conditions = [AnalyticsDaily.company_id == company_id, AnalyticsDaily.day >= start, AnalyticsDaily.day <= end]
    if platform_ids is not None:
        conditions.append(AnalyticsDaily.platform_id.in_(platform_ids))
    return conditions


def totals(
    session: Session, company: Company, start: date, end: date, platform_ids: Sequence[int] | None = None
) -> Totals:
    """Totals over local days start..end inclusive."""
    row = session.execute(
        select(*SUM_COLUMNS, func.max(AnalyticsDaily.fx_rate_age_days)).where(
            *_filters(company.id, start, end, platform_ids)
        )
    ).one()
    return _totals(company.currency, row)


def time_of_today(company: Company, end: date, now: datetime | None = None) -> time | None:
    """The company-local time of day to the minute when a range ending on `end` includes today
    (where its comparison is cut; answers cached by it change once a minute), else None."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(company.timezone))
    return local.time().replace(second=0, microsecond=0) if end == local.date() else None


@dataclass(frozen=True)
class Comparison:
    """The period a range is compared with and its totals. When the range includes today, the
    comparison's last day counts only up to the time of day today has reached (`until`), so a
    morning is never set against a whole day."""

    start: date
    end: date
    until: datetime | None
    totals: Totals


def compared_totals(
    session: Session,
    company: Company,
    start: date,
    end: date,
    compare: str,
    platform_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> Comparison:
    """The comparison period of start..end (periods.comparison_range) and its totals."""
    first, last = periods.comparison_range(start, end, compare)
    clock = time_of_today(company, end, now)
    if clock is None:
        return Comparison(first, last, None, totals(session, company, first, last, platform_ids))
    until = datetime.combine(last, clock, tzinfo=ZoneInfo(company.timezone)).astimezone(UTC)
    whole = totals(session, company, first, last - timedelta(days=1), platform_ids)
    sums = {f: getattr(whole, f) for f in (*metrics.MONEY_SUMS, *metrics.COUNT_SUMS, "fx_rate_age_days")}
    for platform in platforms(session, company.id):
        if platform_ids is None or platform.id in platform_ids:
            part = day_sums_until(session, platform, last, until)
            for field, value in part.items():
                if field == "fx_rate_age_days":
                    sums[field] = max(sums[field], value)
                elif field in sums:
                    sums[field] += value
    return Comparison(first, last, until, Totals(currency=company.currency, **sums))


def totals_by_platform(session: Session, company: Company, start: date, end: date) -> dict[int, Totals]:
    """Totals per platform over local days start..end (platforms with no rows are absent)."""
    rows = session.execute(
        select(AnalyticsDaily.platform_id, *SUM_COLUMNS, func.max(AnalyticsDaily.fx_rate_age_days))
        .where(*_filters(company.id, start, end, None))
        .group_by(AnalyticsDaily.platform_id)
    )
    return {row[0]: _totals(company.currency, row[1:]) for row in rows}


@dataclass(frozen=True)
class TrendRow:
    """One period of one platform. `period_start`..`period_end` are the days it sums: a week or
    month cut by the range's start or end is `partial`, and its bounds are the range's own."""

    period_start: date
    period_end: date
    partial: bool
    platform_id: int
    platform: str
    gross_sales: Decimal
    discounts: Decimal
    returns: Decimal
    net_sales: Decimal
    total_sales: Decimal
    orders: int
    units: int


TREND_SUMS = ("gross_sales", "discounts", "returns", "net_sales", "total_sales", "orders", "units")


def period_of(day: date, granularity: str) -> tuple[date, date]:
    """The first and last day of the day's period: the day itself, its ISO week (Monday to
    Sunday), or its calendar month."""
    if granularity == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if granularity == "month":
        first = day.replace(day=1)
        return first, (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    return day, day


def trend(
    session: Session,
    company: Company,
    start: date,
    end: date,
    platform_ids: Sequence[int] | None = None,
    granularity: str = "day",
) -> list[TrendRow]:
    """Sums per period and platform, oldest first; every period of the range is present for
    every platform in scope, with zeros where nothing sold (a chart must show the gap). A first
    or last week or month that the range cuts is labelled with the days it holds and marked
    partial, so it is never read as a whole period."""
    scope = [p for p in platforms(session, company.id) if platform_ids is None or p.id in platform_ids]
    names = {p.id: p.display_name for p in scope}
    rows = session.execute(
        select(AnalyticsDaily.day, AnalyticsDaily.platform_id, *(getattr(AnalyticsDaily, f) for f in TREND_SUMS)).where(
            *_filters(company.id, start, end, list(names))
        )
    )
    sums: dict[tuple[date, int], list] = {}
    periods = sorted({period_of(start + timedelta(days=i), granularity) for i in range((end - start).days + 1)})
    for period in periods:
        for platform_id in names:
            sums[period, platform_id] = [ZERO] * 5 + [0, 0]
    for day, platform_id, *values in rows:
        bucket = sums[period_of(day, granularity), platform_id]
        for i, value in enumerate(values):
            bucket[i] += _money(value) if i < 5 else int(value)
    return [
        TrendRow(
            max(first, start), min(last, end), first < start or last > end, platform_id, names[platform_id], *values
        )
        for ((first, last), platform_id), values in sorted(sums.items())
    ]


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
        DailyRow(day, pid, name, _money(net), _money(gross), _money(total), orders, units)
        for day, pid, name, net, gross, total, orders, units in rows
    ]


@dataclass(frozen=True)
class ProductRow:
    sku: str
    title: str
    gross_sales: Decimal
    discounts: Decimal
    returns: Decimal
    net_sales: Decimal
    units: int
    units_returned: int
    platforms: tuple[str, ...]


PRODUCT_SUMS = ("gross_sales", "discounts", "returns", "net_sales", "units", "units_returned")


def split_months(start: date, end: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole calendar months inside start..end (their first days), and the day ranges left
    over before and after them."""
    first = start if start.day == 1 else next_month(start.replace(day=1))
    months = []
    while next_month(first) - timedelta(days=1) <= end:
        months.append(first)
        first = next_month(first)
    if not months:
        return [], [(start, end)]
    edges = []
    if start < months[0]:
        edges.append((start, months[0] - timedelta(days=1)))
    if next_month(months[-1]) <= end:
        edges.append((next_month(months[-1]), end))
    return months, edges


def top_products(
    session: Session,
    company: Company,
    start: date,
    end: date,
    platform_ids: Sequence[int] | None = None,
    limit: int = 10,
    sort: str = "net_sales",
) -> list[ProductRow]:
    """The best products of the period, matched across channels by SKU. Whole months are read
    from the monthly rollup, the days before and after them from the daily one."""
    months, edges = split_months(start, end)
    parts = []
    for table, column, ranges in (
        (AnalyticsProductMonthly, AnalyticsProductMonthly.month, [(months[0], months[-1])] if months else []),
        (AnalyticsProductDaily, AnalyticsProductDaily.day, edges),
    ):
        for low, high in ranges:
            conditions = [table.company_id == company.id, column >= low, column <= high]
            if platform_ids is not None:
                conditions.append(table.platform_id.in_(platform_ids))
            parts.append(
                select(table.sku, table.platform_id, table.title, *(getattr(table, f) for f in PRODUCT_SUMS)).where(
                    *conditions
                )
            )
    if not parts:
        return []
    every = union_all(*parts).subquery()
    rows = session.execute(
        select(
            every.c.sku, every.c.platform_id, func.max(every.c.title), *(func.sum(every.c[f]) for f in PRODUCT_SUMS)
        ).group_by(every.c.sku, every.c.platform_id)
    )
    names = {p.id: p.display_name for p in platforms(session, company.id)}
    products: dict[str, dict] = {}
    for sku, platform_id, title, *values in rows:
        p = products.setdefault(sku, {"title": title, "values": [ZERO] * 4 + [0, 0], "platforms": []})
        p["platforms"].append(names.get(platform_id, str(platform_id)))
        for i, value in enumerate(values):
            p["values"][i] += _money(value) if i < 4 else int(value or 0)
    ranked = sorted(
        (ProductRow(sku, p["title"], *p["values"], tuple(sorted(p["platforms"]))) for sku, p in products.items()),
        key=lambda r: (-getattr(r, sort), r.sku),
    )
    return ranked[:limit]


def platforms(session: Session, company_id: int) -> list[Platform]:
    return list(session.scalars(select(Platform).where(Platform.company_id == company_id).order_by(Platform.id)))


def company_platform(session: Session, company_id: int, platform_id: int | None) -> Platform | None:
    """The company's platform with this id; None when there is none (or it is another company's)."""
    if platform_id is None:
        return None
    return session.scalar(select(Platform).where(Platform.id == platform_id, Platform.company_id == company_id))


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
