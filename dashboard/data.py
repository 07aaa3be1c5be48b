"""What the pages show, read through db.queries for the logged-in user's company and, given the
app's cache, through it: the rollup reads are keyed by company, parameters and data version, so
a 30-second refresh with no new data costs cache hits. Sync status changes on its own clock and
is always read fresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from dashboard.filters import Filters
from db import queries
from db.cache import ReadCache
from db.models import Company, ModelRun, Platform, Prediction
from jobs import forecasts

TOP_PRODUCTS = 100  # rows of the Overview's product table (the Products page has them all)


@dataclass(frozen=True)
class ChannelShare:
    """One channel's part of the period: the channel comparison panel's row."""

    platform_id: int
    name: str
    kind: str
    store_currency: str
    totals: queries.Totals
    share: float | None  # of the filtered channels' net sales, in %; None when they sold nothing


@dataclass(frozen=True)
class OverviewNumbers:
    """Everything the Overview reads from the rollups for one set of filters: cached as one."""

    totals: queries.Totals
    comparison: queries.Comparison
    trend: list[queries.TrendRow]
    channels: list[ChannelShare]
    products: list[queries.ProductRow]


@dataclass(frozen=True)
class Overview:
    company: str
    currency: str
    timezone: str
    refund_dating: str
    filters: Filters
    numbers: OverviewNumbers
    platforms: list[Platform]
    syncs: list[queries.PlatformStatus]
    data_version: int
    as_of: datetime | None  # the newest sync among the filtered channels

    @property
    def includes_today(self) -> bool:
        return self.numbers.comparison.until is not None


def overview(session: Session, company_id: int, filters: Filters, cache: ReadCache | None = None) -> Overview:
    """The Overview's numbers for these filters, from the cache when the company's data has not
    changed since (and, for a range that includes today, within the same minute)."""
    company = session.get(Company, company_id)
    platforms = [p for p in queries.platforms(session, company_id) if not filters.channels or p.id in filters.channels]

    def numbers() -> OverviewNumbers:
        start, end, ids = filters.start, filters.end, filters.platform_ids
        by_platform = queries.totals_by_platform(session, company, start, end)
        each = {p.id: by_platform.get(p.id) or queries.Totals.zero(company.currency) for p in platforms}
        sold = sum((t.net_sales for t in each.values()), Decimal(0))
        channels = [
            ChannelShare(
                p.id,
                p.display_name,
                p.kind,
                p.currency,
                each[p.id],
                round(float(each[p.id].net_sales / sold * 100), 1) if sold else None,
            )
            for p in platforms
        ]
        return OverviewNumbers(
            queries.totals(session, company, start, end, ids),
            queries.compared_totals(session, company, start, end, filters.compare, ids),
            queries.trend(session, company, start, end, ids, filters.granularity),
            channels,
            queries.top_products(session, company, start, end, ids, TOP_PRODUCTS),
        )

    key = {**filters.as_json(), "cut": queries.time_of_today(company, filters.end)}
    synced = [p.last_sync_at for p in platforms if p.last_sync_at]
    return Overview(
        company=company.name,
        currency=company.currency,
        timezone=company.timezone,
        refund_dating=company.refund_dating,
        filters=filters,
        numbers=cache.read(company, "overview", key, numbers) if cache else numbers(),
        platforms=platforms,
        syncs=queries.sync_status(session, company_id),
        data_version=company.data_version,
        as_of=max(synced) if synced else None,
    )


FORECAST_HISTORY_DAYS = 90


@dataclass(frozen=True)
class ForecastView:
    """One series on the Forecasts page: its recent history, its current model run (None before
    the first retrain), that run's predictions from today, and how it has done so far."""

    currency: str
    history: list[tuple[date, float]]
    run: ModelRun | None
    days: list[Prediction]
    realized: dict  # the chosen model's forecast so far
    realized_by_model: dict[str, dict]  # each stored model's


def forecast_view(session: Session, company: Company, platform_id: int | None, metric: str) -> ForecastView:
    today = queries.company_today(company)
    rows = queries.daily_by_platform(
        session,
        company,
        today - timedelta(days=FORECAST_HISTORY_DAYS),
        today - timedelta(days=1),
        None if platform_id is None else [platform_id],
    )
    by_day: dict[date, float] = {}
    for row in rows:
        by_day[row.day] = by_day.get(row.day, 0.0) + float(getattr(row, metric))
    run = forecasts.current_model_run(session, company.id, platform_id, metric)
    days, by_model = [], {}
    if run is not None:
        days = forecasts.predictions_from(session, run, today)
        by_model = forecasts.realized_by_model(session, run, today)
    realized = by_model.get(run.model) if run else None
    return ForecastView(
        company.currency, sorted(by_day.items()), run, days, realized or forecasts.nothing_realized(), by_model
    )
