"""Webhooks: with a webhook URL, every change made on demand (the server's `/_sim/` endpoints)
is POSTed there as Shopify does, the order REST-shaped and the body HMAC-signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

import requests

from records import ZERO
from simulators.business import SimLine, SimOrder, SimRefund
from simulators.shopify.rendering import SHOP_NAME, Renderer, amount

log = logging.getLogger(__name__)

WEBHOOK_API_VERSION = "2025-10"


def webhook_hmac(secret: str, body: bytes) -> str:
    """X-Shopify-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body, keyed by the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WebhookSender:
    """Delivers webhooks from a background thread, so a change never waits on the receiver.
    A failed delivery is retried a few times, then dropped (Shopify retries for hours)."""

    attempts = 3

    def __init__(self, url: str, secret: str, shop_domain: str, api_version: str) -> None:
        self.url, self.secret = url, secret
        self.shop_domain, self.api_version = shop_domain, api_version
        self._queue: queue.Queue[tuple[dict, bytes]] = queue.Queue()
        threading.Thread(target=self._deliver_forever, name="sim-shopify-webhooks", daemon=True).start()

    def send(self, topic: str, payload: dict) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": webhook_hmac(self.secret, body),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        self._queue.put((headers, body))

    def _deliver_forever(self) -> None:
        while True:
            headers, body = self._queue.get()
            for attempt in range(1, self.attempts + 1):
                failure = self._post(headers, body)
                if failure is None:
                    break
                log.warning(
                    "webhook failed topic=%s attempt=%d reason=%s", headers["X-Shopify-Topic"], attempt, failure
                )
                if attempt < self.attempts:
                    time.sleep(attempt)

    def _post(self, headers: dict, body: bytes) -> str | None:
        """None once delivered, else why not."""
        try:
            response = requests.post(self.url, data=body, headers=headers, timeout=5)
        except requests.RequestException as exc:
            return type(exc).__name__
        return None if response.ok else f"HTTP {response.status_code}"


def order_topic(order: SimOrder, now: datetime) -> str:
    """The topic of the order's latest change."""
    updated_at = order.updated_at(now)
    if order.happened(order.cancelled_at, now) and order.cancelled_at == updated_at:
        return "orders/cancelled"
    if updated_at == order.created_at:
        return "orders/create"
    return "orders/updated"


def _rest_bag(value: Decimal, currency: str) -> dict:
    money = {"amount": amount(value), "currency_code": currency}
    return {"shop_money": money, "presentment_money": money}


def rest_order(renderer: Renderer, order: SimOrder, as_of: datetime) -> dict:
    """The REST (and webhook) shape of the order: snake_case, shop-local timestamps,
    money as decimal strings."""
    cur = renderer.currency
    tz = renderer.store.business.tz
    node = renderer.order_node(order, as_of)
    nodes = {n["id"]: n for n in node["lineItems"]}
    return {
        "id": order.order_id,
        "admin_graphql_api_id": order.external_id,
        "name": order.name,
        "order_number": order.order_id,
        "created_at": _local(order.created_at, tz),
        "updated_at": _local(order.updated_at(as_of), tz),
        "processed_at": _local(order.created_at, tz),
        "cancelled_at": _local(order.cancelled_at, tz) if node["cancelledAt"] else None,
        "cancel_reason": "customer" if node["cancelledAt"] else None,
        "closed_at": None,
        "test": order.test,
        "taxes_included": False,
        "financial_status": node["displayFinancialStatus"].lower(),
        "fulfillment_status": "fulfilled" if node["displayFulfillmentStatus"] == "FULFILLED" else None,
        "currency": cur,
        "presentment_currency": cur,
        "subtotal_price": node["subtotalPriceSet"]["shopMoney"]["amount"],
        "total_line_items_price": amount(sum((li.unit_price * li.quantity for li in order.lines), ZERO)),
        "total_discounts": node["totalDiscountsSet"]["shopMoney"]["amount"],
        "total_tax": node["totalTaxSet"]["shopMoney"]["amount"],
        "total_price": node["totalPriceSet"]["shopMoney"]["amount"],
        "current_total_price": node["currentTotalPriceSet"]["shopMoney"]["amount"],
        "total_shipping_price_set": _rest_bag(order.shipping, cur),
        "discount_codes": [{"code": order.discount_code, "type": "percentage"}] if order.discount_code else [],
        "line_items": [_rest_line_item(li, nodes[order.line_external_id(li)], cur) for li in order.lines],
        "shipping_lines": _rest_shipping_lines(order, cur),
        "refunds": [_rest_refund(order, refund, cur, tz) for refund in order.refunds_as_of(as_of)],
    }


def _local(moment: datetime | None, tz: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat()


def _rest_line_item(li: SimLine, gql: Mapping[str, Any], cur: str) -> dict:
    """A line item, with what its GraphQL node computes (the quantity left, the tax lines)."""
    discount_allocations = [
        {
            "amount": amount(li.discount),
            "amount_set": _rest_bag(li.discount, cur),
            "discount_application_index": 0,
        }
    ]
    return {
        "id": li.line_id,
        "admin_graphql_api_id": gql["id"],
        "product_id": li.item.product_id,
        "variant_id": li.item.product_id + 1000,
        "sku": li.item.sku,
        "title": li.item.title,
        "name": li.item.title,
        "variant_title": None,
        "vendor": SHOP_NAME,
        "quantity": li.quantity,
        "current_quantity": gql["currentQuantity"],
        "price": amount(li.unit_price),
        "price_set": _rest_bag(li.unit_price, cur),
        "total_discount": amount(li.discount),
        "total_discount_set": _rest_bag(li.discount, cur),
        "gift_card": li.is_gift_card,
        "taxable": not li.is_gift_card,
        "discount_allocations": discount_allocations if li.discount else [],
        "tax_lines": [
            {"price": amount(li.tax), "price_set": _rest_bag(li.tax, cur), "rate": t["rate"], "title": t["title"]}
            for t in gql["taxLines"]
        ],
    }


def _rest_refund(order: SimOrder, refund: SimRefund, cur: str, tz: tzinfo) -> dict:
    """A refund: its lines, and its refunded shipping as an order adjustment."""
    adjustments = []
    if refund.shipping or refund.shipping_tax:
        adjustments.append(
            {
                "id": refund.refund_id,
                "order_id": order.order_id,
                "refund_id": refund.refund_id,
                "kind": "shipping_refund",
                "reason": "Shipping refund",
                "amount": amount(-refund.shipping),
                "amount_set": _rest_bag(-refund.shipping, cur),
                "tax_amount": amount(-refund.shipping_tax),
                "tax_amount_set": _rest_bag(-refund.shipping_tax, cur),
            }
        )
    return {
        "id": refund.refund_id,
        "admin_graphql_api_id": order.refund_external_id(refund),
        "order_id": order.order_id,
        "created_at": _local(refund.at, tz),
        "processed_at": _local(refund.at, tz),
        "note": refund.reason,
        "restock": True,
        "refund_line_items": [
            {
                "id": refund.refund_id * 100 + n,
                "line_item_id": rl.line_id,
                "quantity": rl.quantity,
                "restock_type": "cancel" if refund.kind == "cancellation" else "return",
                "subtotal_set": _rest_bag(rl.amount, cur),
                "total_tax_set": _rest_bag(rl.tax, cur),
            }
            for n, rl in enumerate(refund.lines, start=1)
        ],
        "order_adjustments": adjustments,
    }


def _rest_shipping_lines(order: SimOrder, cur: str) -> list[dict]:
    if not order.shipping:
        return []
    return [
        {
            "title": "Standard Shipping",
            "price": amount(order.shipping),
            "price_set": _rest_bag(order.shipping, cur),
            "tax_lines": [{"price": amount(order.shipping_tax), "title": f"{order.region} State Tax"}],
        }
    ]
