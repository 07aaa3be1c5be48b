"""The write path: idempotent upserts of connector records, and the dirty-day marks.

An order is written with `INSERT ... ON CONFLICT (platform_id, external_id) DO UPDATE`, and its
line items and refunds are replaced with the platform's current view of them, so writing the
same page twice leaves the database exactly as writing it once. Each upsert reports the
company-local days it touched; `db.rollups.rollup_daily` recomputes only those days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

import records
from db.bulk import chunks, copy_rows, dialect_insert, insert_rows, is_postgres, one_of
from db.models import DirtyDay, Order, OrderLineItem, Platform, Product, Refund, RefundLine


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


# --- orders --------------------------------------------------------------------------------


def upsert_orders(session: Session, platform: Platform, orders: Sequence[records.Order], tz: ZoneInfo) -> set[date]:
    """Write a page of orders (with lines and refunds); return the local days it touched.

    An order is written only when it is new or its `updated_at` is later than the stored one,
    whatever the source (sync page, lookback re-read, webhook, CSV re-import): an equal
    `updated_at` is a re-read (one SELECT, not a rewrite), and an older one is a stale copy (a
    delayed or replayed webhook) that must never roll the order or its refunds back.
    """
    by_id = {o.external_id: o for o in orders}  # a page can repeat an order; the last one wins
    order_rows = {ext: _order_row(platform, o, tz) for ext, o in by_id.items()}
    existing = _existing_orders(session, platform, list(order_rows.values()))
    changed = [o for o in by_id.values() if o.external_id not in existing or existing[o.external_id][2] < o.updated_at]
    if not changed:
        return set()

    touched = {existing[o.external_id][1] for o in changed if o.external_id in existing}
    touched.update(order_rows[o.external_id][ORDER_DAY] for o in changed)
    ids = _upsert_returning_ids(session, [order_rows[o.external_id] for o in changed])
    changed = [o for o in changed if o.external_id in ids]  # less any a webhook made newer meanwhile
    touched |= _delete_children(session, [existing[o.external_id][0] for o in changed if o.external_id in existing])
    touched |= _insert_children(session, platform, [(ids[o.external_id], o) for o in changed], tz)
    return touched


def _order_row(platform: Platform, o: records.Order, tz: ZoneInfo) -> tuple:
    """The order's row of ORDER_COLUMNS."""
    return (
        platform.company_id,
        platform.id,
        o.external_id,
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


def _delete_children(session: Session, order_ids: list[int]) -> set[date]:
    """Delete the lines and refunds of orders about to get their current ones; returns the
    refunds' days, which change too."""
    days: set[date] = set()
    for part in chunks(order_ids):
        refunds_of_part = one_of(session, Refund.order_id, part)
        days.update(session.scalars(select(Refund.refund_day).where(refunds_of_part).distinct()))
        session.execute(delete(OrderLineItem).where(one_of(session, OrderLineItem.order_id, part)))
        session.execute(delete(Refund).where(refunds_of_part))
    return days


def _insert_children(
    session: Session, platform: Platform, orders: list[tuple[int, records.Order]], tz: ZoneInfo
) -> set[date]:
    """Insert the lines and refunds of these (order id, order)s; returns the refunds' days."""
    line_rows = [
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
        for oid, o in orders
        for li in o.line_items
    ]
    insert_rows(session, OrderLineItem.__table__, LINE_COLUMNS, line_rows)
    refunds = [(oid, r, local_day(r.processed_at, tz)) for oid, o in orders for r in o.refunds]
    if refunds:
        _insert_refunds(session, platform, refunds)
    return {day for _, _, day in refunds}


def _insert_refunds(session: Session, platform: Platform, refunds: list[tuple[int, records.Refund, date]]) -> None:
    """Insert these (order id, refund, refund day)s and their lines."""
    refund_rows = [
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
        for oid, r, day in refunds
    ]
    insert_rows(session, Refund.__table__, REFUND_COLUMNS, refund_rows)
    refund_ids: dict[str, int] = {}
    for part in chunks([r.external_id for _, r, _ in refunds]):
        refund_ids.update(
            session.execute(
                select(Refund.external_id, Refund.id).where(
                    Refund.platform_id == platform.id, one_of(session, Refund.external_id, part)
                )
            ).all()
        )
    line_rows = [
        (
            refund_ids[r.external_id],
            line.line_item_external_id,
            line.quantity,
            line.amount,
            line.sku,
            line.title and line.title[:500],
        )
        for _, r, _ in refunds
        for line in r.lines
    ]
    insert_rows(session, RefundLine.__table__, REFUND_LINE_COLUMNS, line_rows)


def delete_orders(session: Session, platform: Platform, external_ids: Sequence[str]) -> None:
    """Delete these orders with their lines and refunds (the database cascades). For a writer
    that takes back, inside its transaction, a version of an order it wrote too early (a CSV
    import whose order's rows come back later in the file): the days that version touched were
    reported when it was written."""
    for part in chunks(external_ids):
        session.execute(delete(Order).where(Order.platform_id == platform.id, one_of(session, Order.external_id, part)))


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


def _existing_orders(session: Session, platform: Platform, rows: list[tuple]) -> dict[str, tuple[int, date, datetime]]:
    """The stored id, order day and updated_at of the page's orders (`rows` of ORDER_COLUMNS)
    that are stored already. On Postgres the page is COPied into a staging table first, which
    the lookup joins and the upsert reads: no list of a thousand ids is sent, twice."""
    if is_postgres(session):
        columns = ", ".join(ORDER_COLUMNS)
        session.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS stage_orders ON COMMIT DELETE ROWS AS "
                f"SELECT {columns} FROM orders WITH NO DATA"
            )
        )
        session.execute(text("TRUNCATE stage_orders"))
        copy_rows(session, Order.__table__, ORDER_COLUMNS, rows, into="stage_orders")
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
    if is_postgres(session):
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
    stmt = dialect_insert(session, Product.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform_id", "external_id"],
        set_={c: stmt.excluded[c] for c in rows[0] if c not in ("platform_id", "external_id")},
    )
    session.execute(stmt, rows)
    return len(rows)


# --- dirty days and sync marks ---------------------------------------------------------


def mark_dirty(session: Session, platform_id: int, days: Iterable[date]) -> None:
    """Note days whose rollups must be recomputed (see DirtyDay). A day already marked is
    updated, not skipped: that waits for a rollup holding the mark (db.rollups.rollup_dirty),
    so the mark outlives it when this transaction's orders came too late for it."""
    rows = [{"platform_id": platform_id, "day": d} for d in sorted(set(days))]  # sorted: one lock order
    if rows:
        insert = dialect_insert(session, DirtyDay.__table__)
        session.execute(
            insert.on_conflict_do_update(index_elements=["platform_id", "day"], set_={"day": insert.excluded.day}), rows
        )


def mark_synced(session: Session, platform: Platform, when: datetime | None = None) -> None:
    platform.last_sync_at = when or datetime.now(UTC)
