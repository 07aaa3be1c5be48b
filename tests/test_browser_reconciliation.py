"""Reconciliation in the browser, on make run's embedded demo: Shopify matches its own report
day for day, and every Best Buy difference is explained (currency and time zone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_embedded import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_reconciliation_page_explains_every_difference(live_server, browser_page):
    url = live_server.start(env={"DEMO_HISTORY_DAYS": "10", "SYNC_INTERVAL_SECONDS": "600"})
    web = login(url)
    wait_for(
        lambda: all(p["last_sync_at"] for p in web.get(f"{url}/api/v1/sync/status").json()["platforms"]),
        120,
        "the first backfill",
    )

    page = browser_page
    page.goto(f"{url}/login")
    page.fill("#email", "demo@example.com")
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.goto(f"{url}/reconciliation")
    expect(page.locator("#recon-unexplained")).to_have_text("0 days with an unexplained difference", timeout=30_000)
    rows = page.locator("#recon-days tbody tr")
    expect(rows).to_have_count(30)
    expect(page.locator("#recon-days")).to_contain_text("identical")

    page.click("#recon-platform")
    page.get_by_role("option", name="Best Buy Marketplace").click()
    expect(page.locator("#recon-summary-body")).to_contain_text("CAD, UTC days", timeout=30_000)
    expect(page.locator("#recon-unexplained")).to_have_text("0 days with an unexplained difference")
    expect(page.locator("#recon-days")).to_contain_text("Currency")
    expect(page.locator("#recon-days")).to_contain_text("Time zone")
    assert page.console_errors == []
