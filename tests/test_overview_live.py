"""What changes on its own clock while the Overview is open: the 30 s refresh tick (with the value
the interval really sends), the banner while a channel's first import runs, the warning when
exchange rates are stale, and the dashboard summary's sync status, which is read live even when
its numbers come from the cache.

The Overview shows "the last 30 days", so its orders lie 10 days before the company's today
(read once): wherever midnight falls during the test, they stay inside the window, and no
expected number depends on the date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy import text as sql

from dashboard.figures import ago_short
from db import fx
from db.engine import transaction
from db.models import Company, Platform, SyncRun, utcnow
from db.queries import company_today
from tests.dash_client import dash_post, find, text
from tests.hand_orders import Line, sale, write
from tests.test_overview import export, overview_tick

TZ = "America/New_York"  # the `company` fixture's
LAST_SYNC = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
CAD_USD = Decimal("0.75")
FILTERS = {"preset": "30d"}  # the Overview's default: the orders, 10 days ago, are inside it


def rates(first: date, last: date) -> list[tuple[date, str, str, Decimal]]:
    return [(first + timedelta(days=n), "CAD", "USD", CAD_USD) for n in range((last - first).days + 1)]


def seed(sessions, company: Company, rates_until: int) -> dict:
    """A synced Web store (USD) selling 100.00 less 10.00 discount, and a Best Buy shop (CAD) selling 80.00 (60.00 at
    0.75) whose first import is running, 120 of 480 orders in; both 10 days ago. CAD rates are
    published from 40 days ago until `rates_until` days ago."""
    day = company_today(company) - timedelta(days=10)
    with transaction(sessions) as session:
        shop = Platform(company_id=company.id, kind="shopify", display_name="Web store", currency="USD", config={})
        bestbuy = Platform(company_id=company.id, kind="bestbuy", display_name="Best Buy", currency="CAD", config={})
        session.add_all([shop, bestbuy])
        session.flush()
        fx.upsert_fx_rates(
            session, company.id, rates(day - timedelta(days=30), day + timedelta(10 - rates_until)), "test"
        )
        write(session, shop, [sale("S1", day, [Line("SKU-1", "Speaker", 1, "100.00", "10.00")], timezone=TZ)], TZ)
        order = sale("B1", day, [Line("SKU-2", "Headphones", 1, "80.00")], timezone=TZ, currency="CAD")
        write(session, bestbuy, [order], TZ)
        shop.last_sync_at = LAST_SYNC
        run = SyncRun(platform_id=bestbuy.id, status="running", rows=120, expected_rows=480)
        session.add(run)
        session.flush()
        return {"day": day, "shop": shop.id, "bestbuy": bestbuy.id, "run": run.id}


def tick(client, n_intervals: int) -> dict:
    """The Overview's two refreshing callbacks as the 30 s dcc.Interval fires them (n_intervals
    counts the ticks): the panels, and the live status (banners, freshness)."""
    shown = overview_tick(client, n_intervals, FILTERS)
    interval = [
        {"id": "refresh-interval", "property": "n_intervals", "value": n_intervals},
        {"id": "overview-filters", "property": "data", "value": FILTERS},
    ]
    status = [("overview-sync-banner", "children"), ("overview-freshness", "children")]
    return {**shown, **dash_post(client, status, interval, ["refresh-interval.n_intervals"])}


def freshness(shown: dict) -> str:
    return text(shown["overview-freshness"]["children"])


def finish_first_import(sessions, seeded: dict) -> None:
    with transaction(sessions) as session:
        run = session.get(SyncRun, seeded["run"])
        run.status, run.rows, run.finished_at = "succeeded", 480, utcnow()
        session.get(Platform, seeded["bestbuy"]).last_sync_at = LAST_SYNC + timedelta(hours=1)


def test_a_refresh_tick_shows_the_first_import_then_drops_its_banner(client, auth, sessions, company):
    seeded = seed(sessions, company, rates_until=0)
    auth.login()
    first = tick(client, 1)
    banner = find(first["overview-sync-banner"]["children"], "backfill-banner")
    assert text(banner) == "Importing order history. The numbers below fill in as it arrives. Best Buy"
    progress = find(banner, f"progress-{seeded['bestbuy']}")
    assert (progress["props"]["value"], progress["props"]["label"]) == (25, "120 of 480 orders")
    kpis = first["overview-kpis"]["children"]
    assert text(find(kpis, "kpi-net-sales-value")) == "$150.00"  # 100.00 - 10.00 + 80.00 CAD x 0.75
    assert text(find(kpis, "kpi-orders-value")) == "2"
    assert freshness(first) == (
        "Data as of 2026-12-01 04:30 (America/New_York) · CAD converted to USD at each order day's rate "
        f"Web store: updated {ago_short(LAST_SYNC, datetime.now(UTC))} Best Buy: updated never"
    )

    finish_first_import(sessions, seeded)
    with transaction(sessions) as session:  # an incremental sync is no first import: no banner
        session.add(SyncRun(platform_id=seeded["shop"], status="running", rows=3))
    second = tick(client, 2)
    assert find(second["overview-sync-banner"]["children"], "backfill-banner") is None
    assert freshness(second).startswith("Data as of 2026-12-01 05:30 (America/New_York) · ")
    assert text(find(second["overview-kpis"]["children"], "kpi-net-sales-value")) == "$150.00"


def test_stale_exchange_rates_are_warned_about(client, auth, sessions, company):
    """The last CAD rate is 12 days older than the Best Buy order: its amount still converts (at
    that rate), and the page says how old the rate is."""
    seed(sessions, company, rates_until=22)
    auth.login()
    shown = tick(client, 3)
    assert text(find(shown["overview-kpis"]["children"], "kpi-net-sales-value")) == "$150.00"
    notes = text(shown["overview-freshness"]["children"][0]).split(" · ")
    assert notes[-1] == "⚠ some amounts use an exchange rate 12 days old: add newer rates"


def test_the_overview_download_holds_the_orders(client, auth, sessions, company):
    seeded = seed(sessions, company, rates_until=0)
    auth.login()
    lines = export(client, "trend", FILTERS)["content"].splitlines()
    day = seeded["day"].isoformat()
    sold = [line for line in lines[5:] if not line.endswith(",0.00,0.00,0.00,0.00,0.00,0,0")]
    assert sold == [
        f"{day},{day},False,Web store,100.00,10.00,0.00,90.00,90.00,1,1",
        f"{day},{day},False,Best Buy,60.00,0.00,0.00,60.00,60.00,1,1",  # 80.00 CAD at 0.75
    ]


def data_version(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(Company.data_version))


def summary(client, seeded: dict) -> dict:
    day = seeded["day"]
    query = {"start_date": (day - timedelta(days=5)).isoformat(), "end_date": (day + timedelta(days=5)).isoformat()}
    response = client.get("/api/v1/analytics/dashboard-summary", query_string=query)
    assert response.status_code == 200
    return response.json


def test_the_cached_summary_shows_the_current_sync_status(client, auth, sessions, company):
    """Second call: the rollup part is the cached one (a change behind the cache's back does not
    show), the sync part is today's."""
    seeded = seed(sessions, company, rates_until=0)
    auth.login()
    before = summary(client, seeded)
    sync = {p["display_name"]: p for p in before["sync"]}
    assert (sync["Best Buy"]["running"], sync["Best Buy"]["progress"], sync["Web store"]["queued"]) == (
        True,
        0.25,
        False,
    )
    assert before["metrics"]["net_sales"]["value"] == "150.00"

    with transaction(sessions) as session:  # no data version bump: cached answers stay valid
        stale = sql("UPDATE analytics_daily SET net_sales = net_sales + 1000 WHERE platform_id = :shop")
        session.execute(stale, {"shop": seeded["shop"]})
    finish_first_import(sessions, seeded)
    client.post(f"/api/v1/sync/{seeded['shop']}")
    after = summary(client, seeded)
    assert after["metrics"] == before["metrics"]  # served from the cache
    sync = {p["display_name"]: p for p in after["sync"]}
    assert (sync["Best Buy"]["running"], sync["Best Buy"]["last_run"]["status"]) == (False, "succeeded")
    assert sync["Best Buy"]["last_sync_at"] == "2026-12-01T10:30:00+00:00" and sync["Web store"]["queued"] is True
    assert after["data_version"] == before["data_version"] == data_version(sessions)

    with transaction(sessions) as session:
        session.execute(update(Company).values(data_version=Company.data_version + 1))
    fresh = summary(client, seeded)
    assert fresh["metrics"]["net_sales"]["value"] == "1150.00"  # read again
    assert fresh["data_version"] == before["data_version"] + 1 == data_version(sessions)
