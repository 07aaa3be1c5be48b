"""A local Best Buy Marketplace: the Mirakl seller API (OR11 orders, OF21 offers, A01 account,
V01 version) over the Bestbuy channel of the synthetic business, and a daily sales export like
the seller back office's (Mirakl publishes no API for it: its path and columns are assumed).

Orders are rendered at the simulator clock the way Mirakl shows them: CAD, tax excluded, taxes
per province, the order's shipping on its first line, commission per line, and refunds and
cancellations as entries of the lines they return, each with its own id and date. Amounts are
JSON numbers written from Decimal digit for digit. Like Mirakl, OR11 widens `start_update_date`
by a small delta, and calls to it closer together than the allowed frequency answer 429 with
Retry-After.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from records import ZERO
from simulators.business import Business, SimLine, SimOrder, SimRefund, SimRefundLine, allocate
from simulators.catalog import BESTBUY, CURRENCY, CatalogItem, money, product_record
from simulators.sales_report import METRICS, daily_totals
from simulators.server import FaultPlan, SimRequest, SimResponse, SimulatorServer
from simulators.store import ChannelStore, Clock, system_clock

DEFAULT_MAX = 10  # Mirakl's page size when `max` is not given
MAX_PAGE = 100
MAX_LIST_ARG = 100  # order_ids and other comma lists
# Mirakl subtracts "a time delta" from start_update_date so that no order is missed to latency;
# its size is not published.
UPDATE_DATE_DELTA = timedelta(minutes=5)
# Mirakl documents OR11 as "maximum once per minute"; a second keeps the demo's syncs quick.
DEFAULT_MIN_INTERVAL = 1.0
API_VERSION = "3.210.0-sim"
MAX_REPORT_DAYS = 3 * 366

# Best Buy Canada charges the buyer's provincial sales taxes, which Mirakl lists one by one
# (rates in percent). They add up to the business's rate for each province.
PROVINCE_TAXES: dict[str, tuple[tuple[str, Decimal], ...]] = {
    "ON": (("HST-ON", Decimal("13")),),
    "NS": (("HST-NS", Decimal("15")),),
    "QC": (("GST", Decimal("5")), ("QST", Decimal("9.975"))),
    "BC": (("GST", Decimal("5")), ("PST-BC", Decimal("7"))),
    "AB": (("GST", Decimal("5")),),
}


class BadRequest(ValueError):
    """A query parameter Mirakl would refuse with HTTP 400."""


# --- wire format ---------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """JSON with Decimals written as plain numbers, digit for digit (json.dumps cannot)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{to_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _tax_entries(amount: Decimal, region: str) -> list[dict]:
    """`amount` split over the province's taxes by rate, to the cent; none when nothing is due."""
    if amount == ZERO:
        return []
    codes = PROVINCE_TAXES[region]
    shares = allocate(amount, [rate for _, rate in codes])
    return [{"code": code, "amount": share, "rate": rate} for (code, rate), share in zip(codes, shares, strict=True)]


def _product_sku(item: CatalogItem) -> str:
    """The operator's catalog SKU (Mirakl's product_sku), as opposed to the seller's offer_sku."""
    return f"BBC{item.product_id:09d}"


def _category_code(item: CatalogItem) -> str:
    return item.category.upper().replace(" ", "_")


def render_order(order: SimOrder, as_of: datetime) -> dict:
    """One OR11 order as Mirakl shows it at `as_of`."""
    state = order.status(as_of)
    accepted = order.accepted_at if order.happened(order.accepted_at, as_of) else None
    discount = sum((line.discount for line in order.lines), ZERO)
    return {
        "order_id": order.external_id,
        "commercial_id": order.name,
        "created_date": _iso(order.created_at),
        "last_updated_date": _iso(order.updated_at(as_of)),
        "acceptance_decision_date": _iso(accepted),
        "customer_debited_date": _iso(accepted),
        "order_state": state,
        "currency_iso_code": order.currency,
        "order_tax_mode": "TAX_EXCLUDED",
        "payment_workflow": "PAY_ON_ACCEPTANCE",
        "price": order.subtotal,
        "shipping_price": order.shipping,
        "total_price": order.subtotal + order.shipping,
        "total_commission": order.commission,
        "promotions": {
            "applied_promotions": [{"id": "SALE", "deduced_amount": discount}] if discount else [],
            "total_deduced_amount": discount,
        },
        "customer": {
            "customer_id": f"CUST-{order.order_id}",
            "firstname": "Sample",
            "lastname": "Buyer",
            "locale": "fr_CA" if order.region == "QC" else "en_CA",
            "shipping_address": {"state": order.region, "country": "Canada", "country_iso_code": "CAN"},
        },
        "order_lines": [
            _render_line(order, index, line, state, as_of) for index, line in enumerate(order.lines, start=1)
        ],
    }


def _render_line(order: SimOrder, index: int, line: SimLine, state: str, as_of: datetime) -> dict:
    first = index == 1  # Mirakl carries the order's shipping on its first line
    returned = [(r, rl) for r in order.refunds_as_of(as_of) for rl in r.lines if rl.line_id == line.line_id]
    fully_refunded = sum(rl.quantity for r, rl in returned if r.kind == "refund") == line.quantity
    shipping = order.shipping if first else ZERO
    return {
        "order_line_id": order.line_external_id(line),
        "order_line_index": index,
        "order_line_state": "REFUNDED" if fully_refunded else state,
        "offer_id": line.item.product_id,
        "offer_sku": line.item.sku,
        "product_sku": _product_sku(line.item),
        "product_title": line.item.title,
        "category_code": _category_code(line.item),
        "category_label": line.item.category,
        "quantity": line.quantity,
        "origin_unit_price": line.unit_price,
        "price_unit": money(line.net / line.quantity),
        "price": line.net,
        "promotions": [{"id": "SALE", "deduced_amount": line.discount}] if line.discount else [],
        "taxes": _tax_entries(line.tax, order.region),
        "shipping_price": shipping,
        "shipping_taxes": _tax_entries(order.shipping_tax if first else ZERO, order.region),
        "total_price": line.net + shipping,
        "commission_fee": line.commission,
        "commission_taxes": [],
        "total_commission": line.commission,
        "created_date": _iso(order.created_at),
        "last_updated_date": _iso(order.updated_at(as_of)),
        "shipped_date": _iso(order.fulfilled_at if order.happened(order.fulfilled_at, as_of) else None),
        "received_date": _iso(order.delivered_at if order.happened(order.delivered_at, as_of) else None),
        "refunds": [_render_return(order, r, rl, line, first) for r, rl in returned if r.kind == "refund"],
        "cancelations": [_render_return(order, r, rl, line, first) for r, rl in returned if r.kind == "cancellation"],
    }


def _render_return(order: SimOrder, refund: SimRefund, returned: SimRefundLine, line: SimLine, first: bool) -> dict:
    """A refunds[] or cancelations[] entry: the part of `refund` that falls on `line`."""
    entry = {
        "id": order.mirakl_refund_id(refund, returned),
        "amount": returned.amount,
        "shipping_amount": refund.shipping if first else ZERO,
        "quantity": returned.quantity,
        "taxes": _tax_entries(returned.tax, order.region),
        "shipping_taxes": _tax_entries(refund.shipping_tax if first else ZERO, order.region),
        "commission_amount": money(line.commission * returned.amount / line.net),
        "created_date": _iso(refund.at),
    }
    if refund.kind == "refund":
        entry |= {
            "order_refund_id": str(refund.refund_id),
            "refund_state": "REFUNDED",
            "transaction_date": _iso(refund.at),
        }
    return entry


def render_offer(item: CatalogItem, shop_id: int, shop_name: str) -> dict:
    """One OF21 offer, built from the business's own product record so the two always agree.
    OF21 has no last-updated field: the record's date travels as available_start_date."""
    record = product_record(BESTBUY, item)
    return {
        "offer_id": item.product_id,
        "shop_sku": record.sku,
        "product_sku": _product_sku(item),
        "product_title": record.title,
        "category_code": _category_code(item),
        "category_label": record.product_type,
        "price": record.price,
        "total_price": record.price,
        "currency_iso_code": record.currency,
        "active": record.status == "ACTIVE",
        "state_code": "11",
        "quantity": 20 + item.product_id % 40,
        "available_start_date": _iso(record.updated_at),
        "shop_id": shop_id,
        "shop_name": shop_name,
    }


# --- query parameters ----------------------------------------------------------------------


def _int_arg(request: SimRequest, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"parameter {name} must be an integer, not {raw!r}") from None


def _date_arg(request: SimRequest, name: str) -> datetime | None:
    raw = request.arg(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"parameter {name} must be an ISO-8601 date-time, not {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day_arg(request: SimRequest, name: str) -> date:
    raw = request.arg(name)
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        raise BadRequest(f"parameter {name} must be a date like 2026-01-31, not {raw!r}") from None


def _list_arg(request: SimRequest, name: str) -> set[str]:
    values = {v for v in (request.arg(name) or "").split(",") if v}
    if len(values) > MAX_LIST_ARG:
        raise BadRequest(f"The limit of {MAX_LIST_ARG} is exceeded for the parameter : {name}")
    return values


def _paginate(request: SimRequest, items: list) -> tuple[list, dict[str, str]]:
    """Mirakl's offset paging: `offset`/`max` (default 10, at most 100), or everything with
    `paginate=false`; the page and its RFC 5988 Link header (rel next/previous)."""
    if request.arg("paginate", "true").lower() == "false":
        return items, {}
    offset, size = _int_arg(request, "offset", 0), _int_arg(request, "max", DEFAULT_MAX)
    if size > MAX_PAGE:
        raise BadRequest(f"max must be at most {MAX_PAGE}, not {size}")
    if size < 1 or offset < 0:
        raise BadRequest("max must be positive and offset not negative")
    links = []
    if offset + size < len(items):
        links.append(f'<{_page_url(request, offset + size, size)}>; rel="next"')
    if offset > 0:
        links.append(f'<{_page_url(request, max(0, offset - size), size)}>; rel="previous"')
    return items[offset : offset + size], {"Link": ", ".join(links)} if links else {}


def _page_url(request: SimRequest, offset: int, size: int) -> str:
    query = {**request.query, "offset": [str(offset)], "max": [str(size)]}
    return f"http://{request.headers.get('Host', 'localhost')}{request.path}?{urlencode(query, doseq=True)}"


# --- the simulator -------------------------------------------------------------------------


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> SimResponse:
    """Mirakl's error bodies are not documented; this shape is an assumption (connectors.md 2.5)."""
    return SimResponse.json(status, {"status": status, "message": message}, headers)


class MiraklSimulator:
    """The Mirakl seller API of one shop over a ChannelStore of the Bestbuy channel."""

    name = "mirakl"

    def __init__(
        self,
        store: ChannelStore,
        *,
        api_key: str,
        shop_id: int,
        shop_name: str,
        min_interval_seconds: float = DEFAULT_MIN_INTERVAL,
        seconds: Callable[[], float] = time.monotonic,
    ) -> None:
        """`seconds`: the call-frequency limiter's clock (monotonic; tests pass one of their own)."""
        self.store = store
        self._seconds = seconds
        self.api_key, self.shop_id, self.shop_name = api_key, shop_id, shop_name
        self.min_interval = min_interval_seconds
        self._last_call: dict[str, float] = {}  # API key -> monotonic time of its last OR11 call
        self._lock = threading.Lock()
        self._routes: dict[str, Callable[[SimRequest], SimResponse]] = {
            "/api/orders": self.list_orders,
            "/api/offers": self.list_offers,
            "/api/account": self.account,
            "/api/reports/daily-sales": self.daily_sales,
        }

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path == "/api/version":  # V01 is the health check: no key needed
            return SimResponse.json(200, {"version": API_VERSION})
        route = self._routes.get(request.path)
        if route is None:
            return _error(404, f"no resource {request.path}")
        if request.method != "GET":
            return _error(405, f"{request.method} is not allowed on {request.path}")
        if request.headers.get("Authorization") != self.api_key:
            return _error(401, "Unauthorized: missing or invalid API key")
        if request.arg("shop_id", str(self.shop_id)) != str(self.shop_id):
            return _error(403, "Forbidden: the API key has no access to this shop")
        try:
            return route(request)
        except BadRequest as exc:
            return _error(400, str(exc))

    def rate_limited(self, request: SimRequest) -> SimResponse:
        return self._too_many_requests(self.min_interval)

    def describe(self, order_id: int) -> dict:
        order = self.store.get(order_id)
        if order is None:
            raise KeyError(f"no order {order_id}")
        now = self.store.now()
        return {
            "id": order.order_id,
            "order_id": order.external_id,
            "order_state": order.status(now),
            "last_updated_date": _iso(order.updated_at(now)),
            "lines": [
                {"line_id": line.line_id, "order_line_id": order.line_external_id(line), "quantity": line.quantity}
                for line in order.lines
            ],
        }

    # --- endpoints -----------------------------------------------------------------------

    def list_orders(self, request: SimRequest) -> SimResponse:
        """OR11: filter, sort by creation date then id, page."""
        now = self.store.now()
        orders = self.matching_orders(request, now)
        page, headers = _paginate(request, orders)
        wait = self._call_slot(request.headers["Authorization"])
        if wait:
            return self._too_many_requests(wait)
        body = {"orders": [render_order(order, now) for order in page], "total_count": len(orders)}
        return _json(body, headers)

    def matching_orders(self, request: SimRequest, now: datetime) -> list[SimOrder]:
        start, end = _date_arg(request, "start_update_date"), _date_arg(request, "end_update_date")
        created_from, created_to = _date_arg(request, "start_date"), _date_arg(request, "end_date")
        states, ids = _list_arg(request, "order_state_codes"), _list_arg(request, "order_ids")
        if request.arg("sort", "dateCreated") != "dateCreated":
            raise BadRequest("sort must be dateCreated")
        direction = request.arg("order", "asc")
        if direction not in ("asc", "desc"):
            raise BadRequest("order must be asc or desc")

        orders = self.store.by_created(now)
        if start or end:
            since = start - UPDATE_DATE_DELTA if start else None
            updated = {o.order_id for moment, o in self.store.iter_updated(now, since) if not end or moment <= end}
            orders = [o for o in orders if o.order_id in updated]
        orders = [
            o
            for o in orders
            if (not created_from or o.created_at >= created_from)
            and (not created_to or o.created_at <= created_to)
            and (not states or o.status(now) in states)
            and (not ids or o.external_id in ids)
        ]
        return orders[::-1] if direction == "desc" else orders

    def list_offers(self, request: SimRequest) -> SimResponse:
        """OF21: the shop's offers, one per catalog item sold on Best Buy."""
        items = self.offered_items()
        page, headers = _paginate(request, items)
        offers = [render_offer(item, self.shop_id, self.shop_name) for item in page]
        return _json({"offers": offers, "total_count": len(items)}, headers)

    def account(self, request: SimRequest) -> SimResponse:
        """A01: the shop behind the key."""
        return _json(
            {
                "shop_id": self.shop_id,
                "shop_name": self.shop_name,
                "shop_state": "OPEN",
                "currency_iso_code": CURRENCY[BESTBUY],
                "is_professional": True,
                "offers_count": len(self.offered_items()),
            }
        )

    def daily_sales(self, request: SimRequest) -> SimResponse:
        """The back office's daily sales export, as CSV: UTC days, the shop's currency, accepted
        orders only, refunds and cancellations on their own dates; every day of the range listed."""
        start, end = _day_arg(request, "start_date"), _day_arg(request, "end_date")
        if not 0 <= (end - start).days < MAX_REPORT_DAYS:
            raise BadRequest(f"end_date must be on or after start_date, at most {MAX_REPORT_DAYS} days later")
        now = self.store.now()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("date", "currency", *METRICS))
        for day, totals in daily_totals(self.store.by_created(now), now, UTC, start, end).items():
            writer.writerow((day.isoformat(), CURRENCY[BESTBUY], *(getattr(totals, m) for m in METRICS)))
        return SimResponse(200, out.getvalue().encode(), {"Content-Type": "text/csv; charset=utf-8"})

    def offered_items(self) -> list[CatalogItem]:
        return [item for item in self.store.business.catalog if item.on_bestbuy]

    # --- call frequency ------------------------------------------------------------------

    def _call_slot(self, key: str) -> float:
        """Seconds this key must still wait before OR11 answers again; 0 = go ahead (counted)."""
        with self._lock:
            now = self._seconds()
            last = self._last_call.get(key)
            if last is not None and now - last < self.min_interval:
                return self.min_interval - (now - last)
            self._last_call[key] = now
            return 0.0

    @staticmethod
    def _too_many_requests(wait: float) -> SimResponse:
        seconds = max(1, math.ceil(wait))  # Retry-After takes whole seconds
        return _error(429, "Too Many Requests", {"Retry-After": str(seconds)})


def _json(payload: dict, headers: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(200, to_json(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


def build_mirakl(
    business: Business,
    *,
    api_key: str,
    port: int = 0,
    history_days: int = 730,
    live_interval: float | None = None,
    clock: Clock = system_clock,
    faults: FaultPlan | None = None,
    shop_id: int = 2001,
    shop_name: str = "Northwind Audio CA",
    min_interval_seconds: float = DEFAULT_MIN_INTERVAL,
    limiter_seconds: Callable[[], float] = time.monotonic,
) -> SimulatorServer:
    """A Best Buy Marketplace simulator over the business's Bestbuy channel, not yet started.
    `limiter_seconds` is the clock of its call-frequency limit (real time by default)."""
    store = ChannelStore(business, BESTBUY, history_days=history_days, clock=clock, live_interval=live_interval)
    simulator = MiraklSimulator(
        store,
        api_key=api_key,
        shop_id=shop_id,
        shop_name=shop_name,
        min_interval_seconds=min_interval_seconds,
        seconds=limiter_seconds,
    )
    return SimulatorServer(simulator, port, faults=faults)
