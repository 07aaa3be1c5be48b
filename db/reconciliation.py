"""Reconciliation: our daily totals beside a platform's own sales report, each difference explained.

A platform's report (platform_report_days) books a day its own way: in the store's currency, on
its own calendar, returns on the day they were processed, with its own rules for which orders
count. For each day of the report, every reason's effect is computed from what causes it, each
side recomputed from our own orders and refunds (never as "what is left"):

1. currency: our orders in the store's currency minus the same orders converted at each order
   day's rate (the rate the rollup uses, or the last one before it when that day has none);
2. refund_dating: returns on the day they were processed (when the company books them by order date);
3. time_zone: the report's days instead of the company's;
4. inclusion: the orders the platform's report counts instead of the ones we count;
5. sync_lag: the orders the platform changed after our last sync (fetched with the report, see
   PendingChanges): their version on the platform minus the version we hold.

What is left is unexplained: a dashboard row that differs from our own orders (a rollup error, or
rates changed since it was computed), or a report that differs from our orders for a reason not
listed. Pure reads of our own tables: the reports and the changes since our sync are fetched and
stored by jobs/reports.py (or uploaded); nothing here calls a platform.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import BigInteger, cast, delete, func, or_, select
from sqlalchemy.orm import Session

import records
from db import metrics
from db.bulk import chunks
from db.fx import FxConverter, MissingFxRate
from db.ingest import local_day
from db.models import AnalyticsDaily, Company, Order, Platform, PlatformReportDay, Refund, SyncState, utcnow
from records import RETURNS_ONLY, ZERO, ReportDay

METRICS = ("orders", "gross_sales", "discounts", "returns", "net_sales", "shipping", "taxes", "total_sales")
REASONS = ("currency", "refund_dating", "time_zone", "inclusion", "sync_lag")
REPORT_STREAM = "report"  # sync_state row of a platform's stored report: when, and on which calendar
REPORT_MAX_AGE = timedelta(hours=1)
# Orders we leave out that a platform's report still counts: Shopify's sales report leaves out
# only test and deleted orders, so a voided order is there (a sale, then a return if cancelled).
REPORT_ALSO_COUNTS: dict[str, frozenset[str]] = {"shopify": frozenset({"voided"})}
# Changes since our last sync fetched with a report, at most: past that (a platform not synced
# for long), sync lag is not told apart from other differences until the next sync.
PENDING_MAX = 5000

Figures = dict[str, Decimal | int]
# The Ledger's frames: a sale per order, a return per refund or cancellation (amounts in cents).
SALES = ("external_id", "currency", "order_day", "processed_at", "excluded_reason", "gross_sales", "discounts")
SALES += ("shipping", "taxes")
REFUNDS = ("external_id", "currency", "refund_day", "processed_at", "order_day", "order_processed_at")
REFUNDS += ("excluded_reason", "returns", "shipping", "taxes")


# --- stored reports ------------------------------------------------------------------------


def store_report(
    session: Session,
    platform_id: int,
    days: Sequence[ReportDay],
    source: str,
    pending: PendingChanges | None = None,
) -> int:
    """Store report days in place of what was stored for their span, with the changes since our
    last sync fetched at the same moment (None: not known, as for an upload); returns how many
    days. A platform's stored report is on one calendar: a report on another time zone replaces it all."""
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
    if pending is not None:
        state.detail["pending"] = pending.to_json(now)
    session.add(state)
    return len(days)


def orders_cursor(session: Session, platform_id: int) -> datetime | None:
    """The platform's time of the newest order change our sync holds (None: never synced)."""
    return session.scalar(
        select(SyncState.cursor).where(SyncState.platform_id == platform_id, SyncState.stream == "orders")
    )


def report_timezone(session: Session, platform_id: int) -> str | None:
    """The calendar of the platform's stored report (None when nothing is stored)."""
    state = session.get(SyncState, (platform_id, REPORT_STREAM))
    return (state.detail or {}).get("timezone") if state else None


def report_needs_refresh(session: Session, platform: Platform, start: date, end: date) -> bool:
    """Whether a day of start..end has no stored report, one older than REPORT_MAX_AGE, or one
    fetched from the platform before our data last changed (a sync, a webhook, new rates): the
    changes since our sync read with it would no longer be the ones our numbers miss."""
    count, oldest, fetched = session.execute(
        select(
            func.count(),
            func.min(PlatformReportDay.imported_at),
            func.count().filter(PlatformReportDay.source == "platform"),
        ).where(PlatformReportDay.platform_id == platform.id, PlatformReportDay.day.between(start, end))
    ).one()
    if count < (end - start).days + 1 or oldest < utcnow() - REPORT_MAX_AGE:
        return True
    version = PendingChanges.stored(session, platform.id).data_version
    return bool(fetched) and version != session.get(Company, platform.company_id).data_version


@dataclass(frozen=True)
class PendingChanges:
    """The orders the platform changed from our sync cursor on, as the platform had them when
    its report was fetched (rows in the Ledger's shape, cents): what our numbers have not seen.
    `known` is False when they were not fetched (an uploaded report, a platform never synced,
    more than PENDING_MAX changes): sync lag is then not told apart from other differences."""

    sales: tuple[tuple, ...] = ()
    refunds: tuple[tuple, ...] = ()
    known: bool = True
    data_version: int | None = None  # the company's when read: a later one means our data moved on
    taken_at: str | None = None  # the report's fetch time (ISO, UTC) these changes go with

    @classmethod
    def of(
        cls, session: Session, platform: Platform, orders: Iterable[records.Order], data_version: int | None = None
    ) -> PendingChanges:
        """These orders read from the platform, less the versions we already hold (an order at
        the cursor itself, or one a webhook brought in), as rows on the company's days."""
        timezone = ZoneInfo(session.get(Company, platform.company_id).timezone)
        changed = {o.external_id: o for o in orders}
        for part in chunks(list(changed), 500):
            held = select(Order.external_id, Order.updated_at).where(
                Order.platform_id == platform.id, Order.external_id.in_(part)
            )
            for external_id, updated_at in session.execute(held):
                if updated_at >= changed[external_id].updated_at:
                    del changed[external_id]
        sales, refunds = [], []
        for o in changed.values():
            day = local_day(o.processed_at, timezone).isoformat()
            amounts = (_to_cents(o.gross_sales), _to_cents(o.discounts), _to_cents(o.shipping), _to_cents(o.tax))
            sales.append((o.external_id, o.currency, day, o.processed_at.isoformat(), o.excluded_reason, *amounts))
            for r in o.refunds:
                refund_day = local_day(r.processed_at, timezone).isoformat()
                order = (day, o.processed_at.isoformat(), o.excluded_reason)
                money = (_to_cents(r.returns), _to_cents(r.shipping), _to_cents(r.tax))
                refunds.append((o.external_id, o.currency, refund_day, r.processed_at.isoformat(), *order, *money))
        return cls(tuple(sales), tuple(refunds), data_version=data_version)

    @classmethod
    def stored(cls, session: Session, platform_id: int) -> PendingChanges:
        state = session.get(SyncState, (platform_id, REPORT_STREAM))
        raw = (state.detail or {}).get("pending") if state else None
        if not raw:
            return cls(known=False)
        rows = (tuple(map(tuple, raw["sales"])), tuple(map(tuple, raw["refunds"])))
        return cls(*rows, raw["known"], raw["data_version"], raw["taken_at"])

    def to_json(self, taken_at: datetime) -> dict:
        return {
            "sales": self.sales,
            "refunds": self.refunds,
            "known": self.known,
            "data_version": self.data_version,
            "taken_at": taken_at.astimezone(UTC).isoformat(),
        }

    def goes_with(self, row: PlatformReportDay) -> bool:
        """Whether a stored report day was fetched together with these changes."""
        return self.known and self.taken_at == row.imported_at.astimezone(UTC).isoformat()

    def effects(self, session: Session, platform: Platform, rules: Rules, days: Sequence[date]) -> dict[date, Figures]:
        """Per day, under the report's rules: the changed orders as the platform has them minus
        the same orders as we hold them (nothing for an order we do not have yet)."""
        if not self.known or not self.sales:
            return {}
        sales = pd.DataFrame(list(self.sales), columns=SALES)
        refunds = pd.DataFrame(list(self.refunds), columns=REFUNDS)
        for frame, columns in ((sales, ("order_day",)), (refunds, ("refund_day", "order_day"))):
            for column in columns:
                frame[column] = frame[column].map(date.fromisoformat)
        theirs = Ledger(sales, refunds, _also_counted(platform)).tally(rules)
        held = Ledger.load_orders(session, platform, sales["external_id"].tolist()).tally(rules)
        return {d: _minus(theirs[d], held[d]) for d in days}


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
    # Whether the changes since our sync were read with the report (else sync lag shows as unexplained).
    sync_lag_known: bool = False

    @property
    def summary(self) -> dict[str, int]:
        return {
            "days": len(self.days),
            "days_matching": sum(d.matching for d in self.days),
            "days_explained": sum(not d.matching and d.fully_explained for d in self.days),
            "days_unexplained": sum(not d.fully_explained for d in self.days),
        }


def reconcile(session: Session, platform: Platform, start: date, end: date) -> Reconciliation:
    """Each stored report day of start..end beside ours, each difference explained by its cause."""
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
    details = _Details(session, platform, company, timezone, ledger)
    previous = ledger.tally(Rules(company.refund_dating))  # the dashboard's conventions, store currency
    converted = ledger.converted(company.refund_dating, FxConverter(session, company.id, company.currency))
    details.fallbacks = converted.fallbacks
    # A day with an amount no rate converts gets no currency effect: its difference stays unexplained.
    effects = {
        "currency": {d: _minus(previous[d], converted.figures[d]) for d in days if d not in converted.unconvertible}
    }
    report_rules = Rules("processed", timezone, by_platform=True)
    for reason, rules in (
        ("refund_dating", Rules("processed")),
        ("time_zone", Rules("processed", timezone)),
        ("inclusion", report_rules),
    ):
        current = ledger.tally(rules)
        effects[reason] = {d: _minus(current[d], previous[d]) for d in days}
        previous = current
    effects["sync_lag"] = details.pending.effects(session, platform, report_rules, days)

    reconciled = []
    for row in report:
        theirs = {metric: getattr(row, metric) for metric in METRICS}
        explained = tuple(
            Explanation(reason, details.text(reason, row), _nonzero(effect[row.day]))
            for reason, effect in effects.items()
            if row.day in effect
            and any(effect[row.day].values())
            and (reason != "sync_lag" or details.pending.goes_with(row))
        )
        accounted = ours[row.day]
        for explanation in explained:
            accounted = _plus(accounted, explanation.effect)
        reconciled.append(ReconciledDay(row.day, ours[row.day], theirs, explained, _minus(theirs, accounted)))
    known = all(details.pending.goes_with(row) for row in report)
    return Reconciliation(**header, days=reconciled, sync_lag_known=known)


# --- our side: the dashboard's numbers and our raw orders under each convention ------------


@dataclass(frozen=True)
class Rules:
    """How our orders and refunds are tallied into days."""

    refund_dating: str  # "processed": a return on its own day; "order": on its order's day
    timezone: str | None = None  # whose days: None = the company's, as stored at ingest
    by_platform: bool = False  # the platform report's inclusion rules instead of ours


@dataclass(frozen=True)
class Converted:
    """Our figures in the reporting currency, per day."""

    figures: defaultdict[date, Figures]
    fallbacks: dict[date, dict[date, date]]  # per day: an order day with no rate -> the day of the rate used
    unconvertible: set[date]  # days with an amount no rate converts (none on or before its order day)


class Ledger:
    """Our sales (one row per order) and returns (one row per refund or cancellation), in the
    store's currency, ready to be tallied by day under any Rules. Money is held in whole cents
    (int64), so pandas sums it exactly."""

    def __init__(self, sales: pd.DataFrame, refunds: pd.DataFrame, also_counted: frozenset[str]) -> None:
        self.sales, self.refunds, self.also_counted = sales, refunds, also_counted

    @classmethod
    def load(cls, session: Session, platform: Platform, first: date, last: date) -> Ledger:
        """Orders placed and refunds made on company days first..last (and refunds of those orders)."""
        return cls._read(
            session,
            platform,
            Order.order_day.between(first, last),
            or_(Refund.refund_day.between(first, last), Order.order_day.between(first, last)),
        )

    @classmethod
    def load_orders(cls, session: Session, platform: Platform, external_ids: Sequence[str]) -> Ledger:
        """The orders we hold with these ids, and their refunds."""
        sales, refunds = [], []
        for part in chunks(list(external_ids), 500):
            ledger = cls._read(session, platform, Order.external_id.in_(part), Order.external_id.in_(part))
            sales.append(ledger.sales)
            refunds.append(ledger.refunds)
        if not sales:
            return cls(pd.DataFrame(columns=SALES), pd.DataFrame(columns=REFUNDS), _also_counted(platform))
        return cls(pd.concat(sales), pd.concat(refunds), _also_counted(platform))

    @classmethod
    def _read(cls, session: Session, platform: Platform, which_sales: Any, which_refunds: Any) -> Ledger:
        sales = session.execute(
            select(
                Order.external_id,
                Order.currency,
                Order.order_day,
                Order.processed_at,
                Order.excluded_reason,
                *map(_cents, (Order.gross_sales, Order.discounts, Order.shipping, Order.taxes)),
            ).where(Order.platform_id == platform.id, which_sales)
        )
        refunds = session.execute(
            select(
                Order.external_id,
                Order.currency,
                Refund.refund_day,
                Refund.processed_at,
                Order.order_day,
                Order.processed_at.label("order_processed_at"),
                Order.excluded_reason,
                *map(_cents, (Refund.returns, Refund.shipping, Refund.taxes)),
            )
            .join(Order, Order.id == Refund.order_id)
            .where(Refund.platform_id == platform.id, which_refunds)
        )
        return cls(
            pd.DataFrame(sales.all(), columns=SALES),
            pd.DataFrame(refunds.all(), columns=REFUNDS),
            _also_counted(platform),
        )

    def converted(self, refund_dating: str, fx: FxConverter) -> Converted:
        """Our figures as the dashboard books them (company days, the company's refund dating,
        our rules), converted to the reporting currency at each order day's rate: summed per
        (day, order day, currency) and rounded to the cent once per sum, as the rollup does."""
        sales = self.sales[self._counted(self.sales, False, returns=False)].assign(day=lambda f: f["order_day"])
        refunds = self.refunds[self._counted(self.refunds, False, returns=True)]
        refunds = refunds.assign(day=refunds["order_day" if refund_dating == "order" else "refund_day"])
        tallied: defaultdict[date, Figures] = defaultdict(_zero)
        fallbacks: dict[date, dict[date, date]] = defaultdict(dict)
        unconvertible: set[date] = set()
        groups = ["day", "order_day", "currency"]
        sold = sales.groupby(groups)[["gross_sales", "discounts", "shipping", "taxes"]].agg(["sum", "size"])
        returned = refunds.groupby(groups)[["returns", "shipping", "taxes"]].sum()
        for (day, order_day, currency), row in sold.iterrows():
            rate = self._rate(fx, currency, order_day, day, fallbacks, unconvertible)
            if rate is not None:
                amounts = [_convert(row[column, "sum"], rate) for column in ("gross_sales", "discounts")]
                shipping, taxes = (_convert(row[column, "sum"], rate) for column in ("shipping", "taxes"))
                sale = _figures(int(row["gross_sales", "size"]), *amounts, ZERO, shipping, taxes)
                tallied[day] = _plus(tallied[day], sale)
        for (day, order_day, currency), row in returned.iterrows():
            rate = self._rate(fx, currency, order_day, day, fallbacks, unconvertible)
            if rate is not None:
                back = [_convert(row[column], rate) for column in ("returns", "shipping", "taxes")]
                tallied[day] = _plus(tallied[day], _figures(0, ZERO, ZERO, back[0], -back[1], -back[2]))
        return Converted(tallied, fallbacks, unconvertible)

    @staticmethod
    def _rate(
        fx: FxConverter, currency: str, order_day: date, day: date, fallbacks: dict, unconvertible: set[date]
    ) -> Decimal | None:
        """The rate an order day converts at, noting an earlier day's rate or none at all."""
        try:
            rate, age = fx.rate(currency, order_day)
        except MissingFxRate:
            unconvertible.add(day)
            return None
        if age:
            fallbacks[day][order_day] = order_day - timedelta(days=age)
        return rate

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


def _also_counted(platform: Platform) -> frozenset[str]:
    return REPORT_ALSO_COUNTS.get(platform.kind, frozenset())


def _convert(cents: int, rate: Decimal) -> Decimal:
    """A sum of cents in the store's currency, converted and rounded to the cent as the rollup does."""
    return metrics.cents(_money(cents) * rate)


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


def _to_cents(amount: Decimal | None) -> int:
    return int(Decimal(amount or 0).scaleb(2).quantize(Decimal(1), ROUND_HALF_UP))


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
        self.cursor = orders_cursor(session, platform.id)
        self.pending = PendingChanges.stored(session, platform.id)
        self.fallbacks: dict[date, dict[date, date]] = {}  # per day: order day -> the day of the rate used
        self._changes: dict[date, Counter] | None = None

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
        text = (
            f"amounts in {self.platform.currency}, the store's currency, where the dashboard shows them in "
            f"{self.company.currency} at each order day's exchange rate"
        )
        earlier = sorted(self.fallbacks.get(row.day, {}).items())
        if earlier:
            used = ", ".join(f"{day} at the rate of {rate_day}" for day, rate_day in earlier)
            text += f" (no rate for an order day, so the last one before is used: {used})"
        return text

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
        n = len(self.pending.sales)
        since = f" ({_moment(self.cursor)})" if self.cursor else ""
        return (
            f"the report was taken at {_moment(row.imported_at)}, when {n} order{_plural(n)} had changed on the "
            f"platform since the last change our sync holds{since}: the report has the changes, our numbers not "
            "yet; the next sync brings them in"
        )


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def _clock(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
