"""The shop's GraphQL objects, rendered from the synthetic business: orders with their lines,
refunds and sales ledger, and the catalog's products and variants.

Money is rendered from the SimOrder to the cent, so a correct connector reproduces
`SimOrder.to_record(as_of)` exactly. A cancellation is rendered as a normal refund whose
createdAt equals the order's cancelledAt. The sales ledger (`Order.agreements`) holds the
order's agreement and one per refund, whose sales give back the refund's lines and shipping,
booked negative.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property, partial
from typing import Any

from records import CENT, ZERO
from simulators.business import SimLine, SimOrder, SimRefund
from simulators.catalog import CURRENCY, GIFT_CARD, SHOPIFY, CatalogItem, product_external_id, product_record
from simulators.store import ChannelStore

SHOP_NAME = "Northwind Audio"


def iso(moment: datetime | None) -> str | None:
    """Shopify's DateTime: UTC with a Z."""
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def amount(value: Decimal) -> str:
    return str(value.quantize(CENT))


def bag(value: Decimal, currency: str) -> dict:
    """A MoneyBag: this shop sells in its own currency only, so both monies are the same."""
    money = {"amount": amount(value), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


class Lazy(Mapping):
    """A GraphQL object whose fields are computed as they are read, each by `fields[name](view)`
    (what several fields share, the view computes once). A query reads a few of an order's
    fields, and a bulk file does so for every order of the shop: computing all of them (a dozen
    money bags, the order's own agreement and its sales) was most of what a large export cost."""

    __slots__ = ("_fields", "_view")

    def __init__(self, fields: Mapping[str, Callable[[Any], Any]], view: Any) -> None:
        self._fields, self._view = fields, view

    def __getitem__(self, name: str) -> Any:
        return self._fields[name](self._view)

    def get(self, name: str, default: Any = None) -> Any:
        field = self._fields.get(name)
        return default if field is None else field(self._view)

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@dataclass(eq=False)
class _OrderView:
    """What an Order's fields are computed from, and the parts several of them share."""

    renderer: Renderer
    order: SimOrder
    as_of: datetime

    def bag(self, value: Decimal) -> dict:
        return bag(value, self.renderer.currency)

    @cached_property
    def refunds(self) -> tuple[SimRefund, ...]:
        return self.order.refunds_as_of(self.as_of)

    @cached_property
    def lines(self) -> dict[int, Mapping[str, Any]]:
        return {li.line_id: self.renderer.line_node(self.order, li, self.refunds) for li in self.order.lines}

    @cached_property
    def refund_nodes(self) -> list[dict]:
        return [self.renderer.refund_node(self.order, r, self.lines) for r in self.refunds]

    @cached_property
    def cancelled_at(self) -> datetime | None:
        return self.order.cancelled_at if self.order.happened(self.order.cancelled_at, self.as_of) else None

    @cached_property
    def refunded(self) -> Decimal:
        return sum((r.returns + r.shipping + r.tax for r in self.refunds), ZERO)

    def agreements(self) -> list[Mapping[str, Any]]:
        refunds = map(partial(self.renderer.refund_agreement, self.order, self.lines), self.refunds, self.refund_nodes)
        return [self.renderer.order_agreement(self.order, self.lines), *refunds]


_ORDER_FIELDS: dict[str, Callable[[_OrderView], Any]] = {
    "__typename": lambda v: "Order",
    "id": lambda v: v.order.external_id,
    "legacyResourceId": lambda v: str(v.order.order_id),
    "name": lambda v: v.order.name,
    "createdAt": lambda v: iso(v.order.created_at),
    "updatedAt": lambda v: iso(v.renderer.store.updated_at(v.order.order_id, v.as_of)),
    "processedAt": lambda v: iso(v.order.created_at),
    "cancelledAt": lambda v: iso(v.cancelled_at),
    "cancelReason": lambda v: "CUSTOMER" if v.cancelled_at else None,
    "test": lambda v: v.order.test,
    "taxesIncluded": lambda v: False,
    "displayFinancialStatus": lambda v: v.order.status(v.as_of),
    "displayFulfillmentStatus": lambda v: (
        "FULFILLED" if v.order.happened(v.order.fulfilled_at, v.as_of) else "UNFULFILLED"
    ),
    "currencyCode": lambda v: v.renderer.currency,
    "presentmentCurrencyCode": lambda v: v.renderer.currency,
    "discountCodes": lambda v: [v.order.discount_code] if v.order.discount_code else [],
    "subtotalPriceSet": lambda v: v.bag(v.order.subtotal),
    "currentSubtotalPriceSet": lambda v: v.bag(v.order.subtotal - sum((r.returns for r in v.refunds), ZERO)),
    "totalPriceSet": lambda v: v.bag(v.order.total),
    "currentTotalPriceSet": lambda v: v.bag(v.order.total - v.refunded),
    "totalRefundedSet": lambda v: v.bag(v.refunded),
    "totalShippingPriceSet": lambda v: v.bag(v.order.shipping),
    "totalTaxSet": lambda v: v.bag(v.order.tax),
    "totalDiscountsSet": lambda v: v.bag(sum((li.discount for li in v.order.lines), ZERO)),
    "lineItems": lambda v: list(v.lines.values()),
    "refunds": lambda v: v.refund_nodes,
    "agreements": _OrderView.agreements,
}


@dataclass(eq=False)
class _LineView:
    renderer: Renderer
    order: SimOrder
    line: SimLine
    refunds: tuple[SimRefund, ...]

    def bag(self, value: Decimal) -> dict:
        return bag(value, self.renderer.currency)

    @cached_property
    def product(self) -> dict:
        return self.renderer.products_by_id[self.line.item.product_id]

    def returned(self) -> int:
        return sum(rl.quantity for r in self.refunds for rl in r.lines if rl.line_id == self.line.line_id)

    def tax_lines(self) -> list[dict]:
        line = self.line
        if not line.tax_rate:
            return []
        rate = float(line.tax_rate)
        title = f"{self.order.region} State Tax"
        return [{"priceSet": self.bag(line.tax), "rate": rate, "ratePercentage": rate * 100, "title": title}]


_LINE_FIELDS: dict[str, Callable[[_LineView], Any]] = {
    "__typename": lambda v: "LineItem",
    "id": lambda v: v.order.line_external_id(v.line),
    "name": lambda v: v.line.item.title,
    "title": lambda v: v.line.item.title,
    "sku": lambda v: v.line.item.sku,
    "vendor": lambda v: SHOP_NAME,
    "quantity": lambda v: v.line.quantity,
    "currentQuantity": lambda v: v.line.quantity - v.returned(),
    "isGiftCard": lambda v: v.line.is_gift_card,
    "originalUnitPriceSet": lambda v: v.bag(v.line.unit_price),
    "discountedUnitPriceSet": lambda v: v.bag(v.line.net / v.line.quantity),
    "originalTotalSet": lambda v: v.bag(v.line.unit_price * v.line.quantity),
    "discountedTotalSet": lambda v: v.bag(v.line.net),
    "totalDiscountSet": lambda v: v.bag(v.line.discount),
    "discountAllocations": lambda v: [{"allocatedAmountSet": v.bag(v.line.discount)}] if v.line.discount else [],
    "taxLines": _LineView.tax_lines,
    "product": lambda v: v.product,
    "variant": lambda v: v.product["variants"][0],
}


@dataclass(eq=False)
class _AgreementView:
    """A sales agreement; its sales, numbered after it, are made when first read."""

    typename: str
    number: int
    reason: str
    at: datetime
    make_sales: Callable[[], list[dict]]
    refund: dict | None = None

    def sales(self) -> list[dict]:
        sales = self.make_sales()
        for n, sale in enumerate(sales, start=1):
            sale["id"] = f"gid://shopify/Sale/{self.number * 100 + n}"
        return sales


_AGREEMENT_FIELDS: dict[str, Callable[[_AgreementView], Any]] = {
    "__typename": lambda a: a.typename,
    "id": lambda a: f"gid://shopify/SalesAgreement/{a.number}",
    "happenedAt": lambda a: iso(a.at),
    "reason": lambda a: a.reason,
    "sales": _AgreementView.sales,
}
_REFUND_AGREEMENT_FIELDS = {**_AGREEMENT_FIELDS, "refund": lambda a: a.refund}


class Renderer:
    """Renders one shop's orders and catalog; its products are rendered once, as they never change."""

    def __init__(self, store: ChannelStore) -> None:
        self.store = store
        self.currency = CURRENCY[SHOPIFY]
        self.products = [product_node(item) for item in store.business.catalog]
        self.products_by_id = {p["legacyResourceId"]: p for p in self.products}
        gift_card = product_node(GIFT_CARD)
        self.products_by_id.setdefault(gift_card["legacyResourceId"], gift_card)

    def order_node(self, order: SimOrder, as_of: datetime) -> Mapping[str, Any]:
        """The GraphQL Order, with its lines and refunds as plain lists (connections page them).
        Its fields are computed as they are read (see Lazy)."""
        return Lazy(_ORDER_FIELDS, _OrderView(self, order, as_of))

    def line_node(self, order: SimOrder, line: SimLine, refunds: tuple[SimRefund, ...]) -> Mapping[str, Any]:
        return Lazy(_LINE_FIELDS, _LineView(self, order, line, refunds))

    def refund_node(self, order: SimOrder, refund: SimRefund, lines: Mapping[int, Mapping]) -> dict:
        cur = self.currency
        restock = "CANCEL" if refund.kind == "cancellation" else "RETURN"
        refund_lines = [
            {
                "__typename": "RefundLineItem",
                "id": f"gid://shopify/RefundLineItem/{refund.refund_id * 100 + n}",
                "quantity": rl.quantity,
                "restockType": restock,
                "lineItem": lines[rl.line_id],
                "priceSet": lines[rl.line_id]["originalUnitPriceSet"],
                "subtotalSet": bag(rl.amount, cur),
                "totalTaxSet": bag(rl.tax, cur),
            }
            for n, rl in enumerate(refund.lines, start=1)
        ]
        shipping_lines = []
        if refund.shipping or refund.shipping_tax:
            shipping_lines.append(
                {
                    "__typename": "RefundShippingLine",
                    "id": f"gid://shopify/RefundShippingLine/{refund.refund_id}",
                    "subtotalAmountSet": bag(refund.shipping, cur),
                    "taxAmountSet": bag(refund.shipping_tax, cur),
                }
            )
        return {
            "__typename": "Refund",
            "id": order.refund_external_id(refund),
            "createdAt": iso(refund.at),
            "note": refund.reason,
            "totalRefundedSet": bag(refund.returns + refund.shipping + refund.tax, cur),
            "refundLineItems": refund_lines,
            "refundShippingLines": shipping_lines,
        }

    # --- the sales ledger (Order.agreements) ---------------------------------------------------

    def order_agreement(self, order: SimOrder, lines: Mapping[int, Mapping]) -> Mapping[str, Any]:
        """The agreement made as the order was placed: a sale for each line and one for shipping.
        The business numbers refunds order id x 10 + 1..9, so x 10 is free for this one."""

        def sales() -> list[dict]:
            made = [self._line_sale("ORDER", li, lines[li.line_id], li.quantity, li.net, li.tax) for li in order.lines]
            if order.shipping or order.shipping_tax:
                made.append(self._shipping_sale("ORDER", order.shipping, order.shipping_tax))
            return made

        return Lazy(
            _AGREEMENT_FIELDS, _AgreementView("OrderAgreement", order.order_id * 10, "ORDER", order.created_at, sales)
        )

    def refund_agreement(
        self, order: SimOrder, lines: Mapping[int, Mapping], refund: SimRefund, node: dict
    ) -> Mapping[str, Any]:
        """A refund's agreement: a return sale for each line refunded, and one for shipping if
        it was refunded. A cancellation's is made for a refund (reason REFUND), others for a return."""
        sold = {li.line_id: li for li in order.lines}

        def sales() -> list[dict]:
            made = [
                self._line_sale("RETURN", sold[rl.line_id], lines[rl.line_id], rl.quantity, rl.amount, rl.tax)
                for rl in refund.lines
            ]
            if refund.shipping or refund.shipping_tax:
                made.append(self._shipping_sale("RETURN", refund.shipping, refund.shipping_tax))
            return made

        reason = "REFUND" if refund.kind == "cancellation" else "RETURN"
        view = _AgreementView("RefundAgreement", refund.refund_id, reason, refund.at, sales, node)
        return Lazy(_REFUND_AGREEMENT_FIELDS, view)

    def _line_sale(self, action: str, line: SimLine, node: dict, quantity: int, net: Decimal, tax: Decimal) -> dict:
        """The sale of `quantity` units of a line, worth `net` after discounts and before `tax`."""
        discount = line.unit_price * quantity - net
        typename, line_type = ("GiftCardSale", "GIFT_CARD") if line.is_gift_card else ("ProductSale", "PRODUCT")
        return {**self._sale(typename, action, line_type, quantity, net, tax, discount), "lineItem": node}

    def _shipping_sale(self, action: str, amount: Decimal, tax: Decimal) -> dict:
        """The sale of the order's one shipping line (a quantity does not apply to it)."""
        return self._sale("ShippingLineSale", action, "SHIPPING", None, amount, tax)

    def _sale(
        self,
        typename: str,
        action: str,
        line_type: str,
        quantity: int | None,
        net: Decimal,
        tax: Decimal,
        discount: Decimal = ZERO,
    ) -> dict:
        """One sale. A return reverses a sale, so its quantity and money are booked negative."""
        returned = action == "RETURN"

        def booked(value: Decimal) -> dict:
            return bag(ZERO - value if returned else value, self.currency)

        return {
            "__typename": typename,
            "actionType": action,
            "lineType": line_type,
            "quantity": -quantity if returned and quantity is not None else quantity,
            "totalAmount": booked(net + tax),
            "totalTaxAmount": booked(tax),
            "totalDiscountAmountBeforeTaxes": booked(discount),
        }


def product_node(item: CatalogItem) -> dict:
    """A product with its one "Default Title" variant, rendered from the catalog truth
    (simulators.catalog.product_record), so a connector can reproduce it exactly."""
    record = product_record(SHOPIFY, item)
    moment = iso(record.updated_at)
    product = {
        "__typename": "Product",
        "id": product_external_id(SHOPIFY, item),
        "legacyResourceId": item.product_id,
        "title": record.title,
        "handle": re.sub(r"[^a-z0-9]+", "-", record.title.lower()).strip("-"),
        "status": record.status,
        "vendor": SHOP_NAME,
        "productType": record.product_type,
        "tags": [],
        "createdAt": moment,
        "updatedAt": moment,
        "publishedAt": moment,
        "totalInventory": 20 + item.product_id % 37,
    }
    variant = {
        "__typename": "ProductVariant",
        "id": record.external_id,
        "legacyResourceId": item.product_id + 1000,
        "title": "Default Title",
        "displayName": f"{record.title} - Default Title",
        "sku": record.sku,
        "price": amount(record.price),
        "compareAtPrice": None,
        "inventoryQuantity": product["totalInventory"],
        "barcode": None,
        "createdAt": moment,
        "updatedAt": moment,
        "product": product,
    }
    product["variants"] = [variant]
    return product
