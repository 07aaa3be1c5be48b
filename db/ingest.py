"""The write path: idempotent upserts of connector records, and the daily rollups.

An order is written with `INSERT ... ON CONFLICT (platform_id, external_id) DO UPDATE`, and its
line items and refunds are replaced with the platform's current view of them, so writing the
same page twice leaves the database exactly as writing it once. Each upsert reports the
company-local days it touched; `rollup_daily` recomputes only those days.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors import base as records
from db.models import (
    AnalyticsDaily,
    Company,
    FxRate,
    Order,
    OrderLineItem,
    Platform,
    Product,
    Refund,
    RefundLine,
)

log = logging.getLogger(__name__)

ZERO = Decimal("0")
CHUNK = 500  # rows per IN (...) list: well under SQLite's and Postgres' parameter limits


class MissingFxRate(Exception):
    """No rate at all on or before a day: amounts cannot be converted and are not mixed."""


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(session: Session, table: Table):
    """The dialect's INSERT, which knows ON CONFLICT (Postgres and SQLite spell it the same)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


# --- orders --------------------------------------------------------------------------------


def upsert_orders(session: Session, platform: Platform, orders: Sequence[records.Order], tz: ZoneInfo) -> set[date]:
    """Write a page of orders (with lines and refunds); return the local days it touched.

    Orders whose stored `updated_at` equals the record's are skipped: sync lookback windows
    re-read recent orders on purpose, and those re-reads cost one SELECT, not a rewrite.
    """
    if not orders:
        return set()
    by_id = {o.external_id: o for o in orders}  # a page can repeat an order; the last one wins
    table = Order.__table__
    existing: dict[str, tuple[int, date, datetime]] = {}
    for part in chunks(list(by_id)):
        rows = session.execute(
            select(Order.external_id, Order.id, Order.order_day, Order.updated_at).where(
                Order.platform_id == platform.id, Order.external_id.in_(part)
            )
        )
        existing.update({ext: (oid, day, upd) for ext, oid, day, upd in rows})

    changed = [o for o in by_id.values() if o.external_id not in existing or existing[o.external_id][2] != o.updated_at]
    if not changed:
        return set()

    touched: set[date] = {existing[o.external_id][1] for o in changed if o.external_id in existing}
    rows = []
    for o in changed:
        day = local_day(o.processed_at, tz)
        touched.add(day)
        rows.append(
            {
                "company_id": platform.company_id,
                "platform_id": platform.id,
                "external_id": o.external_id,
                "name": o.name,
                "currency": o.currency,
                "created_at": o.created_at,
                "processed_at": o.processed_at,
                "updated_at": o.updated_at,
                "cancelled_at": o.cancelled_at,
                "order_day": day,
                "status": o.status,
                "excluded_reason": o.excluded_reason,
                "gross_sales": o.gross_sales,
                "discounts": o.discounts,
                "shipping": o.shipping,
                "taxes": o.tax,
                "fees": o.fees,
                "units": o.units,
            }
        )
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform_id", "external_id"],
        set_={c: stmt.excluded[c] for c in rows[0] if c not in ("company_id", "platform_id", "external_id")},
    )
    session.execute(stmt, rows)

    ids: dict[str, int] = {}
    for part in chunks([o.external_id for o in changed]):
        ids.update(
            session.execute(
                select(Order.external_id, Order.id).where(Order.platform_id == platform.id, Order.external_id.in_(part))
            ).all()
        )
    order_ids = list(ids.values())

    # Refund days that may disappear (a refund the platform no longer reports) are touched too.
    for part in chunks(order_ids):
        touched.update(session.scalars(select(Refund.refund_day).where(Refund.order_id.in_(part)).distinct()))
        session.execute(delete(OrderLineItem).where(OrderLineItem.order_id.in_(part)))
        session.execute(delete(Refund).where(Refund.order_id.in_(part)))

    line_rows, refund_rows, refund_lines = [], [], []
    for o in changed:
        oid = ids[o.external_id]
        line_rows.extend(
            {
                "order_id": oid,
                "external_id": li.external_id,
                "sku": li.sku,
                "product_external_id": li.product_external_id,
                "title": li.title[:500],
                "quantity": li.quantity,
                "unit_price": li.unit_price,
                "discount": li.discount,
                "tax": li.tax,
                "is_gift_card": li.is_gift_card,
            }
            for li in o.line_items
        )
        for r in o.refunds:
            day = local_day(r.processed_at, tz)
            touched.add(day)
            refund_rows.append(
                {
                    "order_id": oid,
                    "platform_id": platform.id,
                    "external_id": r.external_id,
                    "kind": r.kind,
                    "processed_at": r.processed_at,
                    "refund_day": day,
                    "returns": r.returns,
                    "shipping": r.shipping,
                    "taxes": r.tax,
                    "units": sum(rl.quantity for rl in r.lines),
                }
            )
            refund_lines.append((r.external_id, r.lines))
    if line_rows:
        session.execute(OrderLineItem.__table__.insert(), line_rows)
    if refund_rows:
        session.execute(Refund.__table__.insert(), refund_rows)
        refund_ids: dict[str, int] = {}
        for part in chunks([r["external_id"] for r in refund_rows]):
            refund_ids.update(
                session.execute(
                    select(Refund.external_id, Refund.id).where(
                        Refund.platform_id == platform.id, Refund.external_id.in_(part)
                    )
                ).all()
            )
        rl_rows = [
            {
                "refund_id": refund_ids[ext],
                "line_item_external_id": rl.line_item_external_id,
                "quantity": rl.quantity,
                "amount": rl.amount,
            }
            for ext, lines in refund_lines
            for rl in lines
        ]
        if rl_rows:
            session.execute(RefundLine.__table__.insert(), rl_rows)
    return touched


def upsert_products(session: Session, platform: Platform, products: Sequence[records.Product]) -> int:
    """Insert or update a page of products; returns how many were written."""
    if not products:
        return 0
    rows = [
        {
            "platform_id": platform.id,
            "external_id": p.external_id,
            "sku": p.sku,
            "title": p.title[:500],
            "product_type": p.product_type,
            "status": p.status,
            "price": p.price,
            "currency": p.currency,
            "updated_at": p.updated_at,
        }
        for p in {p.external_id: p for p in products}.values()
    ]
    stmt = _insert(session, Product.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform_id", "external_id"],
        set_={c: stmt.excluded[c] for c in rows[0] if c not in ("platform_id", "external_id")},
    )
    session.execute(stmt, rows)
    return len(rows)


# --- exchange rates ------------------------------------------------------------------------


def upsert_fx_rates(session: Session, rates: Iterable[tuple[date, str, str, Decimal]], source: str) -> int:
    """Insert or replace (day, base, quote, rate) rows; returns how many were written."""
    rows = [{"day": d, "base": b.upper(), "quote": q.upper(), "rate": r, "source": source} for d, b, q, r in rates]
    for part in chunks(rows, 2000):
        stmt = _insert(session, FxRate.__table__)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["base", "quote", "day"],
                set_={"rate": stmt.excluded.rate, "source": stmt.excluded.source},
            ),
            list(part),
        )
    return len(rows)


@dataclass
class FxConverter:
    """Converts amounts to one reporting currency at a given day's rate, falling back to the
    last known rate before that day (and saying so), never to a silent 1:1."""

    session: Session
    target: str

    def __post_init__(self) -> None:
        self._tables: dict[str, tuple[list[date], list[Decimal]]] = {}

    def rate(self, currency: str, day: date) -> tuple[Decimal, int]:
        """(rate, age in days of that rate: 0 when the day has its own rate)."""
        if currency == self.target:
            return Decimal(1), 0
        days, rates = self._table(currency)
        i = bisect.bisect_right(days, day) - 1
        if i < 0:
            raise MissingFxRate(f"no {currency}->{self.target} exchange rate on or before {day.isoformat()}")
        return rates[i], (day - days[i]).days

    def _table(self, currency: str) -> tuple[list[date], list[Decimal]]:
        if currency not in self._tables:
            direct = self.session.execute(
                select(FxRate.day, FxRate.rate).where(FxRate.base == currency, FxRate.quote == self.target)
            ).all()
            inverse = self.session.execute(
                select(FxRate.day, FxRate.rate).where(FxRate.base == self.target, FxRate.quote == currency)
            ).all()
            merged = {d: Decimal(1) / Decimal(r) for d, r in inverse}
            merged.update({d: Decimal(r) for d, r in direct})  # a published direct rate wins
            ordered = sorted(merged.items())
            self._tables[currency] = ([d for d, _ in ordered], [r for _, r in ordered])
        return self._tables[currency]


# --- rollups -------------------------------------------------------------------------------


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def rollup_daily(session: Session, platform: Platform, days: Iterable[date]) -> int:
    """Recompute `analytics_daily` for these local days of one platform; returns rows written.

    Sales are booked on the order's day; returns, refunded shipping and refunded tax on the
    refund's day (or on the order's day when the company chose that). Every amount converts to
    the company's currency at the rate of the order's day, summed in the platform's currency
    per (day, order day) first and rounded to the cent once per group.
    """
    wanted = sorted(set(days))
    if not wanted:
        return 0
    company = session.get(Company, platform.company_id)
    fx = FxConverter(session, company.currency)
    by_order_day = company.refund_dating == "order"
    totals: dict[date, dict] = {}
    rate_age: dict[date, int] = defaultdict(int)

    def bucket(day: date) -> dict:
        return totals.setdefault(day, defaultdict(lambda: ZERO))

    def convert(amount: Decimal | None, currency: str, order_day: date, day: date) -> Decimal:
        rate, age = fx.rate(currency, order_day)
        rate_age[day] = max(rate_age[day], age)
        return to_cents(Decimal(amount or 0) * rate)

    for part in chunks(wanted):
        sales = session.execute(
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
            .where(Order.platform_id == platform.id, Order.order_day.in_(part), Order.excluded_reason.is_(None))
            .group_by(Order.order_day, Order.currency)
        )
        for day, currency, count, gross, discounts, shipping, taxes, units in sales:
            b = bucket(day)
            b["orders"] += count
            b["units"] += units or 0
            b["gross_sales"] += convert(gross, currency, day, day)
            b["discounts"] += convert(discounts, currency, day, day)
            b["shipping"] += convert(shipping, currency, day, day)
            b["taxes"] += convert(taxes, currency, day, day)

        day_column = Order.order_day if by_order_day else Refund.refund_day
        returns = session.execute(
            select(
                day_column,
                Order.order_day,
                Order.currency,
                func.sum(Refund.returns),
                func.sum(Refund.shipping),
                func.sum(Refund.taxes),
                func.sum(Refund.units),
            )
            .join(Order, Order.id == Refund.order_id)
            .where(Refund.platform_id == platform.id, day_column.in_(part), Order.excluded_reason.is_(None))
            .group_by(day_column, Order.order_day, Order.currency)
        )
        for day, order_day, currency, returned, shipping, taxes, units in returns:
            b = bucket(day)
            b["returns"] += convert(returned, currency, order_day, day)
            b["shipping"] -= convert(shipping, currency, order_day, day)
            b["taxes"] -= convert(taxes, currency, order_day, day)
            b["units_returned"] += units or 0

    rows = []
    for day, b in totals.items():
        net = b["gross_sales"] - b["discounts"] - b["returns"]
        rows.append(
            {
                "company_id": company.id,
                "platform_id": platform.id,
                "day": day,
                "currency": company.currency,
                "gross_sales": b["gross_sales"],
                "discounts": b["discounts"],
                "returns": b["returns"],
                "net_sales": net,
                "taxes": b["taxes"],
                "shipping": b["shipping"],
                "total_sales": net + b["taxes"] + b["shipping"],
                "orders": int(b["orders"]),
                "units": int(b["units"]),
                "units_returned": int(b["units_returned"]),
                "fx_rate_age_days": rate_age[day],
            }
        )
    for part in chunks(wanted):
        session.execute(
            delete(AnalyticsDaily).where(AnalyticsDaily.platform_id == platform.id, AnalyticsDaily.day.in_(part))
        )
    if rows:
        session.execute(AnalyticsDaily.__table__.insert(), rows)
    bump_data_version(session, company.id)
    return len(rows)


def rollup_all(session: Session, platform: Platform) -> int:
    """Recompute every day the platform has data for (after a settings or time-zone change)."""
    days = set(session.scalars(select(Order.order_day).where(Order.platform_id == platform.id).distinct()))
    days |= set(session.scalars(select(Refund.refund_day).where(Refund.platform_id == platform.id).distinct()))
    days |= set(session.scalars(select(AnalyticsDaily.day).where(AnalyticsDaily.platform_id == platform.id)))
    return rollup_daily(session, platform, days)


def bump_data_version(session: Session, company_id: int) -> None:
    """Invalidate every cached read of the company: cache keys include this number."""
    session.execute(update(Company).where(Company.id == company_id).values(data_version=Company.data_version + 1))


def mark_synced(session: Session, platform: Platform, when: datetime | None = None) -> None:
    platform.last_sync_at = when or datetime.now(UTC)
