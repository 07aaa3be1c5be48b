"""Exchange-rate sources: a rates file in, (day, base, quote, rate) rows out. Pure: no database.

Each format is one parser registered in `SOURCES` (docs/fx.md). A parser returns every row of
the file or raises `FxParseError` carrying every problem found (line, field, value, reason), so a
caller can never store half a file. The ECB formats quote everything against the euro; the pairs
a company converts with (store currency -> reporting currency) come from `cross_rates`.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple
from xml.parsers import expat

from connectors.base import ConnectorError

MAX_FILE_BYTES = 32 * 1024 * 1024  # the ECB history since 1999: about 8 MB of XML, 1.5 MB of CSV
PLACES = Decimal("1e-8")  # fx_rates.rate is NUMERIC(18, 8)
MAX_RATE = Decimal("1e10")
CODE = re.compile(r"[A-Z]{3}")
CSV_HEADER = ["day", "base", "quote", "rate"]
ECB_BASE = "EUR"
ECB_CUBE = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref Cube"  # expat's "namespace name"
ECB_NO_RATE = ("N/A", "")  # historic CSV cells of currencies not quoted that day


class RateRow(NamedTuple):
    """`rate` units of `quote` for one `base` on `day`: a row of fx_rates."""

    day: date
    base: str
    quote: str
    rate: Decimal


@dataclass(frozen=True, slots=True)
class FxError:
    """One problem in a rates file; `line` is the physical line (None: the file as a whole)."""

    line: int | None
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{where}{self.field} {self.value!r}: {self.reason}"


class FxParseError(ConnectorError):
    """The file cannot be used; `errors` holds every problem found, not just the first."""

    def __init__(self, errors: list[FxError]) -> None:
        super().__init__(f"{len(errors)} error(s) in the rates file, first: {errors[0]}")
        self.errors = errors


class _Checker:
    """Collects the problems of one file. Each check returns the parsed value, or None after
    noting why it could not, so a parser reads on and reports every bad value at once."""

    def __init__(self) -> None:
        self.errors: list[FxError] = []
        self._seen: dict[Hashable, int] = {}

    def fail(self, line: int | None, field: str, value: str, reason: str) -> None:
        self.errors.append(FxError(line, field, value, reason))

    def day(self, line: int, field: str, value: str) -> date | None:
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(line, field, value, "not a date like 2024-01-31")
            return None

    def code(self, line: int, field: str, value: str) -> str | None:
        if CODE.fullmatch(value):
            return value
        self.fail(line, field, value, "not a 3-letter upper-case currency code")
        return None

    def rate(self, line: int, field: str, value: str) -> Decimal | None:
        try:
            rate = Decimal(value)
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite():
            self.fail(line, field, value, "not a decimal number")
        elif rate <= 0:
            self.fail(line, field, value, "a rate must be greater than 0")
        elif rate >= MAX_RATE:
            self.fail(line, field, value, f"a rate must be below {MAX_RATE:,.0f}")
        elif rate != rate.quantize(PLACES):
            self.fail(line, field, value, "more than 8 decimal places (rates are stored with 8)")
        else:
            return rate
        return None

    def first(self, key: Hashable, line: int, field: str, value: str) -> bool:
        """True the first time `key` is met; a repeat is an error naming the first line."""
        if key in self._seen:
            self.fail(line, field, value, f"duplicate of line {self._seen[key]}")
            return False
        self._seen[key] = line
        return True

    def result(self, rows: list[RateRow]) -> list[RateRow]:
        if not rows and not self.errors:
            self.fail(None, "file", "", "no exchange rates found")
        if self.errors:
            raise FxParseError(self.errors)
        return rows


LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len(LINE_BREAK.findall(data, 0, exc.start)) + 1
        raise FxParseError([FxError(line, "file", "", f"not UTF-8 text ({exc.reason})")]) from None


def _csv_lines(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(physical line number, cells) of a CSV file, whatever ends its lines: LF, CRLF, or the
    lone CR of old Mac exports (newline="" hands every ending to the csv module, as its docs
    ask). What the csv module cannot read at all (a NUL byte, a cell over its size limit) is
    an FxParseError naming the line."""
    reader = csv.reader(io.StringIO(_text(data), newline=""))
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise FxParseError([FxError(reader.line_num, "line", "", f"not readable as CSV ({exc})")]) from None


# --- formats -------------------------------------------------------------------------------


def parse_csv(data: bytes) -> list[RateRow]:
    """Our own format: a `day,base,quote,rate` header, then one rate per line."""
    check, rows = _Checker(), []
    lines = _csv_lines(data)
    _, header = next(lines, (1, []))
    if [cell.strip().lower() for cell in header] != CSV_HEADER:
        check.fail(1, "header", ",".join(header), f"the first line must be {','.join(CSV_HEADER)}")
        return check.result(rows)
    for line, cells in lines:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(CSV_HEADER):
            check.fail(line, "line", ",".join(cells), f"expected 4 values, found {len(cells)}")
            continue
        raw_day, raw_base, raw_quote, raw_rate = (cell.strip() for cell in cells)
        day = check.day(line, "day", raw_day)
        base = check.code(line, "base", raw_base)
        quote = check.code(line, "quote", raw_quote)
        rate = check.rate(line, "rate", raw_rate)
        if base and base == quote:
            check.fail(line, "quote", raw_quote, "the same currency as base")
        elif None not in (day, base, quote, rate) and check.first((day, base, quote), line, "day", raw_day):
            rows.append(RateRow(day, base, quote, rate))
    return check.result(rows)


def parse_ecb_xml(data: bytes) -> list[RateRow]:
    """The ECB reference rates XML (eurofxref-daily, -hist-90d and -hist share one schema):
    <Cube time="…"> holds one day, each <Cube currency="…" rate="…"/> in it EUR -> currency."""
    check, rows = _Checker(), []
    parser = expat.ParserCreate(namespace_separator=" ")
    day: date | None = None
    in_day = False

    def refuse_doctype(name: str, *_args: object) -> None:
        # Entity expansion needs a DTD; the ECB's files have none, so none is read.
        raise FxParseError([FxError(parser.CurrentLineNumber, "DOCTYPE", name, "DTDs are not accepted")])

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal day, in_day
        if name != ECB_CUBE:
            return
        line = parser.CurrentLineNumber
        if "time" in attrs:
            in_day = True
            day = check.day(line, "Cube time", attrs["time"])
            if day and not check.first(day, line, "Cube time", attrs["time"]):
                day = None
        elif "currency" in attrs:
            if not in_day:
                check.fail(line, "Cube currency", attrs["currency"], "before any <Cube time=…>")
                return
            quote = check.code(line, "Cube currency", attrs["currency"])
            rate = check.rate(line, "Cube rate", attrs.get("rate", ""))
            if quote == ECB_BASE:
                check.fail(line, "Cube currency", quote, "the euro is the base of every ECB rate")
            elif None not in (day, quote, rate) and check.first((day, quote), line, "Cube currency", quote):
                rows.append(RateRow(day, ECB_BASE, quote, rate))

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise FxParseError([FxError(exc.lineno, "XML", "", expat.errors.messages[exc.code])]) from None
    return check.result(rows)


def parse_ecb_csv(data: bytes) -> list[RateRow]:
    """The ECB historic CSV (eurofxref-hist.csv): `Date,USD,JPY,…,` then one day per line, each
    cell EUR -> that column's currency, "N/A" where the currency was not quoted that day."""
    check, rows = _Checker(), []
    lines = _csv_lines(data)
    _, header = next(lines, (1, []))
    if not header or header[0].strip() != "Date":
        check.fail(1, "header", ",".join(header), "the first line must be Date,<currency>,<currency>,…")
        return check.result(rows)
    # The ECB ends every line with a comma: a trailing column without a name is no currency.
    columns = {i: check.code(1, "header", cell.strip()) for i, cell in enumerate(header) if i and cell.strip()}
    for code in columns.values():
        if code == ECB_BASE:
            check.fail(1, "header", code, "the euro is the base of every ECB rate")
        elif code:
            check.first(code, 1, "header", code)
    for line, cells in lines:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            check.fail(line, "line", cells[0], f"expected {len(header)} values like the header, found {len(cells)}")
            continue
        day = check.day(line, "Date", cells[0].strip())
        if day is None or not check.first(day, line, "Date", cells[0].strip()):
            continue
        for i, code in columns.items():
            value = cells[i].strip()
            rate = None if value in ECB_NO_RATE else check.rate(line, header[i].strip(), value)
            if code and rate is not None:
                rows.append(RateRow(day, ECB_BASE, code, rate))
    return check.result(rows)


# --- the registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class FxSource:
    """A rates file format. `label` is what fx_rates.source records for its rows; `base` is the
    one base currency of all its rows when it has one: the company's pairs are then derived
    from it with `cross_rates`."""

    name: str
    label: str
    parse: Callable[[bytes], list[RateRow]]
    base: str | None = None


SOURCES: dict[str, FxSource] = {
    source.name: source
    for source in (
        FxSource("csv", "upload", parse_csv),
        FxSource("ecb-xml", "ecb", parse_ecb_xml, base=ECB_BASE),
        FxSource("ecb-csv", "ecb", parse_ecb_csv, base=ECB_BASE),
    )
}


def unpack(data: bytes) -> bytes:
    """The file itself, or the one file inside a zip (the ECB ships its CSVs zipped)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise FxParseError([FxError(None, "file", "", f"a zip must hold one file, it has {len(members)}")])
            with archive.open(members[0]) as member:
                content = member.read(MAX_FILE_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise FxParseError([FxError(None, "file", "", f"a damaged zip ({exc})")]) from None
    if len(content) > MAX_FILE_BYTES:
        raise FxParseError([FxError(None, "file", members[0].filename, "larger than 32 MB once unzipped")])
    return content


def detect_format(data: bytes) -> str:
    """The SOURCES name a file's first bytes point to: XML, the ECB's `Date,…` CSV, or ours."""
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        return "ecb-xml"
    if head.startswith(b"Date,"):
        return "ecb-csv"
    return "csv"


# --- cross rates ---------------------------------------------------------------------------


def cross_rates(rows: Iterable[RateRow], pairs: Iterable[tuple[str, str]], via: str = ECB_BASE) -> list[RateRow]:
    """The (base, quote) `pairs` derived from `via`-based rows, on each day both legs are known:
    rate(B->Q) = via->Q / via->B, rounded half-up to 8 decimal places (what fx_rates keeps).

    Pairs with `via` on one side are left out: the `via` rows already are them, or their
    inverse, which the converter inverts at full precision.
    """
    legs: dict[date, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        if row.base == via:
            legs[row.day][row.quote] = row.rate
    wanted = sorted({(b, q) for b, q in pairs if b != q and via not in (b, q)})
    return [
        RateRow(day, b, q, (quotes[q] / quotes[b]).quantize(PLACES, rounding=ROUND_HALF_UP))
        for day, quotes in sorted(legs.items())
        for b, q in wanted
        if b in quotes and q in quotes
    ]
