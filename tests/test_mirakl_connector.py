"""The Mirakl connector against the simulator over real HTTP: what it fetches must equal the
business's own records at the simulator clock, whatever the network does."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import AuthError
from connectors.mirakl import PAGE_SIZE, MiraklConnector, order_record
from records import LineItem, Order, Refund, RefundLine
from simulators.business import Business
from simulators.mirakl import UPDATE_DATE_DELTA, build_mirakl
from simulators.store import ManualClock
from tests.sims import DEV_NETWORK

KEY = "5266f9e2-connector-key"
START = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)
HISTORY_DAYS = 30
BACKFILL_START = "2025-02-12T00:00:00+00:00"  # a day before the simulated history begins
INTERVAL = 0.05
FIXTURES = Path(__file__).parent / "fixtures" / "mirakl"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def server(clock):
    with build_mirakl(
        Business(), api_key=KEY, clock=clock, history_days=HISTORY_DAYS, min_interval_seconds=INTERVAL
    ) as server:
        yield server


@pytest.fixture
def store(server):
    return server.simulator.store


def connect(server, clock, key: str = KEY, read_timeout: float = 5.0, **config) -> MiraklConnector:
    settings = {
        "base_url": server.url,
        "backfill_start": BACKFILL_START,
        "window_days": 7,
        "min_interval_seconds": INTERVAL,
        **config,
    }
    return MiraklConnector(settings, {"api_key": key}, network=DEV_NETWORK, clock=clock, timeout=(2.0, read_timeout))


def fetch(connector: MiraklConnector, since: datetime | None = None) -> list[Order]:
    return [order for page in connector.fetch_orders(since) for order in page]


def by_id(orders: list[Order]) -> list[Order]:
    return sorted(orders, key=lambda order: order.external_id)


def truth(store, clock) -> list[Order]:
    return by_id(store.records(clock()))


def amounts(order: Order) -> list:
    values = [order.shipping, order.tax, order.fees]
    values += [v for li in order.line_items for v in (li.unit_price, li.discount, li.tax)]
    return values + [v for r in order.refunds for v in (r.returns, r.shipping, r.tax)]


def test_check_reads_the_shop_account(server, clock):
    account = connect(server, clock).check()
    assert (account.name, account.currency) == ("Northwind Audio CA", "CAD")
    assert account.extra["shop_id"] == "2001"


def test_a_refused_key_raises_auth_error_and_yields_nothing(server, clock):
    connector = connect(server, clock, key="not-the-key")
    with pytest.raises(AuthError):
        connector.check()
    pages = []
    with pytest.raises(AuthError):
        pages.extend(connector.fetch_orders(None))
    assert pages == []
    with pytest.raises(AuthError):
        connect(server, clock, shop_id="9999").check()


def test_full_fetch_equals_the_truth(server, store, clock):
    pages = list(connect(server, clock).fetch_orders(None))
    orders = [order for page in pages for order in page]
    assert by_id(orders) == truth(store, clock)  # nothing lost, nothing doubled
    assert all(0 < len(page) <= PAGE_SIZE for page in pages)
    assert [o.updated_at for o in orders] == sorted(o.updated_at for o in orders)
    assert {o.excluded_reason for o in orders} == {None, "not_accepted"}
    assert {o.currency for o in orders} == {"CAD"}
    assert all(type(value) is Decimal for order in orders for value in amounts(order))


def test_incremental_fetch_picks_up_exactly_the_changed_orders(server, store, clock):
    connector = connect(server, clock)
    fetch(connector)
    since = clock()
    now = clock.advance(minutes=30)
    orders = store.by_created(now)
    delivered = next(o for o in orders if o.status(now) == "RECEIVED" and not o.refunds_as_of(now))
    shipping = next(o for o in orders if o.status(now) == "SHIPPING")
    store.refund(delivered.order_id)
    store.cancel(shipping.order_id)
    store.edit(orders[0].order_id)
    created = store.create_order()
    now = clock()

    changed = fetch(connector, since)
    expected = {o.external_id for _, o in store.iter_updated(now, since - UPDATE_DATE_DELTA)}
    assert {o.external_id for o in changed} == expected
    assert {delivered.external_id, shipping.external_id, orders[0].external_id, created.external_id} <= expected
    records = {o.external_id: o for o in store.records(now)}
    assert all(order == records[order.external_id] for order in changed)


def test_refunds_and_cancellations_are_booked_on_their_own_dates(server, store, clock):
    now = clock()
    delivered = next(o for o in store.by_created(now) if o.status(now) == "RECEIVED" and not o.refunds_as_of(now))
    shipping = next(o for o in store.by_created(now) if o.status(now) == "SHIPPING" and o.shipping)
    refunded_at = clock.advance(hours=3)
    store.refund(delivered.order_id, delivered.lines[0].line_id, 1)
    cancelled_at = clock.advance(hours=3)
    store.cancel(shipping.order_id)

    fetched = {o.external_id: o for o in fetch(connect(server, clock), refunded_at)}
    refunded, cancelled = fetched[delivered.external_id], fetched[shipping.external_id]
    assert [(r.kind, r.processed_at) for r in refunded.refunds] == [("refund", refunded_at)]
    assert refunded.refunds[0].lines[0].line_item_external_id == refunded.line_items[0].external_id
    assert refunded.created_at < refunded_at

    assert (cancelled.status, cancelled.cancelled_at, cancelled.excluded_reason) == ("CANCELED", cancelled_at, None)
    assert {(r.kind, r.processed_at) for r in cancelled.refunds} == {("cancellation", cancelled_at)}
    assert sum(r.returns for r in cancelled.refunds) == cancelled.gross_sales - cancelled.discounts
    assert sum(r.shipping for r in cancelled.refunds) == cancelled.shipping
    assert sum(r.tax for r in cancelled.refunds) == cancelled.tax
    records = {o.external_id: o for o in store.records(clock())}
    assert (refunded, cancelled) == (records[refunded.external_id], records[cancelled.external_id])


def test_cancelling_an_order_with_nothing_left_to_cancel_still_dates_it(server, store, clock):
    now = clock()
    order = next(o for o in store.by_created(now) if o.status(now) == "RECEIVED" and not o.refunds_as_of(now))
    clock.advance(hours=1)
    store.refund(order.order_id)
    cancelled_at = clock.advance(hours=1)
    store.cancel(order.order_id)

    (record,) = [o for o in fetch(connect(server, clock), cancelled_at) if o.external_id == order.external_id]
    assert (record.status, record.cancelled_at) == ("CANCELED", cancelled_at)
    assert {r.kind for r in record.refunds} == {"refund"}
    assert record == next(o for o in store.records(clock()) if o.external_id == order.external_id)


def test_a_window_is_read_again_when_orders_leave_it_while_it_is_paged(server, store, clock, caplog):
    """OR11 sorts by creation date: an order updated out of the window shifts the later pages
    left by one, and the first order of the next page would never be seen."""
    connector = connect(server, clock, window_days=15)
    start, now = datetime.fromisoformat(BACKFILL_START), clock()
    end = start + timedelta(days=15)
    window = [o for o in store.by_created(now) if start - UPDATE_DATE_DELTA <= o.updated_at(now) <= end]
    assert len(window) > PAGE_SIZE
    edited = []

    def edit_first_order_once(response, *args, **kwargs):
        if not edited:
            edited.append(store.edit(window[0].order_id))

    connector.http.session.hooks["response"].append(edit_first_order_once)
    with caplog.at_level(logging.WARNING, logger="connectors.mirakl"):
        orders = fetch(connector)
    assert "shifted" in caplog.text
    assert by_id(orders) == truth(store, clock)


@pytest.mark.parametrize("fault", ["rate_limit", "error", "slow", "timeout", "drop", "malformed"])
def test_every_fault_is_ridden_out(server, store, clock, fault):
    server.faults.configure({"queue": [fault, fault], "slow_seconds": 0.2, "timeout_seconds": 1.0})
    orders = fetch(connect(server, clock, read_timeout=0.5))
    assert by_id(orders) == truth(store, clock)
    assert server.faults.state()["served"] == {fault: 2}


def test_a_mix_of_faults_at_rates_loses_and_doubles_nothing(server, store, clock):
    rates = {"error": 0.08, "drop": 0.05, "malformed": 0.05, "slow": 0.05, "timeout": 0.03, "rate_limit": 0.03}
    server.faults.configure({"rates": rates, "slow_seconds": 0.2, "timeout_seconds": 1.0})
    connector = connect(server, clock, read_timeout=0.5)
    orders = fetch(connector)
    products = [product for page in connector.fetch_products() for product in page]
    assert by_id(orders) == truth(store, clock)
    assert products == list(Business().products("bestbuy"))
    assert sum(server.faults.state()["served"].values()) >= 2


def test_or11_calls_are_spaced_so_the_limiter_never_answers_429(clock, caplog):
    with build_mirakl(Business(), api_key=KEY, clock=clock, history_days=4, min_interval_seconds=0.2) as server:
        connector = connect(server, clock, window_days=1, min_interval_seconds=0.2)
        with caplog.at_level(logging.WARNING, logger="connectors.base"):
            orders = fetch(connector, clock() - timedelta(days=3))
        assert "rate limited" not in caplog.text
        records = {o.external_id: o for o in server.simulator.store.records(clock())}
        assert orders and all(order == records[order.external_id] for order in orders)


def test_fetch_products_matches_the_catalog(server, clock):
    products = [product for page in connect(server, clock).fetch_products() for product in page]
    assert products == list(Business().products("bestbuy"))


def test_order_record_maps_a_written_or11_sample():
    """A hand-written Best Buy CA page (QC GST+QST, a promotion, a partial refund, an accepted
    then cancelled order, one waiting acceptance), independent of the simulator."""
    raw = json.loads((FIXTURES / "or11_orders.json").read_text(), parse_float=Decimal)["orders"]
    shipped, cancelled, waiting = (order_record(order) for order in raw)
    at = datetime.fromisoformat

    assert shipped == Order(
        external_id="300000001-A",
        name="300000001",
        currency="CAD",
        created_at=at("2025-01-10T14:58:12+00:00"),
        processed_at=at("2025-01-10T14:58:12+00:00"),
        updated_at=at("2025-01-20T10:00:00+00:00"),
        status="RECEIVED",
        shipping=Decimal("5.99"),
        tax=Decimal("17.37"),
        line_items=(
            LineItem(
                "300000001-A-1",
                "SELLER-HP-001",
                "Example Wireless Headphones",
                1,
                Decimal("99.99"),
                Decimal("20.00"),
                Decimal("11.98"),
                "offer-2001",
            ),
            LineItem(
                "300000001-A-2",
                "SELLER-CBL-002",
                "Example USB-C Cable 2m",
                2,
                Decimal("14.99"),
                Decimal("0.00"),
                Decimal("4.49"),
                "offer-2002",
            ),
        ),
        refunds=(
            Refund(
                "refund:5001",
                at("2025-01-20T09:59:58+00:00"),
                "refund",
                Decimal("14.99"),
                Decimal("0"),
                Decimal("2.25"),
                (RefundLine("300000001-A-2", 1, Decimal("14.99")),),
            ),
        ),
        fees=Decimal("12.50"),
    )
    assert shipped.gross_sales - shipped.discounts == Decimal("109.97")  # the order's `price`

    assert (cancelled.status, cancelled.excluded_reason) == ("CANCELED", None)
    assert cancelled.cancelled_at == at("2025-01-12T18:00:00.123+00:00")
    (cancellation,) = cancelled.refunds
    assert (cancellation.external_id, cancellation.kind) == ("cancellation:6001-1", "cancellation")
    assert (cancellation.returns, cancellation.shipping, cancellation.tax) == (
        Decimal("24.99"),
        Decimal("5.99"),
        Decimal("4.03"),
    )

    assert (waiting.excluded_reason, waiting.fees, waiting.tax) == ("not_accepted", Decimal("5.00"), Decimal("2.50"))
