"""The platforms' own daily sales reports, computed straight from the business's orders (not
from the records a connector makes), the way each platform books them: a sale on the day the
order was placed, each return, refunded shipping and refunded tax on the day it was processed
(a cancellation is a return on the cancel day), gift cards not sales, on the report's calendar
and in the store's currency. Which orders count differs by platform: Shopify leaves out test
orders; Best Buy's export lists an order once the seller accepted it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from records import ZERO
from simulators.business import SimOrder
from simulators.catalog import BESTBUY

METRICS = ("orders", "gross_sales", "discounts", "returns", "net_sales", "shipping", "taxes", "total_sales")


@dataclass
class DayTotals:
    orders: int = 0
    gross_sales: Decimal = ZERO
    discounts: Decimal = ZERO
    returns: Decimal = ZERO
    shipping: Decimal = ZERO
    taxes: Decimal = ZERO

    @property
    def net_sales(self) -> Decimal:
        return self.gross_sales - self.discounts - self.returns

    @property
    def total_sales(self) -> Decimal:
        return self.net_sales + self.shipping + self.taxes


def in_report(order: SimOrder, as_of: datetime) -> bool:
    """Whether the order's platform lists it in its report at `as_of`."""
    if order.channel == BESTBUY:
        return order.happened(order.accepted_at, as_of)
    return not order.test


def daily_totals(
    orders: Iterable[SimOrder], as_of: datetime, tz: tzinfo, start: date, end: date
) -> dict[date, DayTotals]:
    """Every day start..end (days in `tz`) with its totals as the orders' platform reports them."""
    days = {start + timedelta(n): DayTotals() for n in range((end - start).days + 1)}
    for order in orders:
        if not in_report(order, as_of):
            continue
        sold = days.get(order.created_at.astimezone(tz).date())
        if sold is not None:
            goods = [line for line in order.lines if not line.is_gift_card]
            sold.orders += 1
            sold.gross_sales += sum((line.unit_price * line.quantity for line in goods), ZERO)
            sold.discounts += sum((line.discount for line in goods), ZERO)
            sold.shipping += order.shipping
            sold.taxes += order.tax
        for refund in order.refunds_as_of(as_of):
            returned = days.get(refund.at.astimezone(tz).date())
            if returned is not None:
                returned.returns += refund.returns
                returned.shipping -= refund.shipping
                returned.taxes -= refund.tax
    return days
