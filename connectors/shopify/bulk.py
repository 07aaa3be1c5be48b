"""Shopify's bulk operations for orders: one per window of `updated_at`, started (or adopted if
ours is already running), polled until Shopify has written its JSONL file, and the file
downloaded and rebuilt into orders. ShopifyConnector reads its bulk orders through BulkOrders."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import records
from connectors.base import ConnectorError, HttpClient
from connectors.shopify.client import ShopifyGraphQL
from connectors.shopify.mapping import OrderParts, RefundParts, add_sale, line_record, parse_time
from connectors.shopify.queries import (
    BULK_IN_PROGRESS_QUERY,
    BULK_NODE_QUERY,
    BULK_RUN_MUTATION,
    bulk_orders_query,
    search_time,
)
from records import cycle_collector_paused

log = logging.getLogger(__name__)

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


def bulk_in_flight(api_version: str) -> int:
    """How many bulk operations a sync keeps running at this API version."""
    return BULK_IN_FLIGHT if api_version >= CONCURRENT_BULK_SINCE else 1  # unstable sorts after


class BulkQueryRefused(ConnectorError):
    """Shopify refused a bulk query itself (a userError other than one already running)."""


class BulkOrders:
    """The bulk half of ShopifyConnector: a mixin, as its steps share the connector's GraphQL
    client, file client and activity reports (declared here, set by the connector)."""

    graphql: ShopifyGraphQL
    http: HttpClient  # its sleep waits between polls
    files: HttpClient  # downloads bulk files, from hosts of Shopify's choosing, without the token
    report_activity: Callable[[str], None]
    _bulk_in_flight: int
    _ledger_in_bulk: bool  # until the shop refuses Order.agreements in a bulk query

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


def bulk_windows(search: str | None, span: Mapping[str, Any]) -> list[str | None]:
    """`search` cut into windows of `updated_at` of about BULK_WINDOW_ORDERS orders (by time,
    evenly between the oldest and the newest update): each window starts where the last ended,
    the first has no lower bound beyond `search`'s and the last no upper bound, so an order
    updated while the windows are read lands in the last one and none is missed."""
    windows = -(-span["ordersCount"]["count"] // BULK_WINDOW_ORDERS)
    if windows <= 1:
        return [search]
    first, last = (parse_time(span[end]["nodes"][0]["updatedAt"]) for end in ("oldest", "newest"))
    step = (last - first) / windows
    bounds = [search_time((first + step * n).replace(microsecond=0)) for n in range(1, windows)]
    return [
        " AND ".join(
            term for term in (search, low and f"updated_at:>='{low}'", high and f"updated_at:<'{high}'") if term
        )
        for low, high in zip([None, *bounds], [*bounds, None], strict=True)
    ]


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


def _json_lines(lines: Sequence[bytes], batch: int = 2000) -> Iterator[dict]:
    """The objects of JSONL lines, parsed a batch at a time as one JSON array: a json.loads call
    for each line costs more than the parsing itself, and batches bound what is alive at once."""
    for start in range(0, len(lines), batch):
        yield from json.loads(b"[" + b",".join(lines[start : start + batch]) + b"]")
