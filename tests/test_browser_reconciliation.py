"""Reconciliation in the browser, on make run's embedded demo: the page shows, cell for cell, the
numbers the API answers for each platform; a dashboard row corrupted on purpose shows up as an
unexplained difference of exactly its amount; the page's CSV export and the API's carry the same
figures; and bad ranges are refused with a message over real HTTP, never a 500."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from dashboard.figures import REASON_LABELS
from db.models import AnalyticsDaily
from tests.test_embedded import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

API = "/api/v1/analytics/reconciliation"
WRONG = Decimal("12.34")  # added to one dashboard row's net and total sales
# Every cell of a table row as the page shows it; a cell of reason chips as the list of their texts.
CELLS_JS = """rows => rows.map(tr => [...tr.cells].map(td => {
    const chips = [...td.querySelectorAll('span.badge')];
    return chips.length ? chips.map(s => s.textContent) : td.textContent;
}))"""


def expected_cells(body: dict) -> list[list]:
    """The table the page must show for an API answer: day, total sales ours and theirs, orders,
    each reason's chip with its effect on total sales, and what is left unexplained."""
    rows = []
    for day in body["days"]:
        chips = [f"{REASON_LABELS[e['reason']]}: {e['effect'].get('total_sales', '0.00')}" for e in day["explained"]]
        left = ", ".join(f"{m} {v}" for m, v in day["unexplained"].items() if Decimal(str(v)) != 0)
        rows.append(
            [
                day["day"],
                day["ours"]["total_sales"],
                day["platform"]["total_sales"],
                f"{day['ours']['orders']} / {day['platform']['orders']}",
                chips or "identical",
                left or "—",
            ]
        )
    return rows


def shown_cells(page: Page) -> list[list]:
    return page.locator("#recon-days tbody tr").evaluate_all(CELLS_JS)


def show(page: Page, url: str, platform: str) -> None:
    """Open the page on one platform and wait for its table."""
    page.goto(f"{url}/reconciliation")
    expect(page.locator("#recon-days tbody tr")).to_have_count(30, timeout=30_000)
    if platform != "Shopify":
        page.click("#recon-platform")
        page.get_by_role("option", name=platform).click()
        expect(page.locator("#recon-summary-body")).to_contain_text("CAD, UTC days", timeout=30_000)


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(line for line in text.splitlines() if line[:1] != "#"))


def corrupt(database_url: str, platform_id: int, day: str) -> None:
    """Add WRONG to one dashboard row, as a broken rollup would."""
    engine = create_engine(database_url)
    with Session(engine) as session, session.begin():
        row = (AnalyticsDaily.platform_id == platform_id) & (AnalyticsDaily.day == date.fromisoformat(day))
        assert session.scalar(select(AnalyticsDaily.day).where(row)) is not None
        values = {"net_sales": AnalyticsDaily.net_sales + WRONG, "total_sales": AnalyticsDaily.total_sales + WRONG}
        session.execute(update(AnalyticsDaily).where(row).values(**values))
    engine.dispose()


def test_the_page_shows_the_apis_numbers_and_an_injected_error(live_server, browser_page):
    url = live_server.start(env={"DEMO_HISTORY_DAYS": "10", "SYNC_INTERVAL_SECONDS": "600"})
    web = login(url)

    def backfilled() -> list[dict] | None:
        platforms = web.get(f"{url}/api/v1/sync/status").json()["platforms"]
        return platforms if all(p["last_sync_at"] for p in platforms) else None

    ids = {p["kind"]: p["id"] for p in wait_for(backfilled, 120, "the first backfill")}

    def answer(kind: str, **query) -> requests.Response:
        return web.get(f"{url}{API}", params={"platform": ids[kind], **query})  # the page's range: 30 days to today

    page = browser_page
    page.goto(f"{url}/login")
    page.fill("#email", "demo@example.com")
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    show(page, url, "Shopify")
    expect(page.locator("#recon-unexplained")).to_have_text("0 days with an unexplained difference")
    assert shown_cells(page) == expected_cells(answer("shopify").json())

    show(page, url, "Best Buy Marketplace")
    clean = answer("bestbuy").json()
    assert shown_cells(page) == expected_cells(clean) and clean["summary"]["days_unexplained"] == 0
    assert {e["reason"] for d in clean["days"] for e in d["explained"]} >= {"currency", "time_zone"}

    broken_day = next(d for d in reversed(clean["days"][:-2]) if d["ours"]["orders"])  # settled, with sales
    corrupt(live_server.database_url, ids["bestbuy"], broken_day["day"])
    show(page, url, "Best Buy Marketplace")
    expect(page.locator("#recon-unexplained")).to_have_text("1 day with an unexplained difference")
    expect(page.locator("#recon-lag-unknown")).to_have_count(0)  # synced: it is not sync lag
    broken = answer("bestbuy").json()
    assert shown_cells(page) == expected_cells(broken)
    (day,) = [d for d in broken["days"] if d["day"] == broken_day["day"]]
    assert {m: v for m, v in day["unexplained"].items() if Decimal(str(v))} == {
        "net_sales": str(-WRONG),
        "total_sales": str(-WRONG),
    }
    assert day["explained"] == broken_day["explained"]  # the currency explanation did not take it in
    row = page.locator("#recon-days tbody tr.table-danger")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text(broken_day["day"])
    expect(row.locator("td").last).to_have_text(f"net_sales {-WRONG}, total_sales {-WRONG}")

    # The page's export and the API's CSV: the same figures as the JSON answer, the error included.
    with page.expect_download() as download:
        page.click("#recon-export")
    exported = csv_rows(Path(download.value.path()).read_text())
    from_api = answer("bestbuy", format="csv")
    assert from_api.status_code == 200 and from_api.headers["Content-Type"].startswith("text/csv")
    assert exported == csv_rows(from_api.text)
    by_key = {(r["day"], r["metric"]): r for r in exported}
    assert len(by_key) == 8 * len(broken["days"])
    for d in broken["days"]:
        effects = {e["reason"]: e["effect"] for e in d["explained"]}
        for metric, ours in d["ours"].items():
            exported_row = by_key[d["day"], metric]
            assert exported_row["ours"] == str(ours) and exported_row["platform"] == str(d["platform"][metric])
            assert exported_row["unexplained"] == str(d["unexplained"][metric])
            assert exported_row["currency"] == str(effects.get("currency", {}).get(metric, ""))
    assert by_key[broken_day["day"], "net_sales"]["unexplained"] == str(-WRONG)

    # The range guard, JSON and CSV alike: a clear 400, never a 500.
    today = date.fromisoformat(clean["days"][-1]["day"])
    for query, field in (
        ({"start_date": today, "end_date": today - timedelta(days=1)}, "end_date"),
        ({"start_date": today - timedelta(days=3 * 366), "end_date": today}, "start_date"),
        ({"start_date": "1989-12-31", "end_date": today}, "start_date"),
        ({"start_date": "someday", "end_date": today}, "start_date"),
    ):
        for wanted in ("json", "csv"):
            refused = answer("bestbuy", **query, format=wanted)
            assert refused.status_code == 400 and refused.json()["error"]["field"] == field, (query, wanted)
            assert refused.json()["error"]["message"]
    assert page.console_errors == []
