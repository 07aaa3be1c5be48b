"""The live state of one simulated channel: the business's history up to the simulator clock,
orders that keep arriving, and changes made on demand (refunds, cancellations, edits).

Orders are indexed by every moment they change, so "what changed since t, oldest change
first" is answered by walking that index from t instead of scanning every order: the same
question the platforms' updated_at filters and a sync cursor ask.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from records import Order
from simulators.business import Business, SimOrder, SimRefund, SimRefundLine, full_refund, refund_line
from simulators.catalog import SHOPIFY

Clock = Callable[[], datetime]
# Ids of orders made after generation: base + the arrival time in milliseconds, far above every
# generated id (< 3e9), so a restarted simulator never reuses one.
LIVE_ID_BASE = {"shopify": 10**13, "bestbuy": 2 * 10**13}
ON_DEMAND_ID_BASE = {"shopify": 3 * 10**13, "bestbuy": 4 * 10**13}


def system_clock() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


class ChannelStore:
    """One channel of the business as the platform sees it at the clock's current time.

    `history_days` of generated history end today; with `live_interval` seconds set, one more
    order arrives every interval after the store is created. Thread-safe.
    """

    def __init__(
        self,
        business: Business,
        channel: str,
        *,
        history_days: int = 730,
        clock: Clock = system_clock,
        live_interval: float | None = None,
        on_change: Callable[[SimOrder], None] | None = None,
    ) -> None:
        self.business, self.channel, self.clock = business, channel, clock
        self.live_interval = live_interval
        self.on_change = on_change
        self._lock = threading.RLock()
        self._orders: dict[int, SimOrder] = {}
        self._times: dict[int, tuple[datetime, ...]] = {}  # each order's change moments, sorted
        self._index: list[tuple[datetime, int]] = []  # (moment, order id) for every change
        self._created: list[tuple[datetime, int]] = []  # (created_at, order id), sorted
        self.started_at = clock()
        today = self.started_at.astimezone(business.tz).date()
        self._next_day = today - timedelta(days=history_days - 1)
        self._live_made = 0
        self._on_demand_made = 0
        self.advance()

    # --- time ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def advance(self) -> datetime:
        """Bring the store up to the clock: new days of history, live orders. Returns now."""
        now = self.clock()
        with self._lock:
            today = now.astimezone(self.business.tz).date()
            while self._next_day <= today:
                for order in self.business.orders_on(self.channel, self._next_day):
                    self._add(order)
                self._next_day += timedelta(days=1)
            if self.live_interval:
                while self.started_at + timedelta(seconds=(self._live_made + 1) * self.live_interval) <= now:
                    self._live_made += 1
                    created = self.started_at + timedelta(seconds=self._live_made * self.live_interval)
                    self._add(
                        self.business.make_order(
                            self.channel,
                            LIVE_ID_BASE[self.channel] + int(created.timestamp() * 1000),
                            created,
                            f"live:{created.isoformat()}",
                        )
                    )
        return now

    @property
    def first_day(self) -> date:
        with self._lock:
            return min(self._created)[0].astimezone(self.business.tz).date() if self._created else self._next_day

    # --- reads ---------------------------------------------------------------------------

    def get(self, order_id: int) -> SimOrder | None:
        with self._lock:
            return self._orders.get(order_id)

    def updated_at(self, order_id: int, as_of: datetime) -> datetime | None:
        """The order's updated_at as seen at `as_of` (None if it did not exist yet)."""
        times = self._times[order_id]
        i = bisect.bisect_right(times, as_of)
        return times[i - 1] if i else None

    def iter_updated(
        self, as_of: datetime, since: datetime | None = None, after: tuple[datetime, int] | None = None
    ) -> Iterator[tuple[datetime, SimOrder]]:
        """Orders visible at `as_of`, ascending by (updated_at, id): those with updated_at at or
        after `since`, and strictly after the (updated_at, id) key `after` (a page cursor)."""
        with self._lock:
            index = list(self._index)  # a snapshot: changes made while a caller pages are not mixed in
        start = 0
        if since is not None:
            start = bisect.bisect_left(index, (since, -1))
        if after is not None:
            start = max(start, bisect.bisect_right(index, after))
        for moment, order_id in index[start:]:
            if moment > as_of:
                break
            if self.updated_at(order_id, as_of) == moment:
                yield moment, self._orders[order_id]

    def by_created(self, as_of: datetime) -> list[SimOrder]:
        """Every order placed by `as_of`, oldest first (ties by id)."""
        with self._lock:
            end = bisect.bisect_right(self._created, (as_of, float("inf")))
            return [self._orders[oid] for _, oid in self._created[:end]]

    def records(self, as_of: datetime | None = None) -> list[Order]:
        """What a correct sync must hold: every order visible at `as_of` as a normalized record."""
        as_of = as_of or self.now()
        return [o.to_record(as_of) for o in self.by_created(as_of)]

    # --- changes on demand ---------------------------------------------------------------

    def create_order(self) -> SimOrder:
        now = self.advance()
        with self._lock:
            self._on_demand_made += 1
            order = self.business.make_order(
                self.channel,
                ON_DEMAND_ID_BASE[self.channel] + int(now.timestamp()) * 1000 + self._on_demand_made % 1000,
                now,
                f"on-demand:{self.started_at.isoformat()}:{self._on_demand_made}",
            )
            # An order made on demand should be seen at once: no scheduled future for it.
            order = replace(
                order,
                fulfilled_at=None,
                delivered_at=None,
                edited_at=(),
                refunds=(),
                cancelled_at=None,
                accepted_at=now if order.channel != SHOPIFY else None,
            )
            self._add(order)
        return self._changed(order)

    def place(self, order: SimOrder) -> SimOrder:
        """Add an order made elsewhere (a test's, with the lines and refunds it needs) as it is."""
        self.advance()
        with self._lock:
            if order.order_id in self._orders:
                raise ValueError(f"order {order.order_id} exists already")
            self._add(order)
        return self._changed(order)

    def refund(self, order_id: int, line_id: int | None = None, quantity: int | None = None) -> SimOrder:
        """Refund one line (all or `quantity` of it) or, with no line, everything not yet refunded."""
        now = self.advance()
        with self._lock:
            order = self._require(order_id, now)
            seq = self._next_refund_seq(order)
            if line_id is None:
                refund = full_refund(order, seq, now, "refund", "refund on demand", refund_shipping=True)
                refund = replace(refund, lines=self._unrefunded(order, refund.lines, now))
            else:
                line = next((li for li in order.lines if li.line_id == line_id), None)
                if line is None:
                    raise KeyError(f"order {order_id} has no line {line_id}")
                left = line.quantity - self._refunded_quantity(order, line_id, now)
                qty = left if quantity is None else quantity
                if not 1 <= qty <= left:
                    raise ValueError(f"line {line_id} has {left} unit(s) left to refund, not {qty}")
                refund = SimRefund(order.order_id * 10 + seq, now, "refund", (refund_line(line, qty),))
            if not refund.lines:
                raise ValueError(f"order {order_id} has nothing left to refund")
            order = self._future_dropped(order, now, refunds=(*order.refunds_as_of(now), refund))
            self._add(order)
        return self._changed(order)

    def cancel(self, order_id: int) -> SimOrder:
        """Cancel the order now, returning everything not already refunded."""
        now = self.advance()
        with self._lock:
            order = self._require(order_id, now)
            if order.happened(order.cancelled_at, now):
                raise ValueError(f"order {order_id} is already cancelled")
            refund = full_refund(order, self._next_refund_seq(order), now, "cancellation", "cancelled on demand")
            lines = self._unrefunded(order, refund.lines, now)
            refunds = order.refunds_as_of(now) + ((replace(refund, lines=lines),) if lines else ())
            order = self._future_dropped(
                order, now, refunds=refunds, cancelled_at=now, fulfilled_at=None, delivered_at=None
            )
            self._add(order)
        return self._changed(order)

    def edit(self, order_id: int) -> SimOrder:
        """Touch the order (a note or tag change): updated_at moves, the money does not."""
        now = self.advance()
        with self._lock:
            order = self._require(order_id, now)
            order = replace(order, edited_at=tuple(sorted((*order.edited_at, now))))
            self._add(order)
        return self._changed(order)

    # --- internals -----------------------------------------------------------------------

    def _add(self, order: SimOrder) -> None:
        known = order.order_id in self._orders
        self._orders[order.order_id] = order
        times = order.event_times()
        old = set(self._times.get(order.order_id, ()))
        self._times[order.order_id] = times
        for moment in set(times) - old:  # one entry per moment, even when two events share it
            bisect.insort(self._index, (moment, order.order_id))
        if not known:
            bisect.insort(self._created, (order.created_at, order.order_id))

    def _changed(self, order: SimOrder) -> SimOrder:
        if self.on_change:
            self.on_change(order)
        return order

    def _require(self, order_id: int, now: datetime) -> SimOrder:
        order = self._orders.get(order_id)
        if order is None or order.created_at > now:
            raise KeyError(f"no order {order_id}")
        return order

    @staticmethod
    def _next_refund_seq(order: SimOrder) -> int:
        """Refund ids are order id x 10 + 1..9, so an order takes at most nine refunds."""
        seq = len(order.refunds) + 1
        if seq > 9:
            raise ValueError(f"order {order.order_id} already has nine refunds")
        return seq

    def _refunded_quantity(self, order: SimOrder, line_id: int, now: datetime) -> int:
        return sum(rl.quantity for r in order.refunds_as_of(now) for rl in r.lines if rl.line_id == line_id)

    def _unrefunded(
        self, order: SimOrder, lines: tuple[SimRefundLine, ...], now: datetime
    ) -> tuple[SimRefundLine, ...]:
        left = []
        for rl in lines:
            line = next(li for li in order.lines if li.line_id == rl.line_id)
            qty = line.quantity - self._refunded_quantity(order, rl.line_id, now)
            if qty > 0:
                left.append(refund_line(line, qty))
        return tuple(left)

    @staticmethod
    def _future_dropped(order: SimOrder, now: datetime, **changes) -> SimOrder:
        """A change made now replaces whatever the generator had planned for later."""

        def past(moment: datetime | None) -> datetime | None:
            return moment if moment is not None and moment <= now else None

        planned = {
            "fulfilled_at": past(order.fulfilled_at),
            "delivered_at": past(order.delivered_at),
            "edited_at": tuple(t for t in order.edited_at if t <= now),
        }
        planned.update(changes)
        return replace(order, **planned)
