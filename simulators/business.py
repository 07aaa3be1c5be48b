"""A believable, deterministic multi-channel business: the demo company's history and the
ground truth the store simulators serve over the real platform APIs.

Each (channel, day) has its own seeded random stream, so the orders of any day are the same
whatever range is generated and whenever. Every order carries its whole life (acceptance,
fulfilment, edits, refunds, cancellation) with timestamps, some in the future; `as_of(t)`
views show only what has happened by `t`, which is how the simulators "keep the business
alive" as the clock moves.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from records import ZERO, LineItem, Order, Product, Refund, RefundLine
from simulators.catalog import (
    BESTBUY,
    CURRENCY,
    GIFT_CARD,
    SELLABLE,
    SHOPIFY,
    CatalogItem,
    money,
    product_external_id,
    product_record,
)
from simulators.demand import (
    CA_TAX,
    COMMISSION,
    EPOCH,
    HOUR_WEIGHTS,
    US_TAX,
    Promotion,
    expected_orders,
    poisson,
    promotions_on,
)

# --- catalog -------------------------------------------------------------------------------
# --- orders --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimLine:
    line_id: int
    item: CatalogItem
    quantity: int
    unit_price: Decimal  # list price before discounts, channel currency
    discount: Decimal  # the whole discount on the line
    tax: Decimal
    tax_rate: Decimal
    commission: Decimal = ZERO
    is_gift_card: bool = False

    @property
    def net(self) -> Decimal:
        return self.unit_price * self.quantity - self.discount


@dataclass(frozen=True, slots=True)
class SimRefundLine:
    line_id: int
    quantity: int
    amount: Decimal  # goods value after discounts, before tax
    tax: Decimal


@dataclass(frozen=True, slots=True)
class SimRefund:
    refund_id: int
    at: datetime
    kind: str  # "refund" | "cancellation"
    lines: tuple[SimRefundLine, ...]
    shipping: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    reason: str = "customer return"

    @property
    def returns(self) -> Decimal:
        return sum((rl.amount for rl in self.lines), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((rl.tax for rl in self.lines), ZERO) + self.shipping_tax


@dataclass(frozen=True, slots=True)
class SimOrder:
    """One order and its whole life. Times are aware UTC; events after `as_of` have not happened."""

    channel: str
    order_id: int
    created_at: datetime
    lines: tuple[SimLine, ...]
    shipping: Decimal
    shipping_tax: Decimal
    region: str
    discount_code: str | None = None
    test: bool = False
    accepted_at: datetime | None = None  # Best Buy: seller acceptance; None = refused
    fulfilled_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    edited_at: tuple[datetime, ...] = ()
    refunds: tuple[SimRefund, ...] = ()

    @property
    def currency(self) -> str:
        return CURRENCY[self.channel]

    @property
    def refused(self) -> bool:
        return self.channel == BESTBUY and self.accepted_at is None

    @property
    def tax(self) -> Decimal:
        return sum((li.tax for li in self.lines), ZERO) + self.shipping_tax

    @property
    def subtotal(self) -> Decimal:
        return sum((li.net for li in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping + self.tax

    @property
    def commission(self) -> Decimal:
        return sum((li.commission for li in self.lines), ZERO)

    def event_times(self) -> tuple[datetime, ...]:
        """Every moment the order changes on the platform (each moves updated_at)."""
        times = [self.created_at, *self.edited_at, *(r.at for r in self.refunds)]
        times += [t for t in (self.accepted_at, self.fulfilled_at, self.delivered_at, self.cancelled_at) if t]
        if self.refused:
            times.append(self.refusal_at)
        return tuple(sorted(times))

    @property
    def refusal_at(self) -> datetime:
        """Best Buy auto-refuses orders the seller does not accept within a day."""
        return self.created_at + timedelta(hours=24)

    def updated_at(self, as_of: datetime) -> datetime:
        return max(t for t in self.event_times() if t <= as_of)

    def refunds_as_of(self, as_of: datetime) -> tuple[SimRefund, ...]:
        return tuple(r for r in self.refunds if r.at <= as_of)

    def happened(self, moment: datetime | None, as_of: datetime) -> bool:
        return moment is not None and moment <= as_of

    def excluded_reason(self, as_of: datetime) -> str | None:
        if self.test:
            return "test"
        if self.channel == BESTBUY and not self.happened(self.accepted_at, as_of):
            return "not_accepted"
        return None

    # External ids and names, as each platform spells them.
    @property
    def external_id(self) -> str:
        if self.channel == SHOPIFY:
            return f"gid://shopify/Order/{self.order_id}"
        return f"{self.order_id}-A"

    @property
    def name(self) -> str:
        return f"#{self.order_id}" if self.channel == SHOPIFY else str(self.order_id)

    def line_external_id(self, line: SimLine) -> str:
        if self.channel == SHOPIFY:
            return f"gid://shopify/LineItem/{line.line_id}"
        return f"{self.order_id}-A-{line.line_id % 100}"

    def refund_external_id(self, refund: SimRefund) -> str:
        return f"gid://shopify/Refund/{refund.refund_id}"

    def status(self, as_of: datetime) -> str:
        """Shopify's displayFinancialStatus or Mirakl's order_state at `as_of`."""
        refunded = sum((r.returns for r in self.refunds_as_of(as_of)), ZERO)
        if self.channel == SHOPIFY:
            if refunded == ZERO:
                return "PAID"
            return "REFUNDED" if refunded >= self.subtotal else "PARTIALLY_REFUNDED"
        if self.happened(self.cancelled_at, as_of):
            return "CANCELED"
        if not self.happened(self.accepted_at, as_of):
            return "REFUSED" if self.refused and as_of >= self.refusal_at else "WAITING_ACCEPTANCE"
        if self.happened(self.delivered_at, as_of):
            return "RECEIVED"
        if self.happened(self.fulfilled_at, as_of):
            return "SHIPPED"
        return "SHIPPING"

    def to_record(self, as_of: datetime) -> Order:
        """The normalized record a correct connector must produce for this order at `as_of`."""
        return Order(
            external_id=self.external_id,
            name=self.name,
            currency=self.currency,
            created_at=self.created_at,
            processed_at=self.created_at,
            updated_at=self.updated_at(as_of),
            status=self.status(as_of),
            shipping=self.shipping,
            tax=self.tax,
            line_items=tuple(
                LineItem(
                    external_id=self.line_external_id(li),
                    sku=li.item.sku,
                    title=li.item.title,
                    quantity=li.quantity,
                    unit_price=li.unit_price,
                    discount=li.discount,
                    tax=li.tax,
                    product_external_id=product_external_id(self.channel, li.item),
                    is_gift_card=li.is_gift_card,
                )
                for li in self.lines
            ),
            refunds=tuple(rec for r in self.refunds_as_of(as_of) for rec in self._refund_records(r)),
            cancelled_at=self.cancelled_at if self.happened(self.cancelled_at, as_of) else None,
            excluded_reason=self.excluded_reason(as_of),
            fees=self.commission if self.channel == BESTBUY else ZERO,
        )

    def _refund_records(self, refund: SimRefund) -> list[Refund]:
        """Shopify refunds cover several lines; Mirakl keeps one refund (or cancelation) per
        line, with the order's shipping on its first line."""
        if self.channel == SHOPIFY:
            lines = tuple(
                RefundLine(self.line_external_id(self._line(rl.line_id)), rl.quantity, rl.amount) for rl in refund.lines
            )
            return [
                Refund(
                    self.refund_external_id(refund),
                    refund.at,
                    refund.kind,
                    refund.returns,
                    refund.shipping,
                    refund.tax,
                    lines,
                )
            ]
        first_line_id = self.lines[0].line_id
        records = []
        for rl in refund.lines:
            on_first = rl.line_id == first_line_id
            shipping = refund.shipping if on_first else ZERO
            tax = rl.tax + (refund.shipping_tax if on_first else ZERO)
            records.append(
                Refund(
                    f"{refund.kind}:{self.mirakl_refund_id(refund, rl)}",
                    refund.at,
                    refund.kind,
                    rl.amount,
                    shipping,
                    tax,
                    (RefundLine(self.line_external_id(self._line(rl.line_id)), rl.quantity, rl.amount),),
                )
            )
        return records

    def mirakl_refund_id(self, refund: SimRefund, line: SimRefundLine) -> str:
        return f"{refund.refund_id}-{line.line_id % 100}"

    def _line(self, line_id: int) -> SimLine:
        return next(li for li in self.lines if li.line_id == line_id)


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` across lines in proportion to `weights`, to the cent, summing exactly."""
    base = sum(weights, ZERO)
    if base == ZERO:
        return [ZERO for _ in weights]
    shares = [money(total * w / base) for w in weights]
    shares[-1] += total - sum(shares, ZERO)
    return shares


# --- the business --------------------------------------------------------------------------


@dataclass(frozen=True)
class Business:
    """The demo company's two channels. `scale` multiplies daily volume; `basket` weights the
    number of lines per order (1, 2, 3, 4 lines)."""

    seed: int = 7
    timezone: str = "America/New_York"
    scale: float = 1.0
    basket: tuple[float, ...] = (0.5, 0.28, 0.14, 0.08)
    catalog: tuple[CatalogItem, ...] = field(default=SELLABLE, repr=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def orders_on(self, channel: str, day: date) -> tuple[SimOrder, ...]:
        """All orders placed on local `day` in `channel`, with their whole future."""
        return _orders_on(self, channel, day)

    def orders_between(self, channel: str, start: date, end: date) -> Iterator[SimOrder]:
        """Orders placed on local days start..end inclusive, in creation order."""
        day = start
        while day <= end:
            yield from self.orders_on(channel, day)
            day += timedelta(days=1)

    def products(self, channel: str) -> tuple[Product, ...]:
        items = self.catalog if channel == SHOPIFY else [i for i in self.catalog if i.on_bestbuy]
        return tuple(product_record(channel, item) for item in items)

    def make_order(self, channel: str, order_id: int, created_at: datetime, seed: str) -> SimOrder:
        """One more order of this business placed at `created_at` (for live and on-demand orders)."""
        rng = random.Random(f"{self.seed}:{channel}:{seed}")
        promos = promotions_on(created_at.astimezone(self.tz).date())
        return _make_order(rng, self, channel, order_id, created_at, promos)


@lru_cache(maxsize=4096)
def _orders_on(business: Business, channel: str, day: date) -> tuple[SimOrder, ...]:
    rng = random.Random(f"{business.seed}:{channel}:{day.isoformat()}")
    count = min(poisson(rng, expected_orders(channel, day, business.scale)), 9999)
    promos = promotions_on(day)
    tz = business.tz
    moments = sorted(_local_moment(rng, day, tz) for _ in range(count))
    day_index = (day - date(2000, 1, 1)).days
    prefix = 1 if channel == SHOPIFY else 2
    orders = []
    for n, created in enumerate(moments):
        order_id = (prefix * 100_000 + day_index) * 10_000 + n
        orders.append(_make_order(rng, business, channel, order_id, created, promos))
    return tuple(orders)


def _local_moment(rng: random.Random, day: date, tz: ZoneInfo) -> datetime:
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tz)
    # Round-trip through UTC so a time inside the spring-forward gap lands on a real instant.
    return local.astimezone(UTC)


def _make_order(
    rng: random.Random,
    business: Business,
    channel: str,
    order_id: int,
    created: datetime,
    promos: tuple[Promotion, ...],
) -> SimOrder:
    items = [i for i in business.catalog if channel == SHOPIFY or i.on_bestbuy]
    weights = [
        i.popularity * (1.5 if any(not p.categories or i.category in p.categories for p in promos) else 1.0)
        for i in items
    ]
    n_lines = rng.choices(range(1, len(business.basket) + 1), weights=business.basket)[0]
    chosen = []
    for item in rng.choices(items, weights=weights, k=n_lines):
        if item not in chosen:
            chosen.append(item)

    if channel == SHOPIFY:
        tax_rate, region = rng.choice(US_TAX)
    else:
        tax_rate, region, _code = rng.choice(CA_TAX)

    # Lines with promotion discounts.
    raw = []
    for item in chosen:
        qty = rng.choices((1, 2, 3), weights=(85, 12, 3) if item.price_usd > 40 else (60, 30, 10))[0]
        price = item.price(channel)
        pct = max((p.percent for p in promos if not p.categories or item.category in p.categories), default=ZERO)
        raw.append([item, qty, price, money(price * qty * pct)])

    # An order-level code on some Shopify orders, spread over the lines by value.
    code = None
    if channel == SHOPIFY and rng.random() < 0.07:
        code = "WELCOME10"
        after = [price * qty - disc for _, qty, price, disc in raw]
        extra = allocate(money(sum(after, ZERO) * Decimal("0.10")), after)
        for row, share in zip(raw, extra, strict=True):
            row[3] += share

    line_base = order_id * 10
    lines = []
    for i, (item, qty, price, disc) in enumerate(raw, start=1):
        net = price * qty - disc
        commission = money(net * Decimal(COMMISSION[item.category])) if channel == BESTBUY else ZERO
        lines.append(SimLine(line_base + i, item, qty, price, disc, money(net * tax_rate), tax_rate, commission))

    # A gift card now and then (Shopify): money in, but not a sale.
    if channel == SHOPIFY and rng.random() < 0.015 and len(lines) < 9:
        value = Decimal(rng.choice(("25.00", "50.00", "100.00")))
        lines.append(SimLine(line_base + len(lines) + 1, GIFT_CARD, 1, value, ZERO, ZERO, ZERO, is_gift_card=True))

    goods = sum((li.net for li in lines if not li.is_gift_card), ZERO)
    if channel == SHOPIFY:
        shipping = ZERO if goods >= 75 or goods == ZERO else Decimal("7.95")
    else:
        shipping = ZERO if goods >= 35 else Decimal("5.99")
    shipping_tax = money(shipping * tax_rate)

    order = SimOrder(
        channel=channel,
        order_id=order_id,
        created_at=created,
        lines=tuple(lines),
        shipping=shipping,
        shipping_tax=shipping_tax,
        region=region,
        discount_code=code,
        test=channel == SHOPIFY and rng.random() < 0.004,
    )
    return _live(rng, order)


def _later(rng: random.Random, start: datetime, low_h: float, high_h: float) -> datetime:
    return start + timedelta(seconds=round(rng.uniform(low_h, high_h) * 3600))


def _live(rng: random.Random, order: SimOrder) -> SimOrder:
    """Give the order its future: acceptance, shipping, edits, refunds or a cancellation."""
    created = order.created_at
    changes: dict = {}
    if order.channel == BESTBUY:
        if rng.random() < 0.04:
            return order  # never accepted: auto-refused after a day
        changes["accepted_at"] = _later(rng, created, 0.05, 3)
    start = changes.get("accepted_at", created)

    roll = rng.random()
    if roll < 0.012:  # cancelled before shipping, everything returned on the cancel day
        cancelled = _later(rng, start, 0.5, 30)
        changes["cancelled_at"] = cancelled
        changes["refunds"] = (full_refund(order, 1, cancelled, "cancellation", "customer cancelled"),)
        return replace(order, **changes)

    changes["fulfilled_at"] = _later(rng, start, 6, 60)
    changes["delivered_at"] = _later(rng, changes["fulfilled_at"], 30, 140)
    if rng.random() < 0.10:
        changes["edited_at"] = (_later(rng, created, 1, 240),)
    if roll > 0.94:  # returned later: the whole order or part of one line
        at = _later(rng, changes["delivered_at"], 12, 24 * 28)
        if rng.random() < (0.6 if order.channel == BESTBUY else 0.45):
            refund = full_refund(order, 1, at, "refund", "customer return", refund_shipping=rng.random() < 0.3)
        else:
            line = rng.choice([li for li in order.lines if not li.is_gift_card] or order.lines)
            qty = rng.randint(1, line.quantity)
            refund = SimRefund(order.order_id * 10 + 1, at, "refund", (refund_line(line, qty),))
        changes["refunds"] = (refund,)
    return replace(order, **changes)


def refund_line(line: SimLine, quantity: int) -> SimRefundLine:
    if quantity == line.quantity:
        return SimRefundLine(line.line_id, quantity, line.net, line.tax)
    share = Decimal(quantity) / Decimal(line.quantity)
    return SimRefundLine(line.line_id, quantity, money(line.net * share), money(line.tax * share))


def full_refund(
    order: SimOrder, seq: int, at: datetime, kind: str, reason: str, refund_shipping: bool = True
) -> SimRefund:
    lines = tuple(refund_line(li, li.quantity) for li in order.lines if not li.is_gift_card)
    return SimRefund(
        refund_id=order.order_id * 10 + seq,
        at=at,
        kind=kind,
        lines=lines,
        shipping=order.shipping if refund_shipping else ZERO,
        shipping_tax=order.shipping_tax if refund_shipping else ZERO,
        reason=reason,
    )


# --- exchange rates ------------------------------------------------------------------------


def cad_usd_rate(day: date) -> Decimal | None:
    """USD per 1 CAD on `day`, published on weekdays only (like the ECB reference rates)."""
    if day.weekday() >= 5:
        return None
    t = (day - EPOCH).days
    rng = random.Random(f"fx:{day.isoformat()}")
    value = 0.735 + 0.018 * math.sin(2 * math.pi * t / 410) + 0.006 * math.sin(2 * math.pi * t / 57)
    return Decimal(str(round(value + rng.uniform(-0.002, 0.002), 6)))
