"""CSV import: the parser on real files, and import_csv on SQLite and Postgres.

Expected numbers come from pandas reading the same CSV (sharing no code with the parser or
the rollups); the UCI Online Retail tests read the shared real export at test time.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import threading
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import func, select, update

import cli
import jobs.csv_import
from connectors import csv_import
from connectors.csv_files import CsvImportError
from connectors.csv_import import CsvImportConnector, CsvMapping, parse_csv
from db import ingest
from db.engine import transaction
from db.models import AnalyticsDaily, Company, Order, OrderLineItem, Platform, Product, Refund
from jobs.csv_import import import_csv
from jobs.progress import ProgressLine
from records import RETURNS_ONLY
from settings import PROJECT_ROOT
from tests.conftest import require

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
CANONICAL = FIXTURES / "canonical.csv"
UCI_FILE = PROJECT_ROOT.parent / "shared" / "datasets" / "forecasting" / "uci_online_retail_transactions.csv.gz"
UCI = csv_import.PRESETS["uci_online_retail"]
UCI_EXCERPT_LINES = 3000
NOW = datetime(2024, 6, 1, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
MONEY = ("gross_sales", "discounts", "returns", "taxes", "shipping", "net_sales", "total_sales")
COUNTS = ("orders", "units", "units_returned")
MAPPED = CsvMapping(
    columns={
        "order_id": "Order #",
        "order_date": "Placed",
        "sku": "Item SKU",
        "title": "Item",
        "quantity": "Qty",
        "unit_price": "Price",
        "discount": "Disc",
        "tax": "VAT",
        "shipping": "Delivery",
    },
    date_formats=("%d/%m/%Y %H:%M",),
)


# --- helpers -------------------------------------------------------------------------------


def with_values(rows: pd.DataFrame, timezone: str, shipping_skus=frozenset()) -> pd.DataFrame:
    """Canonical-named CSV rows (all text) with Decimal amounts, the local `day`, the goods'
    `value` (|quantity| x price) and `units`; a postage row's value is shipping instead."""
    rows = rows.copy()
    for column in ("discount", "tax", "shipping"):
        rows[column] = rows[column].replace("", "0") if column in rows else "0"
    for column in ("unit_price", "discount", "tax", "shipping"):
        rows[column] = rows[column].map(Decimal)
    rows["quantity"] = rows["quantity"].astype(float).astype(int)
    rows["day"] = pd.to_datetime(rows["order_date"], format="ISO8601").dt.tz_localize(timezone).dt.date
    value = pd.Series([abs(q) * p for q, p in zip(rows["quantity"], rows["unit_price"], strict=True)], rows.index)
    postage = rows["sku"].isin(shipping_skus)
    rows["shipping"] += (value - rows["discount"]).where(postage, Decimal(0))
    rows["discount"] = rows["discount"].where(~postage, Decimal(0))
    rows["value"] = value.where(~postage, Decimal(0))
    rows["units"] = rows["quantity"].abs().where(~postage, 0)
    return rows


def expected_daily(rows: pd.DataFrame, timezone: str, shipping_skus=frozenset()) -> pd.DataFrame:
    """Daily metrics straight from canonical-named CSV rows (all text), with pandas and Decimal.

    Sales go to the local day of the order's first sold row, returns (negative quantities) to
    their own row's day; net = gross - discounts - returns; total = net + taxes + shipping.
    """
    rows = with_values(rows, timezone, shipping_skus)
    sold = rows[rows["quantity"] > 0].copy()
    sold["day"] = sold.groupby("order_id")["day"].transform("min")
    returned = rows[rows["quantity"] < 0].copy()
    returned["returns"] = returned["value"] - returned["discount"]

    def total(frame: pd.DataFrame, column: str) -> pd.Series:
        return frame.groupby("day")[column].agg(lambda s: sum(s, Decimal(0)))

    daily = pd.DataFrame(
        {
            "gross_sales": total(sold, "value"),
            "discounts": total(sold, "discount"),
            "returns": total(returned, "returns"),
            "taxes_charged": total(sold, "tax"),
            "taxes_refunded": total(returned, "tax"),
            "shipping_charged": total(sold, "shipping"),
            "shipping_refunded": total(returned, "shipping"),
            "orders": sold.groupby("day")["order_id"].nunique(),
            "units": sold.groupby("day")["units"].sum(),
            "units_returned": returned.groupby("day")["units"].sum(),
        }
    )
    for column in daily.columns:
        daily[column] = daily[column].map(lambda v: Decimal(0) if pd.isna(v) else v)
    daily["taxes"] = daily["taxes_charged"] - daily["taxes_refunded"]
    daily["shipping"] = daily["shipping_charged"] - daily["shipping_refunded"]
    daily["net_sales"] = daily["gross_sales"] - daily["discounts"] - daily["returns"]
    daily["total_sales"] = daily["net_sales"] + daily["taxes"] + daily["shipping"]
    for column in COUNTS:
        daily[column] = daily[column].astype(int)
    return daily[list(MONEY + COUNTS)].sort_index()


def stored_daily(sessions, platform_id: int) -> pd.DataFrame:
    columns = [getattr(AnalyticsDaily, c) for c in ("day", *MONEY, *COUNTS)]
    with sessions() as session:
        rows = session.execute(select(*columns).where(AnalyticsDaily.platform_id == platform_id)).all()
    frame = pd.DataFrame(rows, columns=["day", *MONEY, *COUNTS]).set_index("day").sort_index()
    for column in MONEY:
        frame[column] = frame[column].map(Decimal)
    return frame


def assert_daily_equal(actual: pd.DataFrame, expected: pd.DataFrame, columns=MONEY + COUNTS) -> None:
    cent = Decimal("0.01")
    for column in columns:
        got = {day: v.quantize(cent) if column in MONEY else v for day, v in actual[column].items()}
        want = {day: v.quantize(cent) if column in MONEY else v for day, v in expected[column].items()}
        assert got == want, column


def read_canonical(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_uci(path: Path) -> pd.DataFrame:
    """UCI rows under canonical names, without the skipped "A" bookkeeping invoices and the
    ignored fee and adjustment codes."""
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = rows.rename(columns={file: name for name, file in UCI.columns.items()})
    return rows[~rows["order_id"].str.startswith("A") & ~rows["sku"].isin(UCI.ignored_skus)]


def counts(sessions) -> dict[str, int]:
    tables = {"orders": Order, "lines": OrderLineItem, "refunds": Refund, "daily": AnalyticsDaily, "products": Product}
    with sessions() as session:
        return {name: session.scalar(select(func.count()).select_from(t)) for name, t in tables.items()}


@pytest.fixture
def uci_excerpt(tmp_path) -> Path:
    """The first lines of the real UCI export, taken from the shared file at test time."""
    if not UCI_FILE.exists():
        require("REQUIRE_DATASETS", f"{UCI_FILE} not found (the shared datasets)")
    with gzip.open(UCI_FILE, "rt", encoding="utf-8", newline="") as source:
        head = [next(source) for _ in range(UCI_EXCERPT_LINES)]
    path = tmp_path / "uci_excerpt.csv.gz"
    path.write_bytes(gzip.compress("".join(head).encode()))
    return path


@pytest.fixture
def platform_id(sessions, company) -> int:
    """A CSV platform in USD of the conftest company (America/New_York, USD)."""
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="Shop export", currency="USD")
        session.add(platform)
    return platform.id


def set_company(sessions, company, **values) -> None:
    with transaction(sessions) as session:
        session.execute(update(Company).where(Company.id == company.id).values(**values))


# --- the parser ----------------------------------------------------------------------------


def test_canonical_file_becomes_orders_lines_and_returns():
    parsed = parse_csv(CANONICAL, timezone="America/New_York", imported_at=NOW)
    assert (parsed.rows, parsed.lines, parsed.returns, parsed.errors) == (10, 8, 2, [])
    orders = {o.external_id: o for o in parsed.orders}
    assert list(orders) == ["1001", "1002", "1003", "1004", "1005", "1006"]

    first = orders["1001"]
    assert [li.external_id for li in first.line_items] == ["1001-1", "1001-2"]
    assert first.processed_at == datetime(2024, 3, 1, 14, 15, tzinfo=UTC)  # 09:15 in New York
    assert (first.gross_sales, first.discounts, first.tax, first.shipping) == (
        Decimal("224.00"),
        Decimal("20.00"),
        Decimal("16.32"),
        Decimal("9.99"),
    )
    (refund,) = first.refunds
    assert refund.external_id == "1001-R1" and refund.kind == "refund"
    assert refund.processed_at == datetime(2024, 3, 4, 16, 0, tzinfo=UTC)
    assert (refund.returns, refund.tax, refund.shipping) == (Decimal("12.50"), Decimal("1.00"), Decimal("0"))
    (line,) = refund.lines
    assert (line.line_item_external_id, line.quantity, line.amount) == ("1001-2", 1, Decimal("12.50"))

    returned = orders["1003"].refunds[0]
    assert (returned.returns, returned.shipping) == (Decimal("134.97"), Decimal("9.99"))  # 3 x 49.99 - 15.00
    assert orders["1005"].line_items[0].title == 'Gift set "Deluxe", wrapped'
    assert all(o.updated_at == NOW and o.excluded_reason is None for o in parsed.orders)
    assert all(isinstance(li.unit_price, Decimal) for o in parsed.orders for li in o.line_items)


def test_mapped_layout_gives_the_same_orders_as_the_canonical_one():
    canonical = parse_csv(CANONICAL, timezone="America/New_York", imported_at=NOW)
    mapped = parse_csv(FIXTURES / "mapped.csv", MAPPED, currency="USD", timezone="America/New_York", imported_at=NOW)
    assert mapped.errors == []
    assert mapped.orders == canonical.orders


def test_gzip_bom_and_latin1_files_read_the_same(tmp_path):
    text = CANONICAL.read_text(encoding="utf-8").replace("Earbuds", "Écouteurs")
    variants = {
        "plain.csv": text.encode("utf-8"),
        "bom.csv": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "crlf.csv": text.replace("\n", "\r\n").encode("utf-8"),
        "latin1.csv": text.encode("latin-1"),
        "data.csv.gz": gzip.compress(b"\xef\xbb\xbf" + text.encode("utf-8")),
    }
    results = []
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        results.append(parse_csv(tmp_path / name, timezone="America/New_York", imported_at=NOW))
    results.append(parse_csv(io.BytesIO(variants["data.csv.gz"]), timezone="America/New_York", imported_at=NOW))
    assert all(r.errors == [] and r.orders == results[0].orders for r in results)
    assert results[0].orders[2].line_items[1].title == "Écouteurs"


def test_every_bad_row_is_reported_precisely_and_no_order_is_built():
    parsed = parse_csv(FIXTURES / "bad.csv", timezone="America/New_York")
    found = [(e.line, e.column, e.value, e.reason) for e in parsed.errors]
    assert found == [
        (3, "order_id", "", "missing value"),
        (4, "order_date", "2024-02-30 10:00:00", "not a date (ISO 8601)"),
        (5, "quantity", "two", "not a whole number"),
        (6, "quantity", "1.5", "not a whole number"),
        (7, "quantity", "0", "must not be zero"),
        (8, "unit_price", "-199.00", "must not be negative"),
        (9, "currency", "USX", "unknown currency (expected an ISO 4217 code such as USD)"),
        (10, "unit_price", "$199", "not a number"),
        (11, "discount", "25.00", "more than quantity x unit price"),
        (12, "currency", "CAD", "order 2001 is in USD (line 2)"),
        (13, "", "2010,2024-03-01 18:00:00,HP-100,Studio Headphones,1", "5 fields, expected 10"),
        (14, "order_date", "", "missing value"),
        (14, "tax", "-1.00", "must not be negative"),
    ]
    assert parsed.orders == [] and parsed.rows == 14
    assert str(parsed.errors[1]) == "line 4, column 'order_date', value '2024-02-30 10:00:00': not a date (ISO 8601)"


def test_orders_are_handed_out_once_as_the_rows_move_on_and_rebuilt_when_they_come_back():
    handed = []
    parsed = parse_csv(CANONICAL, timezone="America/New_York", imported_at=NOW, on_order=handed.append)
    # 1006 is the last order (its rows could still go on); 1001 and 1003 come back on lines 9-10.
    assert [o.external_id for o in handed] == ["1001", "1002", "1003", "1004", "1005"]
    final = {o.external_id: o for o in parsed.orders}
    assert [final[o.external_id] is o for o in handed] == [False, True, False, True, True]
    assert (handed[0].refunds, len(final["1001"].refunds)) == ((), 1)
    assert parsed == parse_csv(CANONICAL, timezone="America/New_York", imported_at=NOW)

    handed.clear()
    parse_csv(FIXTURES / "bad.csv", timezone="America/New_York", on_order=handed.append)
    assert handed == []  # line 3 is wrong: nothing is handed out after it


def test_missing_columns_are_reported_against_the_header(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("Order #,Placed,Qty\n1,2024-03-01,1\n")
    parsed = parse_csv(path, MAPPED)
    assert [(e.line, e.column, e.reason) for e in parsed.errors] == [
        (1, "Item SKU", "missing column"),
        (1, "Item", "missing column"),
        (1, "Price", "missing column"),
        (1, "currency", "missing column (or give the currency as a parameter)"),
        (1, "Disc", "missing column (named in the mapping)"),
        (1, "VAT", "missing column (named in the mapping)"),
        (1, "Delivery", "missing column (named in the mapping)"),
    ]
    assert parse_csv(io.BytesIO(b"")).errors[0].reason == "the file is empty"


def test_dates_with_an_offset_keep_it():
    text = "order_id,order_date,sku,title,quantity,unit_price,currency\n1,2024-03-02T03:30:00+00:00,A,a,1,1,USD\n"
    (order,) = parse_csv(io.BytesIO(text.encode()), timezone="America/New_York").orders
    assert order.processed_at == datetime(2024, 3, 2, 3, 30, tzinfo=UTC)


def test_uci_preset_on_the_real_export(uci_excerpt):
    parsed = parse_csv(uci_excerpt, UCI, currency="GBP", timezone="Europe/London", imported_at=NOW)
    rows = read_uci(uci_excerpt)
    cancelled = rows[rows["order_id"].str.startswith("C")]
    goods = ~rows["sku"].isin(UCI.shipping_skus)
    assert parsed.errors == [] and parsed.rows == UCI_EXCERPT_LINES - 1
    assert len(parsed.orders) == rows["order_id"].nunique()
    assert parsed.returns == ((rows["quantity"].astype(float) < 0) & goods).sum()
    assert parsed.ignored == UCI_EXCERPT_LINES - 1 - len(rows) > 0

    orders = {o.external_id: o for o in parsed.orders}
    first = orders["536365"]  # the file's first invoice: 7 lines at 2010-12-01 08:26 London (GMT)
    assert len(first.line_items) == 7 and first.processed_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert first.line_items[0].sku == "85123A" and first.line_items[0].quantity == 6
    for invoice, lines in cancelled.groupby("order_id"):
        order = orders[invoice]
        assert order.excluded_reason == RETURNS_ONLY and order.cancelled_at == order.processed_at
        assert order.line_items == () and {r.kind for r in order.refunds} == {"cancellation"}
        lines = lines[~lines["sku"].isin(UCI.shipping_skus)]
        value = sum(-int(float(q)) * Decimal(p) for q, p in zip(lines["quantity"], lines["unit_price"], strict=True))
        assert sum(r.returns for r in order.refunds) == value
        booked = pd.Timestamp(lines["order_date"].iloc[0], tz="Europe/London").to_pydatetime()
        assert order.refunds[0].processed_at == booked


@pytest.mark.slow  # ~45 s on a busy machine
def test_the_whole_uci_export_parses_clean_and_matches_the_shared_daily_file():
    if not UCI_FILE.exists():
        require("REQUIRE_DATASETS", f"{UCI_FILE} not found (the shared datasets)")
    # Every stock code as a product, as the shared daily file counts them.
    as_products = dataclasses.replace(UCI, shipping_skus=frozenset(), ignored_skus=frozenset())
    parsed = parse_csv(UCI_FILE, as_products, currency="GBP", timezone="Europe/London")
    assert parsed.errors == []
    assert (parsed.rows, parsed.skipped, len(parsed.orders)) == (541_909, 3, 25_897)  # 25,900 invoices - 3 "A"
    assert (parsed.lines, parsed.returns) == (531_282, 10_624)
    assert sum(o.status == "cancelled" for o in parsed.orders) == 3_836

    # Day by day, sales and cancellations match the shared daily aggregate derived from the same
    # file (SOURCES.md), except for the one "Adjust bad debt" invoice that we skip and it counts.
    gross, cancelled = defaultdict(Decimal), defaultdict(Decimal)
    for order in parsed.orders:
        gross[order.processed_at.astimezone(LONDON).date()] += order.gross_sales
        for refund in order.refunds:
            if refund.kind == "cancellation":
                cancelled[refund.processed_at.astimezone(LONDON).date()] -= refund.returns
    shared = pd.read_csv(UCI_FILE.with_name("uci_online_retail_daily.csv"), dtype=str)
    shared = shared[shared["channel"] == "all"]
    for day, revenue, cancelled_value in zip(
        pd.to_datetime(shared["date"]).dt.date, shared["gross_revenue"], shared["cancelled_value"], strict=True
    ):
        adjustment = Decimal("11062.06") if day == date(2011, 8, 12) else 0  # A563185
        # The shared file rounds to the cent (a few lines are priced 0.001).
        sales = (gross[day] + adjustment).quantize(Decimal("0.01"))
        assert (sales, cancelled[day]) == (Decimal(revenue), Decimal(cancelled_value)), day


# --- the connector -------------------------------------------------------------------------


def test_connector_checks_the_header_and_pages_orders_and_products(tmp_path):
    connector = CsvImportConnector({"path": str(CANONICAL), "timezone": "America/New_York"})
    info = connector.check()
    assert (info.name, info.currency) == ("canonical.csv", "USD")
    pages = list(connector.fetch_orders(None))
    assert [o.external_id for page in pages for o in page] == ["1001", "1002", "1003", "1004", "1005", "1006"]
    (products,) = connector.fetch_products()
    assert sorted(p.sku for p in products) == ["CB-2", "EP-1", "GW-1", "HP-100", "SP-7"]

    mapped = CsvImportConnector({"path": str(FIXTURES / "mapped.csv"), "preset": "uci_online_retail"})
    with pytest.raises(CsvImportError) as raised:
        mapped.check()
    missing = {e.column for e in raised.value.errors}
    assert missing == {"InvoiceNo", "InvoiceDate", "StockCode", "Description", "Quantity", "UnitPrice", "currency"}
    with pytest.raises(CsvImportError) as raised:
        list(CsvImportConnector({"path": str(FIXTURES / "bad.csv")}).fetch_orders(None))
    assert len(raised.value.errors) == 13


# --- the import job, on SQLite and Postgres ------------------------------------------------


def test_import_matches_pandas_day_by_day(sessions, platform_id):
    result = import_csv(sessions, platform_id, CANONICAL)
    assert (result.rows, result.orders, result.lines, result.returns, result.errors) == (10, 6, 8, 2, [])
    expected = expected_daily(read_canonical(CANONICAL), "America/New_York")
    assert_daily_equal(stored_daily(sessions, platform_id), expected)
    assert counts(sessions)["products"] == 5


def test_reimport_is_idempotent(sessions, platform_id):
    import_csv(sessions, platform_id, CANONICAL)
    first, daily = counts(sessions), stored_daily(sessions, platform_id)
    import_csv(sessions, platform_id, CANONICAL)
    assert counts(sessions) == first == {"orders": 6, "lines": 8, "refunds": 2, "daily": 4, "products": 5}
    assert_daily_equal(stored_daily(sessions, platform_id), daily)


def test_a_file_with_bad_rows_writes_nothing(sessions, platform_id):
    import_csv(sessions, platform_id, CANONICAL)
    before = counts(sessions)
    result = import_csv(sessions, platform_id, FIXTURES / "bad.csv")
    assert len(result.errors) == 13 and result.orders == 0
    assert counts(sessions) == before


@pytest.fixture
def pages_of_one(monkeypatch) -> list[str]:
    """Pages of one order, so the canonical file's orders are written while it is read (on
    Postgres); returns the names of the threads that wrote each page."""
    monkeypatch.setattr(jobs.csv_import, "CSV_WRITE_CHUNK", 1)
    writers = []
    upsert = ingest.upsert_orders

    def upsert_orders(session, platform, orders, tz):
        writers.append(threading.current_thread().name)
        return upsert(session, platform, orders, tz)

    monkeypatch.setattr(ingest, "upsert_orders", upsert_orders)
    return writers


def test_orders_written_while_reading_are_rewritten_whole(sessions, platform_id, pages_of_one):
    expected = expected_daily(read_canonical(CANONICAL), "America/New_York")
    streamed = sessions.kw["bind"].dialect.name == "postgresql"
    for imports in (1, 2):  # the second import rewrites the first's orders, and changes nothing
        result = import_csv(sessions, platform_id, CANONICAL)
        assert pages_of_one.count("csv-import-writer") == (5 * imports if streamed else 0)
        assert (result.orders, result.errors) == (6, [])
        assert counts(sessions) == {"orders": 6, "lines": 8, "refunds": 2, "daily": 4, "products": 5}
        assert_daily_equal(stored_daily(sessions, platform_id), expected)


def test_a_bad_row_after_orders_were_written_takes_them_back(sessions, platform_id, pages_of_one, tmp_path):
    bad_at_the_end = tmp_path / "late.csv"
    bad_at_the_end.write_text(CANONICAL.read_text() + "1007,2024-03-06 10:00:00,SP-7,Speaker,two,1.00,USD,,,\n")
    result = import_csv(sessions, platform_id, bad_at_the_end)
    streamed = sessions.kw["bind"].dialect.name == "postgresql"
    assert pages_of_one.count("csv-import-writer") == (5 if streamed else 0)
    assert [str(e) for e in result.errors] == ["line 12, column 'quantity', value 'two': not a whole number"]
    assert result.orders == 0 and set(counts(sessions).values()) == {0}


def test_a_failed_write_rolls_back_every_row(sessions, company, platform_id):
    set_company(sessions, company, currency="EUR")  # no USD->EUR rate: the rollup fails at the end
    with pytest.raises(Exception, match="exchange rate"):
        import_csv(sessions, platform_id, CANONICAL)
    assert set(counts(sessions).values()) == {0}


def test_uci_excerpt_imports_with_cancellations_on_their_day(sessions, company, platform_id, uci_excerpt):
    set_company(sessions, company, timezone="Europe/London", currency="GBP")
    result = import_csv(sessions, platform_id, uci_excerpt, UCI, currency="GBP")
    assert result.errors == [] and result.rows == UCI_EXCERPT_LINES - 1
    expected = expected_daily(read_uci(uci_excerpt), "Europe/London", UCI.shipping_skus)
    assert_daily_equal(stored_daily(sessions, platform_id), expected, ("gross_sales", "discounts", "orders", "units"))
    with sessions() as session:
        refunds = session.execute(
            select(Refund.refund_day, func.sum(Refund.returns), func.sum(Refund.units)).group_by(Refund.refund_day)
        ).all()
    booked = {day: (Decimal(returns), units) for day, returns, units in refunds}
    assert booked == {day: (row.returns, row.units_returned) for day, row in expected.iterrows() if row.returns}


def test_uci_cancellations_reach_the_daily_returns(sessions, company, platform_id, uci_excerpt):
    set_company(sessions, company, timezone="Europe/London", currency="GBP")
    import_csv(sessions, platform_id, uci_excerpt, UCI, currency="GBP")
    expected = expected_daily(read_uci(uci_excerpt), "Europe/London", UCI.shipping_skus)
    assert_daily_equal(stored_daily(sessions, platform_id), expected)


def test_cli_imports_a_file_and_reports_errors(app, sessions, platform_id, monkeypatch):
    progress = io.StringIO()
    monkeypatch.setattr(cli, "ProgressLine", functools.partial(ProgressLine, stream=progress))
    runner = app.test_cli_runner()
    done = runner.invoke(args=["import-csv", "--platform-id", str(platform_id), str(CANONICAL)])
    assert done.exit_code == 0, done.output
    assert "parsing canonical.csv: 100% (11/11)" in progress.getvalue()
    assert "writing canonical.csv: done, 10 rows: 6 orders, 8 lines, 2 returned lines" in progress.getvalue()

    failed = runner.invoke(args=["import-csv", "--platform-id", str(platform_id), str(FIXTURES / "bad.csv")])
    assert failed.exit_code == 1
    assert "line 5, column 'quantity', value 'two': not a whole number" in failed.output
    assert "13 errors in bad.csv (the first 50 above); nothing imported" in failed.output
    assert counts(sessions)["orders"] == 6
