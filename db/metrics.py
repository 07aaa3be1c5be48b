"""The metric definitions, in one place: what each number means, the formulas derived metrics
use, and the version of those definitions. docs/metrics.md explains each one; the UI's
tooltips and the CSV exports quote `formula` from here.

Sales follow Shopify's sales report: a sale is booked on the order's day, a return on the day it
is processed (or, when the company chooses, on the order's day), a cancelled order is a sale and
then a return; test orders and marketplace orders never accepted are not sales.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from records import CENT, ZERO

FORMULA_VERSION = "2026.11"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # "money" | "count"
    formula: str


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric(
            "gross_sales",
            "Gross sales",
            "money",
            "Price × quantity of the items ordered, before discounts, taxes, shipping and returns. "
            "Gift cards are not sales.",
        ),
        Metric("discounts", "Discounts", "money", "Line discounts plus each line's share of order-level discounts."),
        Metric(
            "returns",
            "Returns",
            "money",
            "Value of returned and cancelled goods, after their discounts, booked on the day the "
            "refund or cancellation is processed.",
        ),
        Metric("net_sales", "Net sales", "money", "Gross sales − discounts − returns."),
        Metric("shipping", "Shipping", "money", "Shipping charged − shipping refunded."),
        Metric("taxes", "Taxes", "money", "Taxes charged − taxes refunded."),
        Metric("total_sales", "Total sales", "money", "Net sales + taxes + shipping."),
        Metric(
            "orders",
            "Orders",
            "count",
            "Orders placed on the day. Test orders and marketplace orders never accepted are excluded; "
            "a cancelled order still counts on the day it was placed.",
        ),
        Metric("units", "Units", "count", "Items ordered (gift cards excluded), before returns."),
        Metric("units_returned", "Units returned", "count", "Items returned or cancelled, on the return's day."),
        Metric(
            "aov",
            "Average order value",
            "money",
            "(Gross sales − discounts) ÷ orders: Shopify's definition since 2023, which ignores later "
            "returns, taxes and shipping.",
        ),
    )
}
MONEY_SUMS = ("gross_sales", "discounts", "returns", "net_sales", "taxes", "shipping", "total_sales")
COUNT_SUMS = ("orders", "units", "units_returned")


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent, as the platforms round display amounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def net_sales(gross_sales: Decimal, discounts: Decimal, returns: Decimal) -> Decimal:
    return gross_sales - discounts - returns


def total_sales(net: Decimal, taxes: Decimal, shipping: Decimal) -> Decimal:
    return net + taxes + shipping


def aov(gross_sales: Decimal, discounts: Decimal, orders: int) -> Decimal:
    return cents((gross_sales - discounts) / orders) if orders else ZERO


def change_pct(current: Decimal | int, previous: Decimal | int) -> float | None:
    """Percentage change, None when there is nothing to compare with."""
    if not previous:
        return None
    return round(float((Decimal(current) - Decimal(previous)) / abs(Decimal(previous)) * 100), 2)


def money(value: Decimal) -> str:
    """An amount as JSON and CSV write it: a string with two decimals, never a float."""
    return f"{value:.2f}"


def number(key: str, value: Decimal | int) -> str | int:
    """A metric's value as JSON writes it: money as `money()`, counts as integers."""
    return money(value) if METRICS[key].kind == "money" else int(value)


# Reference rates skip weekends and holidays; older than a long weekend means rates are stale.
STALE_RATE_DAYS = 4


def conversion_note(foreign: list[str], currency: str) -> str:
    """What a reader of converted totals needs to know (the API's notes and the Overview say it)."""
    return f"{', '.join(foreign)} converted to {currency} at each order day's rate"


def stale_rate_note(rate_age_days: int) -> str | None:
    """A warning when some amounts were converted at a rate older than STALE_RATE_DAYS."""
    if rate_age_days <= STALE_RATE_DAYS:
        return None
    return f"some amounts use an exchange rate {rate_age_days} days old: add newer rates"
