"""How fast the Overview is for a company with N orders: time to interactive in headless Chromium,
and the 30-second refresh's cost on the server.

    python -m benchmarks.dashboard --orders 1000000 --json [--database-url URL] [--samples 20]

The company is loaded as benchmarks.analytics loads it (reused when present). The app is served
as in production (gunicorn `app:server`, two workers, no scheduler) from DATABASE_URL.

- time_to_interactive_s: from clicking "Sign in" to the Overview drawn (KPI cards, the trend's
  lines and the product table's rows), median of `--pages` fresh browser contexts after one
  warm-up page (the first, cold, is reported as time_to_interactive_first_s).
- refresh_p50_ms / refresh_p95_ms: the Overview's refresh tick, POSTed as the page does, when no
  new data arrived (the server answers "no update" after checking the data version: warm).
- refresh_new_data_p50_ms / _p95_ms: the same tick after a sync changed the data (the version
  bumped before each one: every panel read from the rollups again, cold).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

from benchmarks import report
from benchmarks.analytics import PASSWORD, load, percentile
from db import migrate, rollups
from db.engine import make_engine, make_session_factory
from db.models import Order
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
FILTERS = {"preset": "30d"}
OVERVIEW_OUTPUTS = [
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


def serve(database_url: str) -> tuple[subprocess.Popen, str]:
    """gunicorn on a free port; returns it and its URL once it answers."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "APP_ENV": "development"}
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:0", "app:server"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if match := re.search(r"Listening at: (http://\S+)", line):
            url = match.group(1)
            break
    else:
        raise SystemExit("gunicorn did not start")
    for _ in range(600):
        try:
            if requests.get(url + "/health", timeout=2).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer /health")


def logged_in(url: str, email: str) -> requests.Session:
    web = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', web.get(url + "/login").text).group(1)
    web.post(url + "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}, allow_redirects=False)
    return web


def tick(web: requests.Session, url: str, rendered: list | None) -> tuple[float, requests.Response]:
    """One refresh tick of the Overview as the browser posts it; (milliseconds, response)."""
    keys = [f"{i}.{p}" for i, p in OVERVIEW_OUTPUTS]
    body = {
        "output": f"..{'...'.join(keys)}..",
        "outputs": [{"id": i, "property": p} for i, p in OVERVIEW_OUTPUTS],
        "inputs": [
            {"id": "refresh-interval", "property": "n_intervals", "value": 1},
            {"id": "overview-filters", "property": "data", "value": FILTERS},
            [],
        ],
        "changedPropIds": ["refresh-interval.n_intervals"],
        "state": [
            {"id": "overview-trend-metric", "property": "value", "value": "net_sales"},
            {"id": "overview-rendered", "property": "data", "value": rendered},
            {"id": "overview-trend-zoom", "property": "data", "value": None},
        ],
    }
    began = time.perf_counter()
    response = web.post(url + "/_dash-update-component", json=body, headers={"Origin": url})
    return (time.perf_counter() - began) * 1000, response


def refresh_times(url: str, email: str, sessions, company_id: int, samples: int) -> dict:
    web = logged_in(url, email)
    _, first = tick(web, url, None)
    rendered = first.json()["response"]["overview-rendered"]["data"]
    quiet, fresh = [], []
    for _ in range(samples):
        elapsed, response = tick(web, url, rendered)
        assert response.status_code == 204, response.status_code  # nothing new: no update
        quiet.append(elapsed)
    for _ in range(samples):
        with sessions.begin() as session:
            rollups.bump_data_version(session, company_id)
        elapsed, response = tick(web, url, rendered)
        assert response.status_code == 200, response.status_code
        fresh.append(elapsed)
    return {
        "refresh_p50_ms": round(statistics.median(quiet), 1),
        "refresh_p95_ms": round(percentile(quiet, 95), 1),
        "refresh_new_data_p50_ms": round(statistics.median(fresh), 1),
        "refresh_new_data_p95_ms": round(percentile(fresh, 95), 1),
    }


def interactive_times(url: str, email: str, pages: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
        for _ in range(pages + 1):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(url + "/login")
            page.fill("#email", email)
            page.fill("#password", PASSWORD)
            began = time.perf_counter()
            page.click("button[type=submit]")
            page.wait_for_selector("#kpi-net-sales-value", timeout=60_000)
            page.wait_for_selector("#overview-trend .scatterlayer .trace", timeout=60_000)
            page.wait_for_selector("#overview-products-grid .ag-row", timeout=60_000)
            times.append(time.perf_counter() - began)
            context.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env({"DATABASE_URL": args.database_url} if args.database_url else {})
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    company = load(sessions, args.orders)
    with sessions() as session:
        orders = session.scalar(select(func.count()).select_from(Order).where(Order.company_id == company.id))
    email = f"bench{args.orders}@example.com"
    server, url = serve(settings.database_url.render_as_string(hide_password=False))
    try:
        interactive = interactive_times(url, email, args.pages)
        figures = {
            "orders": orders,
            "database": engine.dialect.name,
            "time_to_interactive_s": round(statistics.median(interactive[1:]), 2),
            "time_to_interactive_first_s": round(interactive[0], 2),
            **refresh_times(url, email, sessions, company.id, args.samples),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(figures, args.json)


if __name__ == "__main__":
    main()
