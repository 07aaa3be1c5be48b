"""The shop itself: its HTTP routes, the execution of a GraphQL request (validate, cost, throttle,
execute, refund) and the root fields, wired to the package's parts (rendering, search and paging,
bulk operations, webhooks) over one ChannelStore.
"""

from __future__ import annotations

import hmac
import itertools
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from graphql import GraphQLError, default_field_resolver, execute, get_named_type

from simulators import shopifyql
from simulators.business import Business, SimOrder
from simulators.catalog import SHOPIFY
from simulators.server import FaultPlan, SimRequest, SimResponse, SimulatorServer
from simulators.shopify.bulk import BulkOperations
from simulators.shopify.cost import (
    MAX_QUERY_COST,
    Bucket,
    QueryCost,
    cost_extension,
    max_cost_exceeded,
    throttled,
)
from simulators.shopify.paging import WHOLE, page_args, paginate
from simulators.shopify.rendering import SHOP_NAME, Renderer
from simulators.shopify.schema import SCHEMA, RequestErrors
from simulators.shopify.search import GID, Listings, Search
from simulators.shopify.webhooks import WEBHOOK_API_VERSION, WebhookSender, order_topic, rest_order
from simulators.store import ChannelStore, Clock, system_clock

SHOP_DOMAIN = "northwind-audio.myshopify.com"
DEV_ACCESS_TOKEN = "shpat_simulator_dev_token"

_GRAPHQL_PATH = re.compile(r"^/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$")
_BULK_PATH = re.compile(r"^/bulk/(\d+)\.jsonl$")
_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


@dataclass
class _Context:
    """Per execution: the moment the store is read at, and the search warnings to report."""

    as_of: datetime
    base_url: str
    api_version: str = "unstable"
    searches: list[dict] = field(default_factory=list)


def _resolve_field(source: Any, info: Any, **args: Any) -> Any:
    """Nodes hold their children as plain lists; a connection field pages them, a list field
    with `first` cuts them short."""
    value = default_field_resolver(source, info, **args)
    if isinstance(value, list):
        if get_named_type(info.return_type).name.endswith("Connection"):
            return paginate(enumerate(value), **page_args(args)).connection()
        if args.get("first") is not None:
            return value[: args["first"]]
    return value


class ShopifySimulator(BulkOperations):
    """One Shopify shop over a ChannelStore; plug it into a SimulatorServer."""

    name = "shopify"

    def __init__(
        self,
        store: ChannelStore,
        *,
        access_token: str = DEV_ACCESS_TOKEN,
        read_all_orders: bool = True,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        shop_domain: str = SHOP_DOMAIN,
        bulk_delay: float = 0.2,
        bulk_node_connections_only: bool = False,
        bucket_seconds: Callable[[], float] = time.monotonic,
    ) -> None:
        if webhook_url and not webhook_secret:
            raise ValueError("a webhook URL needs a webhook secret to sign deliveries")
        super().__init__(bulk_delay=bulk_delay, bulk_node_connections_only=bulk_node_connections_only)
        self.store = store
        self.access_token = access_token
        self.shop_domain = shop_domain
        self.bucket = Bucket(bucket_size, restore_rate, bucket_seconds)  # refills on bucket_seconds' time
        self.renderer = Renderer(store)
        self.listings = Listings(store, self.renderer, read_all_orders)
        self._webhooks = None
        if webhook_url:
            self._webhooks = WebhookSender(webhook_url, webhook_secret, shop_domain, WEBHOOK_API_VERSION)
            store.on_change = self._order_changed
        self._root = {
            "shop": self._shop,
            "order": self._order,
            "orders": partial(self._connection, "orders"),
            "ordersCount": self._orders_count,
            "product": self._product,
            "products": partial(self._connection, "products"),
            "productVariants": partial(self._connection, "productVariants"),
            "refund": self._refund,
            "node": self._node,
            "nodes": self._nodes,
            "currentBulkOperation": self._current_bulk_operation,
            "bulkOperations": self._bulk_operations,
            "bulkOperationRunQuery": self._run_bulk_query,
            "shopifyqlQuery": self._shopifyql_query,
        }

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        graphql_path = _GRAPHQL_PATH.match(request.path)
        if request.method == "POST" and graphql_path:
            if not self._authorized(request):
                return SimResponse.json(401, {"errors": _INVALID_TOKEN})
            try:
                query, variables, operation_name = self._graphql_request(request)
            except ValueError:
                return SimResponse.json(400, {"errors": {"query": "Required parameter missing or invalid"}})
            answer = self.execute(
                query, variables, operation_name, base_url=_base_url(request), api_version=graphql_path.group(1)
            )
            return SimResponse.json(200, answer)
        match = _BULK_PATH.match(request.path)
        if match and request.method == "GET":
            body = self._bulk_file(int(match.group(1)))
            if body is not None:
                return SimResponse(200, body, {"Content-Type": "application/jsonl"})
        return SimResponse.json(404, {"errors": "Not Found"})

    def rate_limited(self, request: SimRequest) -> SimResponse:
        """Shopify's THROTTLED answer (HTTP 200), with a bucket that really is too low. What
        Shopify refuses before throttling (bad token, invalid or too costly query) is refused."""
        if not _GRAPHQL_PATH.match(request.path):
            return SimResponse.json(429, {"errors": "Too Many Requests"}, {"Retry-After": "1.0"})
        try:
            cost = QueryCost.of(*self._graphql_request(request)).requested()
        except (ValueError, GraphQLError, RequestErrors):
            return self.handle(request)
        if not self._authorized(request) or cost > MAX_QUERY_COST:
            return self.handle(request)
        self.bucket.drain_below(cost)
        return SimResponse.json(200, throttled(self.bucket, cost))

    def describe(self, order_id: int) -> dict:
        """The order as webhooks carry it (REST-shaped)."""
        order = self.store.get(order_id)
        if order is None:
            raise KeyError(f"no order {order_id}")
        return self.rest_order(order, self.store.now())

    def rest_order(self, order: SimOrder, as_of: datetime) -> dict:
        """The REST (and webhook) shape of the order."""
        return rest_order(self.renderer, order, as_of)

    def _authorized(self, request: SimRequest) -> bool:
        token = request.headers.get("X-Shopify-Access-Token") or ""
        return hmac.compare_digest(token.encode(), self.access_token.encode())

    @staticmethod
    def _graphql_request(request: SimRequest) -> tuple[str, dict | None, str | None]:
        """The query, variables and operation name of a POST (JSON, or a bare application/graphql body)."""
        if (request.headers.get("Content-Type") or "").startswith("application/graphql"):
            return request.body.decode(), None, None
        payload = json.loads(request.body or b"null")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ValueError("no query")
        if not isinstance(payload.get("variables") or {}, dict):
            raise ValueError("variables must be an object")
        return payload["query"], payload.get("variables"), payload.get("operationName")

    # --- GraphQL -------------------------------------------------------------------------

    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        base_url: str = "",
        api_version: str = "unstable",
    ) -> dict:
        """Run one GraphQL request as Shopify would: validate, cost, throttle, execute, refund."""
        try:
            cost = QueryCost.of(query, variables, operation_name)
            requested = cost.requested()
        except GraphQLError as exc:
            return {"errors": [exc.formatted]}
        except RequestErrors as exc:
            return {"errors": [error.formatted for error in exc.errors]}
        if requested > MAX_QUERY_COST:
            return max_cost_exceeded(requested)
        if not self.bucket.take(requested):
            return throttled(self.bucket, requested)
        context = _Context(as_of=self.store.now(), base_url=base_url, api_version=api_version)
        result = execute(
            SCHEMA,
            cost.document,
            root_value=self._root,
            context_value=context,
            variable_values=dict(variables or {}),
            operation_name=operation_name,
            field_resolver=_resolve_field,
        )
        actual = cost.actual(result.data)
        self.bucket.give_back(max(0, requested - actual))
        body = result.formatted
        body["extensions"] = {"cost": cost_extension(self.bucket, requested, actual)}
        if context.searches:
            body["extensions"]["search"] = context.searches
        return body

    # --- root fields ---------------------------------------------------------------------

    def _shop(self, info: Any) -> dict:
        business = self.store.business
        return {
            "__typename": "Shop",
            "id": "gid://shopify/Shop/1",
            "name": SHOP_NAME,
            "email": f"owner@{self.shop_domain}",
            "myshopifyDomain": self.shop_domain,
            "currencyCode": self.renderer.currency,
            "ianaTimezone": business.timezone,
            "timezoneAbbreviation": info.context.as_of.astimezone(business.tz).tzname(),
        }

    def _connection(self, name: str, info: Any, **args: Any) -> dict:
        """A root connection (orders, products, productVariants), one page of it."""
        paging = page_args(args)
        search, items, render = self.listings.source(name, args, info.context.as_of, paging)
        _note_search(info, search)
        return paginate(items, **paging).connection(render)

    def _orders_count(self, info: Any, query: str | None = None, limit: int | None = None) -> dict:
        """Shopify's Count: exact below `limit` (null for none), AT_LEAST once the limit is reached."""
        args = {"query": query, "sortKey": "UPDATED_AT"}
        search, orders, _ = self.listings.source("orders", args, info.context.as_of, WHOLE)
        _note_search(info, search)
        count = sum(1 for _ in itertools.islice(orders, limit))
        return {"__typename": "Count", "count": count, "precision": "AT_LEAST" if count == limit else "EXACT"}

    def _order(self, info: Any, id: str) -> dict | None:
        order = self.listings.find_order(id, info.context.as_of)
        return None if order is None else self.renderer.order_node(order, info.context.as_of)

    def _refund(self, info: Any, id: str) -> dict | None:
        match = GID.match(id)
        if not match or match.group(1) != "Refund":
            return None
        # The business numbers an order's refunds order id x 10 + 1..9.
        order = self.listings.find_order(f"gid://shopify/Order/{int(match.group(2)) // 10}", info.context.as_of)
        if order is None:
            return None
        node = self.renderer.order_node(order, info.context.as_of)
        return next((r for r in node["refunds"] if r["id"] == id), None)

    def _product(self, info: Any, id: str) -> dict | None:
        match = GID.match(id)
        return self.renderer.products_by_id.get(int(match.group(2))) if match and match.group(1) == "Product" else None

    def _node(self, info: Any, id: str) -> dict | None:
        match = GID.match(id)
        kind = match.group(1) if match else None
        if kind == "BulkOperation":
            return self._bulk_operation(info, int(match.group(2)))
        resolver = {"Order": self._order, "Refund": self._refund, "Product": self._product}.get(kind)
        return None if resolver is None else resolver(info, id)

    def _nodes(self, info: Any, ids: list[str]) -> list[dict | None]:
        return [self._node(info, node_id) for node_id in ids]

    def _shopifyql_query(self, info: Any, query: str) -> dict:
        """The shop's own daily sales report over every order, whatever the app's order scopes
        (for reconciliation; the query language is in simulators/shopifyql.py)."""
        as_of = info.context.as_of
        return shopifyql.run(query, self.store.by_created(as_of), as_of, self.store.business.tz)

    # --- webhooks ------------------------------------------------------------------------

    def _order_changed(self, order: SimOrder) -> None:
        now = self.store.now()
        self._webhooks.send(order_topic(order, now), self.rest_order(order, now))


def _note_search(info: Any, search: Search) -> None:
    """Report the search terms Shopify would ignore, under `extensions.search`."""
    if search.warnings:
        info.context.searches.append({"path": info.path.as_list(), "query": search.text, "warnings": search.warnings})


def _base_url(request: SimRequest) -> str:
    """The scheme and host the client reached us by: bulk file URLs point back there."""
    return f"http://{request.headers.get('Host') or '127.0.0.1'}"


def build_shopify(
    business: Business,
    *,
    port: int = 0,
    history_days: int = 730,
    live_interval: float | None = None,
    clock: Clock = system_clock,
    faults: FaultPlan | None = None,
    **options: Any,
) -> SimulatorServer:
    """A Shopify shop for `business` on 127.0.0.1:`port`, not yet started. `options` are
    ShopifySimulator's keyword arguments (token, read_all_orders, webhooks, bucket)."""
    store = ChannelStore(business, SHOPIFY, history_days=history_days, clock=clock, live_interval=live_interval)
    return SimulatorServer(ShopifySimulator(store, **options), port=port, faults=faults)
