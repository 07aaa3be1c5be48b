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
from simulators.business import BESTBUY, SimOrder

CENT = Decimal("0.01")


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _refunded(moves: Iterable[tuple[datetime, str, Decimal, Decimal, Decimal]]) -> tuple:
    """Refunds' goods, shipping and tax summed per (moment, kind): Mirakl splits one refund over
    the lines it returns, Shopify does not, and both must give back the same money."""
    sums: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for at, kind, *amounts in moves:
        sums[at, kind] = [a + _money(b) for a, b in zip(sums[at, kind], amounts, strict=True)]
    return tuple(sorted((*key, *values) for key, values in sums.items()))


def sim_snapshot(order: SimOrder, as_of: datetime) -> tuple:
    """What a sync must hold about `order` at `as_of`, from the business's events."""
    accepted = order.channel != BESTBUY or order.happened(order.accepted_at, as_of)
    refunds = order.refunds_as_of(as_of)
    lines = {li.line_id: order.line_external_id(li) for li in order.lines}
    return (
        order.external_id,
        order.name,
        order.currency,
        order.created_at,
        order.created_at,  # processed when placed
        order.updated_at(as_of),
        order.cancelled_at if order.happened(order.cancelled_at, as_of) else None,
        order.status(as_of),
        "test" if order.test else None if accepted else "not_accepted",
        _money(order.shipping),
        _money(sum((li.tax for li in order.lines), order.shipping_tax)),
        _money(sum((li.commission for li in order.lines), Decimal(0))),
        tuple(
            sorted(
                (
                    lines[li.line_id],
                    li.item.sku,
                    li.quantity,
                    _money(li.unit_price),
                    _money(li.discount),
                    _money(li.tax),
                    li.is_gift_card,
                )
                for li in order.lines
            )
        ),
        tuple(
            sorted((r.at, r.kind, lines[rl.line_id], rl.quantity, _money(rl.amount)) for r in refunds for rl in r.lines)
        ),
        _refunded(
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
            snapshots[o.external_id] = _snapshot(o)
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


def _snapshot(o: Order) -> tuple:
    return (
        o.external_id,
        o.name,
        o.currency,
        o.created_at,
        o.processed_at,
        o.updated_at,
        o.cancelled_at,
        o.status,
        o.excluded_reason,
        _money(o.shipping),
        _money(o.taxes),
        _money(o.fees),
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
                for li in o.line_items
            )
        ),
        tuple(
            sorted(
                (r.processed_at, r.kind, rl.line_item_external_id, rl.quantity, _money(rl.amount))
                for r in o.refunds
                for rl in r.lines
            )
        ),
        _refunded((r.processed_at, r.kind, r.returns, r.shipping, r.taxes) for r in o.refunds),
    )
