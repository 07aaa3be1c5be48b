"""What the CSV exports say, cell by cell: against numbers worked out by hand from the metric
definitions for a few hand-written orders on fixed days (the oracle), and against the same
endpoint's JSON for the same range and filters, totals included."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date

import pytest

from db.engine import transaction
from db.models import Platform
from tests.hand_orders import Line, sale, write

TZ = "America/New_York"  # the `company` fixture's
START, END = date(2026, 3, 2), date(2026, 3, 4)  # the previous period is Feb 27 - Mar 1
RANGE = {"start_date": START.isoformat(), "end_date": END.isoformat()}
LAMP, ARM = Line("SKU-A", "Desk lamp", 1, "40.00"), Line("SKU-M", "Monitor arm", 2, "50.00", "10.00")


@pytest.fixture
def shop_and_wholesale(sessions, company, auth) -> dict[str, int]:
    """Web store (Shopify, USD): Feb 28 a 40.00 lamp; Mar 2 two 50.00 arms less 10.00 discount,
    7.20 tax, 5.00 shipping; Mar 3 a 30.00 cable with 2.40 tax, returned Mar 4.
    Wholesale (CSV, USD): Mar 3 three 20.00 lamps."""
    with transaction(sessions) as session:
        shop = Platform(company_id=company.id, kind="shopify", display_name="Web store", currency="USD", config={})
        wholesale = Platform(company_id=company.id, kind="csv", display_name="Wholesale", currency="USD", config={})
        session.add_all([shop, wholesale])
        session.flush()
        cable = Line("SKU-B", "Cable kit", 1, "30.00")
        write(
            session,
            shop,
            [
                sale("S0", date(2026, 2, 28), [LAMP]),
                sale("S1", START, [ARM], tax="7.20", shipping="5.00"),
                sale("S2", date(2026, 3, 3), [cable], tax="2.40", returned=(END, 1)),
            ],
            TZ,
        )
        write(session, wholesale, [sale("W1", date(2026, 3, 3), [Line("SKU-A", "Desk lamp", 3, "20.00")])], TZ)
        ids = {"Web store": shop.id, "Wholesale": wholesale.id}
    assert auth.login().status_code == 302
    return ids


# metric -> (value, previous) for Mar 2-4 against Feb 27 - Mar 1, all channels, worked out by hand:
# gross 100 + 30 + 60; net = gross - discounts - returns; total = net + taxes + shipping;
# AOV = (gross - discounts) / orders = 180 / 3.
ALL_CHANNELS = {
    "gross_sales": ("190.00", "40.00"),
    "discounts": ("10.00", "0.00"),
    "returns": ("30.00", "0.00"),
    "net_sales": ("150.00", "40.00"),
    "taxes": ("9.60", "0.00"),
    "shipping": ("5.00", "0.00"),
    "total_sales": ("164.60", "40.00"),
    "orders": ("3", "1"),
    "units": ("6", "1"),
    "units_returned": ("1", "0"),
    "aov": ("60.00", "40.00"),
}
WEB_STORE_ONLY = {"gross_sales": "130.00", "net_sales": "90.00", "total_sales": "104.60", "orders": "2", "aov": "60.00"}


def table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV export's `#` header lines and its rows, read as a spreadsheet would."""
    lines = text.splitlines()
    header = [line for line in lines if line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(line for line in lines if not line.startswith("#")))))
    return header, rows


def cell(value: object) -> str:
    """How the CSV writer shows a JSON value."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


def assert_csv_is_the_json(rows: Sequence[dict[str, str]], items: Iterable[dict], columns: Sequence[str]) -> None:
    """Same rows in the same order, every listed column equal."""
    items = list(items)
    assert len(rows) == len(items) > 0
    for row, item in zip(rows, items, strict=True):
        assert {c: row[c] for c in columns} == {c: cell(item[c]) for c in columns}


ROWS_OF = {"sales-trend": "series", "platform-comparison": "platforms", "top-products": "products"}


def json_rows(path: str, body: dict) -> list[dict]:
    """The JSON answer's rows, one per CSV row (the metrics object becomes one row per metric)."""
    if path == "metrics":
        return [{"metric": key, **value} for key, value in body["metrics"].items()]
    return body[ROWS_OF[path]]


def export(client, path: str, **query) -> tuple[list[str], list[dict[str, str]]]:
    """The endpoint's CSV for this query (header lines and rows), checked cell by cell against its
    JSON for the same query."""
    body = client.get(f"/api/v1/analytics/{path}", query_string=query)
    exported = client.get(f"/api/v1/analytics/{path}", query_string={**query, "format": "csv"})
    assert body.status_code == exported.status_code == 200 and exported.mimetype == "text/csv"
    header, rows = table(exported.get_data(as_text=True))
    assert_csv_is_the_json(rows, json_rows(path, body.json), list(rows[0]) if rows else [])
    return header, rows


def test_the_metrics_csv_holds_the_hand_worked_numbers(client, shop_and_wholesale):
    header, rows = export(client, "metrics", **RANGE)
    assert header[0] == "# ChannelPulse metrics, 2026-03-02 to 2026-03-04"
    assert {r["metric"]: (r["value"], r["previous"]) for r in rows} == ALL_CHANNELS
    net = next(r for r in rows if r["metric"] == "net_sales")
    assert (net["change"], net["change_pct"]) == ("110.00", "275.0")


def test_the_metrics_csv_of_one_channel(client, shop_and_wholesale):
    _, rows = export(client, "metrics", **RANGE, platform=shop_and_wholesale["Web store"])
    values = {r["metric"]: r["value"] for r in rows}
    assert {k: values[k] for k in WEB_STORE_ONLY} == WEB_STORE_ONLY


# (day, channel) -> gross, discounts, returns, net, total, orders, units; the return on its own day.
DAILY = {
    ("2026-03-02", "Web store"): ("100.00", "10.00", "0.00", "90.00", "102.20", "1", "2"),
    ("2026-03-03", "Web store"): ("30.00", "0.00", "0.00", "30.00", "32.40", "1", "1"),
    ("2026-03-03", "Wholesale"): ("60.00", "0.00", "0.00", "60.00", "60.00", "1", "3"),
    ("2026-03-04", "Web store"): ("0.00", "0.00", "30.00", "-30.00", "-30.00", "0", "0"),
}
QUIET = ("0.00", "0.00", "0.00", "0.00", "0.00", "0", "0")
TREND_SUMS = ("gross_sales", "discounts", "returns", "net_sales", "total_sales", "orders", "units")


def test_the_daily_trend_csv_holds_each_day_and_channel(client, shop_and_wholesale):
    _, rows = export(client, "sales-trend", **RANGE, granularity="day")
    got = {(r["period_start"], r["platform"]): tuple(r[c] for c in TREND_SUMS) for r in rows}
    days = ("2026-03-02", "2026-03-03", "2026-03-04")
    assert len(rows) == len(got) == 6  # every day of every channel, once: quiet days as zeros
    assert got == {(d, c): DAILY.get((d, c), QUIET) for d in days for c in ("Web store", "Wholesale")}
    assert sum(float(r["net_sales"]) for r in rows) == pytest.approx(150.00)  # the metrics' total
    assert sum(float(r["total_sales"]) for r in rows) == pytest.approx(164.60)


def test_the_weekly_trend_csv_of_one_channel(client, shop_and_wholesale):
    shop = shop_and_wholesale["Web store"]
    _, rows = export(client, "sales-trend", **RANGE, granularity="week", platform=shop)
    assert [(r["period_start"], r["period_end"], r["partial"], r["platform"]) for r in rows] == [
        ("2026-03-02", "2026-03-04", "True", "Web store")
    ]
    assert [rows[0][c] for c in TREND_SUMS] == ["130.00", "10.00", "30.00", "90.00", "104.60", "2", "3"]


def test_the_channel_comparison_csv(client, shop_and_wholesale):
    _, rows = export(client, "platform-comparison", **RANGE)
    columns = ("gross_sales", "discounts", "returns", "net_sales", "taxes", "shipping", "total_sales", "orders")
    got = {r["platform"]: (*(r[c] for c in columns), r["aov"], r["share_of_net_sales"]) for r in rows}
    assert got == {
        "Web store": ("130.00", "10.00", "30.00", "90.00", "9.60", "5.00", "104.60", "2", "60.00", "60.0"),
        "Wholesale": ("60.00", "0.00", "0.00", "60.00", "0.00", "0.00", "60.00", "1", "60.00", "40.0"),
    }


def test_the_top_products_csv(client, shop_and_wholesale):
    _, rows = export(client, "top-products", **RANGE)
    columns = ("rank", "sku", "title", "gross_sales", "discounts", "returns", "net_sales", "units", "units_returned")
    assert [tuple(r[c] for c in (*columns, "platforms")) for r in rows] == [
        ("1", "SKU-M", "Monitor arm", "100.00", "10.00", "0.00", "90.00", "2", "0", "Web store"),
        ("2", "SKU-A", "Desk lamp", "60.00", "0.00", "0.00", "60.00", "3", "0", "Wholesale"),
        ("3", "SKU-B", "Cable kit", "30.00", "0.00", "30.00", "0.00", "1", "1", "Web store"),
    ]
    _, by_units = export(client, "top-products", **RANGE, sort="units", limit=1)
    assert [(r["sku"], r["units"]) for r in by_units] == [("SKU-A", "3")]
    _, wider = export(client, "top-products", start_date="2026-02-28", end_date=END.isoformat(), sort="units")
    lamp = wider[0]  # Feb 28 on the Web store, Mar 3 at Wholesale
    assert (lamp["sku"], lamp["gross_sales"], lamp["units"], lamp["platforms"]) == (
        "SKU-A",
        "100.00",
        "4",
        "Web store; Wholesale",
    )
