"""The GraphQL documents the Shopify connector sends, written for API_VERSION, and the page
sizes they are built with. Tests validate every one against Shopify's published schema: the
constants (`*_QUERY`, `*_MUTATION`) and those built at run time (`built_documents`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

API_VERSION = "2026-10"  # the latest stable; 2025-10 left support in October 2026
NESTED_PAGE = 5  # lines and refund lines read with their order or refund; more in follow-up calls
SHIPPING_PAGE = 1  # refunded shipping lines: an order has one shipping line, rarely more
FOLLOW_UP_PAGE = 50

# The paged query and the bulk query select the same order and line fields, and both name the
# order's refunds. A bulk query cannot reach refund lines (a connection inside the `refunds`
# list), so it reads them from the sales ledger instead (see _AGREEMENTS); pages read the
# refunds they name by id afterwards.
#
# Requested cost, which sizes pages (an object 1, a MoneyBag 2, a connection 2 + page size x
# (1 + its node's objects), a list of unknown size one item; scalars and pageInfo free): an order
# of the paged query is 1 + 2 MoneyBags 4 + lineItems (2 + 5 x (1 + 3 MoneyBags 6 + 2 list items
# 2 + product 1)) 52 + refunds 1 = 58, so a page holds 17 orders. Reading the refunds' lines
# with each order, as pages did, added 59 (pages of 8), and reading agreements with each order
# (an order's and a refund's, 5 sales each) adds ~70 (pages of 7), although few orders have a
# refund: reading those few by id costs less. Every field read is one a record needs. The
# bucket is charged the actual cost, ~18 for 3 lines.

_MONEY = "shopMoney { amount }"
_PAGE_INFO = "pageInfo { hasNextPage endCursor }"
_ORDER_FIELDS = (
    "id name createdAt updatedAt processedAt cancelledAt test displayFinancialStatus currencyCode"
    f" totalShippingPriceSet {{ {_MONEY} }} totalTaxSet {{ {_MONEY} }}"
)
_NESTED_FIELDS = {  # an order's or refund's connections, and what is read of their nodes
    "lineItems": (
        f"id name sku quantity isGiftCard originalUnitPriceSet {{ {_MONEY} }}"
        f" discountAllocations {{ allocatedAmountSet {{ {_MONEY} }} }}"
        f" taxLines {{ priceSet {{ {_MONEY} }} }} product {{ id }}"
    ),
    "refundLineItems": f"quantity lineItem {{ id }} subtotalSet {{ {_MONEY} }} totalTaxSet {{ {_MONEY} }}",
    "refundShippingLines": f"subtotalAmountSet {{ {_MONEY} }} taxAmountSet {{ {_MONEY} }}",
}


def _paged(connection: str, arguments: str = f"first: {NESTED_PAGE}") -> str:
    return f"{connection}({arguments}) {{ {_PAGE_INFO} nodes {{ {_NESTED_FIELDS[connection]} }} }}"


# A bulk query reads refunds from Shopify's sales ledger (`Order.agreements`, a connection, so it
# may nest two levels below `orders`): Shopify makes an agreement whenever an order is placed,
# edited or refunded, and a refund's (RefundAgreement) has sales for what it gave back, booked
# negative: goods (ProductSale, GiftCardSale, with their line item) and shipping (lineType
# SHIPPING). Sales are selected on refund agreements only, so the order's own agreement comes as
# a bare id. Four connections of the five a bulk query may hold.
_SALE_FIELDS = (
    f"quantity lineType totalAmount {{ {_MONEY} }} totalTaxAmount {{ {_MONEY} }}"
    " ... on ProductSale { lineItem { id } } ... on GiftCardSale { lineItem { id } }"
)
_AGREEMENTS = (
    "agreements { edges { node { id ... on RefundAgreement { refund { id createdAt }"
    f" sales {{ edges {{ node {{ {_SALE_FIELDS} }} }} }} }} }} }} }}"
)


def bulk_orders_query(search: str | None = None, agreements: bool = True) -> str:
    """The bulk query for every order (or those matching `search`), oldest update first; with
    `agreements`, refunds' lines come in the file too (else they are read by id afterwards)."""
    arguments = "sortKey: UPDATED_AT" if search is None else f"sortKey: UPDATED_AT, query: {json.dumps(search)}"
    return (
        f"{{ orders({arguments}) {{ edges {{ node {{ {_ORDER_FIELDS}"
        f" lineItems {{ edges {{ node {{ {_NESTED_FIELDS['lineItems']} }} }} }} refunds {{ id }}"
        f"{' ' + _AGREEMENTS if agreements else ''} }} }} }} }}"
    )


# A refund read by id costs 1 + refundLineItems (2 + 5 x 6) 32 + refundShippingLines (2 + 1 x 5) 7
# = 40, so a call reads 25 (the bucket is charged ~18 a refund, for 2 lines).
_REFUND_FIELDS = f"id createdAt {_paged('refundLineItems')} {_paged('refundShippingLines', f'first: {SHIPPING_PAGE}')}"
ORDERS_QUERY = f"""query Orders($first: Int!, $after: String, $search: String) {{
  orders(first: $first, after: $after, query: $search, sortKey: UPDATED_AT) {{
    {_PAGE_INFO}
    nodes {{ {_ORDER_FIELDS} {_paged("lineItems")} refunds {{ id }} }}
  }}
}}"""
# How many orders a sync reads (exactly: `limit: null`) and the `updated_at` they span.
SPAN_QUERY = """query Span($search: String) {
  ordersCount(query: $search, limit: null) { count }
  oldest: orders(first: 1, query: $search, sortKey: UPDATED_AT) { nodes { updatedAt } }
  newest: orders(first: 1, query: $search, sortKey: UPDATED_AT, reverse: true) { nodes { updatedAt } }
}"""
BULK_ORDERS_QUERY = bulk_orders_query()
REFUNDS_QUERY = f"query Refunds($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Refund {{ {_REFUND_FIELDS} }} }} }}"
BULK_RUN_MUTATION = """mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { code field message } }
}"""
_BULK_FIELDS = "id status errorCode objectCount url query"
BULK_NODE_QUERY = f"query Bulk($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {_BULK_FIELDS} }} }} }}"
# The app's bulk queries still queued or running, newest first (Shopify's default order); a shop
# runs at most five at once. `currentBulkOperation` (the most recent one) is deprecated in
# favour of this connection with a status filter.
BULK_IN_PROGRESS_SEARCH = "operation_type:query AND (status:created OR status:running)"
BULK_IN_PROGRESS_QUERY = f"""query BulkInProgress {{
  bulkOperations(first: 5, query: {json.dumps(BULK_IN_PROGRESS_SEARCH)}, sortKey: CREATED_AT) {{
    nodes {{ {_BULK_FIELDS} }}
  }}
}}"""
# The connections read in pages of their own when the first page (read with their owner) was
# not all: the owner's root field, and its connections.
FOLLOW_UPS = {"order": ("lineItems",), "refund": ("refundLineItems", "refundShippingLines")}


def follow_up_query(owner: str, connection: str) -> str:
    """The query for the next page of an order's or refund's connection."""
    rest = _paged(connection, f"first: {FOLLOW_UP_PAGE}, after: $after")
    return f"query Rest($id: ID!, $after: String) {{ {owner}(id: $id) {{ {rest} }} }}"


def built_documents() -> dict[str, str]:
    """Every GraphQL document the connector builds at run time, by name, in each of its forms:
    the follow-up pages and the bulk queries (sent inside bulkOperationRunQuery). The module's
    constant documents (`*_QUERY`, `*_MUTATION`) are the rest; tests validate both against
    Shopify's published schema."""
    documents = {f"follow_up_query({o!r}, {c!r})": follow_up_query(o, c) for o, cs in FOLLOW_UPS.items() for c in cs}
    window = "updated_at:>='2026-01-01T00:00:00Z' AND updated_at:<'2026-02-01T00:00:00Z'"
    for search in (None, window):
        for agreements in (True, False):
            documents[f"bulk_orders_query({search!r}, agreements={agreements})"] = bulk_orders_query(search, agreements)
    return documents


SHOP_QUERY = "{ shop { name currencyCode ianaTimezone myshopifyDomain } }"
SALES_REPORT_QUERY = """query SalesReport($query: String!) {
  shop { currencyCode ianaTimezone }
  shopifyqlQuery(query: $query) { parseErrors tableData { columns { name dataType } rows } }
}"""
VARIANTS_QUERY = f"""query Variants($first: Int!, $after: String) {{
  shop {{ currencyCode }}
  productVariants(first: $first, after: $after) {{
    {_PAGE_INFO}
    nodes {{ id sku title price updatedAt product {{ id title status productType }} }}
  }}
}}"""


def search_time(moment: datetime) -> str:
    """A search-syntax date: aware UTC (a naive moment is taken to be UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
