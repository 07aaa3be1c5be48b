"""The Shopify simulator over real HTTP: the GraphQL Admin API's paging, search syntax, query
cost and throttling, bulk operations and the 60-day rule, checked against the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from graphql import execute, parse

from connectors.shopify import BULK_ORDERS_QUERY
from simulators.business import Business
from simulators.catalog import SHOPIFY
from simulators.shopify import DEV_ACCESS_TOKEN, SCHEMA, SHOP_NAME, build_shopify
from simulators.shopify.bulk_filter import bulk_filter
from simulators.shopify.simulator import _Context, _resolve_field
from simulators.store import ManualClock
from tests.conftest import FakeSeconds, wait_for

NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
FIXTURES = Path(__file__).with_name("fixtures") / "shopify"
ALL_ORDERS = """query All($query: String, $sortKey: OrderSortKeys, $reverse: Boolean, $after: String) {
  orders(first: 250, after: $after, query: $query, sortKey: $sortKey, reverse: $reverse) {
    pageInfo { hasNextPage endCursor }
    nodes { id updatedAt createdAt }
  }
}"""


@pytest.fixture
def shop():
    with build_shopify(Business(scale=0.2), history_days=20, clock=ManualClock(NOW), bulk_delay=0.1) as server:
        yield server


def post(server, query, variables=None, *, token=DEV_ACCESS_TOKEN, version="2025-10"):
    return requests.post(
        f"{server.url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": token},
        timeout=10,
    )


def graphql(server, query, variables=None) -> dict:
    response = post(server, query, variables)
    assert response.status_code == 200
    return response.json()


def all_orders(server, query=None, sort_key="UPDATED_AT", reverse=False) -> list[dict]:
    nodes, after = [], None
    while True:
        variables = {"query": query, "sortKey": sort_key, "reverse": reverse, "after": after}
        page = graphql(server, ALL_ORDERS, variables)["data"]["orders"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def shape(value):
    """The structure of a JSON value: keys and scalar types, for comparing with a fixture."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def gid_number(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


# --- endpoint and auth ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2025-10", "2024-01", "unstable"])
def test_any_dated_or_unstable_version_is_served(shop, version):
    response = post(shop, "{ shop { name currencyCode ianaTimezone } }", version=version)
    assert response.status_code == 200
    assert response.json()["data"]["shop"] == {
        "name": SHOP_NAME,
        "currencyCode": "USD",
        "ianaTimezone": "America/New_York",
    }


def test_unknown_paths_are_not_found(shop):
    assert post(shop, "{ shop { name } }", version="latest").status_code == 404


@pytest.mark.parametrize("token", ["", "shpat_wrong"])
def test_missing_or_wrong_token_is_refused_with_shopifys_body(shop, token):
    response = post(shop, "{ shop { name } }", token=token)
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def test_a_body_without_a_query_is_a_bad_request(shop):
    response = requests.post(
        f"{shop.url}/admin/api/2025-10/graphql.json",
        data=b"not json",
        headers={"X-Shopify-Access-Token": DEV_ACCESS_TOKEN},
        timeout=10,
    )
    assert response.status_code == 400


def test_invalid_queries_answer_graphql_errors(shop):
    body = graphql(shop, "{ shop { nope } }")
    assert "data" not in body
    assert "nope" in body["errors"][0]["message"]


# --- queries -------------------------------------------------------------------------------


def test_variables_aliases_fragments_and_directives_work_and_are_costed(shop):
    query = """query Recent($n: Int!, $withTotals: Boolean!) {
      recent: orders(first: $n, sortKey: UPDATED_AT, reverse: true) {
        edges { cursor node { ...Bits } }
      }
    }
    fragment Bits on Order { gid: id total: totalPriceSet @include(if: $withTotals) { shopMoney { amount } } }"""
    with_totals = graphql(shop, query, {"n": 3, "withTotals": True})
    edges = with_totals["data"]["recent"]["edges"]
    assert len(edges) == 3 and set(edges[0]["node"]) == {"gid", "total"}
    assert with_totals["extensions"]["cost"]["requestedQueryCost"] == 2 + 3 * (1 + 2)
    without = graphql(shop, query, {"n": 3, "withTotals": False})
    assert set(without["data"]["recent"]["edges"][0]["node"]) == {"gid"}
    assert without["extensions"]["cost"]["requestedQueryCost"] == 2 + 3 * 1


def test_orders_page_with_nodes_and_edges_and_opaque_cursors(shop):
    store = shop.simulator.store
    expected = [o.external_id for _, o in store.iter_updated(NOW)]
    query = """query Page($after: String) {
      orders(first: 7, after: $after, sortKey: UPDATED_AT) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { id } }
        nodes { id }
      }
    }"""
    seen, after, pages = [], None, 0
    while True:
        page = graphql(shop, query, {"after": after})["data"]["orders"]
        info = page["pageInfo"]
        assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        assert info["hasPreviousPage"] is (pages > 0)
        seen += [n["id"] for n in page["nodes"]]
        pages += 1
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == expected
    assert pages == -(-len(expected) // 7)


def test_last_and_before_page_backwards(shop):
    ids = [n["id"] for n in all_orders(shop)]
    query = """query Back($before: String) {
      orders(last: 5, before: $before, sortKey: UPDATED_AT) { pageInfo { hasPreviousPage startCursor } nodes { id } }
    }"""
    page = graphql(shop, query)["data"]["orders"]
    assert [n["id"] for n in page["nodes"]] == ids[-5:]
    assert page["pageInfo"]["hasPreviousPage"] is True
    earlier = graphql(shop, query, {"before": page["pageInfo"]["startCursor"]})["data"]["orders"]
    assert [n["id"] for n in earlier["nodes"]] == ids[-10:-5]


@pytest.mark.parametrize("sort_key", ["UPDATED_AT", "CREATED_AT", "ID"])
@pytest.mark.parametrize("reverse", [False, True])
def test_sort_keys_and_reverse(shop, sort_key, reverse):
    nodes = all_orders(shop, sort_key=sort_key, reverse=reverse)
    value = {"UPDATED_AT": "updatedAt", "CREATED_AT": "createdAt", "ID": "id"}[sort_key]
    keys = [
        (gid_number(n["id"]) if value == "id" else datetime.fromisoformat(n[value]), gid_number(n["id"])) for n in nodes
    ]
    assert keys == sorted(keys, reverse=reverse)
    assert len(nodes) == len(shop.simulator.store.records(NOW))


@pytest.mark.parametrize(
    ("op", "keep"),
    [
        (">", lambda t, b: t > b),
        (">=", lambda t, b: t >= b),
        ("<", lambda t, b: t < b),
        ("<=", lambda t, b: t <= b),
    ],
)
def test_search_compares_updated_at(shop, op, keep):
    updated = [(moment, o.external_id) for moment, o in shop.simulator.store.iter_updated(NOW)]
    boundary = updated[len(updated) // 2][0]  # an order's exact updated_at: the edge case
    found = all_orders(shop, f"updated_at:{op}'{boundary.isoformat()}'")
    assert [n["id"] for n in found] == [gid for moment, gid in updated if keep(moment, boundary)]


def test_search_joins_terms_with_and_and_reads_dates_in_the_shop_timezone(shop):
    store = shop.simulator.store
    start = datetime(2025, 3, 5, tzinfo=store.business.tz)
    end = NOW - timedelta(days=2)
    expected = {o.external_id for o in store.by_created(NOW) if o.created_at >= start and o.updated_at(NOW) < end}
    for query in (
        f"created_at:>='2025-03-05' AND updated_at:<'{end.isoformat()}'",
        f'created_at:>="2025-03-05" updated_at:<"{end.isoformat()}"',  # AND is implied
    ):
        assert {n["id"] for n in all_orders(shop, query)} == expected


def test_search_ignores_unknown_fields_with_a_warning_and_refuses_or(shop):
    body = graphql(shop, ALL_ORDERS, {"query": "status:any"})
    assert len(body["data"]["orders"]["nodes"]) == len(shop.simulator.store.records(NOW))
    assert body["extensions"]["search"][0]["warnings"][0]["field"] == "status"
    refused = graphql(shop, ALL_ORDERS, {"query": "created_at:>'2025-03-01' OR updated_at:>'2025-03-01'"})
    assert refused["data"] is None and "AND" in refused["errors"][0]["message"]


def test_orders_count_counts_the_search_up_to_its_limit_for_one_point(shop):
    count = "query($query: String, $limit: Int) { ordersCount(query: $query, limit: $limit) { count precision } }"
    query = "created_at:>='2025-03-05' status:any"
    matching = len(all_orders(shop, query))
    body = graphql(shop, count, {"query": query})
    assert body["data"]["ordersCount"] == {"count": matching, "precision": "EXACT"}
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1
    assert body["extensions"]["search"][0]["warnings"][0]["field"] == "status"
    capped = graphql(shop, count, {"query": query, "limit": matching - 1})["data"]["ordersCount"]
    assert capped == {"count": matching - 1, "precision": "AT_LEAST"}
    everything = graphql(shop, count, {"limit": None})["data"]["ordersCount"]
    assert everything == {"count": len(shop.simulator.store.records(NOW)), "precision": "EXACT"}


def test_page_size_rules(shop):
    too_big = graphql(shop, "{ orders(first: 251) { nodes { id } } }")
    assert "250" in too_big["errors"][0]["message"] and "data" not in too_big
    unsized = graphql(shop, "{ orders(sortKey: ID) { nodes { id } } }")
    assert unsized["errors"][0]["message"] == "you must provide one of first or last"


def test_order_by_id_with_nested_line_item_pages(shop):
    store = shop.simulator.store
    order = next(o for o in store.by_created(NOW) if len(o.lines) >= 3)
    query = """query One($id: ID!, $after: String) {
      order(id: $id) { id lineItems(first: 1, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }
    }"""
    lines, after = [], None
    while True:
        connection = graphql(shop, query, {"id": order.external_id, "after": after})["data"]["order"]["lineItems"]
        lines += [n["id"] for n in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert lines == [order.line_external_id(li) for li in order.lines]
    assert graphql(shop, query, {"id": "gid://shopify/Order/1"})["data"]["order"] is None


def test_money_is_rendered_from_the_sim_order(shop):
    store = shop.simulator.store
    order = next(o for o in store.by_created(NOW) if any(li.discount for li in o.lines) and len(o.lines) > 1)
    cancelled = store.cancel(order.order_id)
    query = """query One($id: ID!) { order(id: $id) {
      cancelledAt displayFinancialStatus
      totalTaxSet { shopMoney { amount currencyCode } } totalShippingPriceSet { shopMoney { amount } }
      lineItems(first: 10) { nodes { id originalUnitPriceSet { shopMoney { amount } }
        discountAllocations { allocatedAmountSet { shopMoney { amount } } }
        taxLines { priceSet { shopMoney { amount } } } } }
      refunds { createdAt refundLineItems(first: 10) { nodes { quantity subtotalSet { shopMoney { amount } } } } }
    } }"""
    node = graphql(shop, query, {"id": order.external_id})["data"]["order"]
    assert node["totalTaxSet"]["shopMoney"] == {"amount": str(cancelled.tax), "currencyCode": "USD"}
    assert node["totalShippingPriceSet"]["shopMoney"]["amount"] == str(cancelled.shipping)
    for line, rendered in zip(cancelled.lines, node["lineItems"]["nodes"], strict=True):
        assert rendered["originalUnitPriceSet"]["shopMoney"]["amount"] == str(line.unit_price)
        assert sum(float(a["allocatedAmountSet"]["shopMoney"]["amount"]) for a in rendered["discountAllocations"]) == (
            pytest.approx(float(line.discount))
        )
    (refund,) = node["refunds"]
    assert refund["createdAt"] == node["cancelledAt"]  # a cancellation is the refund made as it happens
    assert [n["subtotalSet"]["shopMoney"]["amount"] for n in refund["refundLineItems"]["nodes"]] == [
        str(rl.amount) for rl in cancelled.refunds[-1].lines
    ]
    assert node["displayFinancialStatus"] == "REFUNDED"


def test_products_and_variants_render_the_catalog(shop):
    truth = {p.external_id: p for p in shop.simulator.store.business.products(SHOPIFY)}
    query = """{ productVariants(first: 250) { nodes { id sku title price product { title productType status } } }
                 products(first: 60) { nodes { id title variants(first: 1) { nodes { id } } } } }"""
    data = graphql(shop, query)["data"]
    variants = data["productVariants"]["nodes"]
    assert {v["id"] for v in variants} == set(truth)
    for variant in variants:
        record = truth[variant["id"]]
        assert (variant["sku"], variant["title"], variant["price"]) == (record.sku, "Default Title", str(record.price))
        assert variant["product"] == {"title": record.title, "productType": record.product_type, "status": "ACTIVE"}
    assert len(data["products"]["nodes"]) == len(truth)


# --- the 60-day rule -----------------------------------------------------------------------


@pytest.mark.parametrize("read_all_orders", [False, True])
def test_orders_older_than_60_days_need_read_all_orders(read_all_orders):
    clock = ManualClock(NOW)
    with build_shopify(Business(scale=0.1), history_days=90, clock=clock, read_all_orders=read_all_orders) as server:
        store = server.simulator.store
        old = next(o for o in store.by_created(NOW) if o.created_at < NOW - timedelta(days=61))
        visible = {n["id"] for n in all_orders(server)}
        recent = {o.external_id for o in store.by_created(NOW) if o.created_at >= NOW - timedelta(days=60)}
        if read_all_orders:
            assert visible == {o.external_id for o in store.by_created(NOW)}
        else:
            assert visible == recent
        found = graphql(server, "query($id: ID!) { order(id: $id) { id } }", {"id": old.external_id})["data"]["order"]
        assert (found is not None) is read_all_orders


# --- cost and throttling -------------------------------------------------------------------


def test_costs_are_calculated_and_charged_to_the_bucket():
    query = "{ orders(first: 10) { nodes { id lineItems(first: 5) { nodes { id } } } } }"
    # The bucket's clock stands still: what it reports is exactly what the query was charged.
    with build_shopify(
        Business(scale=0.2), history_days=20, clock=ManualClock(NOW), bucket_seconds=FakeSeconds()
    ) as shop:
        body = graphql(shop, query)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 10 * (1 + 2 + 5 * 1)
    lines = sum(len(n["lineItems"]["nodes"]) for n in body["data"]["orders"]["nodes"])
    assert cost["actualQueryCost"] == 2 + 10 * (1 + 2) + lines
    assert cost["throttleStatus"] == {
        "maximumAvailable": 2000.0,
        "currentlyAvailable": 2000 - cost["actualQueryCost"],
        "restoreRate": 100.0,
    }


def test_a_query_over_1000_points_is_refused(shop):
    body = graphql(shop, "{ orders(first: 250) { nodes { lineItems(first: 10) { nodes { id } } } } }")
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 2 + 250 * (1 + 2 + 10), "maxCost": 1000}
    assert error["message"].startswith("Query cost is 3252, which exceeds the single query max cost limit (1000).")


def test_an_empty_bucket_answers_throttled_like_shopify():
    """The bucket refills on a clock of the test's own: no time passes between the calls unless
    the test says so."""
    fixture = json.loads((FIXTURES / "graphql_throttled.json").read_text())
    seconds = FakeSeconds()
    with build_shopify(
        Business(scale=0.2),
        history_days=20,
        clock=ManualClock(NOW),
        bucket_size=100,
        restore_rate=50,
        bucket_seconds=seconds,
    ) as server:
        query = "{ orders(first: 60) { nodes { id } } }"
        first = post(server, query)
        assert first.json()["extensions"]["cost"]["actualQueryCost"] == 62
        throttled = post(server, query)
        assert throttled.status_code == 200
        body = throttled.json()
        assert shape(body) == shape(fixture)
        assert body["errors"] == fixture["errors"]
        status = body["extensions"]["cost"]["throttleStatus"]
        assert body["extensions"]["cost"]["requestedQueryCost"] == 62 > status["currentlyAvailable"] == 38
        seconds.advance((62 - 38) / 50 - 0.01)  # not quite the wait the bucket asks for
        assert "errors" in post(server, query).json()
        seconds.advance(0.01)  # the wait, whole
        assert "data" in post(server, query).json()


def test_the_rate_limit_fault_answers_throttled_with_a_low_bucket(shop):
    fixture = json.loads((FIXTURES / "graphql_throttled.json").read_text())
    shop.faults.configure({"queue": ["rate_limit"]})
    body = graphql(shop, "{ orders(first: 50) { nodes { id } } }")
    assert shape(body) == shape(fixture)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 52 > cost["throttleStatus"]["currentlyAvailable"]


# --- bulk operations -----------------------------------------------------------------------

BULK_QUERY = """{ orders(sortKey: UPDATED_AT) { edges { node {
  id updatedAt
  lineItems { edges { node { id quantity } } }
  refunds { id createdAt }
} } } }"""
RUN_BULK = """mutation Run($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status createdAt } userErrors { code field message } }
}"""
CURRENT = """{ currentBulkOperation {
  id status errorCode createdAt completedAt objectCount rootObjectCount fileSize url partialDataUrl
} }"""


LIST_BULK = """query List($query: String, $reverse: Boolean, $first: Int, $after: String) {
  bulkOperations(query: $query, reverse: $reverse, first: $first, after: $after, sortKey: CREATED_AT) {
    nodes { id status } pageInfo { hasNextPage endCursor }
  }
}"""


def completed_bulk(server, query: str) -> str:
    """Run a bulk query and wait, with a deadline, for it to complete; its id."""
    operation = graphql(server, RUN_BULK, {"query": query})["data"]["bulkOperationRunQuery"]["bulkOperation"]
    node = "query($id: ID!) { node(id: $id) { ... on BulkOperation { status } } }"

    def completed() -> bool:
        return graphql(server, node, {"id": operation["id"]})["data"]["node"]["status"] == "COMPLETED"

    wait_for(completed, 30, "the bulk operation to complete", interval=0.02)
    return operation["id"]


def test_bulk_operations_are_listed_newest_first_and_filtered_by_status(shop):
    """`bulkOperations`, which replaces the deprecated `currentBulkOperation`."""
    first, second = completed_bulk(shop, BULK_QUERY), completed_bulk(shop, BULK_QUERY)

    def listed(**variables) -> list[str]:
        page = graphql(shop, LIST_BULK, {"first": 5, **variables})["data"]["bulkOperations"]
        return [node["id"] for node in page["nodes"]]

    assert listed() == listed(query="status:completed operation_type:query") == [second, first]
    assert listed(reverse=True) == [first, second]
    assert listed(query="operation_type:query AND (status:created OR status:running)") == []
    assert listed(query="-status:completed OR operation_type:mutation") == []
    page = graphql(shop, LIST_BULK, {"first": 1})["data"]["bulkOperations"]
    assert page["pageInfo"]["hasNextPage"]
    assert listed(after=page["pageInfo"]["endCursor"]) == [first]
    refused = graphql(shop, LIST_BULK, {"first": 5, "query": "status:done"})
    assert "cannot filter bulk operations by 'status:done'" in refused["errors"][0]["message"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("created", True), ("running", True), ("completed", False), ("failed", False)],
)
def test_the_in_progress_filter_matches_queued_and_running_operations(status, expected):
    matches = bulk_filter("operation_type:query AND (status:created OR status:running)")
    assert matches({"status": status, "operation_type": "query"}) is expected
    assert matches({"status": status, "operation_type": "mutation"}) is False


def test_bulk_operation_runs_through_its_states_and_writes_jsonl(shop):
    store = shop.simulator.store
    shop.simulator.bulk_may_run.clear()  # held in each state until the test has seen it
    shop.simulator.bulk_may_complete.clear()
    started = graphql(shop, RUN_BULK, {"query": BULK_QUERY})
    fixture = json.loads((FIXTURES / "graphql_bulk_run_query_response.json").read_text())
    assert shape(started) == shape(fixture)
    assert started["extensions"]["cost"]["requestedQueryCost"] == 10
    operation = started["data"]["bulkOperationRunQuery"]["bulkOperation"]
    assert operation["status"] == "CREATED"

    again = graphql(shop, RUN_BULK, {"query": BULK_QUERY})["data"]["bulkOperationRunQuery"]
    in_progress = json.loads((FIXTURES / "graphql_bulk_user_error_in_progress.json").read_text())
    assert shape(again) == shape(in_progress["data"]["bulkOperationRunQuery"])
    assert again["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    assert again["userErrors"][0]["message"].endswith(f"already in progress: {operation['id']}.")

    statuses = []

    def reached(status: str) -> Callable[[], dict | None]:
        def check() -> dict | None:
            current = graphql(shop, CURRENT)["data"]["currentBulkOperation"]
            statuses.append(current["status"])
            return current if current["status"] == status else None

        return check

    wait_for(reached("CREATED"), 30, "the created bulk operation")
    shop.simulator.bulk_may_run.set()
    wait_for(reached("RUNNING"), 30, "the bulk operation to run", interval=0.02)
    shop.simulator.bulk_may_complete.set()
    current = wait_for(reached("COMPLETED"), 30, "the bulk operation to complete", interval=0.02)
    assert list(dict.fromkeys(statuses)) == ["CREATED", "RUNNING", "COMPLETED"]
    completed = json.loads((FIXTURES / "graphql_bulk_current_operation_completed.json").read_text())
    assert shape(current) == shape(completed["data"]["currentBulkOperation"])
    assert graphql(
        shop, "query($id: ID!) { node(id: $id) { ... on BulkOperation { status } } }", {"id": current["id"]}
    )["data"]["node"] == {"status": "COMPLETED"}

    download = requests.get(current["url"], timeout=10)
    assert download.status_code == 200
    assert len(download.content) == int(current["fileSize"])
    objects = [json.loads(line) for line in download.text.splitlines()]
    assert len(objects) == int(current["objectCount"])
    roots = [o for o in objects if "__parentId" not in o]
    assert [o["id"] for o in roots] == [o.external_id for _, o in store.iter_updated(NOW)]
    assert int(current["rootObjectCount"]) == len(roots)
    lines = [o for o in objects if "__parentId" in o]
    assert {line["__parentId"] for line in lines} <= {o["id"] for o in roots}
    assert all(line["id"].startswith("gid://shopify/LineItem/") for line in lines)
    assert len(lines) == sum(len(o.lines) for o in store.by_created(NOW))
    assert all("lineItems" not in o for o in roots)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ shop { name } }", "Bulk queries must contain at least one connection."),
        ('mutation { bulkOperationRunQuery(query: "") { userErrors { message } } }', "Only `query` operations"),
        ('{ node(id: "gid://shopify/Order/1") { id } }', "cannot contain a top level `node` field"),
        ("{ orders { nodes { id } } }", "Selecting via 'nodes' is not supported. Invalid connection fields: 'orders'"),
        (
            "{ orders { edges { node { id refunds { refundLineItems { edges { node { quantity } } } } } } } }",
            "Queries that contain a connection field within a list field are not currently supported.",
        ),
        (
            "{ orders { edges { node { name lineItems { edges { node { id } } } } } } }",
            "Connection fields without 'id': lineItems.",
        ),
        (  # products > variants > variants > variants: a third nested level, as in Shopify's example
            "{ products { edges { node { id variants { edges { node { id product { variants { edges { node { id"
            " product { variants { edges { node { id } } } } } } } } } } } } } } }",
            "nesting depth greater than 2",
        ),
        (
            "{ orders { edges { node { id "
            + " ".join(f"l{n}: lineItems {{ edges {{ node {{ id }} }} }}" for n in range(5))
            + " } } } }",
            "more than 5 connections",
        ),
    ],
)
def test_bulk_queries_follow_shopifys_rules(shop, query, message):
    refused = graphql(shop, RUN_BULK, {"query": query})["data"]["bulkOperationRunQuery"]
    assert refused["bulkOperation"] is None
    (error,) = refused["userErrors"]
    assert error["code"] == "INVALID" and error["field"] == ["query"]
    assert message in error["message"]


def _executed_bulk_file(simulator, query: str) -> list[dict]:
    """The reference the bulk runner's projection must match: graphql-core executes the query
    over the whole store, and each connection's nodes are split out into lines of their own
    pointing at the nearest holder's `id` by `__parentId`, as in Shopify's bulk files."""
    result = execute(
        SCHEMA, parse(query), root_value=simulator._root, context_value=_Context(NOW, ""), field_resolver=_resolve_field
    )
    assert not result.errors

    def lines(connection: dict, parent_id: str | None) -> Iterator[dict]:
        for edge in connection["edges"]:
            nested: list[tuple[str | None, dict]] = []
            line = detach(edge["node"], None, nested)
            yield line if parent_id is None else {**line, "__parentId": parent_id}
            for owner_id, child in nested:
                yield from lines(child, owner_id)

    def detach(value, owner_id, nested):
        if isinstance(value, list):
            return [detach(item, owner_id, nested) for item in value]
        if not isinstance(value, dict):
            return value
        own_id = value.get("id", owner_id)
        kept = {}
        for key, item in value.items():
            if isinstance(item, dict) and "edges" in item:
                nested.append((own_id, item))
            else:
                kept[key] = detach(item, own_id, nested)
        return kept

    (connection,) = result.data.values()
    return list(lines(connection, None))


@pytest.mark.parametrize(
    "query",
    [
        BULK_QUERY,
        BULK_ORDERS_QUERY,
        """query Bulk { orders(sortKey: CREATED_AT, reverse: true, query: "updated_at:>='2025-03-10'") { edges {
          cursor node { __typename ...Money id number: name
            lineItems(first: 2) { pageInfo { hasNextPage } edges { node { id ... on LineItem { sku vendor }
              qty: quantity taxLines(first: 1) { rate ratePercentage title } product { id title } } } }
            refunds { id createdAt totalRefundedSet { ...Bag } } noRefunds: refunds(first: 0) { id }
            discountCodes tags: discountCodes
          } } } }
        fragment Money on Order { totalPriceSet { ...Bag } cancelledAt displayFinancialStatus test }
        fragment Bag on MoneyBag { shopMoney { amount currencyCode } presentmentMoney { amount } }""",
        """{ orders(sortKey: UPDATED_AT) { edges { node { id refunds { id } agreements { edges { node {
          __typename id happenedAt reason ... on RefundAgreement { refund { id createdAt } }
          sales { edges { node { __typename id actionType lineType quantity
            totalAmount { shopMoney { amount currencyCode } } totalTaxAmount { shopMoney { amount } }
            totalDiscountAmountBeforeTaxes { shopMoney { amount } }
            ... on ProductSale { lineItem { id sku } } ... on GiftCardSale { item: lineItem { id } } } } }
        } } } } } } }""",
        "{ products(sortKey: TITLE) { edges { node { id title status totalInventory"
        " variants { edges { node { __typename id sku price compareAtPrice product { handle } } } } } } } }",
        "{ productVariants { edges { node { id displayName product { id variants { edges { node { sku } } } } } } } }",
    ],
    ids=["test", "connector", "aliases-fragments", "agreements", "products", "variants"],
)
def test_bulk_files_are_what_graphql_execution_answers(shop, query):
    started = graphql(shop, RUN_BULK, {"query": query})["data"]["bulkOperationRunQuery"]
    assert started["userErrors"] == []

    def finished() -> dict | None:
        current = graphql(shop, CURRENT)["data"]["currentBulkOperation"]
        return current if current["status"] not in ("CREATED", "RUNNING") else None

    current = wait_for(finished, 30, "the bulk operation to finish", interval=0.02)
    assert current["status"] == "COMPLETED"
    objects = [json.loads(line) for line in requests.get(current["url"], timeout=10).text.splitlines()]
    assert objects == _executed_bulk_file(shop.simulator, query)
    assert any("__parentId" in obj for obj in objects)
