"""Shopify webhooks: the HMAC signature check, and orders/* bodies (REST-shaped) as the same
records the GraphQL path gives."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import records
from connectors.base import ConnectorError
from connectors.shopify.mapping import excluded_reason, gid, parse_time, refund_kind, sum_amounts
from records import ZERO


def verify_webhook(secret: str, body: bytes, hmac_header: str) -> bool:
    """Whether X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the raw body under the app's
    secret. Compared in constant time, before the body is parsed."""
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, hmac_header.strip().encode())


def order_from_webhook(payload: Any) -> records.Order:
    """The record for a REST-shaped order (an orders/* webhook body): the same record the
    GraphQL path gives for that order. A body of any other shape (a list, a string where an
    object or a number belongs) raises ConnectorError: the body is the sender's, not ours."""
    try:
        return _rest_order(payload)
    except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ConnectorError(f"not a Shopify order ({type(exc).__name__})") from None


def deleted_order_id(payload: Any) -> str:
    """The external id of the order an orders/delete webhook names (its body is `{"id": N}`);
    ConnectorError when the body names no order."""
    order_id = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id <= 0:
        raise ConnectorError("not a Shopify order deletion (no numeric id)")
    return gid("Order", order_id)


def _rest_order(payload: Mapping[str, Any]) -> records.Order:
    cancelled_at = parse_time(payload.get("cancelled_at"))
    status = (payload.get("financial_status") or "").upper()
    return records.Order(
        external_id=payload.get("admin_graphql_api_id") or gid("Order", payload["id"]),
        name=payload["name"],
        currency=payload["currency"],
        created_at=parse_time(payload["created_at"]),
        processed_at=parse_time(payload.get("processed_at") or payload["created_at"]),
        updated_at=parse_time(payload["updated_at"]),
        status=status,
        shipping=_rest_money(payload.get("total_shipping_price_set")),
        tax=Decimal(payload.get("total_tax") or ZERO),
        line_items=tuple(_rest_line(line) for line in payload.get("line_items") or ()),
        refunds=tuple(_rest_refund(refund, cancelled_at) for refund in payload.get("refunds") or ()),
        cancelled_at=cancelled_at,
        excluded_reason=excluded_reason(payload.get("test", False), status),
    )


def _rest_line(line: Mapping[str, Any]) -> records.LineItem:
    return records.LineItem(
        external_id=line.get("admin_graphql_api_id") or gid("LineItem", line["id"]),
        sku=line.get("sku"),
        title=line.get("name") or line.get("title") or "",
        quantity=line["quantity"],
        unit_price=Decimal(line["price"]),
        discount=sum_amounts(Decimal(a["amount"]) for a in line.get("discount_allocations") or ()),
        tax=sum_amounts(Decimal(t["price"]) for t in line.get("tax_lines") or ()),
        product_external_id=gid("Product", line["product_id"]) if line.get("product_id") else None,
        is_gift_card=line.get("gift_card", False),
    )


def _rest_refund(refund: Mapping[str, Any], cancelled_at: datetime | None) -> records.Refund:
    lines = refund.get("refund_line_items") or ()
    # REST books refunded shipping as a negative "shipping_refund" order adjustment.
    shipping = [a for a in refund.get("order_adjustments") or () if a.get("kind") == "shipping_refund"]
    created_at = parse_time(refund["created_at"])
    return records.Refund(
        external_id=refund.get("admin_graphql_api_id") or gid("Refund", refund["id"]),
        processed_at=created_at,
        kind=refund_kind(created_at, cancelled_at),
        returns=sum_amounts(_rest_money(line["subtotal_set"]) for line in lines),
        shipping=-sum_amounts(Decimal(a["amount"]) for a in shipping),
        tax=sum_amounts(_rest_money(line["total_tax_set"]) for line in lines)
        - sum_amounts(Decimal(a["tax_amount"]) for a in shipping),
        lines=tuple(
            records.RefundLine(
                gid("LineItem", line["line_item_id"]), line["quantity"], _rest_money(line["subtotal_set"])
            )
            for line in lines
        ),
    )


def _rest_money(money_set: Mapping[str, Any] | None) -> Decimal:
    return ZERO if money_set is None else Decimal(money_set["shop_money"]["amount"])
