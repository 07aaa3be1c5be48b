"""CSV import: a seller's order export in, normalized Order records out. Pure: no database.

The canonical layout is one row per order line (docs/csv_import.md); a `CsvMapping` renames
columns and sets the date format so other layouts load too, and `PRESETS` holds the ones we
know (UCI Online Retail). Every row is validated and every problem reported with its line,
column, value and reason; orders are only built from a clean file, so a caller that writes
`ParsedCsv.orders` can never write half a file.

A row with a negative quantity is goods coming back on that row's date. In an order that also
has sold lines it is a return of that order; an order with only such rows (a cancellation
invoice that does not name its original invoice) becomes a return-only record: an order that
is not a sale (`excluded_reason="returns_only"`) carrying one refund per return time.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from connectors.base import AccountInfo, Connector
from connectors.csv_files import (
    UPLOAD_LIMITS,
    CsvImportError,
    FileScan,
    Limits,
    RowError,
    Source,
    UnreadableFile,
    open_binary,
    scan_file,
)
from records import (
    RETURNS_ONLY,
    ZERO,
    LineItem,
    Order,
    Product,
    Refund,
    RefundLine,
    ValidationError,
    cycle_collector_paused,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

REQUIRED = ("order_id", "order_date", "sku", "title", "quantity", "unit_price", "currency")
OPTIONAL = ("discount", "tax", "shipping")
COLUMNS = REQUIRED + OPTIONAL
ISO = "iso"  # a date format meaning ISO 8601 (datetime.fromisoformat), with or without an offset
PAGE_SIZE = 1000
PROGRESS_EVERY = 10_000  # rows between progress reports
MAX_FIELD = csv.field_size_limit()  # 131,072 characters: the csv module refuses longer fields
MAX_ORDER_ID = 64  # orders.name
MAX_SKU = 128  # order_line_items.sku
MAX_MAPPED_SKUS = 1000  # shipping or ignored SKUs of one mapping
# Current ISO 4217 currency codes (funds, metals and test codes left out).
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
    TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 (a block of codes reads better than 160 quoted strings)
)


class InvalidMapping(ValidationError):
    """A mapping that cannot be built; `field` names the setting at fault (the API answers 400)."""


@dataclass(frozen=True)
class CsvMapping:
    """How a file's layout maps onto the canonical columns.

    `columns` maps a canonical name to the file's header for it; a canonical column not listed
    is looked up under its own name (headers match case-insensitively), so the canonical layout
    is the empty mapping. `date_formats` are tried in order (strptime formats, or ISO). Order ids
    starting with `cancellation_prefix` are cancellations (every quantity negative); those
    starting with one of `skip_prefixes` are not sales documents and are skipped, and counted.
    Rows whose SKU is in `shipping_skus` are postage charged (or refunded), not goods; rows whose
    SKU is in `ignored_skus` (fees, manual adjustments) are checked, then left out and counted.
    """

    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    date_formats: tuple[str, ...] = (ISO,)
    cancellation_prefix: str | None = None
    skip_prefixes: tuple[str, ...] = ()
    shipping_skus: frozenset[str] = frozenset()
    ignored_skus: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(COLUMNS))
        if unknown:
            message = f"unknown canonical column(s): {', '.join(unknown)}; known: {', '.join(COLUMNS)}"
            raise InvalidMapping("columns", message)
        if not self.date_formats:
            raise InvalidMapping("date_format", "at least one date format is needed")
        for name in ("shipping_skus", "ignored_skus"):
            codes = getattr(self, name)
            if len(codes) > MAX_MAPPED_SKUS or not all(isinstance(c, str) and 0 < len(c) <= MAX_SKU for c in codes):
                raise InvalidMapping(name, f"{name}: at most {MAX_MAPPED_SKUS:,} SKUs of 1-{MAX_SKU} characters")
        both = self.shipping_skus & self.ignored_skus
        if both:
            raise InvalidMapping("ignored_skus", f"SKU(s) both shipping and ignored: {', '.join(sorted(both))[:200]}")


CANONICAL = CsvMapping()
PRESETS: dict[str, CsvMapping] = {
    "canonical": CANONICAL,
    "uci_online_retail": CsvMapping(
        columns={
            "order_id": "InvoiceNo",
            "order_date": "InvoiceDate",
            "sku": "StockCode",
            "title": "Description",
            "quantity": "Quantity",
            "unit_price": "UnitPrice",
        },
        # The shared copy writes ISO dates; the original UCI spreadsheet export writes "12/1/2010 8:26".
        date_formats=(ISO, "%m/%d/%Y %H:%M"),
        cancellation_prefix="C",
        skip_prefixes=("A",),  # "Adjust bad debt" bookkeeping entries, not sales
        # Postage and carriage charged on the invoice (docs/csv_import.md lists what each code is).
        shipping_skus=frozenset({"POST", "DOT", "C2"}),
        # Marketplace fees, bank charges, charity commission, discounts, manual entries, samples
        # credited and bad debt: money moved, but no goods sold or returned.
        ignored_skus=frozenset({"AMAZONFEE", "BANK CHARGES", "CRUK", "D", "M", "m", "S", "B"}),
    ),
}


def mapping_for(
    preset: object = "canonical",
    columns: Mapping[str, str] | None = None,
    date_format: str | None = None,
    *,
    shipping_skus: Iterable[str] = (),
    ignored_skus: Iterable[str] = (),
) -> CsvMapping:
    """A preset with some columns remapped, its date format replaced and/or SKUs added to its
    shipping and ignored ones (API, CLI and connector config); InvalidMapping says what is wrong."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise InvalidMapping("preset", f"unknown preset {str(preset)[:50]!r}; known: {', '.join(PRESETS)}")
    mapping = PRESETS[preset]
    return dataclasses.replace(
        mapping,
        columns={**mapping.columns, **(columns or {})},
        date_formats=(date_format,) if date_format else mapping.date_formats,
        shipping_skus=mapping.shipping_skus | {c.strip() for c in shipping_skus},
        ignored_skus=mapping.ignored_skus | {c.strip() for c in ignored_skus},
    )


@dataclass(frozen=True)
class ParsedCsv:
    """What a parse found. `orders` is empty whenever `errors` is not: nothing half imported."""

    orders: list[Order]
    errors: list[RowError]
    rows: int = 0  # data rows read (blank lines not counted)
    lines: int = 0  # sold lines
    returns: int = 0  # returned lines (negative quantity)
    skipped: int = 0  # rows of skipped documents (CsvMapping.skip_prefixes)
    ignored: int = 0  # rows of ignored SKUs (CsvMapping.ignored_skus)


class _Row(NamedTuple):
    line: int
    at: datetime
    sku: str | None
    title: str
    quantity: int
    unit_price: Decimal
    currency: str
    discount: Decimal
    tax: Decimal
    shipping: Decimal  # with the row's whole value when it is postage
    postage: bool  # a row of one of the mapping's shipping SKUs, not goods


# --- reading -------------------------------------------------------------------------------


def resolve_columns(
    header: list[str], mapping: CsvMapping, currency: str | None
) -> tuple[dict[str, int], list[RowError]]:
    """The position of each canonical column in `header`, and a line-1 error per missing one."""
    positions = {name.strip().casefold(): i for i, name in enumerate(header)}
    found: dict[str, int] = {}
    errors = []
    for name in COLUMNS:
        wanted = mapping.columns.get(name, name)
        if wanted.strip().casefold() in positions:
            found[name] = positions[wanted.strip().casefold()]
        elif name in REQUIRED and not (name == "currency" and currency):
            hint = " (or give the currency as a parameter)" if name == "currency" else ""
            errors.append(RowError(1, wanted, "", f"missing column{hint}"))
        elif name in mapping.columns:
            errors.append(RowError(1, wanted, "", "missing column (named in the mapping)"))
    return found, errors


@contextlib.contextmanager
def _open(
    source: Source, mapping: CsvMapping, currency: str | None, limits: Limits
) -> Iterator[tuple[FileScan, Any, dict[str, int], list[RowError]]]:
    """The file's scan, a csv reader past the header, and the canonical columns' positions; or
    the errors that stop it before any row is read (a NUL byte, an empty file, missing columns)."""
    scan = scan_file(source, limits)
    if scan.nul_line is not None:
        reason = "contains a NUL byte (a UTF-16 file? save it as CSV UTF-8)"
        yield scan, iter(()), {}, [RowError(scan.nul_line, "", "", reason)]
        return
    with open_binary(source, limits) as stream:
        reader = csv.reader(io.TextIOWrapper(stream, encoding=scan.encoding, newline=""))
        errors: list[RowError] = []
        header = _next_row(reader, errors)
        if header is None:
            yield scan, reader, {}, errors or [RowError(1, "", "", "the file is empty")]
        else:
            yield scan, reader, *resolve_columns(header, mapping, currency)


def _next_row(reader: Any, errors: list[RowError]) -> list[str] | None:
    """The reader's next row, None at the end or, after a row the csv module refuses (a field
    over MAX_FIELD characters), with that line's error in `errors`: the rows after it cannot be
    told apart reliably."""
    try:
        return next(reader, None)
    except csv.Error as exc:
        reason = f"a field is longer than {MAX_FIELD:,} characters" if "field larger" in str(exc) else str(exc)
        errors.append(RowError(reader.line_num, "", "", reason))
        return None


# --- cell converters: each returns the value or raises ValueError(reason) --------------------


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite():
        raise ValueError("not a number")
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _quantity(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a whole number") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError("not a whole number")
    if not value:
        raise ValueError("must not be zero")
    return int(value)


def _currency(text: str) -> str:
    code = text.strip().upper()
    if code not in CURRENCIES:
        raise ValueError("unknown currency (expected an ISO 4217 code such as USD)")
    return code


def _date_parser(formats: tuple[str, ...], tz: ZoneInfo) -> Callable[[str], datetime]:
    """Text to an aware UTC datetime; times without an offset are local times in `tz`."""
    expected = " or ".join("ISO 8601" if f == ISO else f for f in formats)

    def parse(text: str) -> datetime:
        text = text.strip()
        for fmt in formats:
            try:
                moment = datetime.fromisoformat(text) if fmt == ISO else datetime.strptime(text, fmt)
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
            return moment.astimezone(UTC)
        raise ValueError(f"not a date ({expected})")

    return parse


def _cell(convert: Callable[[str], Any], default: Any) -> Callable[[str], Any]:
    """`convert` for one column's cells, with `default` for a blank cell (None: a value is
    required), cached per parse: a file repeats the same dates, prices and quantities thousands
    of times, and a dict lookup is far cheaper than Decimal() or strptime()."""

    def parse(text: str) -> Any:
        if not text.strip():
            if default is None:
                raise ValueError("missing value")
            return default
        return convert(text)

    return functools.cache(parse)


# --- parsing -------------------------------------------------------------------------------


class _RowReader:
    """Validates rows into `_Row`s grouped by order id, collecting every error on the way, and
    builds each order once the rows move on to another (see parse_csv's `on_order`)."""

    def __init__(
        self,
        mapping: CsvMapping,
        columns: dict[str, int],
        currency: str | None,
        tz: ZoneInfo,
        imported_at: datetime,
        on_order: Callable[[Order], None] | None,
    ) -> None:
        self.mapping, self.imported_at, self.on_order = mapping, imported_at, on_order
        self.columns = columns
        self.width = max(columns.values()) + 1
        # (name, position or None when the file has no such column, cell converter), in the
        # order a row's values are checked and unpacked in `read`.
        self.converted = [
            (name, columns.get(name), _cell(convert, default))
            for name, convert, default in (
                ("order_date", _date_parser(mapping.date_formats, tz), None),
                ("quantity", _quantity, None),
                ("unit_price", _amount, None),
                ("currency", _currency, currency),
                *((name, _amount, ZERO) for name in OPTIONAL),
            )
        ]
        self.orders: dict[str, list[_Row]] = {}
        self.built: dict[str, Order] = {}  # orders built as the rows moved past them
        self.reopened: set[str] = set()  # orders whose rows came back after others': built at the end
        self.current: str | None = None  # the order of the last row kept
        self.errors: list[RowError] = []
        self.rows = self.skipped = self.ignored = 0

    def read(self, line: int, cells: list[str]) -> None:
        self.rows += 1
        if len(cells) < self.width:
            self.errors.append(RowError(line, "", ",".join(cells), f"{len(cells)} fields, expected {self.width}"))
            return
        errors_before = len(self.errors)
        order_id = self.text(line, cells, "order_id", required=True, limit=MAX_ORDER_ID)
        if order_id.startswith(self.mapping.skip_prefixes):
            self.skipped += 1
            return
        sku = self.text(line, cells, "sku", required=False, limit=MAX_SKU)
        title = cells[self.columns["title"]].strip()
        at, quantity, unit_price, currency, discount, tax, shipping = self.values(line, cells)
        if len(self.errors) > errors_before:
            return

        rows = self.orders.get(order_id)
        if rows and currency != rows[0].currency:
            self.error(line, "currency", currency, f"order {order_id} is in {rows[0].currency} (line {rows[0].line})")
        if self.mapping.cancellation_prefix and order_id.startswith(self.mapping.cancellation_prefix) and quantity > 0:
            self.error(line, "quantity", str(quantity), "a cancellation's quantities must be negative")
        if discount and discount > abs(quantity) * unit_price:
            self.error(line, "discount", str(discount), "more than quantity x unit price")
        if len(self.errors) > errors_before:
            return
        if sku in self.mapping.ignored_skus:
            self.ignored += 1
            return
        postage = sku in self.mapping.shipping_skus
        if postage:
            shipping += abs(quantity) * unit_price - discount
        row = _Row(line, at, sku or None, title, quantity, unit_price, currency, discount, tax, shipping, postage)
        if order_id != self.current:
            self.move_to(order_id, seen=rows is not None)
        if rows is None:
            self.orders[order_id] = [row]
        else:
            rows.append(row)

    def move_to(self, order_id: str, *, seen: bool) -> None:
        """The rows moved on to `order_id` (`seen` before): the previous order is complete, unless
        its rows come back later, so it is built and handed to `on_order` (once, and only while
        the file is clean). An order seen before is reopened: built again at the end."""
        previous = self.current
        if previous is not None and previous not in self.reopened and not self.errors:
            order = self.built[previous] = _order(previous, self.orders[previous], self.mapping, self.imported_at)
            if self.on_order:
                self.on_order(order)
        if seen:
            self.reopened.add(order_id)
            self.built.pop(order_id, None)
        self.current = order_id

    def finish(self) -> list[Order]:
        """Every order in the order of its first row, built once its rows are all read; none
        when any row was wrong."""
        if self.errors:
            return []
        return [
            self.built.get(oid) or _order(oid, rows, self.mapping, self.imported_at)
            for oid, rows in self.orders.items()
        ]

    def text(self, line: int, cells: list[str], name: str, *, required: bool, limit: int) -> str:
        value = cells[self.columns[name]].strip()
        if required and not value:
            self.error(line, name, value, "missing value")
        elif len(value) > limit:
            self.error(line, name, value, f"longer than {limit} characters")
        return value

    def values(self, line: int, cells: list[str]) -> list[Any]:
        """The row's converted cells, in `converted`'s order; an absent optional column gives
        its default, and a cell that does not convert gives None and an error."""
        values = []
        for name, position, convert in self.converted:
            text = "" if position is None else cells[position]
            try:
                values.append(convert(text))
            except ValueError as exc:
                self.error(line, name, text, str(exc))
                values.append(None)
        return values

    def error(self, line: int, name: str, value: str, reason: str) -> None:
        self.errors.append(RowError(line, self.mapping.columns.get(name, name), value, reason))


def parse_csv(
    source: Source,
    mapping: CsvMapping = CANONICAL,
    *,
    currency: str | None = None,
    timezone: str = "UTC",
    imported_at: datetime | None = None,
    progress: Progress | None = None,
    limits: Limits = UPLOAD_LIMITS,
    on_order: Callable[[Order], None] | None = None,
) -> ParsedCsv:
    """Read and validate a whole CSV (or .csv.gz) file into orders, or into the list of errors.

    `currency` is used for rows without one (or files without the column), `timezone` for
    dates without an offset. Every order's `updated_at` is `imported_at` (default: now): a
    file has no change history, and this makes a re-import rewrite what it imports, so a
    corrected file replaces what an earlier import wrote. A file past `limits` raises
    UnreadableFile, as does a damaged gzip; a file object source must be seekable (it is read twice).

    `on_order` gets each order while the file is still being read, as soon as the rows have
    moved on to another order and as long as no row was wrong, so a caller can write it
    meanwhile. It is only a preview: a later row can still refuse the file (the caller must be
    able to take back what it wrote) or add to an order already handed out, whose final version
    is then in `orders` only (an order is handed out at most once, as the very object `orders`
    holds unless it changed).
    """
    # Every row and record stays alive until the parse returns, and none makes a reference
    # cycle: the cycle collector's passes over them would be wasted (a fifth of the parse).
    with cycle_collector_paused():
        return _parse(source, mapping, currency, timezone, imported_at, progress, limits, on_order)


def _parse(
    source: Source,
    mapping: CsvMapping,
    currency: str | None,
    timezone: str,
    imported_at: datetime | None,
    progress: Progress | None,
    limits: Limits,
    on_order: Callable[[Order], None] | None,
) -> ParsedCsv:
    started = time.perf_counter()
    imported_at = imported_at or datetime.now(UTC)
    if currency:
        currency = _currency(currency)
    with _open(source, mapping, currency, limits) as (scan, reader, columns, errors):
        if errors:
            return ParsedCsv(orders=[], errors=errors)
        validated = _RowReader(mapping, columns, currency, ZoneInfo(timezone), imported_at, on_order)
        while (cells := _next_row(reader, validated.errors)) is not None:
            if cells:  # blank lines carry nothing
                validated.read(reader.line_num, cells)
                if validated.rows > limits.max_rows:
                    raise UnreadableFile(
                        f"the file has more than {limits.max_rows:,} rows: split it, "
                        "or import it with the command line (docs/csv_import.md)"
                    )
            if progress and reader.line_num % PROGRESS_EVERY == 0:
                progress(reader.line_num, scan.lines)
    if progress:
        progress(scan.lines, scan.lines)

    orders = validated.finish()
    parsed = ParsedCsv(
        orders=orders,
        errors=validated.errors,
        rows=validated.rows,
        lines=sum(len(o.line_items) for o in orders),
        returns=sum(len(r.lines) for o in orders for r in o.refunds),
        skipped=validated.skipped,
        ignored=validated.ignored,
    )
    log.info(
        "csv parsed rows=%d orders=%d errors=%d skipped=%d ignored=%d seconds=%.2f",
        parsed.rows,
        len(orders),
        len(parsed.errors),
        parsed.skipped,
        parsed.ignored,
        time.perf_counter() - started,
    )
    return parsed


def _order(order_id: str, rows: list[_Row], mapping: CsvMapping, imported_at: datetime) -> Order:
    """One order from its rows in file order; line n of the order has the id "<order id>-<n>".
    Postage rows (shipping SKUs) make no line: their value, already in their `shipping`, goes
    to the order's (or the refund's) shipping."""
    numbered = list(enumerate(rows, 1))
    sold = [(n, r) for n, r in numbered if r.quantity > 0]
    lines = tuple(
        LineItem(f"{order_id}-{n}", r.sku, r.title, r.quantity, r.unit_price, r.discount, r.tax)
        for n, r in sold
        if not r.postage
    )
    line_of_sku: dict[str | None, str] = {}
    for li in lines:
        line_of_sku.setdefault(li.sku, li.external_id)

    returned: dict[datetime, list[tuple[int, _Row]]] = {}
    for n, r in numbered:
        if r.quantity < 0:
            returned.setdefault(r.at, []).append((n, r))
    cancelled = bool(mapping.cancellation_prefix) and order_id.startswith(mapping.cancellation_prefix)
    kind = "cancellation" if cancelled else "refund"
    refunds = tuple(
        _refund(f"{order_id}-R{k}", at, kind, group, order_id, line_of_sku)
        for k, (at, group) in enumerate(returned.items(), 1)
    )
    placed = min(r.at for _, r in (sold or numbered))
    return Order(
        external_id=order_id,
        name=order_id,
        currency=rows[0].currency,
        created_at=placed,
        processed_at=placed,
        updated_at=imported_at,
        status="cancelled" if cancelled else "imported",
        shipping=sum((r.shipping for _, r in sold), ZERO),
        tax=sum((r.tax for _, r in sold), ZERO),
        line_items=lines,
        refunds=refunds,
        cancelled_at=placed if cancelled else None,
        excluded_reason=None if sold else RETURNS_ONLY,  # postage alone is still a sale
    )


def _refund(
    external_id: str,
    at: datetime,
    kind: str,
    group: list[tuple[int, _Row]],
    order_id: str,
    line_of_sku: dict[str | None, str],
) -> Refund:
    """Returned rows of one time: each refers to the order's sold line of its SKU, if any, and
    names its product itself, since a cancellation invoice's lines refer to no stored line."""
    lines = tuple(
        RefundLine(
            line_of_sku.get(r.sku, f"{order_id}-{n}"),
            -r.quantity,
            -r.quantity * r.unit_price - r.discount,
            sku=r.sku,
            title=r.title,
        )
        for n, r in group
        if not r.postage
    )
    return Refund(
        external_id=external_id,
        processed_at=at,
        kind=kind,
        returns=sum((rl.amount for rl in lines), ZERO),
        shipping=sum((r.shipping for _, r in group), ZERO),
        tax=sum((r.tax for _, r in group), ZERO),
        lines=lines,
    )


def products(orders: list[Order]) -> list[Product]:
    """One Product per distinct SKU of the sold lines, titled and priced as on its last line."""
    latest: dict[str, tuple[LineItem, str]] = {}
    for order in orders:
        for li in order.line_items:
            if li.sku:
                latest[li.sku] = (li, order.currency)
    return [
        Product(external_id=sku, title=li.title, sku=sku, currency=currency, price=li.unit_price)
        for sku, (li, currency) in latest.items()
    ]


# --- the connector -------------------------------------------------------------------------


class CsvImportConnector(Connector):
    """A CSV file as a channel, for the connector registry.

    config: `path`, and optionally `preset` (default "canonical"), `columns` (canonical name ->
    header), `date_format`, `currency` and `timezone` (of times without an offset, default UTC).
    The file is parsed once per connector; any error raises CsvImportError with all of them.
    """

    kind = "csv"
    config_fields = ("path",)
    syncs_on_schedule = False
    imports_files = True

    def __init__(self, config: Mapping[str, Any], secrets: Mapping[str, str] | None = None) -> None:
        super().__init__(config, secrets or {})
        self.path = Path(self.config["path"])
        self.mapping = mapping_for(
            self.config.get("preset", "canonical"), self.config.get("columns"), self.config.get("date_format")
        )
        self.currency = self.config.get("currency")
        self._parsed: ParsedCsv | None = None

    def check(self) -> AccountInfo:
        """Validate the header against the mapping; the currency is the parameter's or the first row's."""
        with _open(self.path, self.mapping, self.currency, UPLOAD_LIMITS) as (_, reader, columns, errors):
            if errors:
                raise CsvImportError(errors)
            currency = self.currency
            if not currency:
                first = _next_row(reader, []) or []
                currency = first[columns["currency"]].strip().upper() if len(first) > columns["currency"] else ""
        return AccountInfo(name=self.path.name, currency=currency)

    def parse(self) -> ParsedCsv:
        if self._parsed is None:
            self._parsed = parse_csv(
                self.path, self.mapping, currency=self.currency, timezone=self.config.get("timezone", "UTC")
            )
        if self._parsed.errors:
            raise CsvImportError(self._parsed.errors)
        return self._parsed

    def fetch_orders(self, since: datetime | None) -> Iterator[list[Order]]:
        orders = [o for o in self.parse().orders if since is None or o.updated_at >= since]
        for start in range(0, len(orders), PAGE_SIZE):
            yield orders[start : start + PAGE_SIZE]

    def fetch_products(self) -> Iterator[list[Product]]:
        found = products(self.parse().orders)
        for start in range(0, len(found), PAGE_SIZE):
            yield found[start : start + PAGE_SIZE]
