"""What a sync wrote, order by order, against the simulated business's own events.

Both sides are snapshotted to the same plain values: an order's identity, times, status and
exclusion, the shipping, tax and commission it charged, its lines, and its refunds as the lines
they returned and the money they gave back per (moment, kind). The truth is read from the
business's raw events (simulators.business.SimOrder: lines, refunds, acceptance), never from
connector records; totals such as gross sales are not compared here but computed from the wire
by tests/wire_oracle.py and tests/pandas_metrics.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from db.models import Order, Refund
from simulators.business import SimOrder
from simulators.catalog import BESTBUY

CENT = Decimal("0.01")


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _snapshot(
    head: tuple, charged: tuple, lines: Iterable[tuple], returned: Iterable[tuple], refunds: Iterable[tuple]
) -> tuple:
    """One order as plain values, whichever side it comes from: `head` (ids, times, status,
    exclusion), `charged` (shipping, tax, commission), `lines` (id, SKU, quantity, unit price,
    discount, tax, gift card), `returned` (refund moment, kind, line id, quantity, amount) and
    `refunds` (moment, kind, goods, shipping, tax). Refunds are summed per (moment, kind): Mirakl
    splits one refund over the lines it returns, Shopify does not; both give back the same money."""
    refunded: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for at, kind, *amounts in refunds:
        refunded[at, kind] = [a + _money(b) for a, b in zip(refunded[at, kind], amounts, strict=True)]
    return (
        *head,
        *map(_money, charged),
        tuple(
            sorted(
                (ext, sku, n, _money(price), _money(off), _money(tax), gift)
                for ext, sku, n, price, off, tax, gift in lines
            )
        ),
        tuple(sorted((at, kind, ext, n, _money(amount)) for at, kind, ext, n, amount in returned)),
        tuple(sorted((*key, *values) for key, values in refunded.items())),
    )


def sim_snapshot(order: SimOrder, as_of: datetime) -> tuple:
    """What a sync must hold about `order` at `as_of`, from the business's events."""
    excluded = None
    if order.test:
        excluded = "test"
    elif order.channel == BESTBUY and not order.happened(order.accepted_at, as_of):
        excluded = "not_accepted"
    cancelled = order.cancelled_at if order.happened(order.cancelled_at, as_of) else None
    placed, refunds = order.created_at, order.refunds_as_of(as_of)
    ext = {li.line_id: order.line_external_id(li) for li in order.lines}
    return _snapshot(
        (
            order.external_id,
            order.name,
            order.currency,
            placed,
            placed,  # processed when placed
            order.updated_at(as_of),
            cancelled,
            order.status(as_of),
            excluded,
        ),
        (
            order.shipping,
            sum((li.tax for li in order.lines), order.shipping_tax),
            sum((li.commission for li in order.lines), Decimal(0)),
        ),
        (
            (ext[li.line_id], li.item.sku, li.quantity, li.unit_price, li.discount, li.tax, li.is_gift_card)
            for li in order.lines
        ),
        ((r.at, r.kind, ext[rl.line_id], rl.quantity, rl.amount) for r in refunds for rl in r.lines),
        (
            (
                r.at,
                r.kind,
                sum((rl.amount for rl in r.lines), Decimal(0)),
                r.shipping,
                sum((rl.tax for rl in r.lines), r.shipping_tax),
            )
            for r in refunds
        ),
    )


def truth(orders: Iterable[SimOrder], as_of: datetime) -> dict[str, tuple]:
    return {o.external_id: sim_snapshot(o, as_of) for o in orders}


def stored(engine: Engine, platform_id: int) -> dict[str, tuple]:
    """The platform's orders as the database holds them, snapshotted like `sim_snapshot`."""
    with Session(engine) as session:
        orders = session.scalars(
            select(Order)
            .where(Order.platform_id == platform_id)
            .options(selectinload(Order.line_items), selectinload(Order.refunds).selectinload(Refund.lines))
        )
        snapshots = {}
        for o in orders:
            _check_sums(o)
            snapshots[o.external_id] = _snapshot(
                (
                    o.external_id,
                    o.name,
                    o.currency,
                    o.created_at,
                    o.processed_at,
                    o.updated_at,
                    o.cancelled_at,
                    o.status,
                    o.excluded_reason,
                ),
                (o.shipping, o.taxes, o.fees),
                (
                    (li.external_id, li.sku, li.quantity, li.unit_price, li.discount, li.tax, li.is_gift_card)
                    for li in o.line_items
                ),
                (
                    (r.processed_at, r.kind, rl.line_item_external_id, rl.quantity, rl.amount)
                    for r in o.refunds
                    for rl in r.lines
                ),
                ((r.processed_at, r.kind, r.returns, r.shipping, r.taxes) for r in o.refunds),
            )
        return snapshots


def _check_sums(o: Order) -> None:
    """The order's pre-summed columns (what rollups read) agree with its own lines, summed here:
    gift cards are no sale."""
    goods = [li for li in o.line_items if not li.is_gift_card]
    gross = sum((li.unit_price * li.quantity for li in goods), Decimal(0))
    discounts = sum((li.discount for li in goods), Decimal(0))
    sums = (_money(o.gross_sales), _money(o.discounts), o.units)
    assert sums == (_money(gross), _money(discounts), sum(li.quantity for li in goods)), o.external_id
    for r in o.refunds:
        assert r.units == sum(rl.quantity for rl in r.lines), r.external_id
