"""What the pages show, read through db.queries for the logged-in user's company and, given the
app's cache, through it: the rollup reads are keyed by company, parameters and data version, so
a 30-second refresh with no new data costs cache hits. Sync status changes on its own clock and
is always read fresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from db import queries
from db.cache import ReadCache
from db.models import Company, ModelRun, Platform, Prediction
from jobs import forecasts

OVERVIEW_DAYS = 30


@dataclass(frozen=True)
class Overview:
    company: str
    currency: str
    timezone: str
    start: date
    end: date
    totals: queries.Totals
    previous: queries.Totals
    daily: list[queries.DailyRow]
    platforms: list[Platform]
    last_sync_at: datetime | None
    syncs: list[queries.PlatformStatus]


def overview(session: Session, company_id: int, today: date | None = None, cache: ReadCache | None = None) -> Overview:
    """The last 30 company-local days (today included) and the 30 days before them."""
    company = session.get(Company, company_id)
    end = today or queries.company_today(company)
    start = end - timedelta(days=OVERVIEW_DAYS - 1)
    previous_end = start - timedelta(days=1)

    def rollups() -> tuple[queries.Totals, queries.Totals, list[queries.DailyRow]]:
        return (
            queries.totals(session, company, start, end),
            queries.totals(session, company, previous_end - timedelta(days=OVERVIEW_DAYS - 1), previous_end),
            queries.daily_by_platform(session, company, start, end),
        )

    totals, previous, daily = cache.read(company, "overview", {"end": end}, rollups) if cache else rollups()
    platforms = queries.platforms(session, company_id)
    syncs = [p.last_sync_at for p in platforms if p.last_sync_at]
    return Overview(
        company=company.name,
        currency=company.currency,
        timezone=company.timezone,
        start=start,
        end=end,
        totals=totals,
        previous=previous,
        daily=daily,
        platforms=platforms,
        last_sync_at=max(syncs) if syncs else None,
        syncs=queries.sync_status(session, company_id),
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
        session, company, today - timedelta(days=FORECAST_HISTORY_DAYS), today - timedelta(days=1),
        None if platform_id is None else [platform_id],
    )  # fmt: skip
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
