"""Read back what a sync wrote, in the shape of the connector records, to compare with the
simulator's truth field by field."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from connectors.base import LineItem, RefundLine
from connectors.base import Order as OrderRecord
from connectors.base import Refund as RefundRecord
from db.models import Order, Refund


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def order_snapshot(record: OrderRecord) -> tuple:
    """Everything a sync must preserve about an order, as comparable plain values."""
    return (
        record.external_id,
        record.name,
        record.currency,
        record.created_at,
        record.processed_at,
        record.updated_at,
        record.cancelled_at,
        record.status,
        record.excluded_reason,
        _money(record.gross_sales),
        _money(record.discounts),
        _money(record.shipping),
        _money(record.tax),
        _money(record.fees),
        record.units,
        tuple(
            sorted(
                (
                    li.external_id,
                    li.sku,
                    li.quantity,
                    _money(li.unit_price),
                    _money(li.discount),
                    _money(li.tax),
                    li.is_gift_card,
                )
                for li in record.line_items
            )
        ),
        tuple(
            sorted(
                (
                    r.external_id,
                    r.kind,
                    r.processed_at,
                    _money(r.returns),
                    _money(r.shipping),
                    _money(r.tax),
                    tuple(sorted((rl.line_item_external_id, rl.quantity, _money(rl.amount)) for rl in r.lines)),
                )
                for r in record.refunds
            )
        ),
    )


def expected(records: Iterable[OrderRecord]) -> dict[str, tuple]:
    return {r.external_id: order_snapshot(r) for r in records}


def stored(engine: Engine, platform_id: int) -> dict[str, tuple]:
    """The platform's orders as the database holds them, snapshotted like `expected`."""
    with Session(engine) as session:
        orders = session.scalars(
            select(Order)
            .where(Order.platform_id == platform_id)
            .options(selectinload(Order.line_items), selectinload(Order.refunds).selectinload(Refund.lines))
        )
        snapshots = {}
        for o in orders:
            record = as_record(o)
            # The order's pre-summed columns (what rollups read) must agree with its own lines.
            sums = (_money(o.gross_sales), _money(o.discounts), o.units)
            assert sums == (_money(record.gross_sales), _money(record.discounts), record.units), o.external_id
            snapshots[o.external_id] = order_snapshot(record)
        return snapshots


def as_record(o: Order) -> OrderRecord:
    """A stored order back in the connectors' record shape (only what the snapshot compares)."""
    return OrderRecord(
        external_id=o.external_id,
        name=o.name,
        currency=o.currency,
        created_at=o.created_at,
        processed_at=o.processed_at,
        updated_at=o.updated_at,
        status=o.status,
        shipping=o.shipping,
        tax=o.taxes,
        cancelled_at=o.cancelled_at,
        excluded_reason=o.excluded_reason,
        fees=o.fees,
        line_items=tuple(
            LineItem(
                li.external_id,
                li.sku,
                li.title,
                li.quantity,
                li.unit_price,
                li.discount,
                li.tax,
                li.product_external_id,
                li.is_gift_card,
            )
            for li in o.line_items
        ),
        refunds=tuple(
            RefundRecord(
                r.external_id,
                r.processed_at,
                r.kind,
                r.returns,
                r.shipping,
                r.taxes,
                tuple(RefundLine(rl.line_item_external_id, rl.quantity, rl.amount) for rl in r.lines),
            )
            for r in o.refunds
        ),
    )
