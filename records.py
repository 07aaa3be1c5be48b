"""The normalized records every layer speaks: orders with their lines and refunds, products,
the days of a platform's own report, and the money constants. Connectors make them from platform
JSON, the simulators from their synthetic business, `db/` stores and reads them; none of those
needs another's package for its vocabulary.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
RETURNS_ONLY = "returns_only"


@dataclass(frozen=True, slots=True)
class LineItem:
    """One order line, in the order's currency. `discount` is the whole discount on the line,
    including its share of order-level discounts; `tax` is the tax charged on the line."""

    external_id: str
    sku: str | None
    title: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    product_external_id: str | None = None
    is_gift_card: bool = False

    @property
    def gross_sales(self) -> Decimal:
        """Price x quantity before discounts; gift cards are not sales (Shopify's definition)."""
        return ZERO if self.is_gift_card else self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class RefundLine:
    """Goods returned from one line: `amount` is their value after discounts, before tax.
    `sku` and `title` name the product when the line item may not exist (a CSV cancellation
    invoice); left None, the product is the line item's."""

    line_item_external_id: str
    quantity: int
    amount: Decimal
    sku: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund or a cancellation, booked on its own day (`processed_at`)."""

    external_id: str
    processed_at: datetime
    kind: str  # "refund" | "cancellation"
    returns: Decimal  # value of goods returned, after discounts, before tax
    shipping: Decimal = ZERO  # shipping refunded
    tax: Decimal = ZERO  # tax refunded (goods and shipping)
    lines: tuple[RefundLine, ...] = ()

    @property
    def total(self) -> Decimal:
        return self.returns + self.shipping + self.tax


@dataclass(frozen=True, slots=True)
class Order:
    """A platform order with its lines and refunds. Amounts are in `currency`, the store's own
    currency (Shopify's shopMoney, Mirakl's currency_iso_code). Timestamps are aware UTC."""

    external_id: str
    name: str
    currency: str
    created_at: datetime
    processed_at: datetime
    updated_at: datetime
    status: str  # the platform's own status, kept for display and debugging
    shipping: Decimal  # shipping charged, after shipping discounts
    tax: Decimal  # all tax charged (lines and shipping)
    line_items: tuple[LineItem, ...]
    refunds: tuple[Refund, ...] = ()
    cancelled_at: datetime | None = None
    # Why the order is not a sale at all: "test", "voided", "not_accepted"; None = it counts.
    # RETURNS_ONLY marks a record that only carries returns (goods back with no sale in the
    # data, e.g. a CSV export's cancellation invoice): no sale, but its returns count.
    excluded_reason: str | None = None
    fees: Decimal = ZERO  # marketplace commission, kept apart from sales

    @property
    def gross_sales(self) -> Decimal:
        return sum((li.gross_sales for li in self.line_items), ZERO)

    @property
    def discounts(self) -> Decimal:
        return sum((li.discount for li in self.line_items if not li.is_gift_card), ZERO)

    @property
    def units(self) -> int:
        return sum(li.quantity for li in self.line_items if not li.is_gift_card)


@dataclass(frozen=True, slots=True)
class Product:
    """A sellable item (a Shopify variant, a Mirakl offer). `sku` joins channels together."""

    external_id: str
    title: str
    sku: str | None
    currency: str
    price: Decimal | None = None
    status: str = "ACTIVE"
    updated_at: datetime | None = None
    product_type: str | None = None


@dataclass(frozen=True, slots=True)
class ReportDay:
    """One day of a platform's own sales report, to reconcile ours against: on the report's
    calendar (`timezone`) and in its currency, with our sign conventions (discounts and returns
    are positive amounts that net sales subtracts), and net and total sales as the report shows them."""

    day: date
    timezone: str
    currency: str
    orders: int = 0
    gross_sales: Decimal = ZERO
    discounts: Decimal = ZERO
    returns: Decimal = ZERO
    net_sales: Decimal = ZERO
    shipping: Decimal = ZERO
    taxes: Decimal = ZERO
    total_sales: Decimal = ZERO


def every_day(days: Iterable[ReportDay], start: date, end: date, timezone: str, currency: str) -> list[ReportDay]:
    """The report's days start..end in order; a day the report does not list sold nothing."""
    listed = {d.day: d for d in days}
    span = range((end - start).days + 1)
    return [listed.get(day) or ReportDay(day, timezone, currency) for day in (start + timedelta(n) for n in span)]


class ValidationError(ValueError):
    """Bad input to an operation, naming the field it came from: the API answers it with a 400
    and a page shows it inline beside that field. Every operation in db/ and jobs/ raises this
    one type for input a person can correct."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


class MissingValue(ValidationError):
    """A required input was not given at all."""


_collector_lock = threading.Lock()
_collector_pauses = 0  # how many callers, in any thread, have the collector paused now
_collector_was_enabled = False


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a shop's orders are read, made records and written
    (or, in the simulator, rendered): all that stays alive for a while and makes no cycle (a
    100k-order backfill leaves ~2,400 cyclic objects in all), so each collector pass, which
    rescans every live object of the process, is wasted; the passes were a fifth of a
    backfill's time. The collector is a process-wide switch: pauses from several threads nest,
    and it resumes when the last one ends."""
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()
