"""ShopifyConnector: the Connector interface over one shop's GraphQL Admin API, and the reads
that are not bulk operations: orders page by page, refunds by id, products, the sales report
(the package docstring tells which path a sync takes)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, TypeVar

import records
from connectors.base import (
    STRICT,
    AccountInfo,
    AuthError,
    Connector,
    ConnectorError,
    HttpClient,
    NetworkPolicy,
    TransientError,
)
from connectors.shopify import report as shopify_report
from connectors.shopify.bulk import BulkOrders, bulk_in_flight, bulk_windows
from connectors.shopify.client import PAGE_SIZE, ShopifyGraphQL
from connectors.shopify.mapping import (
    OrderParts,
    line_record,
    order_record,
    product_record,
    refund_from_node,
)
from connectors.shopify.queries import (
    API_VERSION,
    FOLLOW_UPS,
    ORDERS_QUERY,
    REFUNDS_QUERY,
    SALES_REPORT_QUERY,
    SHOP_QUERY,
    SPAN_QUERY,
    VARIANTS_QUERY,
    follow_up_query,
    search_time,
)
from connectors.shopify.webhooks import order_from_webhook, verify_webhook
from records import cycle_collector_paused

log = logging.getLogger(__name__)
_T = TypeVar("_T")

RECORDS_PER_PAGE = 1000  # records are yielded (and written, one transaction each) in pages of this size
# Changed orders above which an incremental sync runs as a bulk operation. 250 orders page in 15
# calls charged ~4,500 points (about 18 an order): a fifth of a Plus shop's bucket, but twice a
# standard shop's (2,000 points restoring 100/s). A bulk operation costs ~10 points whatever its
# size, but queues for seconds on Shopify and keeps the app from running another meanwhile.
BULK_ABOVE = 250


class ShopifyConnector(BulkOrders, Connector):
    """One Shopify shop through a custom app's Admin API access token.

    Config: `shop_domain` (the shop's *.myshopify.com name), optional `api_version` (default
    2026-10) and `base_url` (default https://{shop_domain}; the simulator's URL in development:
    the network policy allows only *.myshopify.com otherwise). Secrets: `access_token`, and
    optionally `webhook_secret` for `read_webhook`. `http_options` go to the HttpClient
    (timeouts, retries, sleep), so tests can make the client quick to give up and retry.
    """

    kind = "shopify"
    config_fields = ("shop_domain",)
    secret_fields = ("access_token",)
    api_hosts = ("*.myshopify.com",)
    has_daily_report = True

    def __init__(
        self,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        network: NetworkPolicy = STRICT,
        **http_options: Any,
    ) -> None:
        super().__init__(config, secrets)
        self.shop_domain = self.config["shop_domain"]
        base_url = self.config.get("base_url") or f"https://{self.shop_domain}"
        api_version = self.config.get("api_version") or API_VERSION
        self._bulk_in_flight = bulk_in_flight(api_version)
        headers = {"X-Shopify-Access-Token": self.secrets["access_token"]}
        self.http = HttpClient(base_url, headers, hosts=self.api_hosts, network=network, **http_options)
        self.graphql = ShopifyGraphQL(self.http, f"/admin/api/{api_version}/graphql.json", self.shop_domain)
        # Bulk files are served from storage URLs Shopify hands back, on hosts of its choosing: any
        # host, under the same policy (https, public addresses). Never send the access token there.
        self.files = HttpClient("", hosts=None, network=network, **http_options)
        self._ledger_in_bulk = True

    # --- the interface -------------------------------------------------------------------

    @property
    def endpoint(self) -> tuple[str, str]:
        return "base_url" if self.config.get("base_url") else "shop_domain", self.http.base_url

    def check(self) -> AccountInfo:
        shop = self.graphql.query(SHOP_QUERY)["shop"]
        extra = {"timezone": shop["ianaTimezone"], "domain": shop["myshopifyDomain"]}
        return AccountInfo(name=shop["name"], currency=shop["currencyCode"], extra=extra)

    def fetch_orders(self, since: datetime | None) -> Iterator[list[records.Order]]:
        """A backfill runs bulk operations, a window of `updated_at` each; an incremental sync
        pages through a few changed orders (no bulk job to wait for) but runs bulk operations for
        many. Pages come in ascending `updated_at`, window after window."""
        search = None if since is None else f"updated_at:>='{search_time(since)}'"
        span = self.graphql.query(SPAN_QUERY, {"search": search})
        self.expected_total = span["ordersCount"]["count"]
        if search is not None and self.expected_total <= BULK_ABOVE:
            batches: Iterable[list[OrderParts]] = [self._paged_orders(search)]
        else:
            batches = self._bulk_orders(bulk_windows(search, span))
        read = 0
        for orders in _read_ahead(map(self._records, batches)):
            read += len(orders)
            self.expected_total = max(self.expected_total, read)  # orders placed while it ran
            for start in range(0, len(orders), RECORDS_PER_PAGE):
                yield orders[start : start + RECORDS_PER_PAGE]

    def _records(self, parts: list[OrderParts]) -> list[records.Order]:
        """A batch's orders as records (their refunds read), in ascending `updated_at`."""
        self._read_refunds(parts)
        with cycle_collector_paused():
            return sorted(itertools.starmap(order_record, parts), key=lambda o: (o.updated_at, o.external_id))

    def fetch_products(self) -> Iterator[list[records.Product]]:
        """One record per variant: the variant is what is sold and what carries the SKU."""
        after = None
        while True:
            data = self.graphql.query(VARIANTS_QUERY, {"first": PAGE_SIZE, "after": after})
            connection = data["productVariants"]
            yield [product_record(node, data["shop"]["currencyCode"]) for node in connection["nodes"]]
            if not connection["pageInfo"]["hasNextPage"]:
                return
            after = connection["pageInfo"]["endCursor"]

    def fetch_daily_report(self, start: date, end: date) -> list[records.ReportDay]:
        """Shopify's sales report by day (ShopifyQL; the token needs the read_reports scope), on
        the shop's days and in its currency."""
        shopifyql = shopify_report.SHOPIFYQL.format(start=start.isoformat(), end=end.isoformat())
        try:
            data = self.graphql.query(SALES_REPORT_QUERY, {"query": shopifyql})
        except AuthError as exc:
            raise AuthError(f"{exc}; the sales report also needs the read_reports scope") from exc
        answer, shop = data["shopifyqlQuery"], data["shop"]
        if answer is None or answer["tableData"] is None or answer["parseErrors"]:
            problems = "; ".join((answer or {}).get("parseErrors") or ["no table"])
            raise ConnectorError(f"Shopify did not answer the sales report query: {problems}")
        timezone, currency = shop["ianaTimezone"], shop["currencyCode"]
        try:
            days = shopify_report.from_shopifyql(answer["tableData"], timezone, currency)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ConnectorError(f"Shopify's sales report is not in the expected shape ({exc!r})") from None
        return records.every_day(days, start, end, timezone, currency)

    def read_webhook(self, body: bytes, hmac_header: str | None) -> records.Order:
        """A verified orders/* webhook as a record; AuthError if the signature is wrong."""
        secret = self.secrets.get("webhook_secret")
        if not secret:
            raise ConnectorError("no webhook_secret is configured for this shop")
        if not verify_webhook(secret, body, hmac_header or ""):
            raise AuthError("webhook signature does not match the webhook secret")
        return order_from_webhook(json.loads(body))

    # --- orders by page, refunds by id ---------------------------------------------------

    def _paged_orders(self, search: str) -> list[OrderParts]:
        """The orders matching `search`, page by page, each with all of its lines."""
        parts: list[OrderParts] = []
        after = None
        while True:
            connection = self.graphql.sized_query(ORDERS_QUERY, {"after": after, "search": search})["orders"]
            for node in connection["nodes"]:
                lines = self._rest_of("order", node["id"], "lineItems", node.pop("lineItems"))
                parts.append((node, [line_record(line) for line in lines], {}))
            if not connection["pageInfo"]["hasNextPage"]:
                return parts
            after = connection["pageInfo"]["endCursor"]

    def _complete_refund(self, refund: dict) -> dict:
        """Fetch the rest of a refund's lines that did not fit in its first page."""
        for connection in FOLLOW_UPS["refund"]:
            refund[connection]["nodes"] = self._rest_of("refund", refund["id"], connection, refund[connection])
        return refund

    def _rest_of(self, owner: str, owner_id: str, connection: str, page: Mapping[str, Any]) -> list[dict]:
        query = follow_up_query(owner, connection)
        nodes = list(page["nodes"])
        while page["pageInfo"]["hasNextPage"]:
            holder = self.graphql.query(query, {"id": owner_id, "after": page["pageInfo"]["endCursor"]})[owner]
            if holder is None:
                raise TransientError(f"{owner_id} disappeared while its {connection} were read")
            page = holder[connection]
            nodes += page["nodes"]
        return nodes

    def _read_refunds(self, parts: list[OrderParts]) -> None:
        """Read by id the refunds orders name but were not read with them: a page's, and in a bulk
        file any without an agreement (Shopify makes one for every refund, so none is expected)."""
        owners = {  # each unread refund's id, and its order's refunds to add it to
            ref["id"]: refunds for node, _, refunds in parts for ref in node["refunds"] if ref["id"] not in refunds
        }
        pending = list(owners)
        while pending:
            nodes = self.graphql.sized_query(REFUNDS_QUERY, {}, ids=pending)["nodes"]
            for refund_id, node in zip(pending, nodes, strict=False):  # one answer per id, in order
                if node is None:
                    raise TransientError(f"refund {refund_id} could not be read")
                owners[refund_id][refund_id] = refund_from_node(self._complete_refund(node))
            pending = pending[len(nodes) :]


def _read_ahead(batches: Iterator[_T]) -> Iterator[_T]:
    """`batches`, each produced in a thread while the caller works on the one before: the next
    window is downloaded and read while this one is written, which is mostly waiting on the
    database. Its errors are raised here, in turn; a caller that stops early leaves the thread
    to finish the batch it is on, unread."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopify-read-ahead")
    try:
        pending = pool.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = pool.submit(next, batches, None)
            yield batch
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
