"""Shopify's own Python client (ShopifyAPI) talks to the simulator unchanged.

The client builds `https://{shop}.myshopify.com/admin/api/{version}/graphql.json` and sends it
with urllib. Here the session speaks plain http and urllib goes through an HTTP proxy that is
the simulator, so the shop domain, path and headers are exactly the client's own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
import shopify

from simulators.business import Business
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, SHOP_NAME, build_shopify
from simulators.store import ManualClock
from tests.conftest import wait_for

NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
ORDERS = """query Orders($first: Int!, $after: String) {
  shop { name currencyCode }
  orders(first: $first, after: $after, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name totalPriceSet { shopMoney { amount currencyCode } } } }
  }
}"""


@pytest.fixture
def shop(monkeypatch):
    with build_shopify(Business(scale=0.2), history_days=10, clock=ManualClock(NOW), bulk_delay=0.02) as server:
        monkeypatch.setattr(shopify.Session, "protocol", "http")
        proxy = urllib.request.ProxyHandler({"http": server.url})
        urllib.request.install_opener(urllib.request.build_opener(proxy))
        yield server
        urllib.request.install_opener(None)
        shopify.ShopifyResource.clear_session()


def activate(token: str = DEV_ACCESS_TOKEN) -> None:
    shopify.ShopifyResource.activate_session(shopify.Session(SHOP_DOMAIN, "2025-10", token))


def execute(query: str, variables: dict | None = None) -> dict:
    return json.loads(shopify.GraphQL().execute(query, variables))


def test_the_official_client_pages_through_orders(shop):
    activate()
    names, after = [], None
    while True:
        body = execute(ORDERS, {"first": 25, "after": after})
        assert body["data"]["shop"] == {"name": SHOP_NAME, "currencyCode": "USD"}
        assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 2 + 25 * 3
        page = body["data"]["orders"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == [order.name for _, order in shop.simulator.store.iter_updated(NOW)]


def test_the_official_client_runs_a_bulk_operation(shop):
    activate()
    run = "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { message } } }"
    started = execute(run, {"q": "{ orders { edges { node { id lineItems { edges { node { id } } } } } } }"})
    assert started["data"]["bulkOperationRunQuery"]["userErrors"] == []

    def completed() -> dict | None:
        current = execute("{ currentBulkOperation { status objectCount url } }")["data"]["currentBulkOperation"]
        return current if current["status"] == "COMPLETED" else None

    current = wait_for(completed, 30, "the bulk operation to complete", interval=0.02)
    with urllib.request.urlopen(current["url"]) as response:
        lines = response.read().decode().splitlines()
    assert len(lines) == int(current["objectCount"])
    assert sum("__parentId" not in json.loads(line) for line in lines) == len(shop.simulator.store.by_created(NOW))


def test_the_official_client_sees_a_wrong_token_refused(shop, capsys):
    activate("shpat_wrong")
    with pytest.raises(urllib.error.HTTPError) as refused:
        execute("{ shop { name } }")
    assert refused.value.code == 401
    assert "Invalid API key or access token" in capsys.readouterr().out  # the client prints the body
