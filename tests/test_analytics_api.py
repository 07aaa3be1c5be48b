"""The analytics API against an independent pandas computation from the business's raw events
(tests/pandas_metrics.py), to the cent,
on SQLite and Postgres: USD and CAD channels, refunds and cancellations on other days than
their orders, and the day clocks went back (2026-11-01 in New York)."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from db import accounts, ingest, rollups
from db.engine import transaction
from db.metrics import COUNT_SUMS, METRICS, MONEY_SUMS
from db.models import Company, Platform
from jobs.demo import DEMO_COMPANY, DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from simulators.business import Business
from tests.conftest import TEST_PASSWORD
from tests.pandas_metrics import Events, expected_daily, expected_products, expected_totals
from tests.sims import seeded_events
from tests.test_export_values import export

SMALL = Business(scale=0.3)
DEMO_DAYS = 100
DST_END = date(2026, 11, 1)
END = date(2026, 11, 20)
START = date(2026, 10, 10)  # 42 days around the DST change, with plenty of returns
# The demo's "now": its 100 days of history end a week after END and begin before the previous
# period (2026-08-29..2026-10-09), whatever the real date. Every query names its dates, since the
# API's default range ends on the real today.
SEEDED_AT = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
RANGE = f"start_date={START}&end_date={END}"


@pytest.fixture
def demo(sessions) -> Company:
    """The demo company, loaded straight from the business (the same write path as a sync)."""
    seed_demo(sessions, business=SMALL, days=DEMO_DAYS, now=SEEDED_AT)
    with sessions() as session:
        return session.scalar(select(Company).where(Company.name == DEMO_COMPANY))


@pytest.fixture
def events(engine, demo) -> Events:
    """The raw events of what `demo` holds: the oracle's input."""
    return seeded_events(engine, demo.id, SMALL, SEEDED_AT, DEMO_DAYS)


@pytest.fixture
def demo_client(client, auth, demo):
    assert auth.login(DEMO_EMAIL, DEMO_PASSWORD).status_code == 302
    return client


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def expected_value(key: str, totals: dict):
    return money(totals[key]) if METRICS[key].kind == "money" else totals[key]


@pytest.mark.calendar
def test_metrics_match_pandas_to_the_cent(demo_client, engine, demo, events):
    daily = expected_daily(engine, demo.id, events)
    body = demo_client.get(f"/api/v1/analytics/metrics?start_date={START}&end_date={END}").json
    want = expected_totals(daily, START, END)
    previous = expected_totals(daily, START - timedelta(days=42), START - timedelta(days=1))
    assert want["returns"] > 0 and want["orders"] > 200 and previous["orders"] > 200  # neither window is empty
    for key in (*MONEY_SUMS, *COUNT_SUMS, "aov"):
        assert body["metrics"][key]["value"] == expected_value(key, want), key
        assert body["metrics"][key]["previous"] == expected_value(key, previous), key
    assert body["previous_period"] == {
        "compare": "previous_period",
        "start_date": "2026-08-29",
        "end_date": "2026-10-09",
        "end_time": None,  # the range ended before the real today: whole days
    }
    assert body["formula_version"] and body["refund_dating"] == "processed"
    assert any("CAD converted to USD" in note for note in body["notes"])


@pytest.mark.calendar
@pytest.mark.parametrize("kind", ["shopify", "bestbuy"])
def test_metrics_per_platform(demo_client, engine, sessions, demo, kind, events):
    with sessions() as session:
        platform_id = session.scalar(select(Platform.id).where(Platform.kind == kind))
    daily = expected_daily(engine, demo.id, events)
    want = expected_totals(daily[daily["platform_id"] == platform_id], DST_END, DST_END)
    assert want["orders"] > 0  # the 25-hour day has sales to put on the right side of midnight
    for query in (kind, platform_id):
        body = demo_client.get(f"/api/v1/analytics/metrics?start_date={DST_END}&end_date={DST_END}&platform={query}")
        assert body.json["metrics"]["net_sales"]["value"] == money(want["net_sales"])
        assert body.json["metrics"]["orders"]["value"] == want["orders"]


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_sales_trend_matches_pandas(demo_client, engine, demo, granularity, events):
    daily = expected_daily(engine, demo.id, events)
    body = demo_client.get(
        f"/api/v1/analytics/sales-trend?start_date={START}&end_date={END}&granularity={granularity}"
    ).json
    window = daily[(daily["day"] >= START) & (daily["day"] <= END)].copy()

    def period(day: date) -> date:  # the first day of the period the row sums: never before START
        if granularity == "week":
            return max(START, day - timedelta(days=day.weekday()))
        return max(START, day.replace(day=1)) if granularity == "month" else day

    window["period"] = window["day"].map(period)
    want = {
        (p.isoformat(), pid): (money(sum(g["net_sales"], Decimal(0))), int(g["orders"].sum()))
        for (p, pid), g in window.groupby(["period", "platform_id"])
    }
    got = {(r["period_start"], r["platform_id"]): (r["net_sales"], r["orders"]) for r in body["series"] if r["orders"]}
    assert got == {k: v for k, v in want.items() if v[1]}
    periods = {r["period_start"] for r in body["series"]}
    assert len(periods) == {"day": 42, "week": 7, "month": 2}[granularity]  # empty periods are listed too


@pytest.mark.parametrize(
    ("granularity", "first", "last"),
    [
        # START is a Saturday, END a Friday: both weeks are cut, and both months.
        ("week", ("2026-10-10", "2026-10-11"), ("2026-11-16", "2026-11-20")),
        ("month", ("2026-10-10", "2026-10-31"), ("2026-11-01", "2026-11-20")),
    ],
)
def test_a_week_or_month_cut_by_the_range_says_so(demo_client, granularity, first, last):
    query = f"start_date={START}&end_date={END}&granularity={granularity}"
    series = demo_client.get(f"/api/v1/analytics/sales-trend?{query}").json["series"]
    bounds = sorted({(r["period_start"], r["period_end"], r["partial"]) for r in series})
    assert bounds[0] == (*first, True) and bounds[-1] == (*last, True)
    assert all(not partial for _, _, partial in bounds[1:-1])
    if granularity == "week":
        assert ("2026-10-12", "2026-10-18", False) in bounds  # a whole week in the middle

    text = demo_client.get(f"/api/v1/analytics/sales-trend?{query}&format=csv").get_data(as_text=True)
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert (rows[0]["period_start"], rows[0]["period_end"], rows[0]["partial"]) == (*first, "True")
    assert (rows[-1]["period_start"], rows[-1]["period_end"], rows[-1]["partial"]) == (*last, "True")

    whole = demo_client.get("/api/v1/analytics/sales-trend?start_date=2026-10-12&end_date=2026-11-15&granularity=week")
    assert not any(r["partial"] for r in whole.json["series"])  # Monday to Sunday: nothing is cut
    daily = demo_client.get(f"/api/v1/analytics/sales-trend?start_date={START}&end_date={END}").json["series"]
    assert all(r["period_start"] == r["period_end"] and not r["partial"] for r in daily)


def test_platform_comparison_matches_pandas(demo_client, engine, demo, events):
    daily = expected_daily(engine, demo.id, events)
    body = demo_client.get(f"/api/v1/analytics/platform-comparison?start_date={START}&end_date={END}").json
    total_net = expected_totals(daily, START, END)["net_sales"]
    shares = 0.0
    for row in body["platforms"]:
        want = expected_totals(daily[daily["platform_id"] == row["platform_id"]], START, END)
        assert row["net_sales"] == money(want["net_sales"]) and row["aov"] == money(want["aov"])
        assert row["share_of_net_sales"] == round(float(want["net_sales"] / total_net * 100), 2)
        shares += row["share_of_net_sales"]
    assert {r["store_currency"] for r in body["platforms"]} == {"USD", "CAD"}
    assert abs(shares - 100) < 0.05


@pytest.mark.parametrize("sort", ["net_sales", "units"])
def test_top_products_match_pandas(demo_client, engine, demo, sort, events):
    want = expected_products(engine, demo.id, events, START, END)
    body = demo_client.get(f"/api/v1/analytics/top-products?start_date={START}&end_date={END}&limit=500&sort={sort}")
    products = body.json["products"]
    assert len(products) == len(want)
    for row in products:
        p = want[row["sku"]]
        assert (row["gross_sales"], row["returns"], row["net_sales"], row["units"], row["units_returned"]) == (
            money(p["gross_sales"]),
            money(p["returns"]),
            money(p["net_sales"]),
            p["units"],
            p["units_returned"],
        ), row["sku"]
    keys = [Decimal(r[sort]) if sort == "net_sales" else r[sort] for r in products]
    assert keys == sorted(keys, reverse=True)
    assert any(len(r["platforms"]) == 2 for r in products)  # a SKU sold on both channels is one product
    assert len(demo_client.get(f"/api/v1/analytics/top-products?{RANGE}&limit=3").json["products"]) == 3


def test_refunds_by_order_date_switch(demo_client, engine, sessions, demo, events):
    before = demo_client.get(f"/api/v1/analytics/metrics?start_date={START}&end_date={END}").json
    switched = demo_client.patch("/api/v1/company", json={"refund_dating": "order"})
    assert switched.status_code == 200 and switched.json["refund_dating"] == "order"
    after = demo_client.get(f"/api/v1/analytics/metrics?start_date={START}&end_date={END}").json
    want = expected_totals(expected_daily(engine, demo.id, events), START, END)
    assert after["refund_dating"] == "order"
    assert after["metrics"]["returns"]["value"] == money(want["returns"])
    assert after["metrics"]["returns"]["value"] != before["metrics"]["returns"]["value"]
    assert after["metrics"]["gross_sales"] == before["metrics"]["gross_sales"]  # sales stay on their day
    products = expected_products(engine, demo.id, events, START, END)
    top = demo_client.get(f"/api/v1/analytics/top-products?start_date={START}&end_date={END}&limit=1").json
    assert top["products"][0]["returns"] == money(products[top["products"][0]["sku"]]["returns"])
    assert demo_client.patch("/api/v1/company", json={"refund_dating": "whenever"}).status_code == 400


def test_dashboard_summary_agrees_with_the_endpoints(demo_client):
    summary = demo_client.get(f"/api/v1/analytics/dashboard-summary?{RANGE}").json
    metrics = demo_client.get(f"/api/v1/analytics/metrics?{RANGE}").json
    assert metrics["metrics"]["orders"]["value"] > 200
    assert summary["metrics"] == metrics["metrics"]
    assert summary["platforms"] == demo_client.get(f"/api/v1/analytics/platform-comparison?{RANGE}").json["platforms"]
    assert len(summary["top_products"]) == 10
    assert {row["platform"] for row in summary["trend"]} == {"Shopify store", "Best Buy Marketplace"}
    assert isinstance(summary["data_version"], int) and len(summary["sync"]) == 2


def test_every_endpoint_exports_csv_with_a_definitions_header(demo_client):
    for path in ("metrics", "sales-trend", "platform-comparison", "top-products"):
        header, rows = export(demo_client, path, start_date=START, end_date=END)  # every cell as in the JSON answer
        assert header[0].startswith("# ChannelPulse") and "formulas: version" in header[1]
        assert rows, path


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start_date=yesterday", "start_date"),
        ("start_date=2026-02-30", "start_date"),
        ("start_date=2026-11-10&end_date=2026-11-01", "end_date"),
        ("start_date=2020-01-01&end_date=2026-01-01", "start_date"),
        ("platform=amazon", "platform"),
        ("format=xml", "format"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(demo_client, query, field):
    response = demo_client.get(f"/api/v1/analytics/metrics?{query}")
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("top-products?limit=0", "limit"),
        ("top-products?limit=501", "limit"),
        ("top-products?limit=ten", "limit"),
        ("top-products?sort=price", "sort"),
        ("sales-trend?granularity=hour", "granularity"),
    ],
)
def test_bad_endpoint_parameters(demo_client, path, field):
    response = demo_client.get(f"/api/v1/analytics/{path}")
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_new_data_is_visible_on_the_next_request(demo_client, sessions, demo):
    url = f"/api/v1/analytics/metrics?{RANGE}"
    before = demo_client.get(url).json["metrics"]["orders"]["value"]
    assert before > 200 and demo_client.get(url).json["metrics"]["orders"]["value"] == before  # cached
    order = next(o for o in SMALL.orders_on("shopify", END - timedelta(days=1)) if not o.test)
    record = replace(order.to_record(order.created_at), external_id="gid://shopify/Order/999999999999")
    with transaction(sessions) as session:
        platform = session.scalar(select(Platform).where(Platform.kind == "shopify"))
        touched = ingest.upsert_orders(session, platform, [record], ZoneInfo(demo.timezone))
        rollups.rollup_daily(session, platform, touched)
    after = demo_client.get(url).json["metrics"]["orders"]["value"]
    assert after == before + 1


@pytest.mark.calendar
def test_the_default_range_is_the_last_30_days_on_the_company_calendar(demo_client, demo):
    """The one default that reads the real clock: the period it names, not data, is checked."""
    zone = ZoneInfo(demo.timezone)
    for path in ("metrics", "dashboard-summary"):
        before = datetime.now(zone).date()
        period = demo_client.get(f"/api/v1/analytics/{path}").json["period"]
        ends = {before, datetime.now(zone).date()}  # the request may cross midnight
        assert date.fromisoformat(period["end_date"]) in ends, path
        assert date.fromisoformat(period["end_date"]) - date.fromisoformat(period["start_date"]) == timedelta(days=29)


@pytest.fixture
def other_company(sessions):
    """A second company with its own user and a little data of its own."""
    with transaction(sessions) as session:
        company = Company(name="Second Shop", timezone="Europe/London", currency="GBP")
        accounts.create_user(session, company, "owner@second.example", TEST_PASSWORD, role="admin")
        platform = Platform(company=company, kind="csv", display_name="Imports", currency="GBP")
        session.add(platform)
        session.flush()
        record = next(o for o in SMALL.orders_on("shopify", END) if not o.test).to_record(
            SMALL.orders_on("shopify", END)[-1].created_at + timedelta(days=1)
        )
        record = replace(record, currency="GBP")
        touched = ingest.upsert_orders(session, platform, [record], ZoneInfo("Europe/London"))
        rollups.rollup_daily(session, platform, touched)
        return company.id, platform.id


def test_tenancy_company_b_sees_none_of_company_a(client, auth, demo, sessions, other_company):
    _, their_platform = other_company
    with sessions() as session:
        demo_platform = session.scalar(select(Platform.id).where(Platform.company_id == demo.id))
    auth.login("owner@second.example")
    metrics = client.get(f"/api/v1/analytics/metrics?start_date={START}&end_date={END}").json
    assert metrics["period"]["currency"] == "GBP" and metrics["metrics"]["orders"]["value"] == 1
    comparison = client.get(f"/api/v1/analytics/platform-comparison?start_date={START}&end_date={END}").json
    assert [p["platform_id"] for p in comparison["platforms"]] == [their_platform]
    top = client.get(f"/api/v1/analytics/top-products?start_date={START}&end_date={END}&limit=500").json
    assert all(p["platforms"] == ["Imports"] for p in top["products"])
    trend = client.get(f"/api/v1/analytics/sales-trend?start_date={START}&end_date={END}").json
    assert {r["platform_id"] for r in trend["series"]} == {their_platform}
    summary = client.get("/api/v1/analytics/dashboard-summary").json
    assert [p["platform"] for p in summary["platforms"]] == ["Imports"]
    for path in ("metrics", "sales-trend", "top-products"):
        stolen = client.get(f"/api/v1/analytics/{path}?platform={demo_platform}")
        assert stolen.status_code == 404, path
    assert client.get("/api/v1/platforms").json["platforms"][0]["id"] == their_platform
    assert client.get("/api/v1/company").json["name"] == "Second Shop"
