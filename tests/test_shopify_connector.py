"""The Shopify connector against the simulator over real HTTP: backfill (bulk) and incremental
(cursor) syncs reproduce the business's truth exactly, through every wire fault, and webhooks
map to the same records."""

from __future__ import annotations

import copy
import gc
import json
import logging
import queue
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from operator import attrgetter
from pathlib import Path

import pytest
import requests

from connectors.base import AccountInfo, AuthError, ConnectorError
from connectors.shopify import (
    BULK_ORDERS_QUERY,
    NESTED_PAGE,
    REFUNDS_QUERY,
    RefundParts,
    ShopifyConnector,
    order_from_webhook,
    orders_from_bulk,
    verify_webhook,
)
from connectors.shopify import bulk as shopify_bulk
from connectors.shopify import connector as shopify_connector
from records import RefundLine, cycle_collector_paused
from simulators.business import Business
from simulators.catalog import SHOPIFY
from simulators.server import FaultPlan
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, build_shopify
from simulators.store import ManualClock
from tests.conftest import FakeSeconds, wait_for
from tests.sims import DEV_NETWORK

NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # an incremental sync over everything
FIXTURES = Path(__file__).with_name("fixtures") / "shopify"
SECRET = "webhook-test-secret"
# A client quick to give up and retry: read timeout under the timeout fault's stall.
FAST = {"timeout": (2.0, 0.3), "backoff_base": 0.01, "max_attempts": 8}
FAST_SHOP = {"restore_rate": 100_000.0, "bulk_delay": 0.02}


def shopify(clock=None, business=None, *, history_days=20, faults=None, **options):
    return build_shopify(
        business or Business(scale=0.2),
        history_days=history_days,
        clock=clock or ManualClock(NOW),
        faults=faults or FaultPlan(slow_seconds=0.1, timeout_seconds=0.6),
        **{**FAST_SHOP, **options},
    )


@pytest.fixture
def shop():
    with shopify() as server:
        yield server


def connect(server, token=DEV_ACCESS_TOKEN, api_version=None, **http_options) -> ShopifyConnector:
    secrets = {"access_token": token, "webhook_secret": SECRET}
    config = {"shop_domain": SHOP_DOMAIN, "base_url": server.url, "api_version": api_version}
    return ShopifyConnector(config, secrets, network=DEV_NETWORK, **{**FAST, **http_options})


def fetch(connector: ShopifyConnector, since: datetime | None) -> list:
    """Every order fetched, checking the pages come in ascending updated_at."""
    orders = [order for page in connector.fetch_orders(since) for order in page]
    assert [o.updated_at for o in orders] == sorted(o.updated_at for o in orders)
    return sorted(orders, key=lambda o: o.external_id)


def truth(server, as_of: datetime = NOW, since: datetime | None = None) -> list:
    records = server.simulator.store.records(as_of)
    return sorted((r for r in records if since is None or r.updated_at >= since), key=lambda o: o.external_id)


def admin(server, path: str, **payload) -> dict:
    response = requests.post(f"{server.url}/_sim/{path}", json=payload, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


# --- credentials ---------------------------------------------------------------------------


def test_check_reads_the_shop(shop):
    assert connect(shop).check() == AccountInfo(
        name="Northwind Audio", currency="USD", extra={"timezone": "America/New_York", "domain": SHOP_DOMAIN}
    )


def test_the_shop_domain_is_required():
    with pytest.raises(ConnectorError, match="shop_domain"):
        ShopifyConnector({}, {"access_token": DEV_ACCESS_TOKEN})


def test_a_bad_token_raises_auth_error_and_yields_nothing(shop):
    connector = connect(shop, token="shpat_wrong")
    with pytest.raises(AuthError, match="access token"):
        connector.check()
    for pages in (connector.fetch_orders(None), connector.fetch_orders(NOW - timedelta(days=1))):
        with pytest.raises(AuthError):
            next(pages)
    with pytest.raises(AuthError):
        next(connector.fetch_products())


# --- orders: the truth ---------------------------------------------------------------------


def test_backfill_and_incremental_reproduce_the_truth(shop):
    created = admin(shop, "orders")
    admin(shop, f"orders/{created['id']}/edit")
    some = shop.simulator.store.by_created(NOW)
    refunded = next(o for o in some if len(o.lines) > 1 and not o.refunds)
    admin(shop, f"orders/{refunded.order_id}/refund", line_id=refunded.lines[0].line_id, quantity=1)
    cancelled = next(o for o in some if o.cancelled_at is None and o is not refunded)
    admin(shop, f"orders/{cancelled.order_id}/cancel")
    expected = truth(shop)
    assert any(o.refunds and o.refunds[0].kind == "cancellation" for o in expected)
    assert any(r.kind == "refund" for o in expected for r in o.refunds)
    assert any(li.is_gift_card for o in expected for li in o.line_items)
    assert any(li.discount for o in expected for li in o.line_items)
    assert any(o.excluded_reason == "test" for o in expected)

    connector = connect(shop)
    assert fetch(connector, None) == expected
    assert fetch(connector, LONG_AGO) == expected


def test_a_bulk_backfill_reads_refunds_from_its_file_not_by_id(shop, monkeypatch):
    """Each refund comes whole with the bulk file, through its agreement's sales: no request
    reads a refund by id, and the records are still the truth, refunded shipping and gift cards
    included."""
    some = shop.simulator.store.by_created(NOW)
    shipped = next(o for o in some if o.shipping and not o.refunds and not o.test)
    admin(shop, f"orders/{shipped.order_id}/refund")  # every line and the shipping
    gift = next(o for o in some if any(li.is_gift_card for li in o.lines) and not o.refunds)
    gift_card = next(li for li in gift.lines if li.is_gift_card)
    admin(shop, f"orders/{gift.order_id}/refund", line_id=gift_card.line_id)
    expected = truth(shop)
    refunds = [r for o in expected for r in o.refunds]
    assert any(r.shipping and r.lines for r in refunds) and any(r.kind == "cancellation" for r in refunds)
    assert any(line.line_item_external_id == gift.line_external_id(gift_card) for r in refunds for line in r.lines)
    queries = []
    execute = shop.simulator.execute
    monkeypatch.setattr(
        shop.simulator, "execute", lambda query, *a, **kw: queries.append(query) or execute(query, *a, **kw)
    )

    assert fetch(connect(shop), None) == expected
    assert queries.count(REFUNDS_QUERY) == 0
    assert not any("refund(id:" in query for query in queries)  # nor their lines, page by page


def test_a_refund_missing_from_the_bulk_file_is_read_by_id(shop, monkeypatch):
    """A refund its order names but the file holds no agreement for is read by id, not lost."""
    without_agreements = shopify_bulk.orders_from_bulk
    monkeypatch.setattr(
        shopify_bulk,
        "orders_from_bulk",
        lambda objects: without_agreements(obj for obj in objects if "refund" not in obj and "lineType" not in obj),
    )
    expected = truth(shop)
    assert any(o.refunds for o in expected)
    assert fetch(connect(shop), None) == expected


def test_a_shop_that_refuses_the_refund_ledger_in_bulk_still_backfills(caplog):
    """Shopify's bulk guide says connections must implement Node, and Sale does not: should a shop
    refuse the agreements' sales, the backfill runs without them and reads refunds by id."""
    with shopify(bulk_node_connections_only=True) as strict:
        expected = truth(strict)
        assert any(o.refunds for o in expected)
        with caplog.at_level("WARNING", logger="connectors.shopify"):
            assert fetch(connect(strict), None) == expected
    assert "reading refunds by id instead" in caplog.text


def test_a_backfill_says_what_it_is_waiting_for():
    """Shopify can take minutes to build a large shop's export: the sync shows it is working."""
    with shopify(bulk_delay=0.3) as slow:
        connector = connect(slow)
        activity: list[str] = []
        connector.on_activity = activity.append
        expected = truth(slow)
        assert fetch(connector, None) == expected
    records = len(expected) + sum(len(o.line_items) for o in expected)  # and agreements, sales
    assert activity[0] == "Shopify is preparing the export: 0 records so far"
    assert re.fullmatch(r"Downloading and reading Shopify's export of [\d,]+ records", activity[-1])
    assert int(re.sub(r"\D", "", activity[-1])) > records


def test_incremental_returns_what_changed_since(shop):
    since = NOW - timedelta(days=3, hours=5)
    assert fetch(connect(shop), since) == truth(shop, since=since)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "pages"])
def test_an_incremental_sync_of_many_changes_runs_a_bulk_operation(shop, monkeypatch, bulk):
    since = NOW - timedelta(days=3, hours=5)
    changed = truth(shop, since=since)
    monkeypatch.setattr(shopify_connector, "BULK_ABOVE", len(changed) - 1 if bulk else len(changed))
    current = "{ currentBulkOperation { id query } }"
    assert fetch(connect(shop), since) == changed
    operation = shop.simulator.execute(current)["data"]["currentBulkOperation"]
    assert (operation is not None) == bulk
    if bulk:
        assert "updated_at:>=" in operation["query"]


def test_a_large_shop_is_read_in_windows_of_updated_at_and_misses_no_update(shop, monkeypatch):
    """Window after window, pages stay in updated_at order; an order updated after its window
    was read comes again in the last window, which has no upper bound."""
    expected = truth(shop)
    monkeypatch.setattr(shopify_bulk, "BULK_WINDOW_ORDERS", len(expected) // 3)
    # A patient client: on a loaded machine FAST's 0.3 s read timeout retries a start whose
    # operation the shop had already created, and the count of operations below is off by one.
    pages = connect(shop, timeout=(5.0, 60.0)).fetch_orders(None)
    first = next(pages)
    admin(shop, f"orders/{first[0].external_id.rsplit('/', 1)[1]}/edit")
    read = first + [order for page in pages for order in page]

    assert [o.updated_at for o in read] == sorted(o.updated_at for o in read)
    assert len(read) == len(expected) + 1  # the edited order twice: before and after its edit
    latest = {o.external_id: o for o in read}  # as the sync's upserts keep the last
    assert sorted(latest.values(), key=attrgetter("external_id")) == truth(shop)
    assert latest[first[0].external_id].updated_at > first[0].updated_at
    queries = [op.query for op in shop.simulator._bulk_ops.values()]
    assert len(queries) == 4
    assert "updated_at:<" in queries[0] and "updated_at:>=" not in queries[0]
    assert all("updated_at:>=" in q and "updated_at:<" in q for q in queries[1:-1])
    assert "updated_at:>=" in queries[-1] and "updated_at:<" not in queries[-1]


def test_nested_connections_beyond_the_first_page_are_fetched_in_full():
    business = Business(scale=0.1, basket=(0, 0, 0, 0, 0, 0, 1))  # orders of 5 to 7 lines
    with shopify(business=business, history_days=8) as server:
        store = server.simulator.store
        big = next(o for o in store.by_created(NOW) if len(o.lines) > NESTED_PAGE)
        store.refund(big.order_id)  # a refund with more lines than a page holds
        expected = truth(server)
        assert any(len(r.lines) > NESTED_PAGE for o in expected for r in o.refunds)
        connector = connect(server)
        assert fetch(connector, LONG_AGO) == expected
        assert fetch(connector, None) == expected


def test_orders_older_than_60_days_stay_hidden_without_read_all_orders():
    with shopify(business=Business(scale=0.1), history_days=90, read_all_orders=False) as server:
        visible = [o for o in truth(server) if o.created_at >= NOW - timedelta(days=60)]
        assert len(visible) < len(truth(server))
        connector = connect(server)
        assert fetch(connector, None) == visible
        assert fetch(connector, LONG_AGO) == visible


# --- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["rate_limit", "error", "slow", "timeout", "drop", "malformed"])
@pytest.mark.parametrize("since", [None, LONG_AGO], ids=["backfill", "incremental"])
def test_after_each_fault_nothing_is_lost_or_doubled(shop, fault, since):
    expected = truth(shop)
    shop.faults.configure({"queue": [fault] * 3})
    assert fetch(connect(shop), since) == expected
    assert shop.faults.state()["served"] == {fault: 3}


def test_a_mix_of_faults_at_rates_loses_nothing():
    faults = FaultPlan(seed=11, slow_seconds=0.05, timeout_seconds=1.0)
    faults.configure(
        {"rates": {"rate_limit": 0.08, "error": 0.08, "drop": 0.05, "malformed": 0.05, "slow": 0.05, "timeout": 0.01}}
    )
    with shopify(faults=faults) as server:
        connector = connect(server, max_attempts=12)
        assert fetch(connector, None) == truth(server)
        assert fetch(connector, LONG_AGO) == truth(server)
        assert sum(faults.state()["served"].values()) > 3


def test_a_cut_short_bulk_file_is_downloaded_again(shop):
    connector = connect(shop)
    operation = connector._completed_bulk(connector._start_bulk(BULK_ORDERS_QUERY))
    whole = [json.loads(line) for line in requests.get(operation["url"], timeout=10).text.splitlines()]
    shop.faults.configure({"queue": ["malformed", "drop"]})
    assert connector._download(operation["url"], int(operation["objectCount"])) == orders_from_bulk(whole)
    assert shop.faults.state()["served"] == {"malformed": 1, "drop": 1}


# --- throttling and bulk contention --------------------------------------------------------


def test_calls_are_paced_on_the_bucket_instead_of_throttled(caplog):
    with shopify(bucket_size=1000.0, restore_rate=4000.0) as server, caplog.at_level(logging.DEBUG):
        assert fetch(connect(server), LONG_AGO) == truth(server)
    assert any("shopify pacing" in r.getMessage() for r in caplog.records)
    assert not any("THROTTLED" in r.getMessage() for r in caplog.records)


def test_throttled_calls_wait_what_the_bucket_asks():
    """The bucket's time passes only when the connector sleeps, so the wait it asks is exact."""
    seconds, waits = FakeSeconds(), []

    def sleep(wait: float) -> None:
        waits.append(wait)
        seconds.advance(wait)

    with shopify(restore_rate=1000.0, bucket_seconds=seconds) as server:
        server.faults.configure({"queue": ["rate_limit"]})
        # A patient client: on a loaded machine FAST's 0.3 s read timeout would add retry waits.
        patient = connect(server, sleep=sleep, timeout=(5.0, 60.0))
        products = [p for page in patient.fetch_products() for p in page]
        assert len(products) == len(server.simulator.store.business.products(SHOPIFY))
    # The fault leaves the bucket 0.25 s of restore short of the query's cost.
    assert waits == [pytest.approx(0.25, abs=1e-9)]


RUN_BULK = "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { code } } }"


def test_a_running_bulk_operation_of_someone_else_is_waited_for(shop):
    """Before API version 2026-01 a shop runs one bulk query at a time."""
    other = "{ products { edges { node { id } } } }"
    started = shop.simulator.execute(RUN_BULK, {"q": other})["data"]["bulkOperationRunQuery"]["bulkOperation"]
    assert fetch(connect(shop, api_version="2025-10"), None) == truth(shop)
    current = shop.simulator.execute("{ currentBulkOperation { id query } }")["data"]["currentBulkOperation"]
    assert current["id"] != started["id"] and current["query"] == BULK_ORDERS_QUERY


def test_our_own_running_bulk_operation_is_adopted(shop, caplog):
    shop.simulator.bulk_may_complete.clear()  # it runs on until the connector has adopted it
    started = shop.simulator.execute(RUN_BULK, {"q": BULK_ORDERS_QUERY})["data"]["bulkOperationRunQuery"]
    started = started["bulkOperation"]
    fetched = []
    with caplog.at_level(logging.INFO):
        fetching = threading.Thread(target=lambda: fetched.append(fetch(connect(shop, api_version="2025-10"), None)))
        fetching.start()
        adopted = f"adopted id={started['id']}"
        wait_for(lambda: any(adopted in r.getMessage() for r in caplog.records), 60, "the connector to adopt it")
        shop.simulator.bulk_may_complete.set()
        fetching.join(60)
    assert fetched == [truth(shop)]


@pytest.mark.parametrize(("api_version", "in_flight"), [("2025-10", 1), ("2026-10", 2)])
def test_windows_keep_as_many_bulk_operations_running_as_the_api_version_allows(
    shop, monkeypatch, api_version, in_flight
):
    expected = truth(shop)
    monkeypatch.setattr(shopify_bulk, "BULK_WINDOW_ORDERS", len(expected) // 3)
    connector = connect(shop, api_version=api_version)
    calls, answers = [], []
    for name in ("_start_bulk_orders", "_completed_bulk"):
        method = getattr(connector, name)
        monkeypatch.setattr(connector, name, lambda *args, _m=method, _n=name: calls.append(_n) or _m(*args))
    run_bulk_query = shop.simulator._run_bulk_query
    answer = lambda *args, **kwargs: answers.append(run_bulk_query(*args, **kwargs)) or answers[-1]  # noqa: E731
    monkeypatch.setitem(shop.simulator._root, "bulkOperationRunQuery", answer)
    assert fetch(connector, None) == expected
    running, most = 0, 0
    for call in calls:
        running += 1 if call == "_start_bulk_orders" else -1
        most = max(most, running)
    assert most == in_flight and calls.count("_start_bulk_orders") == calls.count("_completed_bulk") >= 3
    assert [answer["userErrors"] for answer in answers] == [[]] * calls.count("_start_bulk_orders")  # none refused


def test_a_shop_running_five_bulk_operations_is_waited_for():
    """From API version 2026-01 a shop runs five bulk queries at once: a sixth waits its turn."""
    with shopify(bulk_delay=0.3) as server:
        other = "{ products { edges { node { id } } } }"
        for _ in range(5):
            started = server.simulator.execute(RUN_BULK, {"q": other}, api_version="2026-10")
            assert started["data"]["bulkOperationRunQuery"]["userErrors"] == []
        refused = server.simulator.execute(RUN_BULK, {"q": other}, api_version="2026-10")
        assert refused["data"]["bulkOperationRunQuery"]["userErrors"] == [{"code": "LIMIT_REACHED"}]
        assert fetch(connect(server, api_version="2026-10"), None) == truth(server)


def test_bulk_children_are_attached_by_parent_id_not_position():
    lines = [json.loads(line) for line in (FIXTURES / "bulk_orders.jsonl").read_text().splitlines()]
    for line in (obj for obj in lines if "__parentId" in obj):  # the sample did not read line names; we do
        line["name"] = line["sku"] or "Gift card"
    # Order 5001's ledger: its own agreement (a bare id), and a refund's, whose sale returns one mug.
    order, refund = "gid://shopify/Order/5001", "gid://shopify/SalesAgreement/60011"
    lines += [
        {"id": "gid://shopify/SalesAgreement/50010", "__parentId": order},
        {
            "id": refund,
            "refund": {"id": "gid://shopify/Refund/6001", "createdAt": "2025-01-15T09:12:45Z"},
            "__parentId": order,
        },
        {
            "quantity": -1,
            "lineType": "PRODUCT",
            "totalAmount": {"shopMoney": {"amount": "-32.44"}},
            "totalTaxAmount": {"shopMoney": {"amount": "-2.45"}},
            "lineItem": {"id": "gid://shopify/LineItem/9001"},
            "__parentId": refund,
        },
    ]
    returned = RefundLine("gid://shopify/LineItem/9001", 1, Decimal("29.99"))
    children_first = sorted(lines, key=lambda obj: "__parentId" not in obj)
    for objects in (lines, lines[::-1], children_first):
        orders = orders_from_bulk(copy.deepcopy(objects))
        assert {node["id"]: ([li.external_id for li in items], refunds) for node, items, refunds in orders} == {
            order: (
                ["gid://shopify/LineItem/9001"],
                {
                    "gid://shopify/Refund/6001": RefundParts(
                        "gid://shopify/Refund/6001", "2025-01-15T09:12:45Z", [(returned, Decimal("2.45"))]
                    )
                },
            ),
            "gid://shopify/Order/5002": (["gid://shopify/LineItem/9002"], {}),
            "gid://shopify/Order/5003": (["gid://shopify/LineItem/9003"], {}),
        }


# --- products ------------------------------------------------------------------------------


def test_products_are_the_catalog_one_record_per_variant(shop):
    products = [p for page in connect(shop).fetch_products() for p in page]
    by_id = attrgetter("external_id")
    assert sorted(products, key=by_id) == sorted(shop.simulator.store.business.products(SHOPIFY), key=by_id)


# --- webhooks ------------------------------------------------------------------------------


def test_the_fixture_webhook_signature_verifies():
    body = (FIXTURES / "webhook_orders_updated.body.json").read_bytes()
    headers = json.loads((FIXTURES / "webhook_orders_updated.headers.json").read_text())
    secret, signature = headers["_test_client_secret"], headers["X-Shopify-Hmac-Sha256"]
    assert verify_webhook(secret, body, signature)
    assert not verify_webhook(secret, body + b" ", signature)
    assert not verify_webhook("another secret", body, signature)
    assert not verify_webhook(secret, body, "")


def test_the_fixture_webhook_maps_to_a_record():
    payload = json.loads((FIXTURES / "webhook_orders_updated.body.json").read_bytes())
    order = order_from_webhook(payload)
    assert order.external_id == "gid://shopify/Order/5001"
    assert order.updated_at == datetime(2025, 1, 15, 9, 12, 45, tzinfo=UTC)
    assert order.processed_at == order.created_at == datetime(2025, 1, 10, 14, 3, 11, tzinfo=UTC)
    assert order.status == "PARTIALLY_REFUNDED" and order.excluded_reason is None
    (line,) = order.line_items
    assert (line.external_id, line.sku, line.product_external_id) == (
        "gid://shopify/LineItem/9001",
        "MUG-RED",
        "gid://shopify/Product/7001",
    )
    assert str(line.unit_price) == "29.99" and line.quantity == 2
    (refund,) = order.refunds
    assert (refund.external_id, refund.kind) == ("gid://shopify/Refund/6001", "refund")
    assert order_from_webhook({**payload, "financial_status": "voided"}).excluded_reason == "voided"
    assert order_from_webhook({**payload, "test": True}).excluded_reason == "test"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.deliveries.put((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def receiver():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.deliveries = queue.Queue()
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_simulator_webhooks_are_signed_and_map_to_the_synced_record(receiver):
    clock = ManualClock(NOW)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks"
    with shopify(clock, webhook_url=url, webhook_secret=SECRET) as server:
        connector = connect(server)
        created = admin(server, "orders")
        clock.advance(minutes=5)
        admin(server, f"orders/{created['id']}/refund", line_id=created["line_items"][0]["id"], quantity=1)
        clock.advance(minutes=5)
        admin(server, f"orders/{created['id']}/cancel")

        order = server.simulator.store.get(created["id"])
        synced = {o.external_id: o for o in fetch(connector, NOW)}[order.external_id]
        assert synced == order.to_record(clock())
        moments = (NOW, NOW + timedelta(minutes=5), clock())
        for topic, moment in zip(("orders/create", "orders/updated", "orders/cancelled"), moments, strict=True):
            headers, body = receiver.deliveries.get(timeout=5)
            assert headers["X-Shopify-Topic"] == topic
            assert headers["X-Shopify-Shop-Domain"] == SHOP_DOMAIN
            assert {
                "X-Shopify-API-Version",
                "X-Shopify-Webhook-Id",
                "X-Shopify-Event-Id",
                "X-Shopify-Triggered-At",
            } <= set(headers)
            assert verify_webhook(SECRET, body, headers["X-Shopify-Hmac-Sha256"])
            assert connector.read_webhook(body, headers["X-Shopify-Hmac-Sha256"]) == order.to_record(moment)
        assert order_from_webhook(json.loads(body)) == synced
        with pytest.raises(AuthError):
            connector.read_webhook(body + b" ", headers["X-Shopify-Hmac-Sha256"])


def test_pauses_of_the_cycle_collector_nest_across_threads():
    """The sync and its read-ahead thread pause the collector independently: it resumes when
    the last pause ends, whichever thread began first."""
    first, second = cycle_collector_paused(), cycle_collector_paused()
    assert gc.isenabled()
    first.__enter__()
    worker = threading.Thread(target=second.__enter__)
    worker.start()
    worker.join()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    worker = threading.Thread(target=second.__exit__, args=(None, None, None))
    worker.start()
    worker.join()
    assert gc.isenabled()
