"""Raw events read from the wire: the payloads a running simulator serves, fetched over HTTP with
`requests` and read by their platform's field semantics (connectors.md), sharing no code with
connectors/. tests/pandas_metrics.py turns them into the metrics the app must show.

- Shopify: every order in a bulk operation's JSONL export of the GraphQL Admin API, with its
  lines (original unit price, quantity, gift-card flag, discount allocations) and its refunds as
  the sales ledger books them (a refund agreement's negative sales of goods and shipping, tax
  included). Test and voided orders are not sales.
- Best Buy (Mirakl): OR11 pages. An order is a sale once the seller accepted it; a line's
  discount is its promotions' deduced amounts, its gross its origin unit price x quantity; the
  order's shipping and shipping taxes ride on its lines; refunds and cancelations are entries of
  the lines they return, each with its own date. Commission is not read: it is no sale.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import requests

from tests.pandas_metrics import Events

ATTEMPTS = 30  # the simulators may have faults configured: a refused or cut answer is asked again
TIMEOUT = 30.0
SHOPIFY_PATH = "/admin/api/2026-10/graphql.json"
BULK_DEADLINE = 120.0  # seconds a bulk export may take to be built
_MONEY = "shopMoney { amount }"
# Every order, from a bulk operation's JSONL file: lines become rows of their own pointing to
# their order by __parentId, and refunds come from the sales ledger, whose refund agreements
# hold a (negative) sale per line and shipping line given back, money tax included.
SHOPIFY_BULK = f"""{{ orders {{ edges {{ node {{
  id processedAt test displayFinancialStatus currencyCode
  totalShippingPriceSet {{ {_MONEY} }} totalTaxSet {{ {_MONEY} }}
  lineItems {{ edges {{ node {{ id sku quantity isGiftCard originalUnitPriceSet {{ {_MONEY} }}
    discountAllocations {{ allocatedAmountSet {{ {_MONEY} }} }} }} }} }}
  agreements {{ edges {{ node {{ id ... on RefundAgreement {{ refund {{ id createdAt }}
    sales {{ edges {{ node {{ lineType quantity totalAmount {{ {_MONEY} }} totalTaxAmount {{ {_MONEY} }}
      ... on ProductSale {{ lineItem {{ id }} }} }} }} }} }} }} }} }}
}} }} }} }}"""
RUN_BULK = """mutation Run($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id } userErrors { code message } }
}"""
BULK_STATUS = "query Status($id: ID!) { node(id: $id) { ... on BulkOperation { status errorCode url } } }"


def _ask(call: Callable[[], requests.Response], parse: Callable[[requests.Response], Any]) -> Any:
    """An answer, asked again while the server is unavailable, throttles or cuts it short."""
    wait = 0.0
    for _ in range(ATTEMPTS):
        time.sleep(wait)
        try:
            response = call()
            if response.status_code == 200:
                answer = parse(response)
                if answer is not None:
                    return answer
                wait = 0.5  # Shopify THROTTLED: the simulator refills its bucket in real time
            else:
                wait = float(response.headers.get("Retry-After") or 0.05)
        except (requests.RequestException, ValueError):
            wait = 0.05
    raise AssertionError(f"the simulator did not answer in {ATTEMPTS} attempts")


def _money(bag: dict | None) -> Decimal:
    return Decimal(bag["shopMoney"]["amount"]) if bag else Decimal(0)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Shopify:
    """The shop's GraphQL Admin API, asked again whenever it throttles or fails."""

    def __init__(self, base_url: str, access_token: str) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # straight to the simulator, whatever proxy the environment names
        self.session.headers["X-Shopify-Access-Token"] = access_token
        self.url = base_url + SHOPIFY_PATH

    def graphql(self, query: str, variables: dict) -> dict:
        body = {"query": query, "variables": variables}
        return _ask(partial(self.session.post, self.url, json=body, timeout=TIMEOUT), self._data)

    @staticmethod
    def _data(response: requests.Response) -> dict | None:
        body = response.json()
        if body.get("errors"):
            if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in body["errors"]):
                return None
            raise AssertionError(f"Shopify refused the oracle's query: {body['errors']}")
        return body["data"]

    def bulk_file(self, query: str) -> list[dict]:
        """The JSONL file of a bulk operation running `query`, once Shopify has built it."""
        deadline = time.monotonic() + BULK_DEADLINE
        while True:
            run = self.graphql(RUN_BULK, {"query": query})["bulkOperationRunQuery"]
            if run["bulkOperation"]:
                break
            assert time.monotonic() < deadline and "INVALID" not in {e["code"] for e in run["userErrors"]}, run
            time.sleep(0.05)  # the shop runs as many operations as it allows: wait for one to end
        while True:
            status = self.graphql(BULK_STATUS, {"id": run["bulkOperation"]["id"]})["node"]
            if status["status"] == "COMPLETED":
                break
            assert status["status"] in ("CREATED", "RUNNING") and time.monotonic() < deadline, status
            time.sleep(0.05)
        if status["url"] is None:  # nothing to export
            return []
        return _ask(partial(self.session.get, status["url"], timeout=TIMEOUT), _jsonl)


def _jsonl(response: requests.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines()]


def shopify_events(base_url: str, access_token: str, platform_id: int) -> Events:
    """Every order the shop shows, read from a bulk export of its GraphQL Admin API."""
    rows: tuple[list, list, list, list] = ([], [], [], [])
    orders, lines, refunds, refund_lines = rows
    agreements: dict[str, tuple[str, str]] = {}  # refund agreement -> (order, refund)
    for obj in _Shopify(base_url, access_token).bulk_file(SHOPIFY_BULK):
        kind = obj["id"].split("/")[3] if "id" in obj else "Sale"
        if kind == "Order":
            counted = not obj["test"] and obj["displayFinancialStatus"] != "VOIDED"
            shipping, taxes = _money(obj["totalShippingPriceSet"]), _money(obj["totalTaxSet"])
            orders.append(
                (platform_id, obj["id"], obj["currencyCode"], _time(obj["processedAt"]), counted, shipping, taxes)
            )
        elif kind == "LineItem":
            discount = sum((_money(a["allocatedAmountSet"]) for a in obj["discountAllocations"]), Decimal(0))
            price = _money(obj["originalUnitPriceSet"])
            lines.append(
                (obj["__parentId"], obj["id"], obj["sku"], obj["quantity"], price, discount, obj["isGiftCard"])
            )
        elif kind == "SalesAgreement" and "refund" in obj:
            refund = obj["refund"]
            agreements[obj["id"]] = (obj["__parentId"], refund["id"])
            refunds.append([obj["__parentId"], refund["id"], _time(refund["createdAt"]), Decimal(0), Decimal(0)])
        elif kind == "Sale" and obj["__parentId"] in agreements:
            _given_back(obj, *agreements[obj["__parentId"]], refunds, refund_lines)
    return Events.of(orders, lines, [tuple(r) for r in refunds], refund_lines)


def _given_back(sale: dict, order: str, refund: str, refunds: list, refund_lines: list) -> None:
    """A refund agreement's sale: goods (a product line) or shipping given back, booked negative."""
    tax = -_money(sale["totalTaxAmount"])
    value = -_money(sale["totalAmount"]) - tax
    row = next(r for r in reversed(refunds) if r[:2] == [order, refund])
    row[4] += tax
    if sale["lineType"] == "SHIPPING":
        row[3] += value
    elif sale["lineType"] == "PRODUCT":
        refund_lines.append((order, refund, sale["lineItem"]["id"], -sale["quantity"], value))


def _mirakl_page(response: requests.Response) -> dict:
    return json.loads(response.text, parse_float=Decimal, parse_int=Decimal)


def mirakl_events(base_url: str, api_key: str, platform_id: int) -> Events:
    """Every order the shop shows, read from OR11 a hundred at a time."""
    session = requests.Session()
    session.trust_env = False  # straight to the simulator, whatever proxy the environment names
    headers = {"Authorization": api_key}
    rows: tuple[list, list, list, list] = ([], [], [], [])
    offset = 0
    while True:
        params = {"max": 100, "offset": offset}
        get = partial(session.get, base_url + "/api/orders", params=params, headers=headers, timeout=TIMEOUT)
        page = _ask(get, _mirakl_page)
        for order in page["orders"]:
            _mirakl_order(order, platform_id, *rows)
        offset += len(page["orders"])
        if not page["orders"] or offset >= page["total_count"]:
            return Events.of(*rows)


def _amounts(entries: list[dict] | None) -> Decimal:
    return sum((entry["amount"] for entry in entries or ()), Decimal(0))


def _mirakl_order(raw: dict, platform_id: int, orders: list, lines: list, refunds: list, refund_lines: list) -> None:
    order = raw["order_id"]
    accepted = raw["acceptance_decision_date"] is not None and raw["order_state"] != "REFUSED"
    shipping = sum((line["shipping_price"] for line in raw["order_lines"]), Decimal(0))
    taxes = sum((_amounts(line["taxes"]) + _amounts(line["shipping_taxes"]) for line in raw["order_lines"]), Decimal(0))
    orders.append((platform_id, order, raw["currency_iso_code"], _time(raw["created_date"]), accepted, shipping, taxes))
    for line in raw["order_lines"]:
        line_id = line["order_line_id"]
        discount = sum((p["deduced_amount"] for p in line.get("promotions") or ()), Decimal(0))
        lines.append(
            (order, line_id, line["offer_sku"], int(line["quantity"]), line["origin_unit_price"], discount, False)
        )
        for kind in ("refunds", "cancelations"):
            for entry in line.get(kind) or ():
                refund = f"{kind}:{entry['id']}"
                taxes = _amounts(entry.get("taxes")) + _amounts(entry.get("shipping_taxes"))
                refunds.append((order, refund, _time(entry["created_date"]), entry["shipping_amount"], taxes))
                refund_lines.append((order, refund, line_id, int(entry["quantity"]), entry["amount"]))
