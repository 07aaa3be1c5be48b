"""Best Buy Marketplace connector: the Mirakl seller API (A01 account, OR11 orders, OF21 offers).

OR11 filters by last-update date but sorts by creation date, so offset paging over an update
window can shift while orders change. Orders are therefore read in bounded update-date windows,
each paged to the end before its orders are yielded, sorted by last_updated_date. A window whose
match count drops while it is paged (orders updated out of it, shifting the rest left) is read
again; the last window is left open-ended, so an order updated while we page stays where it was.

Mirakl keeps a line's price and quantity as sold and lists refunds and cancellations inside the
lines, each with its own id and date: they become one Refund per entry, booked on that date.
Amounts are JSON numbers, parsed straight to Decimal.

Mirakl has no public API for a seller's daily sales totals; `fetch_daily_report` downloads a CSV
export like the back office's (`GET /api/reports/daily-sales`): its path, its columns and its
calendar (UTC days) are assumptions, mirrored by the simulator (docs/reconciliation.md).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from connectors.base import STRICT, AccountInfo, Connector, ConnectorError, HttpClient, NetworkPolicy, TransientError
from records import ZERO, LineItem, Order, Product, Refund, RefundLine, ReportDay, every_day

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the most OR11 and OF21 return per call
DEFAULT_WINDOW_DAYS = 30
DEFAULT_BACKFILL_DAYS = 730
# Mirakl documents OR11 as "maximum once per minute", yet a backlog takes many pages; 429s are
# honoured (Retry-After) whatever the spacing, so calls are spaced by a second unless configured.
DEFAULT_MIN_INTERVAL = 1.0
WINDOW_READS = 3  # tries at reading a window while orders keep leaving it
# Order states before the seller accepted (or after refusing): not a sale.
NOT_ACCEPTED_STATES = frozenset({"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "REFUSED"})
REPORT_PATH = "/api/reports/daily-sales"
REPORT_TIMEZONE = "UTC"  # the export's days (an assumption, see the module docstring)
REPORT_MONEY = ("gross_sales", "discounts", "returns", "net_sales", "shipping", "taxes", "total_sales")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MiraklConnector(Connector):
    """One Mirakl shop (Best Buy Marketplace).

    Config: `base_url` (https://marketplace.bestbuy.ca for Best Buy Canada, another Mirakl
    operator's https://<instance>.mirakl.net; the network policy allows no other host);
    optional `shop_id` (when the key's user has several shops), `backfill_start` (ISO date-time
    of the first sync's start, default two years back), `window_days` (update-date window,
    default 30), `min_interval_seconds` (spacing of API calls, for OR11's call frequency).
    Secret: `api_key`, sent raw in the Authorization header. `http_options` go to the HttpClient
    (timeouts, retries, sleep).
    """

    kind = "bestbuy"
    config_fields = ("base_url",)
    secret_fields = ("api_key",)
    api_hosts = ("marketplace.bestbuy.ca", "*.mirakl.net")
    has_daily_report = True

    def __init__(
        self,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        network: NetworkPolicy = STRICT,
        clock: Callable[[], datetime] = _utcnow,
        **http_options: Any,
    ) -> None:
        super().__init__(config, secrets)
        self.clock = clock
        self.window = timedelta(days=float(self.config.get("window_days", DEFAULT_WINDOW_DAYS)))
        self.min_interval = float(self.config.get("min_interval_seconds", DEFAULT_MIN_INTERVAL))
        self.http = HttpClient(
            self.config["base_url"],
            {"Authorization": self.secrets["api_key"]},
            hosts=self.api_hosts,
            network=network,
            **http_options,
        )
        self._next_call = 0.0  # monotonic time before which the API is not called again

    @property
    def endpoint(self) -> tuple[str, str]:
        return "base_url", self.http.base_url

    def check(self) -> AccountInfo:
        data = self._get("/api/account", {})
        return AccountInfo(
            name=data["shop_name"],
            currency=data["currency_iso_code"],
            extra={"shop_id": str(data["shop_id"]), "shop_state": data.get("shop_state")},
        )

    def fetch_orders(self, since: datetime | None) -> Iterator[list[Order]]:
        """Pages of orders updated at or after `since` (or since the backfill start), window by
        window. Mirakl widens each window's start a little, so the orders a window shares with
        the one before are skipped: each (order, last update) is yielded once per run."""
        previous: set[tuple[str, datetime]] = set()
        for start, end in self._windows(since or self._backfill_start()):
            orders = self._read_window(start, end)
            fresh = [o for o in orders if (o.external_id, o.updated_at) not in previous]
            previous = {(o.external_id, o.updated_at) for o in orders}
            log.info("mirakl orders window start=%s end=%s read=%d new=%d", start, end, len(orders), len(fresh))
            for i in range(0, len(fresh), PAGE_SIZE):
                yield fresh[i : i + PAGE_SIZE]

    def fetch_products(self) -> Iterator[list[Product]]:
        for offers, _total in self._pages("/api/offers", "offers", {}):
            if offers:
                yield [offer_record(raw) for raw in offers]

    def fetch_daily_report(self, start: date, end: date) -> list[ReportDay]:
        """The shop's daily sales export: accepted orders only, refunds and cancellations on
        their own dates, UTC days, the shop's currency."""
        params = {"start_date": start.isoformat(), "end_date": end.isoformat()}
        rows = self._get(REPORT_PATH, params, parse=_csv_rows)
        try:
            days = [report_day(row) for row in rows]
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise ConnectorError(f"the daily sales export is not in the expected format ({exc!r})") from None
        if not days:
            raise ConnectorError("the daily sales export lists no days")
        return every_day(days, start, end, REPORT_TIMEZONE, days[0].currency)

    # --- internals -----------------------------------------------------------------------

    def _backfill_start(self) -> datetime:
        configured = self.config.get("backfill_start")
        if not configured:
            return self.clock() - timedelta(days=DEFAULT_BACKFILL_DAYS)
        start = datetime.fromisoformat(configured)
        return start if start.tzinfo else start.replace(tzinfo=UTC)

    def _windows(self, start: datetime) -> Iterator[tuple[datetime, datetime | None]]:
        """Consecutive update-date windows from `start`, bounds inclusive; the last one open."""
        now = self.clock()
        while start + self.window < now:
            yield start, start + self.window
            start += self.window
        yield start, None

    def _read_window(self, start: datetime, end: datetime | None) -> list[Order]:
        """Every order of the window, once each (its newest version), by last update."""
        params = {"start_update_date": _iso(start), "sort": "dateCreated", "order": "asc"}
        if end is not None:
            params["end_update_date"] = _iso(end)
        for attempt in range(1, WINDOW_READS + 1):
            orders, shrank = self._page_window(params)
            if not shrank:
                return orders
            log.warning("mirakl orders window shifted while paged start=%s end=%s attempt=%d", start, end, attempt)
        raise TransientError("Mirakl orders kept leaving the update window while it was paged")

    def _page_window(self, params: dict[str, Any]) -> tuple[list[Order], bool]:
        """One pass over a window's pages: its orders, and whether its count dropped meanwhile."""
        newest: dict[str, Order] = {}
        totals = []
        for raw_orders, total in self._pages("/api/orders", "orders", params):
            totals.append(total)
            for order in map(order_record, raw_orders):
                kept = newest.get(order.external_id)
                if kept is None or kept.updated_at < order.updated_at:
                    newest[order.external_id] = order
        shrank = any(later < earlier for earlier, later in pairwise(totals))
        return sorted(newest.values(), key=lambda o: (o.updated_at, o.external_id)), shrank

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[tuple[list[dict], int]]:
        """Mirakl's offset paging, PAGE_SIZE at a time: each page's items and the total_count it reported."""
        offset, total = 0, None
        while total is None or offset < total:
            data = self._get(path, {**params, "max": PAGE_SIZE, "offset": offset})
            total = data["total_count"]
            yield data[key], total
            if not data[key]:
                return
            offset += len(data[key])

    def _get(self, path: str, params: dict[str, Any], parse: Callable[[bytes], Any] | None = None) -> Any:
        """One API call, spaced from the previous one by the minimum interval; JSON unless `parse` says."""
        delay = self._next_call - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if self.config.get("shop_id"):
            params = {**params, "shop_id": self.config["shop_id"]}
        try:
            data, _ = self.http.request_json("GET", path, params=params, parse=parse or _decode)
        finally:
            self._next_call = time.monotonic() + self.min_interval
        return data


# --- records -------------------------------------------------------------------------------


def order_record(raw: Mapping[str, Any]) -> Order:
    """An OR11 order as a normalized record.

    Shipping and its taxes sit on the lines; commission is kept apart as `fees`. An order
    counts as a sale once the seller accepted it: a cancelled order that had been accepted
    is a sale, then a return on the cancellation date.
    """
    lines = raw["order_lines"]
    state = raw["order_state"]
    # By date then id, so the record does not depend on the order Mirakl lists lines in.
    refunds = sorted((r for line in lines for r in _returns(line)), key=lambda r: (r.processed_at, r.external_id))
    accepted = raw.get("acceptance_decision_date") is not None and state not in NOT_ACCEPTED_STATES
    created, updated = _time(raw["created_date"]), _time(raw["last_updated_date"])
    cancelled_at = None
    if state == "CANCELED":
        # The cancelations' date; with nothing left to cancel, the cancellation is the last change.
        cancelled_at = max((r.processed_at for r in refunds if r.kind == "cancellation"), default=updated)
    return Order(
        external_id=raw["order_id"],
        name=raw.get("commercial_id") or raw["order_id"],
        currency=raw["currency_iso_code"],
        created_at=created,
        processed_at=created,
        updated_at=updated,
        status=state,
        shipping=sum((_amount(line.get("shipping_price")) for line in lines), ZERO),
        tax=sum((_tax(line.get("taxes")) + _tax(line.get("shipping_taxes")) for line in lines), ZERO),
        line_items=tuple(_line_item(line) for line in lines),
        refunds=tuple(refunds),
        cancelled_at=cancelled_at,
        excluded_reason=None if accepted else "not_accepted",
        fees=_amount(raw.get("total_commission")),
    )


def offer_record(raw: Mapping[str, Any]) -> Product:
    """An OF21 offer as a product. OF21 has no last-updated date; the offer's availability
    start is the closest it offers."""
    start = raw.get("available_start_date")
    return Product(
        external_id=_offer_id(raw["offer_id"]),
        title=raw.get("product_title") or "",
        sku=raw.get("shop_sku"),
        currency=raw["currency_iso_code"],
        price=_amount(raw["price"]) if raw.get("price") is not None else None,
        status="ACTIVE" if raw.get("active", True) else "INACTIVE",
        updated_at=_time(start) if start else None,
        product_type=raw.get("category_label"),
    )


def _line_item(line: Mapping[str, Any]) -> LineItem:
    quantity = int(line["quantity"])
    origin = line.get("origin_unit_price")
    unit_price = _amount(origin if origin is not None else line["price_unit"])
    return LineItem(
        external_id=line["order_line_id"],
        sku=line.get("offer_sku"),
        title=line.get("product_title") or "",
        quantity=quantity,
        unit_price=unit_price,
        # The promotions' deduced amounts, computed so that it also covers an offer's discount
        # price (which lowers the price without a promotion): what was charged is `price`.
        discount=unit_price * quantity - _amount(line["price"]),
        tax=_tax(line.get("taxes")),
        product_external_id=_offer_id(line["offer_id"]) if line.get("offer_id") is not None else None,
    )


def _returns(line: Mapping[str, Any]) -> Iterator[Refund]:
    """The line's refunds and cancelations, one Refund each (goods, shipping, their taxes)."""
    for kind, key in (("refund", "refunds"), ("cancellation", "cancelations")):
        for entry in line.get(key) or ():
            amount = _amount(entry.get("amount"))
            yield Refund(
                external_id=f"{kind}:{entry['id']}",
                processed_at=_time(entry["created_date"]),
                kind=kind,
                returns=amount,
                shipping=_amount(entry.get("shipping_amount")),
                tax=_tax(entry.get("taxes")) + _tax(entry.get("shipping_taxes")),
                lines=(RefundLine(line["order_line_id"], int(entry.get("quantity") or 0), amount),),
            )


def report_day(row: dict[str, str]) -> ReportDay:
    """One row of the daily sales export (amounts positive, as our metrics hold them)."""
    return ReportDay(
        day=date.fromisoformat(row["date"]),
        timezone=REPORT_TIMEZONE,
        currency=row["currency"],
        orders=int(row["orders"]),
        **{field: Decimal(row[field]) for field in REPORT_MONEY},
    )


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def _decode(body: bytes) -> Any:
    """JSON with Mirakl's amounts (JSON numbers) read straight to Decimal, never through float."""
    return json.loads(body, parse_float=Decimal)


def _offer_id(offer_id: Any) -> str:
    return f"offer-{offer_id}"


def _amount(value: Any) -> Decimal:
    """A Mirakl amount (already a Decimal from the JSON, or an int such as 0) as Decimal."""
    return ZERO if value is None else Decimal(value)


def _tax(entries: Any) -> Decimal:
    return sum((_amount(entry.get("amount")) for entry in entries or ()), ZERO)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
