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
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

import records
from db import metrics
from db.bulk import chunks, insert_dicts, is_postgres
from db.fx import FxConverter
from db.models import (
    AnalyticsDaily,
    AnalyticsProductDaily,
    AnalyticsProductMonthly,
    Company,
    DirtyDay,
    Order,
    OrderLineItem,
    Platform,
    Refund,
    RefundLine,
)

ZERO = Decimal("0")
ANALYZE_AFTER_DAYS = 28


class _Converter:
    """Converts a platform's amounts to the company's currency at each order day's rate,
    remembering per booked day the age of the oldest rate used."""

    def __init__(self, session: Session, company: Company) -> None:
        self.fx = FxConverter(session, company.id, company.currency)
        self.rate_age: dict[date, int] = defaultdict(int)

    def __call__(self, amount: Decimal | None, currency: str, order_day: date, day: date) -> Decimal:
        rate, age = self.fx.rate(currency, order_day)
        self.rate_age[day] = max(self.rate_age[day], age)
        return metrics.cents(Decimal(amount or 0) * rate)


def _sums() -> defaultdict[str, Decimal]:
    return defaultdict(lambda: ZERO)


@dataclass
class _Rollup:
    """One rollup of one platform: what its queries share, and the sums they add up, per day
    and per (day, SKU), in the company's currency."""

    session: Session
    platform: Platform
    company: Company
    convert: _Converter
    totals: defaultdict[date, defaultdict[str, Decimal]] = field(default_factory=lambda: defaultdict(_sums))
    products: defaultdict[tuple[date, str], defaultdict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(_sums)
    )
    titles: dict[str, str] = field(default_factory=dict)

    @property
    def refund_day(self) -> ColumnElement[date]:
        """The day a return is booked on: the refund's, or the order's when the company chose that."""
        return Order.order_day if self.company.refund_dating == "order" else Refund.refund_day

    @property
    def counted_refunds(self) -> ColumnElement[bool]:
        """Refunds of orders that count: sales, and return-only records (a CSV cancellation)."""
        return or_(Order.excluded_reason.is_(None), Order.excluded_reason == records.RETURNS_ONLY)


def rollup_daily(session: Session, platform: Platform, days: Iterable[date]) -> int:
    """Recompute `analytics_daily` and `analytics_product_daily` for these local days of one
    platform; returns the daily rows written.

    Amounts are summed in the platform's currency per (day, order day) first and rounded to the
    cent once per group (per product too, so a day's products can differ from its total by a few
    cents of rounding).
    """
    wanted = sorted(set(days))
    if not wanted:
        return 0
    company = session.get(Company, platform.company_id)
    rollup = _Rollup(session, platform, company, _Converter(session, company))
    for part in chunks(wanted):
        _add_sales(rollup, part)
        _add_returns(rollup, part)
        _add_product_sales(rollup, part)
        _add_product_returns(rollup, part)
    daily_rows = _daily_rows(rollup)
    for part in chunks(wanted):
        for table in (AnalyticsDaily, AnalyticsProductDaily):
            session.execute(delete(table).where(table.platform_id == platform.id, table.day.in_(part)))
    insert_dicts(session, AnalyticsDaily.__table__, daily_rows)
    insert_dicts(session, AnalyticsProductDaily.__table__, _product_rows(rollup))
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
        .where(Order.platform_id == rollup.platform.id, Order.order_day.in_(days), Order.excluded_reason.is_(None))
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
        .where(Refund.platform_id == rollup.platform.id, refund_day.in_(days), rollup.counted_refunds)
        .group_by(refund_day, Order.order_day, Order.currency)
    )
    convert = rollup.convert
    for day, order_day, currency, returned, shipping, taxes, units in returns:
        b = rollup.totals[day]
        b["returns"] += convert(returned, currency, order_day, day)
        b["shipping"] -= convert(shipping, currency, order_day, day)
        b["taxes"] -= convert(taxes, currency, order_day, day)
        b["units_returned"] += units or 0


def _add_product_sales(rollup: _Rollup, days: Sequence[date]) -> None:
    """Each product's sales and units on the order's day (gift cards are not sales)."""
    sku = func.coalesce(OrderLineItem.sku, "")
    product_sales = rollup.session.execute(
        select(
            Order.order_day,
            Order.currency,
            sku,
            func.max(OrderLineItem.title),
            func.sum(OrderLineItem.unit_price * OrderLineItem.quantity),
            func.sum(OrderLineItem.discount),
            func.sum(OrderLineItem.quantity),
        )
        .join(Order, Order.id == OrderLineItem.order_id)
        .where(
            Order.platform_id == rollup.platform.id,
            Order.order_day.in_(days),
            Order.excluded_reason.is_(None),
            OrderLineItem.is_gift_card.is_(False),
        )
        .group_by(Order.order_day, Order.currency, sku)
    )
    convert = rollup.convert
    for day, currency, code, title, gross, discounts, units in product_sales:
        p = rollup.products[day, code]
        rollup.titles.setdefault(code, title)
        p["gross_sales"] += convert(gross, currency, day, day)
        p["discounts"] += convert(discounts, currency, day, day)
        p["units"] += units or 0


def _add_product_returns(rollup: _Rollup, days: Sequence[date]) -> None:
    """Each product's returns on the return's day. The refund line's own product when it names
    one (a CSV cancellation's lines point to no stored line), else its line item's: every
    returned line counts for some product."""
    refund_day = rollup.refund_day
    returned_sku = func.coalesce(RefundLine.sku, OrderLineItem.sku, "")
    product_returns = rollup.session.execute(
        select(
            refund_day,
            Order.order_day,
            Order.currency,
            returned_sku,
            func.max(func.coalesce(RefundLine.title, OrderLineItem.title)),
            func.sum(RefundLine.amount),
            func.sum(RefundLine.quantity),
        )
        .select_from(RefundLine)
        .join(Refund, Refund.id == RefundLine.refund_id)
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(
            OrderLineItem,
            (OrderLineItem.order_id == Order.id) & (OrderLineItem.external_id == RefundLine.line_item_external_id),
        )
        .where(Refund.platform_id == rollup.platform.id, refund_day.in_(days), rollup.counted_refunds)
        .group_by(refund_day, Order.order_day, Order.currency, returned_sku)
    )
    convert = rollup.convert
    for day, order_day, currency, code, title, returned, units in product_returns:
        p = rollup.products[day, code]
        rollup.titles.setdefault(code, title)
        p["returns"] += convert(returned, currency, order_day, day)
        p["units_returned"] += units or 0


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


def _product_rows(rollup: _Rollup) -> list[dict]:
    return [
        {
            "company_id": rollup.company.id,
            "platform_id": rollup.platform.id,
            "day": day,
            "sku": code,
            "title": (rollup.titles.get(code) or code or "(no SKU)")[:500],
            "gross_sales": p["gross_sales"],
            "discounts": p["discounts"],
            "returns": p["returns"],
            "net_sales": metrics.net_sales(p["gross_sales"], p["discounts"], p["returns"]),
            "units": int(p["units"]),
            "units_returned": int(p["units_returned"]),
        }
        for (day, code), p in rollup.products.items()
    ]


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def rollup_product_months(session: Session, company_id: int, platform_id: int, months: Iterable[date]) -> None:
    """Re-sum `analytics_product_monthly` for these months from the daily product rows."""
    daily = AnalyticsProductDaily
    sums = ("gross_sales", "discounts", "returns", "net_sales", "units", "units_returned")
    rows = []
    for month in sorted(set(months)):
        result = session.execute(
            select(daily.sku, func.max(daily.title), *(func.sum(getattr(daily, f)) for f in sums))
            .where(daily.platform_id == platform_id, daily.day >= month, daily.day < next_month(month))
            .group_by(daily.sku)
        )
        rows += [
            {
                "company_id": company_id,
                "platform_id": platform_id,
                "month": month,
                "sku": sku,
                "title": title,
                **{f: v for f, v in zip(sums, values, strict=True)},
            }
            for sku, title, *values in result
        ]
        session.execute(
            delete(AnalyticsProductMonthly).where(
                AnalyticsProductMonthly.platform_id == platform_id, AnalyticsProductMonthly.month == month
            )
        )
    insert_dicts(session, AnalyticsProductMonthly.__table__, rows)


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
