"""ShopifyConnector: the Connector interface over one shop's GraphQL Admin API (the package
docstring tells how it reads orders)."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
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
from connectors.shopify.client import PAGE_SIZE, ShopifyGraphQL
from connectors.shopify.mapping import (
    OrderParts,
    RefundParts,
    add_sale,
    line_record,
    order_record,
    parse_time,
    product_record,
    refund_from_node,
)
from connectors.shopify.queries import (
    API_VERSION,
    BULK_IN_PROGRESS_QUERY,
    BULK_NODE_QUERY,
    BULK_RUN_MUTATION,
    FOLLOW_UPS,
    ORDERS_QUERY,
    REFUNDS_QUERY,
    SALES_REPORT_QUERY,
    SHOP_QUERY,
    SPAN_QUERY,
    VARIANTS_QUERY,
    bulk_orders_query,
    follow_up_query,
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
# Polling a bulk operation costs 1 point (of a bucket restoring 100-2,000 per second), so poll
# often while the job is young: small jobs (an incremental sync) end within a second or two.
# Growing the delay by a quarter keeps the wait past completion under a quarter of the job's
# run time, and the cap bounds it for long jobs (a large backfill runs for minutes).
BULK_POLL_FIRST = 0.1  # seconds
BULK_POLL_GROWTH = 1.25
BULK_POLL_MAX = 2.0
BULK_TIMEOUT = 6 * 3600.0
# A bulk read of many orders is cut into windows of `updated_at` of about this many orders, one
# bulk operation each (Airbyte reads 30-day slices): the first orders are written after a small
# export rather than the whole shop's, Shopify builds the next files while the last is written,
# and a sync stopped mid-way resumes from the last page written, the cursor, as pages still
# come in `updated_at` order.
BULK_WINDOW_ORDERS = 10_000
# Bulk operations a sync keeps running: Shopify allows one per shop before API version 2026-01
# and five from it. Two hide the time Shopify queues an operation and writes its file behind
# the building of the one before; more would only be queued behind them.
BULK_IN_FLIGHT = 2
CONCURRENT_BULK_SINCE = "2026-01"
BULK_START_ATTEMPTS = 3


class BulkQueryRefused(ConnectorError):
    """Shopify refused a bulk query itself (a userError other than one already running)."""


class ShopifyConnector(Connector):
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
        self._bulk_in_flight = BULK_IN_FLIGHT if api_version >= CONCURRENT_BULK_SINCE else 1  # unstable sorts after
        headers = {"X-Shopify-Access-Token": self.secrets["access_token"]}
        self.http = HttpClient(base_url, headers, hosts=self.api_hosts, network=network, **http_options)
        self.graphql = ShopifyGraphQL(self.http, f"/admin/api/{api_version}/graphql.json", self.shop_domain)
        # Bulk files are served from storage URLs Shopify hands back, on hosts of its choosing: any
        # host, under the same policy (https, public addresses). Never send the access token there.
        self.files = HttpClient("", hosts=None, network=network, **http_options)
        self._ledger_in_bulk = True  # until the shop refuses Order.agreements in a bulk query

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
        search = None if since is None else f"updated_at:>='{_iso(since)}'"
        span = self.graphql.query(SPAN_QUERY, {"search": search})
        self.expected_total = span["ordersCount"]["count"]
        if search is not None and self.expected_total <= BULK_ABOVE:
            batches: Iterable[list[OrderParts]] = [self._paged_orders(search)]
        else:
            batches = self._bulk_orders(_windows(search, span))
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

    # --- orders --------------------------------------------------------------------------

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

    def _bulk_orders(self, searches: Sequence[str | None]) -> Iterator[list[OrderParts]]:
        """The orders of each search (a window), from its bulk file, in turn. Up to
        `_bulk_in_flight` operations run at once, the next starting as soon as one completes, so
        Shopify builds the next windows while this file is downloaded and written."""
        started = [self._start_bulk_orders(search) for search in searches[: self._bulk_in_flight]]
        for index in range(len(searches)):
            operation = self._completed_bulk(started[index])
            if index + self._bulk_in_flight < len(searches):
                started.append(self._start_bulk_orders(searches[index + self._bulk_in_flight]))
            yield self._download(operation["url"], int(operation["objectCount"])) if operation["url"] else []

    def _start_bulk_orders(self, search: str | None) -> str:
        """Start the bulk query of `search`'s orders. Shopify's bulk guide says connections must
        implement Node and Sale does not: if the shop refuses the agreements' sales, the orders
        come without them from then on, and their refunds are read by id (slower, same data)."""
        if self._ledger_in_bulk:
            try:
                return self._start_bulk(bulk_orders_query(search))
            except BulkQueryRefused as exc:
                log.warning("shopify bulk refused the refund ledger, reading refunds by id instead: %s", exc)
                self._ledger_in_bulk = False
        return self._start_bulk(bulk_orders_query(search, agreements=False))

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

    # --- bulk operations -----------------------------------------------------------------

    def _start_bulk(self, query: str) -> str:
        """Start a bulk query, or adopt ours if it is already running; its operation's id."""
        for _ in range(BULK_START_ATTEMPTS):
            payload = self.graphql.query(BULK_RUN_MUTATION, {"query": query})["bulkOperationRunQuery"]
            errors = payload["userErrors"]
            if not errors:
                operation_id = payload["bulkOperation"]["id"]
                log.info("shopify bulk started id=%s", operation_id)
            elif any(e.get("code") in ("OPERATION_IN_PROGRESS", "LIMIT_REACHED") for e in errors):
                # Ours if one in progress has the same query (a retried request, an interrupted
                # sync): adopt it; otherwise wait for the oldest to end, as only one (five from
                # API version 2026-01) may run at a time.
                running = self.graphql.query(BULK_IN_PROGRESS_QUERY)["bulkOperations"]["nodes"]
                ours = next((operation for operation in running if operation["query"] == query), None)
                if ours is None:
                    if running:
                        self._await_bulk(BULK_NODE_QUERY, {"id": running[-1]["id"]})
                    continue
                operation_id = ours["id"]
                log.info("shopify bulk adopted id=%s", operation_id)
            else:
                raise BulkQueryRefused(f"Shopify refused the bulk query: {'; '.join(e['message'] for e in errors)}")
            return operation_id
        raise ConnectorError("another bulk operation kept Shopify busy; try the backfill again later")

    def _completed_bulk(self, operation_id: str) -> dict:
        """Wait for a bulk operation to end; it must have completed."""
        operation = self._await_bulk(BULK_NODE_QUERY, {"id": operation_id})
        if operation is None or operation["status"] != "COMPLETED":
            state = "gone" if operation is None else f"{operation['status']} ({operation['errorCode']})"
            raise ConnectorError(f"Shopify bulk operation {operation_id} ended {state}")
        log.info("shopify bulk completed id=%s objects=%s", operation_id, operation["objectCount"])
        return operation

    def _await_bulk(self, query: str, variables: Mapping[str, Any]) -> dict | None:
        """Poll a bulk operation, backing off gently, until it is no longer created or running."""
        delay, deadline = BULK_POLL_FIRST, time.monotonic() + BULK_TIMEOUT
        while True:
            (operation,) = self.graphql.query(query, variables).values()
            if operation is None or operation["status"] not in ("CREATED", "RUNNING"):
                return operation
            self.report_activity(f"Shopify is preparing the export: {int(operation['objectCount']):,} records so far")
            if time.monotonic() > deadline:
                raise ConnectorError(f"Shopify bulk operation {operation['id']} did not finish in time")
            self.http.sleep(delay)
            delay = min(delay * BULK_POLL_GROWTH, BULK_POLL_MAX)

    def _download(self, url: str, expected: int) -> list[OrderParts]:
        """The orders of a bulk file; a file cut short (fewer objects than the operation
        counted, or a broken last line) is downloaded again."""

        def parse(body: bytes) -> list[OrderParts]:
            lines = [line for line in body.splitlines() if line.strip()]
            if len(lines) != expected:
                raise ValueError(f"bulk file holds {len(lines)} objects, not {expected}")
            return orders_from_bulk(_json_lines(lines))

        self.report_activity(f"Downloading and reading Shopify's export of {expected:,} records")
        orders, _ = self.files.request_json("GET", url, parse=parse)
        return orders


def orders_from_bulk(objects: Iterable[dict]) -> list[OrderParts]:
    """Rebuild orders from a bulk file's objects. Line items and agreements point at their order
    by `__parentId`, sales at their agreement, and are attached by that, never by their place in
    the file, which Shopify does not promise. Line items become records as they are read, so a
    large shop's millions of small dicts never pile up."""
    orders: dict[str, OrderParts] = {}
    lines: list[tuple[str, records.LineItem]] = []
    refunds: dict[str, tuple[str, RefundParts]] = {}  # by agreement id: the order's id, the refund
    sales: list[tuple[str, dict]] = []
    with cycle_collector_paused():
        for obj in objects:
            parent_id = obj.pop("__parentId", None)
            if parent_id is None:
                orders[obj["id"]] = (obj, [], {})
            elif "refund" in obj:
                refunds[obj["id"]] = (parent_id, RefundParts(obj["refund"]["id"], obj["refund"]["createdAt"]))
            elif "lineType" in obj:
                sales.append((parent_id, obj))
            elif "quantity" in obj:
                lines.append((parent_id, line_record(obj)))
            # else an agreement other than a refund's (the order's own, an edit's): read for nothing
    for agreement_id, sale in sales:
        if agreement_id not in refunds:
            raise ConnectorError("the bulk file holds a sale whose refund agreement is missing")
        add_sale(refunds[agreement_id][1], sale)

    def order(parent_id: str) -> OrderParts:
        if parent_id not in orders:
            raise ConnectorError("the bulk file holds a line item or refund whose order is missing")
        return orders[parent_id]

    for parent_id, line in lines:
        order(parent_id)[1].append(line)
    for parent_id, refund in refunds.values():
        order(parent_id)[2][refund.id] = refund
    return list(orders.values())


def _iso(moment: datetime) -> str:
    """A search-syntax date: aware UTC (a naive moment is taken to be UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _windows(search: str | None, span: Mapping[str, Any]) -> list[str | None]:
    """`search` cut into windows of `updated_at` of about BULK_WINDOW_ORDERS orders (by time,
    evenly between the oldest and the newest update): each window starts where the last ended,
    the first has no lower bound beyond `search`'s and the last no upper bound, so an order
    updated while the windows are read lands in the last one and none is missed."""
    windows = -(-span["ordersCount"]["count"] // BULK_WINDOW_ORDERS)
    if windows <= 1:
        return [search]
    first, last = (parse_time(span[end]["nodes"][0]["updatedAt"]) for end in ("oldest", "newest"))
    step = (last - first) / windows
    bounds = [_iso((first + step * n).replace(microsecond=0)) for n in range(1, windows)]
    return [
        " AND ".join(
            term for term in (search, low and f"updated_at:>='{low}'", high and f"updated_at:<'{high}'") if term
        )
        for low, high in zip([None, *bounds], [*bounds, None], strict=True)
    ]


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


def _json_lines(lines: Sequence[bytes], batch: int = 2000) -> Iterator[dict]:
    """The objects of JSONL lines, parsed a batch at a time as one JSON array: a json.loads call
    for each line costs more than the parsing itself, and batches bound what is alive at once."""
    for start in range(0, len(lines), batch):
        yield from json.loads(b"[" + b",".join(lines[start : start + batch]) + b"]")
