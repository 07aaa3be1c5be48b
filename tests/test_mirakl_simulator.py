"""The Mirakl simulator on the wire: auth, OR11 paging and filters, the call-frequency limiter,
and orders rendered the Mirakl way with exact CAD amounts."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulators.business import Business
from simulators.mirakl import UPDATE_DATE_DELTA, build_mirakl
from simulators.store import ManualClock
from tests.conftest import FakeSeconds

KEY = "5266f9e2-sim-key"
START = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)
INTERVAL = 0.02  # OR11 call spacing the simulator asks for in these tests
MONEY_KEYS = {
    "price",
    "shipping_price",
    "total_price",
    "total_commission",
    "origin_unit_price",
    "price_unit",
    "commission_fee",
    "amount",
    "shipping_amount",
    "commission_amount",
    "deduced_amount",
    "total_deduced_amount",
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def server(clock):
    with build_mirakl(Business(), api_key=KEY, clock=clock, history_days=20, min_interval_seconds=INTERVAL) as server:
        yield server


@pytest.fixture
def store(server):
    return server.simulator.store


@pytest.fixture
def get(server):
    """GET with the shop key, spaced like a client that respects the call frequency."""
    session = requests.Session()
    session.headers["Authorization"] = KEY

    def get(path: str, **params) -> requests.Response:
        time.sleep(INTERVAL)
        return session.get(server.url + path, params=params, timeout=10)

    return get


def order_ids(response: requests.Response) -> list[str]:
    return [order["order_id"] for order in response.json()["orders"]]


def decimal_body(response: requests.Response) -> dict:
    """The body with amounts as Decimal, as a careful client reads it."""
    return json.loads(response.text, parse_float=Decimal)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_the_key_goes_raw_in_the_authorization_header(server, get):
    for headers in ({}, {"Authorization": f"Bearer {KEY}"}, {"Authorization": "wrong"}):
        for path in ("/api/orders", "/api/offers", "/api/account"):
            response = requests.get(server.url + path, headers=headers, timeout=10)
            assert response.status_code == 401
            assert response.json() == {"status": 401, "message": "Unauthorized: missing or invalid API key"}
    assert get("/api/orders").status_code == 200
    assert requests.get(server.url + "/api/version", timeout=10).status_code == 200


def test_another_shop_id_is_forbidden(get):
    assert get("/api/account", shop_id="2001").status_code == 200
    assert get("/api/account", shop_id="9999").status_code == 403


def test_page_size_defaults_to_10_and_is_capped_at_100(get, store, clock):
    total = len(store.by_created(clock()))
    assert total > 100
    default = get("/api/orders").json()
    assert (len(default["orders"]), default["total_count"]) == (10, total)
    assert len(order_ids(get("/api/orders", max=100))) == 100
    refused = get("/api/orders", max=101)
    assert refused.status_code == 400
    assert refused.json()["status"] == 400
    assert get("/api/orders", max=0).status_code == 400
    assert get("/api/orders", offset="x").status_code == 400


def test_offset_paging_walks_every_order_once_in_creation_order(get, store, clock):
    expected = [o.external_id for o in store.by_created(clock())]
    walked, offset = [], 0
    while True:
        response = get("/api/orders", max=37, offset=offset)
        assert response.json()["total_count"] == len(expected)
        walked += order_ids(response)
        offset += 37
        if offset >= len(expected):
            assert 'rel="next"' not in response.headers.get("Link", "")
            break
        next_url = re.search(r'<([^>]+)>; rel="next"', response.headers["Link"]).group(1)
        assert parse_qs(urlsplit(next_url).query)["offset"] == [str(offset)]
    assert walked == expected
    assert order_ids(get("/api/orders", paginate="false")) == expected
    assert order_ids(get("/api/orders", paginate="false", order="desc")) == expected[::-1]


def test_update_window_is_inclusive_and_widened_by_the_mirakl_delta(get, store, clock):
    early, late = store.by_created(clock())[:2]
    edited_at = clock.advance(hours=1)
    store.edit(early.order_id)
    since = clock.advance(minutes=1)  # less than the delta after the first edit
    store.edit(late.order_id)
    now = clock()

    newer = order_ids(get("/api/orders", start_update_date=iso(since), paginate="false"))
    assert newer == [o.external_id for o in store.by_created(now) if o.updated_at(now) >= since - UPDATE_DATE_DELTA]
    assert early.external_id in newer
    bounded = order_ids(get("/api/orders", start_update_date=iso(edited_at), end_update_date=iso(edited_at)))
    assert early.external_id in bounded
    assert late.external_id not in bounded
    assert get("/api/orders", start_update_date="yesterday").status_code == 400


def test_filters_by_creation_date_state_and_id(get, store, clock):
    now = clock()
    orders = store.by_created(now)
    day_start, day_end = orders[50].created_at, orders[50].created_at + timedelta(days=1)
    created = get("/api/orders", start_date=iso(day_start), end_date=iso(day_end), paginate="false")
    assert order_ids(created) == [o.external_id for o in orders if day_start <= o.created_at <= day_end]

    states = get("/api/orders", order_state_codes="REFUSED,WAITING_ACCEPTANCE", paginate="false").json()["orders"]
    assert {o["order_state"] for o in states} == {"REFUSED", "WAITING_ACCEPTANCE"}
    assert len(states) == sum(o.status(now) in ("REFUSED", "WAITING_ACCEPTANCE") for o in orders)

    wanted = [orders[3].external_id, orders[7].external_id]
    assert order_ids(get("/api/orders", order_ids=",".join(wanted))) == wanted
    too_many = ",".join(f"{n}-A" for n in range(101))
    assert get("/api/orders", order_ids=too_many).status_code == 400


def test_or11_calls_closer_than_the_interval_get_429_with_retry_after(clock):
    """The limiter's clock is the test's: between two calls only the time it advances passes."""
    seconds = FakeSeconds()
    with build_mirakl(
        Business(), api_key=KEY, clock=clock, history_days=2, min_interval_seconds=0.5, limiter_seconds=seconds
    ) as server:
        headers = {"Authorization": KEY}

        def orders() -> requests.Response:
            return requests.get(server.url + "/api/orders", headers=headers, timeout=10)

        assert orders().status_code == 200
        limited = orders()
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert limited.json()["status"] == 429
        assert requests.get(server.url + "/api/account", headers=headers, timeout=10).status_code == 200
        seconds.advance(0.49)
        assert orders().status_code == 429  # a refused call does not restart the interval...
        seconds.advance(0.01)
        assert orders().status_code == 200  # ...which ends 0.5 s after the last answered one


def test_the_rate_limit_fault_answers_like_the_limiter(server, get):
    server.faults.configure({"queue": ["rate_limit"]})
    limited = get("/api/account")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert get("/api/account").status_code == 200


def test_orders_carry_exact_cad_amounts_that_add_up(get, store, clock):
    response = get("/api/orders", paginate="false")
    for key, value in re.findall(r'"(\w+)":(-?[0-9][0-9.eE+-]*)', response.text):
        if key in MONEY_KEYS:
            assert re.fullmatch(r"-?\d+\.\d\d", value), (key, value)

    for raw in decimal_body(response)["orders"]:
        order = store.get(int(raw["commercial_id"]))
        lines = raw["order_lines"]
        assert raw["currency_iso_code"] == "CAD"
        assert raw["order_tax_mode"] == "TAX_EXCLUDED"
        assert raw["price"] == sum(line["price"] for line in lines) == order.subtotal
        assert raw["shipping_price"] == lines[0]["shipping_price"] == order.shipping
        assert all(line["shipping_price"] == 0 and not line["shipping_taxes"] for line in lines[1:])
        assert raw["total_price"] == raw["price"] + raw["shipping_price"]
        assert raw["total_commission"] == sum(line["total_commission"] for line in lines) == order.commission
        taxes = [t["amount"] for line in lines for t in line["taxes"] + line["shipping_taxes"]]
        assert sum(taxes) == order.tax
        for line in lines:
            deduced = sum((p["deduced_amount"] for p in line["promotions"]), Decimal(0))
            assert line["price"] == line["origin_unit_price"] * line["quantity"] - deduced
            assert line["offer_sku"].startswith("NW-")


def test_refunds_and_cancellations_are_entries_of_their_lines(get, store, clock):
    now = clock()
    delivered = next(o for o in store.by_created(now) if o.status(now) == "RECEIVED" and len(o.lines) > 1)
    shipping = next(o for o in store.by_created(now) if o.status(now) == "SHIPPING" and o.shipping)
    refunded_at = clock.advance(hours=2)
    store.refund(delivered.order_id, delivered.lines[1].line_id, 1)
    cancelled_at = clock.advance(hours=1)
    store.cancel(shipping.order_id)

    ids = f"{delivered.external_id},{shipping.external_id}"
    refunded, cancelled = decimal_body(get("/api/orders", order_ids=ids))["orders"]
    assert refunded["last_updated_date"] == iso(refunded_at)
    assert refunded["order_lines"][0]["refunds"] == []
    (entry,) = refunded["order_lines"][1]["refunds"]
    assert (entry["quantity"], entry["refund_state"], entry["created_date"]) == (1, "REFUNDED", iso(refunded_at))
    refund = store.get(delivered.order_id).refunds[-1]
    assert entry["id"] == delivered.mirakl_refund_id(refund, refund.lines[0])

    assert cancelled["order_state"] == "CANCELED"
    first, *others = cancelled["order_lines"]
    assert [len(line["cancelations"]) for line in cancelled["order_lines"]] == [1] * len(shipping.lines)
    assert first["cancelations"][0]["shipping_amount"] == shipping.shipping
    assert all(line["cancelations"][0]["shipping_amount"] == 0 for line in others)
    assert {line["cancelations"][0]["created_date"] for line in cancelled["order_lines"]} == {iso(cancelled_at)}


def test_offers_account_and_version(get, server):
    offers = get("/api/offers", max=100).json()
    assert offers["total_count"] == len(offers["offers"]) == len(Business().products("bestbuy"))
    assert {o["currency_iso_code"] for o in offers["offers"]} == {"CAD"}
    assert len(get("/api/offers").json()["offers"]) == 10
    assert get("/api/offers", max=101).status_code == 400
    account = get("/api/account").json()
    assert (account["shop_id"], account["shop_state"], account["currency_iso_code"]) == (2001, "OPEN", "CAD")
    assert get("/api/version").json()["version"]


def test_admin_endpoints_describe_orders_in_mirakl_terms(server, store, clock):
    order = store.by_created(clock())[0]
    response = requests.post(f"{server.url}/_sim/orders/{order.order_id}/edit", json={}, timeout=10)
    assert response.status_code == 200
    described = response.json()
    assert (described["order_id"], described["last_updated_date"]) == (order.external_id, iso(clock()))
    assert [line["line_id"] for line in described["lines"]] == [line.line_id for line in order.lines]
    assert requests.post(f"{server.url}/_sim/orders/1/edit", json={}, timeout=10).status_code == 404
