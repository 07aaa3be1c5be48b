"""The overview's numbers, checked against an independent pandas computation from the business's
raw events (tests/pandas_metrics.py), through the data layer and through the Dash callback the
browser calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

import jobs
from dashboard import data
from db.models import Company
from simulators.business import Business
from tests.pandas_metrics import Events, expected_daily, expected_totals
from tests.sims import seeded_events

SMALL = Business(scale=0.35)
DEMO_DAYS = 75
SEEDED_AT = datetime.now(UTC)  # the overview shows the month up to today


@pytest.fixture
def demo(sessions):
    jobs.seed_demo(sessions, business=SMALL, days=DEMO_DAYS, now=SEEDED_AT)
    with sessions() as session:
        return session.scalar(select(Company).where(Company.name == jobs.DEMO_COMPANY))


@pytest.fixture
def events(engine, demo) -> Events:
    """The raw events of what `demo` holds: the oracle's input."""
    return seeded_events(engine, demo.id, SMALL, SEEDED_AT, DEMO_DAYS)


def test_overview_numbers_match_pandas(engine, sessions, demo, events):
    with sessions() as session:
        view = data.overview(session, demo.id)
    daily = expected_daily(engine, demo.id, events)
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


def test_demo_business_is_multichannel_and_believable(engine, demo, events):
    daily = expected_daily(engine, demo.id, events)
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


def test_overview_callback_serves_the_same_numbers(client, auth, engine, sessions, demo, events):
    assert auth.login(jobs.DEMO_EMAIL, jobs.DEMO_PASSWORD).status_code == 302
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
        view = data.overview(session, demo.id)
    expected = expected_totals(expected_daily(engine, demo.id, events), view.start, view.end)
    assert f"${expected['net_sales']:,.2f}" in cards
    assert f"{expected['orders']:,}" in cards
    assert f"${expected['aov']:,.2f}" in cards
    assert f"{expected['units']:,}" in cards
    traces = result["overview-trend"]["figure"]["data"]
    assert {t["name"] for t in traces} == {"Shopify store", "Best Buy Marketplace"}
    plotted = sum(Decimal(str(y)) for t in traces for y in t["y"])
    assert plotted == expected["net_sales"]


def test_trend_csv_export(client, auth, demo):
    auth.login(jobs.DEMO_EMAIL, jobs.DEMO_PASSWORD)
    client.get("/")
    result = dash_callback(
        client, [("overview-download", "data")], [{"id": "overview-export", "property": "n_clicks", "value": 1}]
    )
    download = result["overview-download"]["data"]
    assert download["filename"].startswith("channelpulse-daily-sales-")
    lines = download["content"].splitlines()
    assert lines[0].startswith("# ChannelPulse daily sales by channel")
    assert lines[2] == "day,channel,gross_sales,net_sales,total_sales,orders,units"
    assert len(lines) > 30
