"""Shopify's GraphQL nodes as records: orders with their lines and refunds (read from a page,
a Refund node or a bulk file's sales ledger), and product variants. The small conversions
(money, times, ids, what an order's status excludes) are shared with the webhooks' REST shapes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import records
from records import ZERO


@dataclass
class RefundParts:
    """A refund as read, from a Refund node or from its agreement's sales: its goods lines, each
    with its tax, and its shipping refunds, each (amount, tax). The order tells its kind."""

    id: str
    created_at: str
    lines: list[tuple[records.RefundLine, Decimal]] = field(default_factory=list)
    shipping: list[tuple[Decimal, Decimal]] = field(default_factory=list)


# An Order node as read (it names its refunds), its lines as records, and its refunds read so far.
OrderParts = tuple[dict, list[records.LineItem], dict[str, RefundParts]]


def order_record(
    node: Mapping[str, Any], line_items: Iterable[records.LineItem], refunds: Mapping[str, RefundParts]
) -> records.Order:
    """The record for one Order node (from a page or a bulk file), its lines, and the refunds it
    names, read."""
    cancelled_at = parse_time(node.get("cancelledAt"))
    status = node.get("displayFinancialStatus") or ""
    return records.Order(
        external_id=node["id"],
        name=node["name"],
        currency=node["currencyCode"],
        created_at=parse_time(node["createdAt"]),
        processed_at=parse_time(node["processedAt"]),
        updated_at=parse_time(node["updatedAt"]),
        status=status,
        shipping=_money(node.get("totalShippingPriceSet")),
        tax=_money(node.get("totalTaxSet")),
        line_items=tuple(line_items),
        refunds=tuple(_refund_record(refunds[refund["id"]], cancelled_at) for refund in node["refunds"]),
        cancelled_at=cancelled_at,
        excluded_reason=excluded_reason(node.get("test", False), status),
    )


def line_record(node: Mapping[str, Any]) -> records.LineItem:
    """The record for one LineItem node, from a page or a bulk file."""
    return records.LineItem(
        external_id=node["id"],
        sku=node.get("sku"),
        title=node["name"],
        quantity=node["quantity"],
        unit_price=_money(node["originalUnitPriceSet"]),
        discount=sum_amounts(_money(a["allocatedAmountSet"]) for a in node.get("discountAllocations") or ()),
        tax=sum_amounts(_money(t["priceSet"]) for t in node.get("taxLines") or ()),
        product_external_id=(node.get("product") or {}).get("id"),
        is_gift_card=node.get("isGiftCard", False),
    )


def _refund_record(refund: RefundParts, cancelled_at: datetime | None) -> records.Refund:
    created_at = parse_time(refund.created_at)
    return records.Refund(
        external_id=refund.id,
        processed_at=created_at,
        kind=refund_kind(created_at, cancelled_at),
        returns=sum_amounts(line.amount for line, _ in refund.lines),
        shipping=sum_amounts(amount for amount, _ in refund.shipping),
        tax=sum_amounts(tax for _, tax in refund.lines) + sum_amounts(tax for _, tax in refund.shipping),
        lines=tuple(line for line, _ in refund.lines),
    )


def refund_from_node(node: Mapping[str, Any]) -> RefundParts:
    """A Refund node read by id: its refund line items and refund shipping lines."""
    lines = [
        (
            records.RefundLine(line["lineItem"]["id"], line["quantity"], _money(line["subtotalSet"])),
            _money(line["totalTaxSet"]),
        )
        for line in _nodes(node, "refundLineItems")
    ]
    shipping = [
        (_money(s["subtotalAmountSet"]), _money(s["taxAmountSet"])) for s in _nodes(node, "refundShippingLines")
    ]
    return RefundParts(node["id"], node["createdAt"], lines, shipping)


def add_sale(refund: RefundParts, sale: Mapping[str, Any]) -> None:
    """Book one sale of a refund's agreement. It reverses a sale, so Shopify books its quantity
    and amounts negative; its amount after discounts and before tax is its total less its tax.
    Sales of other kinds (an adjustment, a tip, a duty) are not goods or shipping: left out, as
    refund line items and refund shipping lines leave them out."""
    total, tax = _money(sale["totalAmount"]), _money(sale["totalTaxAmount"])
    amount, tax = ZERO - (total - tax), ZERO - tax  # ZERO - x: a zero stays 0.00, not -0.00
    if "lineItem" in sale:
        refund.lines.append((records.RefundLine(sale["lineItem"]["id"], -sale["quantity"], amount), tax))
    elif sale["lineType"] == "SHIPPING":
        refund.shipping.append((amount, tax))


def product_record(node: Mapping[str, Any], currency: str) -> records.Product:
    """The record for one ProductVariant node, titled by its product (and by itself unless it is
    the product's only, "Default Title", variant)."""
    product = node["product"]
    title = product["title"] if node["title"] == "Default Title" else f"{product['title']} – {node['title']}"
    return records.Product(
        external_id=node["id"],
        title=title,
        sku=node.get("sku"),
        currency=currency,
        price=Decimal(node["price"]) if node.get("price") is not None else None,
        status=product["status"],
        updated_at=parse_time(node.get("updatedAt")),
        product_type=product.get("productType") or None,
    )


def excluded_reason(test: bool, financial_status: str) -> str | None:
    """Why an order stays out of sales figures: a test order, or a voided one."""
    if test:
        return "test"
    return "voided" if financial_status == "VOIDED" else None


def refund_kind(created_at: datetime, cancelled_at: datetime | None) -> str:
    """Shopify has no separate cancellation object: the refund made by cancelling the order
    is the one created at the moment of cancellation."""
    return "cancellation" if cancelled_at is not None and created_at == cancelled_at else "refund"


def sum_amounts(amounts: Iterable[Decimal]) -> Decimal:
    """The sum in cents: 0.00 when there is nothing to add."""
    return sum(amounts, ZERO)


def parse_time(value: str | None) -> datetime | None:
    """A Shopify time (GraphQL's in UTC, REST's at the shop's offset) as aware UTC."""
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def gid(kind: str, legacy_id: int | str) -> str:
    """The GraphQL id of an object REST names by its number: what records hold."""
    return f"gid://shopify/{kind}/{legacy_id}"


def _nodes(node: Mapping[str, Any], connection: str) -> list[dict]:
    return (node.get(connection) or {}).get("nodes") or []


def _money(bag: Mapping[str, Any] | None) -> Decimal:
    """A MoneyBag's amount in the shop's currency, from its decimal string."""
    return ZERO if bag is None else Decimal(bag["shopMoney"]["amount"])
