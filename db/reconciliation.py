"""Reconciliation: our daily totals beside a platform's own sales report, each difference explained.

A platform's report (platform_report_days) books a day its own way: in the store's currency, on
its own calendar, returns on the day they were processed, with its own rules for which orders
count. For each day of the report, the waterfall starts from what the dashboard shows
(analytics_daily) and switches our conventions to the platform's one at a time, recomputing the
day from our own orders and refunds; the change each switch makes is that reason's effect:

1. currency: amounts in the store's currency instead of the reporting currency;
2. refund_dating: returns on the day they were processed (when the company books them by order date);
3. time_zone: the report's days instead of the company's;
4. inclusion: the orders the platform's report counts instead of the ones we count;
5. sync_lag: the report and our last sync saw the platform at different moments, so on the days
   the changes in between can touch, what is still different is put down to that.

What is left is unexplained. Pure reads of our own tables: the reports are fetched and stored by
jobs.fetch_platform_reports (or uploaded); nothing here calls a platform.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import BigInteger, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from connectors.base import RETURNS_ONLY, ReportDay
from db.models import AnalyticsDaily, Company, Order, Platform, PlatformReportDay, Refund, SyncState, utcnow

ZERO = Decimal("0.00")
METRICS = ("orders", "gross_sales", "discounts", "returns", "net_sales", "shipping", "taxes", "total_sales")
REASONS = ("currency", "refund_dating", "time_zone", "inclusion", "sync_lag")
REPORT_STREAM = "report"  # sync_state row of a platform's stored report: when, and on which calendar
REPORT_MAX_AGE = timedelta(hours=1)
# Orders we leave out that a platform's report still counts: Shopify's sales report leaves out
# only test and deleted orders, so a voided order is there (a sale, then a return if cancelled).
REPORT_ALSO_COUNTS: dict[str, frozenset[str]] = {"shopify": frozenset({"voided"})}
# A marketplace order counts once accepted, on the day it was placed, up to a day earlier.
LAG_REACH = timedelta(days=1)

Figures = dict[str, Decimal | int]


# --- stored reports ------------------------------------------------------------------------


def store_report(session: Session, platform_id: int, days: Sequence[ReportDay], source: str) -> int:
    """Store report days in place of what was stored for their span; returns how many. A
    platform's stored report is on one calendar: a report on another time zone replaces it all."""
    if not days:
        return 0
    timezone = days[0].timezone
    state = session.get(SyncState, (platform_id, REPORT_STREAM)) or SyncState(
        platform_id=platform_id, stream=REPORT_STREAM
    )
    stale = delete(PlatformReportDay).where(PlatformReportDay.platform_id == platform_id)
    if (state.detail or {}).get("timezone") == timezone:
        stale = stale.where(PlatformReportDay.day.between(min(d.day for d in days), max(d.day for d in days)))
    session.execute(stale)
    now = utcnow()
    session.add_all(
        PlatformReportDay(
            platform_id=platform_id,
            day=d.day,
            source=source,
            currency=d.currency,
            imported_at=now,
            **{metric: getattr(d, metric) for metric in METRICS},
        )
        for d in days
    )
    state.cursor, state.detail = now, {"timezone": timezone}
    session.add(state)
    return len(days)


def report_timezone(session: Session, platform_id: int) -> str | None:
    """The calendar of the platform's stored report (None when nothing is stored)."""
    state = session.get(SyncState, (platform_id, REPORT_STREAM))
    return (state.detail or {}).get("timezone") if state else None


def report_needs_refresh(session: Session, platform_id: int, start: date, end: date) -> bool:
    """Whether a day of start..end has no stored report, or one older than REPORT_MAX_AGE."""
    count, oldest = session.execute(
        select(func.count(), func.min(PlatformReportDay.imported_at)).where(
            PlatformReportDay.platform_id == platform_id, PlatformReportDay.day.between(start, end)
        )
    ).one()
    return count < (end - start).days + 1 or oldest < utcnow() - REPORT_MAX_AGE


# --- the answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    reason: str
    detail: str
    effect: Figures  # the metrics this reason changes, and by how much


@dataclass(frozen=True)
class ReconciledDay:
    day: date
    ours: Figures  # what the dashboard shows: reporting currency, company days and refund dating
    platform: Figures  # the platform's report: store currency, its days and conventions
    explained: tuple[Explanation, ...]
    unexplained: Figures

    @property
    def difference(self) -> Figures:
        return _minus(self.platform, self.ours)

    @property
    def matching(self) -> bool:
        return not any(self.difference.values())

    @property
    def fully_explained(self) -> bool:
        return not any(self.unexplained.values())


@dataclass(frozen=True)
class Reconciliation:
    platform_id: int
    currency: str  # the store's: the platform's numbers
    reporting_currency: str  # the company's: our numbers
    timezone: str  # the company's days
    report_timezone: str | None  # the report's days
    report_sources: tuple[str, ...]
    report_fetched_at: datetime | None  # the oldest stored report day of the range
    days: list[ReconciledDay]

    @property
    def summary(self) -> dict[str, int]:
        return {
            "days": len(self.days),
            "days_matching": sum(d.matching for d in self.days),
            "days_explained": sum(not d.matching and d.fully_explained for d in self.days),
            "days_unexplained": sum(not d.fully_explained for d in self.days),
        }


def reconcile(session: Session, platform: Platform, start: date, end: date) -> Reconciliation:
    """Each stored report day of start..end beside ours, with the waterfall between them."""
    company = session.get(Company, platform.company_id)
    report = list(
        session.scalars(
            select(PlatformReportDay)
            .where(PlatformReportDay.platform_id == platform.id, PlatformReportDay.day.between(start, end))
            .order_by(PlatformReportDay.day)
        )
    )
    timezone = report_timezone(session, platform.id) or company.timezone
    header = {
        "platform_id": platform.id,
        "currency": platform.currency,
        "reporting_currency": company.currency,
        "timezone": company.timezone,
        "report_timezone": timezone if report else None,
        "report_sources": tuple(sorted({r.source for r in report})),
        "report_fetched_at": min((r.imported_at for r in report), default=None),
    }
    if not report:
        return Reconciliation(**header, days=[])

    days = [r.day for r in report]
    ledger = Ledger.load(session, platform, days[0] - timedelta(days=1), days[-1] + timedelta(days=1))
    ours = _dashboard(session, platform.id, days[0], days[-1])
    effects: dict[str, dict[date, Figures]] = {}
    previous = ledger.tally(Rules(company.refund_dating))  # the dashboard's conventions, store currency
    if platform.currency != company.currency:
        effects["currency"] = {d: _minus(previous[d], ours[d]) for d in days}
    for reason, rules in (
        ("refund_dating", Rules("processed")),
        ("time_zone", Rules("processed", timezone)),
        ("inclusion", Rules("processed", timezone, by_platform=True)),
    ):
        current = ledger.tally(rules)
        effects[reason] = {d: _minus(current[d], previous[d]) for d in days}
        previous = current

    details = _Details(session, platform, company, timezone, ledger)
    lag_from = details.lag_from()
    reconciled = []
    for row in report:
        theirs = {metric: getattr(row, metric) for metric in METRICS}
        explained = [
            Explanation(reason, details.text(reason, row), _nonzero(effect[row.day]))
            for reason, effect in effects.items()
            if any(effect[row.day].values())
        ]
        adjusted = ours[row.day]
        for explanation in explained:
            adjusted = _plus(adjusted, explanation.effect)
        residual = _minus(theirs, adjusted)
        if any(residual.values()) and (lag_from is None or row.day >= lag_from):
            explained.append(Explanation("sync_lag", details.text("sync_lag", row), _nonzero(residual)))
            residual = _zero()
        reconciled.append(ReconciledDay(row.day, ours[row.day], theirs, tuple(explained), residual))
    return Reconciliation(**header, days=reconciled)


# --- our side: the dashboard's numbers and our raw orders under each convention ------------


@dataclass(frozen=True)
class Rules:
    """How our orders and refunds are tallied into days."""

    refund_dating: str  # "processed": a return on its own day; "order": on its order's day
    timezone: str | None = None  # whose days: None = the company's, as stored at ingest
    by_platform: bool = False  # the platform report's inclusion rules instead of ours


class Ledger:
    """Our sales (one row per order) and returns (one row per refund or cancellation) around a
    range of days, in the store's currency, ready to be tallied by day under any Rules. Money is
    held in whole cents (int64), so pandas sums it exactly."""

    def __init__(self, sales: pd.DataFrame, refunds: pd.DataFrame, also_counted: frozenset[str]) -> None:
        self.sales, self.refunds, self.also_counted = sales, refunds, also_counted

    @classmethod
    def load(cls, session: Session, platform: Platform, first: date, last: date) -> Ledger:
        """Orders placed and refunds made on company days first..last (and refunds of those orders)."""
        sales = session.execute(
            select(
                Order.order_day,
                Order.processed_at,
                Order.excluded_reason,
                *map(_cents, (Order.gross_sales, Order.discounts, Order.shipping, Order.taxes)),
            ).where(Order.platform_id == platform.id, Order.order_day.between(first, last))
        )
        refunds = session.execute(
            select(
                Refund.refund_day,
                Refund.processed_at,
                Order.order_day,
                Order.processed_at.label("order_processed_at"),
                Order.excluded_reason,
                *map(_cents, (Refund.returns, Refund.shipping, Refund.taxes)),
            )
            .join(Order, Order.id == Refund.order_id)
            .where(
                Refund.platform_id == platform.id,
                or_(Refund.refund_day.between(first, last), Order.order_day.between(first, last)),
            )
        )
        return cls(
            pd.DataFrame(sales.all(), columns=list(sales.keys())),
            pd.DataFrame(refunds.all(), columns=list(refunds.keys())),
            REPORT_ALSO_COUNTS.get(platform.kind, frozenset()),
        )

    def tally(self, rules: Rules) -> defaultdict[date, Figures]:
        """Every metric per day (a day with nothing is all zeros)."""
        sales = self.sales[self._counted(self.sales, rules.by_platform, returns=False)]
        sales = sales.assign(day=_days(sales, "order_day", "processed_at", rules.timezone))
        refunds = self.refunds[self._counted(self.refunds, rules.by_platform, returns=True)]
        by_order = rules.refund_dating == "order"
        refunds = refunds.assign(
            day=_days(
                refunds,
                "order_day" if by_order else "refund_day",
                "order_processed_at" if by_order else "processed_at",
                rules.timezone,
            )
        )
        sold = sales.groupby("day").agg(
            orders=("gross_sales", "size"),
            gross_sales=("gross_sales", "sum"),
            discounts=("discounts", "sum"),
            shipping=("shipping", "sum"),
            taxes=("taxes", "sum"),
        )
        returned = refunds.groupby("day")[["returns", "shipping", "taxes"]].sum()
        tallied: defaultdict[date, Figures] = defaultdict(_zero)
        for day, s in sold.to_dict("index").items():
            tallied[day] = _figures(
                orders=int(s["orders"]),
                gross_sales=_money(s["gross_sales"]),
                discounts=_money(s["discounts"]),
                returns=ZERO,
                shipping=_money(s["shipping"]),
                taxes=_money(s["taxes"]),
            )
        for day, r in returned.to_dict("index").items():
            back = _figures(0, ZERO, ZERO, _money(r["returns"]), _money(-r["shipping"]), _money(-r["taxes"]))
            tallied[day] = _plus(tallied[day], back)
        return tallied

    def inclusion_changes(self, timezone: str | None) -> dict[date, Counter]:
        """Per day (returns on their own day, `timezone`'s days): the orders and returns one side
        counts and the other does not, counted by (who counts them, "order" or "return", reason)."""
        changes: dict[date, Counter] = defaultdict(Counter)
        for frame, kind, day_column in ((self.sales, "order", "order_day"), (self.refunds, "return", "refund_day")):
            theirs = self._counted(frame, True, kind == "return")
            differ = frame[self._counted(frame, False, kind == "return") != theirs]
            days = _days(differ, day_column, "processed_at", timezone)
            for day, by_platform, reason in zip(days, theirs[differ.index], differ["excluded_reason"], strict=True):
                changes[day]["platform" if by_platform else "us", kind, reason] += 1
        return changes

    def _counted(self, frame: pd.DataFrame, by_platform: bool, returns: bool) -> pd.Series:
        """Which rows count: ours, sales of orders not excluded and returns of those and of
        return-only records; the platform's, anything not excluded or excluded for a reason its
        report still counts."""
        reason = frame["excluded_reason"]
        if by_platform:
            return reason.isna() | reason.isin(self.also_counted)
        return reason.isna() | (reason == RETURNS_ONLY) if returns else reason.isna()


def _dashboard(session: Session, platform_id: int, first: date, last: date) -> defaultdict[date, Figures]:
    """What the dashboard shows for days first..last (analytics_daily: reporting currency)."""
    rows = session.scalars(
        select(AnalyticsDaily).where(AnalyticsDaily.platform_id == platform_id, AnalyticsDaily.day.between(first, last))
    )
    shown: defaultdict[date, Figures] = defaultdict(_zero)
    for row in rows:
        shown[row.day] = {metric: getattr(row, metric) for metric in METRICS}
    return shown


def _days(frame: pd.DataFrame, day_column: str, moment_column: str, timezone: str | None) -> pd.Series:
    """Each row's day: the stored company day, or the local day of its moment in `timezone`."""
    if timezone is None:
        return frame[day_column]
    return pd.to_datetime(frame[moment_column], utc=True).dt.tz_convert(timezone).dt.date


def _cents(column: Any) -> Any:
    """An amount column as whole cents, rounded in SQL: exact on SQLite (REAL) and Postgres."""
    return cast(func.round(column * 100), BigInteger).label(column.key)


def _money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


# --- figures -------------------------------------------------------------------------------


def _figures(
    orders: int, gross_sales: Decimal, discounts: Decimal, returns: Decimal, shipping: Decimal, taxes: Decimal
) -> Figures:
    net_sales = gross_sales - discounts - returns
    return {
        "orders": orders,
        "gross_sales": gross_sales,
        "discounts": discounts,
        "returns": returns,
        "net_sales": net_sales,
        "shipping": shipping,
        "taxes": taxes,
        "total_sales": net_sales + shipping + taxes,
    }


def _zero() -> Figures:
    return _figures(0, ZERO, ZERO, ZERO, ZERO, ZERO)


def _minus(a: Mapping[str, Decimal | int], b: Mapping[str, Decimal | int]) -> Figures:
    return {metric: a.get(metric, 0) - b.get(metric, 0) for metric in METRICS}


def _plus(a: Mapping[str, Decimal | int], b: Mapping[str, Decimal | int]) -> Figures:
    return {metric: a.get(metric, 0) + b.get(metric, 0) for metric in METRICS}


def _nonzero(figures: Figures) -> Figures:
    return {metric: value for metric, value in figures.items() if value}


# --- what each reason means on a day -------------------------------------------------------


class _Details:
    """The sentence that says what a reason did on a day."""

    def __init__(self, session: Session, platform: Platform, company: Company, timezone: str, ledger: Ledger) -> None:
        self.platform, self.company, self.timezone, self.ledger = platform, company, timezone, ledger
        self.cursor = session.scalar(
            select(SyncState.cursor).where(SyncState.platform_id == platform.id, SyncState.stream == "orders")
        )
        self._changes: dict[date, Counter] | None = None

    def lag_from(self) -> date | None:
        """The first report day that changes made since our last sync can touch (None: every
        day, as no sync has finished yet): the report's day of the newest change we hold, less
        LAG_REACH."""
        if self.cursor is None or self.platform.last_sync_at is None:
            return None
        return (self.cursor - LAG_REACH).astimezone(ZoneInfo(self.timezone)).date()

    def text(self, reason: str, row: PlatformReportDay) -> str:
        wording = {
            "currency": self._currency,
            "refund_dating": self._refund_dating,
            "time_zone": self._time_zone,
            "inclusion": self._inclusion,
            "sync_lag": self._sync_lag,
        }
        return wording[reason](row)

    def _currency(self, row: PlatformReportDay) -> str:
        return (
            f"amounts in {self.platform.currency}, the store's currency, where the dashboard shows them in "
            f"{self.company.currency} at each order day's exchange rate"
        )

    def _refund_dating(self, row: PlatformReportDay) -> str:
        return (
            "returns, refunded shipping and refunded taxes on the day they were processed, where the dashboard "
            "books them on the order's day (the company's refund dating is by order date)"
        )

    def _time_zone(self, row: PlatformReportDay) -> str:
        ours, theirs = self.company.timezone, self.timezone
        noon = datetime.combine(row.day, time(12))
        shift = noon.replace(tzinfo=ZoneInfo(theirs)).utcoffset() - noon.replace(tzinfo=ZoneInfo(ours)).utcoffset()
        days = f"the report counts {theirs} days, the dashboard {ours} days"
        if shift > timedelta(0):
            evening = _clock(timedelta(days=1) - shift)
            return f"{days}: what happens from {evening} to midnight {ours} time is on the next day there"
        if shift < timedelta(0):
            return f"{days}: what happens from midnight to {_clock(-shift)} {ours} time is on the previous day there"
        return days

    def _inclusion(self, row: PlatformReportDay) -> str:
        if self._changes is None:
            self._changes = self.ledger.inclusion_changes(self.timezone)
        changes = self._changes.get(row.day, Counter())
        sides = []
        for who, wording in (
            ("platform", "the report counts what we leave out"),
            ("us", "we count what the report leaves out"),
        ):
            listed = [
                f"{n} {reason} order{_plural(n)}" if kind == "order" else f"{n} return{_plural(n)} of {reason} orders"
                for (side, kind, reason), n in sorted(changes.items())
                if side == who
            ]
            if listed:
                sides.append(f"{wording}: {', '.join(listed)}")
        return "; ".join(sides)

    def _sync_lag(self, row: PlatformReportDay) -> str:
        synced = self.platform.last_sync_at
        taken = f"the report was taken at {_moment(row.imported_at)}"
        if synced is None:
            return f"{taken} and we have not synced this platform yet"
        if row.imported_at > synced:
            return (
                f"{taken}, after our last sync ({_moment(synced)}): orders and refunds made since are not in our "
                "numbers yet; the next sync brings them in"
            )
        return (
            f"{taken}, before our last sync ({_moment(synced)}): what changed since is in our numbers but not in "
            "the report, which is fetched again once an hour old"
        )


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def _clock(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
