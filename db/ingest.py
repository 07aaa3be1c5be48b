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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, any_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import records
from db import metrics
from db.models import (
    AnalyticsDaily,
    AnalyticsProductDaily,
    AnalyticsProductMonthly,
    Company,
    DirtyDay,
    FxRate,
    Order,
    OrderLineItem,
    Platform,
    Product,
    Refund,
    RefundLine,
    UtcDateTime,
)

log = logging.getLogger(__name__)

ZERO = Decimal("0")
CHUNK = 500  # rows per IN (...) list: well under SQLite's and Postgres' parameter limits
ANALYZE_AFTER_DAYS = 28


class MissingFxRate(Exception):
    """No rate at all on or before a day: amounts cannot be converted and are not mixed."""


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _one_of(session: Session, column: ColumnElement, values: Sequence) -> ColumnElement[bool]:
    """`column IN (values)`, as `column = ANY(array)` on Postgres: one parameter instead of a
    thousand, which SQLAlchemy renders and Postgres plans faster (35 -> 25 ms a 1,000-order page)."""
    if _is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def _insert(session: Session, table: Table):
    """The dialect's INSERT, which knows ON CONFLICT (Postgres and SQLite spell it the same)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


# --- orders --------------------------------------------------------------------------------


def upsert_orders(session: Session, platform: Platform, orders: Sequence[records.Order], tz: ZoneInfo) -> set[date]:
    """Write a page of orders (with lines and refunds); return the local days it touched.

    An order is written only when it is new or its `updated_at` is later than the stored one,
    whatever the source (sync page, lookback re-read, webhook, CSV re-import): an equal
    `updated_at` is a re-read (one SELECT, not a rewrite), and an older one is a stale copy (a
    delayed or replayed webhook) that must never roll the order or its refunds back.
    """
    by_id = {o.external_id: o for o in orders}  # a page can repeat an order; the last one wins
    order_rows = {
        ext: (
            platform.company_id,
            platform.id,
            ext,
            o.name[:64],
            o.currency,
            o.created_at,
            o.processed_at,
            o.updated_at,
            o.cancelled_at,
            local_day(o.processed_at, tz),
            o.status[:32],
            o.excluded_reason,
            o.gross_sales,
            o.discounts,
            o.shipping,
            o.tax,
            o.fees,
            o.units,
        )
        for ext, o in by_id.items()
    }
    existing = _existing_orders(session, platform, list(order_rows.values()))
    changed = [o for o in by_id.values() if o.external_id not in existing or existing[o.external_id][2] < o.updated_at]
    if not changed:
        return set()

    touched = {existing[o.external_id][1] for o in changed if o.external_id in existing}
    touched.update(order_rows[o.external_id][ORDER_DAY] for o in changed)
    ids = _upsert_returning_ids(session, [order_rows[o.external_id] for o in changed])
    changed = [o for o in changed if o.external_id in ids]  # less any a webhook made newer meanwhile

    # Replace the children of orders we already had; refund days that disappear are touched too.
    replaced = [existing[o.external_id][0] for o in changed if o.external_id in existing]
    for part in chunks(replaced):
        refunds_of_part = _one_of(session, Refund.order_id, part)
        touched.update(session.scalars(select(Refund.refund_day).where(refunds_of_part).distinct()))
        session.execute(delete(OrderLineItem).where(_one_of(session, OrderLineItem.order_id, part)))
        session.execute(delete(Refund).where(refunds_of_part))

    line_rows, refund_rows, refund_children = [], [], []
    for o in changed:
        oid = ids[o.external_id]
        line_rows.extend(
            (
                oid,
                li.external_id,
                li.sku,
                li.product_external_id,
                li.title[:500],
                li.quantity,
                li.unit_price,
                li.discount,
                li.tax,
                li.is_gift_card,
            )
            for li in o.line_items
        )
        for r in o.refunds:
            day = local_day(r.processed_at, tz)
            touched.add(day)
            refund_rows.append(
                (
                    oid,
                    platform.id,
                    r.external_id,
                    r.kind,
                    r.processed_at,
                    day,
                    r.returns,
                    r.shipping,
                    r.tax,
                    sum(rl.quantity for rl in r.lines),
                )
            )
            refund_children.append((r.external_id, r.lines))
    _bulk_insert(session, OrderLineItem.__table__, LINE_COLUMNS, line_rows)
    if refund_rows:
        _bulk_insert(session, Refund.__table__, REFUND_COLUMNS, refund_rows)
        refund_ids: dict[str, int] = {}
        for part in chunks([ext for ext, _ in refund_children]):
            refund_ids.update(
                session.execute(
                    select(Refund.external_id, Refund.id).where(
                        Refund.platform_id == platform.id, _one_of(session, Refund.external_id, part)
                    )
                ).all()
            )
        _bulk_insert(
            session,
            RefundLine.__table__,
            REFUND_LINE_COLUMNS,
            [
                (refund_ids[ext], rl.line_item_external_id, rl.quantity, rl.amount, rl.sku, rl.title and rl.title[:500])
                for ext, lines in refund_children
                for rl in lines
            ],
        )
    return touched


DELETED = "deleted"  # excluded_reason of an order the platform says was deleted


def delete_order(session: Session, platform: Platform, external_id: str, when: datetime) -> set[date]:
    """Exclude a deleted order from every metric (kept, with `excluded_reason` "deleted", for
    the record); returns the days whose rollups change. Its `updated_at` becomes `when`, the
    deletion's time, so no earlier copy of the order (a late webhook, a stale page) brings it back.
    An order not stored yet has nothing to exclude: platforms list no deleted order."""
    order = session.scalar(
        select(Order).where(Order.platform_id == platform.id, Order.external_id == external_id).with_for_update()
    )
    if order is None or order.excluded_reason == DELETED:
        return set()
    order.excluded_reason, order.updated_at = DELETED, max(when, order.updated_at)
    days = {order.order_day} | set(session.scalars(select(Refund.refund_day).where(Refund.order_id == order.id)))
    session.flush()
    return days


ORDER_COLUMNS = (
    "company_id",
    "platform_id",
    "external_id",
    "name",
    "currency",
    "created_at",
    "processed_at",
    "updated_at",
    "cancelled_at",
    "order_day",
    "status",
    "excluded_reason",
    "gross_sales",
    "discounts",
    "shipping",
    "taxes",
    "fees",
    "units",
)
LINE_COLUMNS = (
    "order_id",
    "external_id",
    "sku",
    "product_external_id",
    "title",
    "quantity",
    "unit_price",
    "discount",
    "tax",
    "is_gift_card",
)
REFUND_COLUMNS = (
    "order_id",
    "platform_id",
    "external_id",
    "kind",
    "processed_at",
    "refund_day",
    "returns",
    "shipping",
    "taxes",
    "units",
)
REFUND_LINE_COLUMNS = ("refund_id", "line_item_external_id", "quantity", "amount", "sku", "title")
ORDER_DAY = ORDER_COLUMNS.index("order_day")


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _copy(session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple], into: str = "") -> None:
    """Postgres COPY FROM STDIN (into `table`, or the staging table `into` shaped like it):
    several times faster than INSERT for the thousands of rows of a backfill. COPY bypasses
    UtcDateTime, so the timestamp columns are made naive UTC here, as that type stores them."""
    times = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, UtcDateTime)]
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY {into or table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            if times:
                row = list(row)
                for i in times:
                    if row[i] is not None:
                        row[i] = row[i].astimezone(UTC).replace(tzinfo=None)
            copy.write_row(row)


def _bulk_insert(session: Session, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    if _is_postgres(session):
        _copy(session, table, columns, rows)
    else:
        session.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def _insert_dicts(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert rows given as dicts with the same keys in the same order (COPY on Postgres: a
    backfill's rollup writes tens of thousands of product-day rows)."""
    if rows:
        _bulk_insert(session, table, tuple(rows[0]), [tuple(row.values()) for row in rows])


def _existing_orders(session: Session, platform: Platform, rows: list[tuple]) -> dict[str, tuple[int, date, datetime]]:
    """The stored id, order day and updated_at of the page's orders (`rows` of ORDER_COLUMNS)
    that are stored already. On Postgres the page is COPied into a staging table first, which
    the lookup joins and the upsert reads: no list of a thousand ids is sent, twice."""
    if _is_postgres(session):
        columns = ", ".join(ORDER_COLUMNS)
        session.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS stage_orders ON COMMIT DELETE ROWS AS "
                f"SELECT {columns} FROM orders WITH NO DATA"
            )
        )
        session.execute(text("TRUNCATE stage_orders"))
        _copy(session, Order.__table__, ORDER_COLUMNS, rows, into="stage_orders")
        found = session.execute(
            text(
                "SELECT o.external_id, o.id, o.order_day, o.updated_at FROM stage_orders s "
                "JOIN orders o ON o.platform_id = s.platform_id AND o.external_id = s.external_id"
            ).columns(Order.external_id, Order.id, Order.order_day, Order.updated_at)
        )
        return {ext: (oid, day, updated) for ext, oid, day, updated in found}
    existing = {}
    for part in chunks([row[2] for row in rows]):
        found = session.execute(
            select(Order.external_id, Order.id, Order.order_day, Order.updated_at).where(
                Order.platform_id == platform.id, Order.external_id.in_(part)
            )
        )
        existing.update({ext: (oid, day, updated) for ext, oid, day, updated in found})
    return existing


def _upsert_returning_ids(session: Session, rows: list[tuple]) -> dict[str, int]:
    """INSERT ... ON CONFLICT (platform_id, external_id) DO UPDATE for the changed orders of a
    page; returns external id -> row id of the orders written. A stored order is only replaced
    by a later `updated_at` (the WHERE of DO UPDATE), so a concurrent writer (a webhook) that
    stored a newer copy since the lookup keeps it, and the order is not returned. On Postgres
    they are upserted from the staging table (see _existing_orders) in one statement."""
    keep = ("company_id", "platform_id", "external_id")
    updates = ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS if c not in keep)
    columns = ", ".join(ORDER_COLUMNS)
    if _is_postgres(session):
        result = session.execute(
            text(
                f"INSERT INTO orders ({columns}) SELECT {columns} FROM stage_orders "
                f"ON CONFLICT (platform_id, external_id) DO UPDATE SET {updates} "
                "WHERE orders.updated_at < excluded.updated_at RETURNING external_id, id"
            )
        )
        return dict(result.all())
    stmt = sqlite.insert(Order.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform_id", "external_id"],
        set_={c: stmt.excluded[c] for c in ORDER_COLUMNS if c not in keep},
        where=Order.__table__.c.updated_at < stmt.excluded.updated_at,
    ).returning(Order.external_id, Order.id)
    return dict(session.execute(stmt, [dict(zip(ORDER_COLUMNS, row, strict=True)) for row in rows]).all())


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


def upsert_fx_rates(
    session: Session, company_id: int, rates: Iterable[tuple[date, str, str, Decimal]], source: str
) -> int:
    """Insert or replace a company's (day, base, quote, rate) rows; returns how many were written."""
    rows = [
        {"company_id": company_id, "day": d, "base": b.upper(), "quote": q.upper(), "rate": r, "source": source}
        for d, b, q, r in rates
    ]
    for part in chunks(rows, 2000):
        stmt = _insert(session, FxRate.__table__)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["company_id", "base", "quote", "day"],
                set_={"rate": stmt.excluded.rate, "source": stmt.excluded.source},
            ),
            list(part),
        )
    return len(rows)


@dataclass
class FxConverter:
    """Converts amounts to a company's reporting currency at a given day's rate from the
    company's rates, falling back to the last known rate before that day (and saying so), never
    to a silent 1:1."""

    session: Session
    company_id: int
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
                select(FxRate.day, FxRate.rate).where(
                    FxRate.company_id == self.company_id, FxRate.base == currency, FxRate.quote == self.target
                )
            ).all()
            inverse = self.session.execute(
                select(FxRate.day, FxRate.rate).where(
                    FxRate.company_id == self.company_id, FxRate.base == self.target, FxRate.quote == currency
                )
            ).all()
            merged = {d: Decimal(1) / Decimal(r) for d, r in inverse}
            merged.update({d: Decimal(r) for d, r in direct})  # a published direct rate wins
            ordered = sorted(merged.items())
            self._tables[currency] = ([d for d, _ in ordered], [r for _, r in ordered])
        return self._tables[currency]


# --- rollups -------------------------------------------------------------------------------


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


def rollup_daily(session: Session, platform: Platform, days: Iterable[date]) -> int:
    """Recompute `analytics_daily` and `analytics_product_daily` for these local days of one
    platform; returns the daily rows written.

    Sales are booked on the order's day; returns, refunded shipping and refunded tax on the
    refund's day (or on the order's day when the company chose that). Every amount converts to
    the company's currency at the rate of the order's day, summed in the platform's currency
    per (day, order day) first and rounded to the cent once per group (per product too, so a
    day's products can differ from its total by a few cents of rounding).
    """
    wanted = sorted(set(days))
    if not wanted:
        return 0
    company = session.get(Company, platform.company_id)
    convert = _Converter(session, company)
    refund_day = Order.order_day if company.refund_dating == "order" else Refund.refund_day
    counted_refunds = or_(Order.excluded_reason.is_(None), Order.excluded_reason == records.RETURNS_ONLY)
    totals: dict[date, dict] = defaultdict(lambda: defaultdict(lambda: ZERO))
    products: dict[tuple[date, str], dict] = defaultdict(lambda: defaultdict(lambda: ZERO))
    titles: dict[str, str] = {}

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
            b = totals[day]
            b["orders"] += count
            b["units"] += units or 0
            b["gross_sales"] += convert(gross, currency, day, day)
            b["discounts"] += convert(discounts, currency, day, day)
            b["shipping"] += convert(shipping, currency, day, day)
            b["taxes"] += convert(taxes, currency, day, day)

        returns = session.execute(
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
            .where(Refund.platform_id == platform.id, refund_day.in_(part), counted_refunds)
            .group_by(refund_day, Order.order_day, Order.currency)
        )
        for day, order_day, currency, returned, shipping, taxes, units in returns:
            b = totals[day]
            b["returns"] += convert(returned, currency, order_day, day)
            b["shipping"] -= convert(shipping, currency, order_day, day)
            b["taxes"] -= convert(taxes, currency, order_day, day)
            b["units_returned"] += units or 0

        sku = func.coalesce(OrderLineItem.sku, "")
        product_sales = session.execute(
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
                Order.platform_id == platform.id,
                Order.order_day.in_(part),
                Order.excluded_reason.is_(None),
                OrderLineItem.is_gift_card.is_(False),
            )
            .group_by(Order.order_day, Order.currency, sku)
        )
        for day, currency, code, title, gross, discounts, units in product_sales:
            p = products[day, code]
            titles.setdefault(code, title)
            p["gross_sales"] += convert(gross, currency, day, day)
            p["discounts"] += convert(discounts, currency, day, day)
            p["units"] += units or 0

        # The refund line's own product when it names one (a CSV cancellation's lines point to
        # no stored line), else its line item's: every returned line counts for some product.
        returned_sku = func.coalesce(RefundLine.sku, OrderLineItem.sku, "")
        product_returns = session.execute(
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
            .where(Refund.platform_id == platform.id, refund_day.in_(part), counted_refunds)
            .group_by(refund_day, Order.order_day, Order.currency, returned_sku)
        )
        for day, order_day, currency, code, title, returned, units in product_returns:
            p = products[day, code]
            titles.setdefault(code, title)
            p["returns"] += convert(returned, currency, order_day, day)
            p["units_returned"] += units or 0

    daily_rows = [
        {
            "company_id": company.id,
            "platform_id": platform.id,
            "day": day,
            "currency": company.currency,
            "gross_sales": b["gross_sales"],
            "discounts": b["discounts"],
            "returns": b["returns"],
            "net_sales": metrics.net_sales(b["gross_sales"], b["discounts"], b["returns"]),
            "taxes": b["taxes"],
            "shipping": b["shipping"],
            "total_sales": metrics.total_sales(
                metrics.net_sales(b["gross_sales"], b["discounts"], b["returns"]), b["taxes"], b["shipping"]
            ),
            "orders": int(b["orders"]),
            "units": int(b["units"]),
            "units_returned": int(b["units_returned"]),
            "fx_rate_age_days": convert.rate_age[day],
        }
        for day, b in totals.items()
    ]
    product_rows = [
        {
            "company_id": company.id,
            "platform_id": platform.id,
            "day": day,
            "sku": code,
            "title": (titles.get(code) or code or "(no SKU)")[:500],
            "gross_sales": p["gross_sales"],
            "discounts": p["discounts"],
            "returns": p["returns"],
            "net_sales": metrics.net_sales(p["gross_sales"], p["discounts"], p["returns"]),
            "units": int(p["units"]),
            "units_returned": int(p["units_returned"]),
        }
        for (day, code), p in products.items()
    ]
    for part in chunks(wanted):
        for table in (AnalyticsDaily, AnalyticsProductDaily):
            session.execute(delete(table).where(table.platform_id == platform.id, table.day.in_(part)))
    _insert_dicts(session, AnalyticsDaily.__table__, daily_rows)
    _insert_dicts(session, AnalyticsProductDaily.__table__, product_rows)
    rollup_product_months(session, company.id, platform.id, {d.replace(day=1) for d in wanted})
    if len(wanted) >= ANALYZE_AFTER_DAYS and _is_postgres(session):
        # A backfill changes the rollups' size by orders of magnitude: refresh the planner's
        # statistics now rather than whenever autovacuum gets round to it.
        session.execute(text("ANALYZE analytics_daily, analytics_product_daily, analytics_product_monthly"))
    bump_data_version(session, company.id)
    return len(daily_rows)


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
    _insert_dicts(session, AnalyticsProductMonthly.__table__, rows)


def mark_dirty(session: Session, platform_id: int, days: Iterable[date]) -> None:
    """Note days whose rollups must be recomputed (see DirtyDay). A day already marked is
    updated, not skipped: that waits for a rollup holding the mark (see rollup_dirty), so the
    mark outlives it when this transaction's orders came too late for it."""
    rows = [{"platform_id": platform_id, "day": d} for d in sorted(set(days))]  # sorted: one lock order
    if rows:
        insert = _insert(session, DirtyDay.__table__)
        session.execute(
            insert.on_conflict_do_update(index_elements=["platform_id", "day"], set_={"day": insert.excluded.day}), rows
        )


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


def mark_synced(session: Session, platform: Platform, when: datetime | None = None) -> None:
    platform.last_sync_at = when or datetime.now(UTC)
