"""Forecasts in the browser, on make run's embedded demo: the scheduler trains the demo company's
forecasts in a child process on its own, the page shows the API's model and numbers, its CSV
holds the shown forecast, and an admin's retrain shows its progress and finishes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.test_embedded import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUICK_MEMBERS = "seasonal_naive,window_average,ets"  # real models that fit in seconds


def test_the_demo_gets_forecasts_and_the_page_shows_them(live_server, browser_page):
    url = live_server.start(
        env={"DEMO_HISTORY_DAYS": "120", "SYNC_INTERVAL_SECONDS": "600", "FORECAST_MEMBERS": QUICK_MEMBERS}
    )
    web = login(url)

    def trained() -> list[dict] | None:
        models = web.get(f"{url}/api/v1/ml/models").json()["models"]
        return models if len(models) == 9 else None  # 2 channels and the total, 3 metrics each

    models = wait_for(trained, 300, "the embedded scheduler to train the demo's forecasts")
    total = next(m for m in models if m["platform"] == "all" and m["metric"] == "net_sales")
    predicted = web.post(f"{url}/api/v1/ml/predict", json={"platform": "all", "metric": "net_sales"}).json()

    page = browser_page
    page.goto(f"{url}/login")
    page.fill("#email", "demo@example.com")
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.goto(f"{url}/forecasts")
    summary = page.locator("#forecast-summary")
    expect(summary).to_contain_text("Model: ", timeout=30_000)
    expect(summary).to_contain_text(f"trained on {total['train_start']} to {total['train_end']}")
    shown = page.locator("#forecast-models tbody tr")
    expect(shown).to_have_count(len(total["members"]))

    with page.expect_download() as download:
        page.click("#forecast-export")
    rows = [r for r in csv.reader(Path(download.value.path()).read_text().splitlines()) if r and r[0][:1] != "#"]
    ahead = [r for r in rows[1:] if r[1] == "forecast"]
    assert [r[0] for r in ahead] == [d["date"] for d in predicted["days"]]
    assert [float(r[2]) for r in ahead] == [d["mean"] for d in predicted["days"]]

    page.click("#forecast-retrain")
    expect(page.locator("#forecast-progress .progress")).to_be_visible(timeout=10_000)
    expect(page.locator("#forecast-progress")).to_contain_text("Forecasts retrained: 9 series", timeout=120_000)
    assert web.get(f"{url}/api/v1/ml/models").json()["retrain"]["reason"] == "requested"
