"""Shopify: the GraphQL Admin API in, normalized records out.

A backfill (`since=None`) runs bulk operations and reads their JSONL files: no page-by-page
cost limits. A large shop is read in windows of `updated_at`, one operation each, the next
built by Shopify while the last is written. An incremental sync first counts the orders changed
since its cursor: a few are paged through `orders` by `updated_at`, many are read by bulk
operations filtered the same way. Every path reads the same order node, which names its refunds.
A bulk file also holds each refund whole, from Shopify's sales ledger (the refund's agreement
and its sales); pages do not, and their refunds are read by id afterwards. Both produce
identical records. Queries are sized to Shopify's single-query cost limit, every call is paced
on its leaky bucket (`extensions.cost.throttleStatus`), and a THROTTLED answer is retried after
exactly the wait the bucket asks for.

Webhooks (REST-shaped, HMAC-signed) map to the same records: `verify_webhook` and
`order_from_webhook`. The shop's own sales report by day, which reconciliation compares ours
with, is one ShopifyQL query (`fetch_daily_report`; `report` reads it, and its CSV export).

Modules: `connector` (ShopifyConnector: the interface, orders by page, refunds by id), `bulk`
(bulk operations and their JSONL files), `client` (GraphQL over HTTP: pacing, throttling,
sizing to the cost limit), `queries` (the GraphQL documents), `mapping` (GraphQL nodes as
records), `webhooks` and `report`. The package re-exports what the rest of the app uses, and
every constant GraphQL document the connector sends (tests validate them against Shopify's
published schema).
"""

from __future__ import annotations

from connectors.shopify.bulk import orders_from_bulk
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.mapping import RefundParts
from connectors.shopify.queries import (
    API_VERSION,
    BULK_IN_PROGRESS_QUERY,
    BULK_NODE_QUERY,
    BULK_ORDERS_QUERY,
    BULK_RUN_MUTATION,
    NESTED_PAGE,
    ORDERS_QUERY,
    REFUNDS_QUERY,
    SALES_REPORT_QUERY,
    SHOP_QUERY,
    SPAN_QUERY,
    VARIANTS_QUERY,
    built_documents,
)
from connectors.shopify.webhooks import deleted_order_id, order_from_webhook, verify_webhook

__all__ = [
    "API_VERSION",
    "BULK_IN_PROGRESS_QUERY",
    "BULK_NODE_QUERY",
    "BULK_ORDERS_QUERY",
    "BULK_RUN_MUTATION",
    "NESTED_PAGE",
    "ORDERS_QUERY",
    "REFUNDS_QUERY",
    "SALES_REPORT_QUERY",
    "SHOP_QUERY",
    "SPAN_QUERY",
    "VARIANTS_QUERY",
    "RefundParts",
    "ShopifyConnector",
    "built_documents",
    "deleted_order_id",
    "order_from_webhook",
    "orders_from_bulk",
    "verify_webhook",
]
