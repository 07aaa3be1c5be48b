"""The Overview's numbers for a set of filters, checked against an independent pandas computation
from the business's raw events (tests/pandas_metrics.py), through the data layer and through the
Dash callbacks the browser calls; what a refresh tick does; what each panel's export holds."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from dashboard import data
from dashboard.filters import Filters
from db import queries, rollups
from db.cache import ReadCache
from db.models import Company, Platform
from jobs.demo import DEMO_COMPANY, DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from simulators.business import Business
from tests.dash_client import dash_post, find, text
from tests.pandas_metrics import Events, expected_daily, expected_products, expected_totals
from tests.sims import seeded_events

SMALL = Business(scale=0.35)
DEMO_DAYS = 75
# The data layer's checks run on a fixed "now": the same 60 days every run, New York's DST change
# of 2026-11-01 among them. The Dash callbacks read the real clock, so their demo ends now.
SEEDED_AT = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)

pytestmark = pytest.mark.calendar


@dataclass(frozen=True)
class Demo:
    """The seeded demo company and the raw events of what it holds (the oracle's input)."""

    company: Company
    events: Events

    @property
    def id(self) -> int:
        return self.company.id


def seed(sessions, engine, now: datetime) -> Demo:
    """The demo company with DEMO_DAYS of sales up to `now`."""
    seed_demo(sessions, business=SMALL, days=DEMO_DAYS, now=now)
    with sessions() as session:
        company = session.scalar(select(Company).where(Company.name == DEMO_COMPANY))
    return Demo(company, seeded_events(engine, company.id, SMALL, now, DEMO_DAYS))


@pytest.fixture
def demo(sessions, engine) -> Demo:
    return seed(sessions, engine, SEEDED_AT)


@pytest.fixture
def live_demo(sessions, engine) -> Demo:
    return seed(sessions, engine, datetime.now(UTC))


SUMS = (
    "gross_sales",
    "discounts",
    "returns",
    "net_sales",
    "taxes",
    "shipping",
    "total_sales",
    "orders",
    "units",
    "units_returned",
    "aov",
)


def overview_on(session, company_id: int, today: date, cache: ReadCache | None = None, **query) -> data.Overview:
    """The Overview for a URL query, on a given company-local today."""
    company = session.get(Company, company_id)
    own = [p.id for p in queries.platforms(session, company_id)]
    return data.overview(session, company_id, Filters.from_query(query, company, own, today=today), cache)


def test_overview_numbers_match_pandas(engine, sessions, demo):
    today = SEEDED_AT.date()
    with sessions() as session:
        view = overview_on(session, demo.id, today)
    f, n = view.filters, view.numbers
    assert (f.preset, f.start, f.end) == ("30d", today - timedelta(days=29), today)
    daily = expected_daily(engine, demo.id, demo.events)
    previous = (f.start - timedelta(days=30), f.start - timedelta(days=1))
    assert (n.comparison.start, n.comparison.end, n.comparison.until) == (*previous, None)
    for kpis, (start, end) in ((n.totals, (f.start, f.end)), (n.comparison.totals, previous)):
        expected = expected_totals(daily, start, end)
        assert expected["orders"] > 100  # a real month of business, not an empty window
        for field in SUMS:
            assert kpis.value(field) == expected[field], field

    window = daily[(daily["day"] >= f.start) & (daily["day"] <= f.end)]
    got = {
        (r.platform_id, r.period_start): (r.net_sales, r.gross_sales, r.total_sales, r.orders, r.units)
        for r in n.trend
        if r.orders or r.net_sales
    }
    want = {
        (row.platform_id, row.day): (row.net_sales, row.gross_sales, row.total_sales, row.orders, row.units)
        for row in window.itertuples()
    }
    assert got == want

    per_channel = {c.platform_id: c for c in n.channels}
    for platform_id, rows in window.groupby("platform_id"):
        assert per_channel[platform_id].totals.net_sales == sum(rows["net_sales"], Decimal(0))
        assert per_channel[platform_id].totals.orders == rows["orders"].sum()
    assert abs(sum(c.share for c in n.channels) - 100) < 0.11

    products = expected_products(engine, demo.id, demo.events, f.start, f.end)
    ranked = sorted(products.items(), key=lambda kv: (-kv[1]["net_sales"], kv[0]))[: data.TOP_PRODUCTS]
    assert [(p.sku, p.net_sales, p.units) for p in n.products] == [
        (sku, p["net_sales"], p["units"]) for sku, p in ranked
    ]


def test_weeks_of_one_channel_against_the_same_days_a_year_before(engine, sessions, demo):
    """Another set of filters: one channel, by week, compared with last year (before the demo's
    history: nothing sold then, and the change says so rather than dividing by zero)."""
    today = SEEDED_AT.date()
    with sessions() as session:
        shop = session.scalar(select(Platform.id).where(Platform.kind == "shopify"))
        view = overview_on(
            session,
            demo.id,
            today,
            range="custom",
            start="2026-10-05",
            end="2026-11-22",
            channels=str(shop),
            compare="previous_year",
            granularity="week",
        )
    f, n = view.filters, view.numbers
    assert (f.start, f.end, f.channels, f.compare, f.granularity) == (
        date(2026, 10, 5),
        date(2026, 11, 22),
        (shop,),
        "previous_year",
        "week",
    )
    assert (n.comparison.start, n.comparison.end) == (date(2025, 10, 5), date(2025, 11, 22))
    assert n.comparison.totals.orders == 0 and n.comparison.totals.net_sales == 0
    daily = expected_daily(engine, demo.id, demo.events)
    ours = daily[daily["platform_id"] == shop]
    assert [c.platform_id for c in n.channels] == [shop] and n.channels[0].share == 100.0
    assert len(n.trend) == 7 and all(r.platform_id == shop for r in n.trend)  # Monday Oct 5 to Sunday Nov 22
    for row in n.trend:
        week = expected_totals(ours, row.period_start, row.period_end)
        assert (row.period_end - row.period_start).days == 6 and not row.partial
        assert (row.net_sales, row.orders, row.units) == (week["net_sales"], week["orders"], week["units"])
    assert n.totals.net_sales == expected_totals(ours, f.start, f.end)["net_sales"]


def test_demo_business_is_multichannel_and_believable(engine, demo):
    daily = expected_daily(engine, demo.id, demo.events)
    by_platform = daily.groupby("platform_id")["orders"].sum()
    assert len(by_platform) == 2 and by_platform.min() > 0
    assert sum(daily["returns"], Decimal(0)) > 0 and sum(daily["discounts"], Decimal(0)) > 0


def dash_callback(client, outputs: list[tuple[str, str]], inputs: list[dict]) -> dict:
    """Call a Dash callback over HTTP exactly as the browser's renderer does."""
    key = f"..{'...'.join(f'{i}.{p}' for i, p in outputs)}.." if len(outputs) > 1 else "{}.{}".format(*outputs[0])
    body = {
        "output": key,
        "outputs": [{"id": i, "property": p} for i, p in outputs]
        if len(outputs) > 1
        else {"id": outputs[0][0], "property": outputs[0][1]},
        "inputs": inputs,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
        "state": [],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:500]
    return json.loads(response.data)["response"]


OVERVIEW = [
    ("overview-period", "children"),
    ("overview-kpis", "children"),
    ("overview-channels", "children"),
    ("overview-products-grid", "rowData"),
    ("overview-products-note", "children"),
    ("overview-trend", "figure"),
    ("overview-trend", "style"),
    ("overview-trend-note", "children"),
    ("overview-forecast", "children"),
    ("overview-rendered", "data"),
]


def overview_tick(client, n_intervals, filters: dict, rendered=None, metric="net_sales") -> dict:
    """The Overview's panels as the page asks for them: on a refresh tick (n_intervals), for the
    filters the page was built with, showing `rendered`. {} when the answer is "no update"."""
    inputs = [
        {"id": "refresh-interval", "property": "n_intervals", "value": n_intervals},
        {"id": "overview-filters", "property": "data", "value": filters},
        [],
    ]
    state = [
        {"id": "overview-trend-metric", "property": "value", "value": metric},
        {"id": "overview-rendered", "property": "data", "value": rendered},
        {"id": "overview-trend-zoom", "property": "data", "value": None},
    ]
    return dash_post(client, OVERVIEW, inputs, ["refresh-interval.n_intervals"], state)


def export(client, panel: str, filters: dict) -> dict:
    button = {"index": panel, "type": "overview-export"}
    inputs = [[{"id": button, "property": "n_clicks", "value": 1}]]
    state = [{"id": "overview-filters", "property": "data", "value": filters}]
    changed = [json.dumps(button, separators=(",", ":")) + ".n_clicks"]
    return dash_post(client, [("overview-download", "data")], inputs, changed, state)["overview-download"]["data"]


def test_the_overview_callback_serves_the_same_numbers(client, auth, engine, sessions, live_demo):
    assert auth.login(DEMO_EMAIL, DEMO_PASSWORD).status_code == 302
    shown = overview_tick(client, None, {"preset": "30d"})
    with sessions() as session:
        view = overview_on(session, live_demo.id, queries.company_today(session.get(Company, live_demo.id)))
    daily = expected_daily(engine, live_demo.id, live_demo.events)
    expected = expected_totals(daily, view.filters.start, view.filters.end)
    assert expected["orders"] > 100
    kpis = shown["overview-kpis"]["children"]
    assert text(find(kpis, "kpi-net-sales-value")) == f"${expected['net_sales']:,.2f}"
    assert text(find(kpis, "kpi-total-sales-value")) == f"${expected['total_sales']:,.2f}"
    assert text(find(kpis, "kpi-orders-value")) == f"{expected['orders']:,}"
    assert text(find(kpis, "kpi-aov-value")) == f"${expected['aov']:,.2f}"
    assert text(find(kpis, "kpi-units-value")) == f"{expected['units']:,}"
    assert text(find(kpis, "kpi-returns-value")) == f"${expected['returns']:,.2f}"
    assert text(find(kpis, "kpi-discounts-value")) == f"${expected['discounts']:,.2f}"
    traces = shown["overview-trend"]["figure"]["data"]
    assert {t["name"] for t in traces} == {"Shopify store", "Best Buy Marketplace"}
    assert sum(Decimal(str(y)) for t in traces for y in t["y"]) == expected["net_sales"]
    assert traces[0]["marker"]["symbol"][-1] == "circle-open"  # today, still filling in
    products = expected_products(engine, live_demo.id, live_demo.events, view.filters.start, view.filters.end)
    for row in shown["overview-products-grid"]["rowData"][:20]:
        assert Decimal(str(row["net_sales"])) == products[row["sku"]]["net_sales"], row["sku"]
        assert row["units"] == products[row["sku"]]["units"]


def test_a_tick_without_new_data_changes_nothing_and_one_with_new_data_redraws(client, auth, sessions, demo):
    """The 30-second refresh: the page says which data version it shows; the same version again
    is "no update" (the browser leaves every panel as it is), a new one is drawn."""
    assert auth.login(DEMO_EMAIL, DEMO_PASSWORD).status_code == 302
    filters = {"preset": "custom", "start": "2026-10-01", "end": "2026-10-31"}
    first = overview_tick(client, None, filters)
    rendered = first["overview-rendered"]["data"]
    assert rendered[1] is None  # a range that ended: no comparison minute in the key
    assert overview_tick(client, 1, filters, rendered) == {}
    with sessions.begin() as session:
        rollups.bump_data_version(session, demo.id)
    redrawn = overview_tick(client, 2, filters, rendered)
    assert redrawn["overview-rendered"]["data"] == [rendered[0] + 1, None]
    assert redrawn["overview-kpis"] == first["overview-kpis"]  # same numbers, drawn again
    revision = redrawn["overview-trend"]["figure"]["layout"]["uirevision"]
    assert revision == "?range=custom&start=2026-10-01&end=2026-10-31|net_sales"


def test_a_refresh_with_no_new_data_reads_the_cache_not_the_rollups(engine, sessions, demo, tmp_path):
    """The same view again runs no rollup query until the data version moves (a sync that wrote
    something), and then reads the new numbers."""
    cache = ReadCache(tmp_path / "cache", namespace="test")
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731  (before_cursor_execute's statement)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        views = []
        for bump in (False, False, True):
            if bump:
                with sessions.begin() as session:
                    rollups.bump_data_version(session, demo.id)
            statements.clear()
            with sessions() as session:
                views.append(overview_on(session, demo.id, SEEDED_AT.date(), cache))
            views[-1] = (views[-1], [s for s in statements if "analytics_" in s])
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    (first, first_reads), (again, again_reads), (after_sync, after_sync_reads) = views
    assert first_reads and not again_reads and after_sync_reads
    assert first.numbers.totals.orders > 100
    assert again.numbers == first.numbers == after_sync.numbers


def test_each_panel_exports_the_numbers_it_shows(client, auth, sessions, live_demo):
    """Export CSV on each panel: its header names the filters, time zone, currency and formulas;
    its rows are the panel's numbers."""
    assert auth.login(DEMO_EMAIL, DEMO_PASSWORD).status_code == 302
    filters = {"preset": "7d", "granularity": "day"}
    shown = overview_tick(client, None, filters)

    trend = export(client, "trend", filters)
    lines = trend["content"].splitlines()
    assert lines[0].startswith("# ChannelPulse sales by day and channel, ") and trend["filename"].startswith(
        "channelpulse-trend-"
    )
    assert lines[1] == "# filters: Last 7 days; all channels; compared with previous period; by day"
    assert lines[2].startswith("# days: company-local (America/New_York); money: USD; formulas: version ")
    rows = list(csv.DictReader(lines[4:]))
    assert len(rows) == 14  # 7 days x 2 channels, quiet days included
    plotted = shown["overview-trend"]["figure"]["data"]
    assert sum(Decimal(r["net_sales"]) for r in rows) == sum(Decimal(str(y)) for t in plotted for y in t["y"])

    products = list(csv.DictReader(export(client, "products", filters)["content"].splitlines()[4:]))
    grid = shown["overview-products-grid"]["rowData"]
    assert [(p["sku"], Decimal(p["net_sales"]), int(p["units"])) for p in products] == [
        (g["sku"], Decimal(str(g["net_sales"])), g["units"]) for g in grid
    ]

    channels = list(csv.DictReader(export(client, "channels", filters)["content"].splitlines()[4:]))
    table = text(shown["overview-channels"]["children"])
    assert len(channels) == 2 and all(f"${Decimal(c['net_sales']):,.2f}" in table for c in channels)

    kpis = export(client, "kpis", filters)["content"].splitlines()
    assert kpis[4].startswith("# compared with ")
    figures = {r["metric"]: r for r in csv.DictReader(kpis[5:])}
    cards = shown["overview-kpis"]["children"]
    assert f"${Decimal(figures['Net sales']['value']):,.2f}" == text(find(cards, "kpi-net-sales-value"))
    assert f"{int(figures['Orders']['value']):,}" == text(find(cards, "kpi-orders-value"))
