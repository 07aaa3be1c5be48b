"""The overview's numbers, checked against an independent pandas computation from the business's
raw events (tests/pandas_metrics.py), through the data layer and through the Dash callback the
browser calls."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from dashboard import data
from db import rollups
from db.cache import ReadCache
from db.models import Company, Platform
from jobs.demo import DEMO_COMPANY, DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from simulators.business import Business
from tests.pandas_metrics import Events, expected_daily, expected_totals
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


def test_overview_numbers_match_pandas(engine, sessions, demo):
    with sessions() as session:
        view = data.overview(session, demo.id, today=SEEDED_AT.date())
    assert (view.start, view.end) == (SEEDED_AT.date() - timedelta(days=29), SEEDED_AT.date())
    daily = expected_daily(engine, demo.id, demo.events)
    for kpis, start, end in (
        (view.totals, view.start, view.end),
        (view.previous, view.start - timedelta(days=30), view.start - timedelta(days=1)),
    ):
        expected = expected_totals(daily, start, end)
        assert expected["orders"] > 100  # a real month of business, not an empty window
        for field in (
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
        ):
            assert getattr(kpis, field) == expected[field], field

    window = daily[(daily["day"] >= view.start) & (daily["day"] <= view.end)]
    got = {(r.platform_id, r.day): (r.net_sales, r.gross_sales, r.total_sales, r.orders, r.units) for r in view.daily}
    want = {
        (row.platform_id, row.day): (row.net_sales, row.gross_sales, row.total_sales, row.orders, row.units)
        for row in window.itertuples()
    }
    assert got == want


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


def test_overview_callback_serves_the_same_numbers(client, auth, engine, sessions, live_demo):
    assert auth.login(DEMO_EMAIL, DEMO_PASSWORD).status_code == 302
    client.get("/")  # Dash registers its routing callbacks on the first page load
    result = dash_callback(
        client,
        [
            ("overview-sync-banner", "children"),
            ("overview-kpis", "children"),
            ("overview-trend", "figure"),
            ("overview-period", "children"),
            ("overview-freshness", "children"),
        ],
        [{"id": "refresh-interval", "property": "n_intervals", "value": None}],
    )
    cards = json.dumps(result["overview-kpis"]["children"])
    with sessions() as session:
        view = data.overview(session, live_demo.id)
    expected = expected_totals(expected_daily(engine, live_demo.id, live_demo.events), view.start, view.end)
    assert expected["orders"] > 100
    assert f"${expected['net_sales']:,.2f}" in cards
    assert f"{expected['orders']:,}" in cards
    assert f"${expected['aov']:,.2f}" in cards
    assert f"{expected['units']:,}" in cards
    traces = result["overview-trend"]["figure"]["data"]
    assert {t["name"] for t in traces} == {"Shopify store", "Best Buy Marketplace"}
    plotted = sum(Decimal(str(y)) for t in traces for y in t["y"])
    assert plotted == expected["net_sales"]


def test_a_refresh_with_no_new_data_reads_the_cache_not_the_rollups(engine, sessions, demo, tmp_path):
    """The 30-second tick: the same view again runs no rollup query until the data version moves
    (a sync that wrote something), and then reads the new numbers."""
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
                views.append(data.overview(session, demo.id, today=SEEDED_AT.date(), cache=cache))
            views[-1] = (views[-1], [s for s in statements if "analytics_daily" in s])
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    (first, first_reads), (again, again_reads), (after_sync, after_sync_reads) = views
    assert first_reads and not again_reads and after_sync_reads
    assert first.totals.orders > 100
    assert again.totals == first.totals == after_sync.totals and again.daily == first.daily


def test_trend_csv_export(client, auth, engine, sessions, live_demo):
    """The Export CSV button's file holds, for every day and channel of the window, pandas' numbers."""
    auth.login(DEMO_EMAIL, DEMO_PASSWORD)
    client.get("/")
    result = dash_callback(
        client, [("overview-download", "data")], [{"id": "overview-export", "property": "n_clicks", "value": 1}]
    )
    download = result["overview-download"]["data"]
    lines = download["content"].splitlines()
    span = download["filename"].removeprefix("channelpulse-daily-sales-").removesuffix(".csv")
    first, last = date.fromisoformat(span[:10]), date.fromisoformat(span[11:])
    assert lines[0] == f"# ChannelPulse daily sales by channel, {first} to {last}" and (last - first).days == 29
    assert lines[2] == "day,channel,gross_sales,net_sales,total_sales,orders,units"
    with sessions() as session:
        names = dict(session.execute(select(Platform.id, Platform.display_name)).all())
    daily = expected_daily(engine, live_demo.id, live_demo.events)
    window = daily[(daily["day"] >= first) & (daily["day"] <= last)]
    columns = ("gross_sales", "net_sales", "total_sales", "orders", "units")
    want = {
        (r.day.isoformat(), names[r.platform_id]): tuple(str(getattr(r, c)) for c in columns)
        for r in window.itertuples()
    }
    rows = list(csv.DictReader(lines[2:]))
    got = {(r["day"], r["channel"]): tuple(r[c] for c in columns) for r in rows}
    # Days inside the window only; a day without sales (today, minutes after local midnight) may be absent.
    assert len(got) == len(rows) and {day for day, _ in got} <= {(first + timedelta(n)).isoformat() for n in range(30)}
    quiet = ("0.00", "0.00", "0.00", "0", "0")
    assert got == {key: want.get(key, quiet) for key in got}
    assert {key for key, values in want.items() if values != quiet} <= set(got)
    net = sum(Decimal(r["net_sales"]) for r in rows)
    assert net == expected_totals(daily, first, last)["net_sales"] > 0
