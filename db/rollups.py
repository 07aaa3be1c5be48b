"""The rollups the dashboard reads: `analytics_daily`, `analytics_product_daily` and
`analytics_product_monthly`, recomputed from the stored orders for the days a write touched.

Sales are booked on the order's day; returns, refunded shipping and refunded tax on the
refund's day (or on the order's day when the company chose that). Every amount converts to the
company's currency at the rate of the order's day (db/fx.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    Column,
    ColumnElement,
    Date,
    Insert,
    MetaData,
    Numeric,
    Select,
    String,
    Table,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

import records
from db import metrics
from db.bulk import chunks, insert_dicts, is_postgres
from db.fx import DayConverter
from db.models import (
    AnalyticsDaily,
    AnalyticsProductDaily,
    AnalyticsProductMonthly,
    Company,
    DirtyDay,
    Order,
    OrderLineItem,
    Platform,
    ProductSums,
    Refund,
    RefundLine,
)

ZERO = Decimal("0")
ANALYZE_AFTER_DAYS = 28
# The rate of each (currency, order day) that a rollup's day totals converted at, for its product
# queries to join: a temporary table, so the products of a backfill are summed and converted by
# the database, not sent to Python and back.
RATES = Table(
    "rollup_rates",
    MetaData(),
    Column("currency", String(3), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("rate", Numeric, nullable=False),
    prefixes=["TEMPORARY"],
)
PRODUCT_COLUMNS = (
    "company_id",
    "platform_id",
    "day",
    "sku",
    "title",
    "gross_sales",
    "discounts",
    "returns",
    "net_sales",
    "units",
    "units_returned",
)


def _sums() -> defaultdict[str, Decimal]:
    return defaultdict(lambda: ZERO)


@dataclass
class _Rollup:
    """One rollup of one platform: what its queries share, and the day totals they add up in
    the company's currency."""

    session: Session
    platform: Platform
    company: Company
    convert: DayConverter
    totals: defaultdict[date, defaultdict[str, Decimal]] = field(default_factory=lambda: defaultdict(_sums))
    until: datetime | None = None  # count only orders placed and returns processed before this instant

    @property
    def refund_day(self) -> ColumnElement[date]:
        """The day a return is booked on: the refund's, or the order's when the company chose that."""
        return Order.order_day if self.company.refund_dating == "order" else Refund.refund_day

    @property
    def counted_refunds(self) -> ColumnElement[bool]:
        """Refunds of orders that count: sales, and return-only records (a CSV cancellation)."""
        return or_(Order.excluded_reason.is_(None), Order.excluded_reason == records.RETURNS_ONLY)


def rollup_daily(session: Session, platform: Platform, days: Iterable[date]) -> int:
    """Recompute `analytics_daily` and `analytics_product_daily` (and the months of
    `analytics_product_monthly`) for these local days of one platform; returns the daily rows
    written.

    Amounts are summed in the platform's currency per (day, order day) first and rounded to the
    cent once per group (per product too, so a day's products can differ from its total by a few
    cents of rounding). The day totals are summed here; the products, hundreds of thousands of
    rows in a backfill, by the database at the same rates.
    """
    wanted = sorted(set(days))
    if not wanted:
        return 0
    company = session.get(Company, platform.company_id)
    rollup = _Rollup(session, platform, company, DayConverter(session, company.id, company.currency))
    for part in chunks(wanted):
        _add_sales(rollup, part)
        _add_returns(rollup, part)
    _stage_rates(session, rollup.convert.rates)
    for part in chunks(wanted):
        for table in (AnalyticsDaily, AnalyticsProductDaily):
            session.execute(delete(table).where(_of_platform(table, company.id, platform.id), table.day.in_(part)))
        session.execute(_product_days(rollup, part))
    daily_rows = _daily_rows(rollup)
    insert_dicts(session, AnalyticsDaily.__table__, daily_rows)
    rollup_product_months(session, company.id, platform.id, {d.replace(day=1) for d in wanted})
    if len(wanted) >= ANALYZE_AFTER_DAYS and is_postgres(session):
        # A backfill changes the rollups' size by orders of magnitude: refresh the planner's
        # statistics now rather than whenever autovacuum gets round to it.
        session.execute(text("ANALYZE analytics_daily, analytics_product_daily, analytics_product_monthly"))
    bump_data_version(session, company.id)
    return len(daily_rows)


def _add_sales(rollup: _Rollup, days: Sequence[date]) -> None:
    """Orders, units and the money charged, on the order's day."""
    sales = rollup.session.execute(
        select(
            Order.order_day,
            Order.currency,
            func.count(),
            func.sum(Order.gross_sales),
            func.sum(Order.discounts),
            func.sum(Order.shipping),
            func.sum(Order.taxes),
            func.sum(Order.units),
        )
        .where(
            Order.platform_id == rollup.platform.id,
            Order.order_day.in_(days),
            Order.excluded_reason.is_(None),
            *([Order.processed_at < rollup.until] if rollup.until else []),
        )
        .group_by(Order.order_day, Order.currency)
    )
    convert = rollup.convert
    for day, currency, count, gross, discounts, shipping, taxes, units in sales:
        b = rollup.totals[day]
        b["orders"] += count
        b["units"] += units or 0
        b["gross_sales"] += convert(gross, currency, day, day)
        b["discounts"] += convert(discounts, currency, day, day)
        b["shipping"] += convert(shipping, currency, day, day)
        b["taxes"] += convert(taxes, currency, day, day)


def _add_returns(rollup: _Rollup, days: Sequence[date]) -> None:
    """Goods returned, shipping and tax refunded, and units returned, on the return's day."""
    refund_day = rollup.refund_day
    returns = rollup.session.execute(
        select(
            refund_day,
            Order.order_day,
            Order.currency,
            func.sum(Refund.returns),
            func.sum(Refund.shipping),
            func.sum(Refund.taxes),
            func.sum(Refund.units),
        )
        .join(Order, Order.id == Refund.order_id)
        .where(
            Refund.platform_id == rollup.platform.id,
            refund_day.in_(days),
            rollup.counted_refunds,
            *([Refund.processed_at < rollup.until] if rollup.until else []),
        )
        .group_by(refund_day, Order.order_day, Order.currency)
    )
    convert = rollup.convert
    for day, order_day, currency, returned, shipping, taxes, units in returns:
        b = rollup.totals[day]
        b["returns"] += convert(returned, currency, order_day, day)
        b["shipping"] -= convert(shipping, currency, order_day, day)
        b["taxes"] -= convert(taxes, currency, order_day, day)
        b["units_returned"] += units or 0


def day_sums_until(session: Session, platform: Platform, day: date, until: datetime) -> dict[str, Decimal]:
    """One local day of one platform as its rollup row would sum it, counting only orders placed
    and returns processed before `until`: the comparison day of a range that includes today,
    cut at the time of day today has reached. Read from the orders; nothing is written."""
    company = session.get(Company, platform.company_id)
    rollup = _Rollup(session, platform, company, DayConverter(session, company.id, company.currency), until=until)
    _add_sales(rollup, [day])
    _add_returns(rollup, [day])
    rows = _daily_rows(rollup)
    return rows[0] if rows else {}


def _daily_rows(rollup: _Rollup) -> list[dict]:
    rows = []
    for day, b in rollup.totals.items():
        net = metrics.net_sales(b["gross_sales"], b["discounts"], b["returns"])
        rows.append(
            {
                "company_id": rollup.company.id,
                "platform_id": rollup.platform.id,
                "day": day,
                "currency": rollup.company.currency,
                "gross_sales": b["gross_sales"],
                "discounts": b["discounts"],
                "returns": b["returns"],
                "net_sales": net,
                "taxes": b["taxes"],
                "shipping": b["shipping"],
                "total_sales": metrics.total_sales(net, b["taxes"], b["shipping"]),
                "orders": int(b["orders"]),
                "units": int(b["units"]),
                "units_returned": int(b["units_returned"]),
                "fx_rate_age_days": rollup.convert.rate_age[day],
            }
        )
    return rows


def _stage_rates(session: Session, rates: dict[tuple[str, date], Decimal]) -> None:
    """Put the day totals' rates in RATES. Every (currency, order day) the product queries meet
    is among them: those queries read the same orders and refunds, less gift cards."""
    session.execute(CreateTable(RATES, if_not_exists=True))
    session.execute(delete(RATES))
    if rates:
        session.execute(insert(RATES), [{"currency": c, "day": d, "rate": r} for (c, d), r in rates.items()])


def _converted(amount: ColumnElement) -> ColumnElement:
    """An amount summed in the platform's currency, converted at RATES' rate and rounded half
    away from zero to the cent, as metrics.cents rounds the day totals."""
    return func.round(amount * RATES.c.rate, 2)


def _at_order_day_rate() -> ColumnElement[bool]:
    return (RATES.c.currency == Order.currency) & (RATES.c.day == Order.order_day)


def _product_days(rollup: _Rollup, days: Sequence[date]) -> Insert:
    """INSERT ... SELECT of these days' `analytics_product_daily` rows: each product's sales and
    returns, converted per (booked day, order day, currency) as the day totals are, summed per
    (day, SKU). A product's title is the greatest of its sold lines' titles that day, else of
    its returned lines', else its SKU."""
    both = union_all(_product_sales(rollup, days), _product_returns(rollup, days)).subquery()
    gross, discounts, returns = (func.sum(both.c[name]) for name in ("gross_sales", "discounts", "returns"))
    title = func.coalesce(
        func.nullif(func.max(both.c.sold_title), ""),
        func.nullif(func.max(both.c.returned_title), ""),
        func.nullif(both.c.sku, ""),
        "(no SKU)",
    )
    rows = select(
        literal(rollup.company.id),
        literal(rollup.platform.id),
        both.c.day,
        both.c.sku,
        title,
        gross,
        discounts,
        returns,
        metrics.net_sales(gross, discounts, returns),  # the metric's formula, over the SQL sums
        func.sum(both.c.units),
        func.sum(both.c.units_returned),
    ).group_by(both.c.day, both.c.sku)
    return insert(AnalyticsProductDaily).from_select(PRODUCT_COLUMNS, rows)


def _product_sales(rollup: _Rollup, days: Sequence[date]) -> Select:
    """Each product's sales and units on the order's day (gift cards are not sales)."""
    sku = func.coalesce(OrderLineItem.sku, "")
    nothing = literal_column("0")
    return (
        select(
            Order.order_day.label("day"),
            sku.label("sku"),
            func.max(OrderLineItem.title).label("sold_title"),
            null().label("returned_title"),
            _converted(func.sum(OrderLineItem.unit_price * OrderLineItem.quantity)).label("gross_sales"),
            _converted(func.sum(OrderLineItem.discount)).label("discounts"),
            nothing.label("returns"),
            func.sum(OrderLineItem.quantity).label("units"),
            nothing.label("units_returned"),
        )
        .select_from(OrderLineItem)
        .join(Order, Order.id == OrderLineItem.order_id)
        .join(RATES, _at_order_day_rate())
        .where(
            Order.platform_id == rollup.platform.id,
            Order.order_day.in_(days),
            Order.excluded_reason.is_(None),
            OrderLineItem.is_gift_card.is_(False),
        )
        .group_by(Order.order_day, Order.currency, sku, RATES.c.rate)
    )


def _product_returns(rollup: _Rollup, days: Sequence[date]) -> Select:
    """Each product's returns on the return's day. The refund line's own product when it names
    one (a CSV cancellation's lines point to no stored line), else its line item's: every
    returned line counts for some product."""
    refund_day = rollup.refund_day
    returned_sku = func.coalesce(RefundLine.sku, OrderLineItem.sku, "")
    nothing = literal_column("0")
    return (
        select(
            refund_day.label("day"),
            returned_sku.label("sku"),
            null().label("sold_title"),
            func.max(func.coalesce(RefundLine.title, OrderLineItem.title)).label("returned_title"),
            nothing.label("gross_sales"),
            nothing.label("discounts"),
            _converted(func.sum(RefundLine.amount)).label("returns"),
            nothing.label("units"),
            func.sum(RefundLine.quantity).label("units_returned"),
        )
        .select_from(RefundLine)
        .join(Refund, Refund.id == RefundLine.refund_id)
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(
            OrderLineItem,
            (OrderLineItem.order_id == Order.id) & (OrderLineItem.external_id == RefundLine.line_item_external_id),
        )
        .join(RATES, _at_order_day_rate())
        .where(Refund.platform_id == rollup.platform.id, refund_day.in_(days), rollup.counted_refunds)
        .group_by(refund_day, Order.order_day, Order.currency, returned_sku, RATES.c.rate)
    )


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def rollup_product_months(session: Session, company_id: int, platform_id: int, months: Iterable[date]) -> None:
    """Re-sum `analytics_product_monthly` for these months from the daily product rows."""
    daily = AnalyticsProductDaily
    sums = ("gross_sales", "discounts", "returns", "net_sales", "units", "units_returned")
    for month in sorted(set(months)):
        session.execute(
            delete(AnalyticsProductMonthly).where(
                _of_platform(AnalyticsProductMonthly, company_id, platform_id), AnalyticsProductMonthly.month == month
            )
        )
        rows = (
            select(
                literal(company_id),
                literal(platform_id),
                literal(month, Date),
                daily.sku,
                func.max(daily.title),
                *(func.sum(getattr(daily, f)) for f in sums),
            )
            .where(_of_platform(daily, company_id, platform_id), daily.day >= month, daily.day < next_month(month))
            .group_by(daily.sku)
        )
        columns = ("company_id", "platform_id", "month", "sku", "title", *sums)
        session.execute(insert(AnalyticsProductMonthly).from_select(columns, rows))


def _of_platform(table: type[AnalyticsDaily | ProductSums], company_id: int, platform_id: int) -> ColumnElement[bool]:
    """A platform's rows of a rollup table. Its primary key is (company, period, platform, ...):
    with the days or months named too, the index finds them without scanning other companies'."""
    return (table.company_id == company_id) & (table.platform_id == platform_id)


def rollup_dirty(session: Session, platform: Platform) -> int:
    """Roll up the platform's dirty days and clear them; returns how many days. The marks are
    locked as they are read: a writer (a webhook, a sync page) marking one of those days waits,
    and marks it afresh once this rollup has cleared it; days marked meanwhile are kept."""
    days = list(
        session.scalars(
            select(DirtyDay.day).where(DirtyDay.platform_id == platform.id).order_by(DirtyDay.day).with_for_update()
        )
    )
    if days:
        rollup_daily(session, platform, days)
        session.execute(delete(DirtyDay).where(DirtyDay.platform_id == platform.id, DirtyDay.day.in_(days)))
    return len(days)


def rollup_all(session: Session, platform: Platform) -> int:
    """Recompute every day the platform has data for (after a settings or time-zone change)."""
    days = set(session.scalars(select(Order.order_day).where(Order.platform_id == platform.id).distinct()))
    days |= set(session.scalars(select(Refund.refund_day).where(Refund.platform_id == platform.id).distinct()))
    days |= set(session.scalars(select(AnalyticsDaily.day).where(AnalyticsDaily.platform_id == platform.id)))
    days |= set(session.scalars(select(DirtyDay.day).where(DirtyDay.platform_id == platform.id)))
    written = rollup_daily(session, platform, days)
    session.execute(delete(DirtyDay).where(DirtyDay.platform_id == platform.id))
    return written


def bump_data_version(session: Session, company_id: int) -> None:
    """Invalidate every cached read of the company: cache keys include this number."""
    session.execute(update(Company).where(Company.id == company_id).values(data_version=Company.data_version + 1))
