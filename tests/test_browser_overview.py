"""A user's first minute, in a real browser: log in with the demo account, see the overview,
and the numbers on the cards are the ones pandas computes from the database rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

import jobs
from dashboard import data
from db import migrate
from db.engine import make_engine, make_session_factory
from db.models import Company
from simulators.business import Business
from tests.pandas_metrics import expected_daily, expected_totals

pytestmark = pytest.mark.browser


def test_demo_login_shows_overview_matching_pandas(live_server, browser_page):
    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    jobs.seed_demo(sessions, business=Business(scale=0.3), days=40)
    url = live_server.start("--no-demo")

    page = browser_page
    page.goto(url + "/")
    expect(page).to_have_url(f"{url}/login?next=/")
    page.fill("#email", "demo@example.com")
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".alert-danger")).to_have_text("Invalid email or password.")

    page.fill("#email", "demo@example.com")
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    expect(page.locator("#kpi-net-sales-value")).to_be_visible(timeout=20_000)
    expect(page.locator("#overview-trend .scatterlayer .trace")).to_have_count(2, timeout=20_000)

    with sessions() as session:
        company = session.scalar(select(Company).where(Company.name == jobs.DEMO_COMPANY))
        view = data.overview(session, company.id)
    expected = expected_totals(expected_daily(engine, company.id), view.start, view.start + timedelta(days=29))
    expect(page.locator("#kpi-net-sales-value")).to_have_text(f"${expected['net_sales']:,.2f}")
    expect(page.locator("#kpi-orders-value")).to_have_text(f"{expected['orders']:,}")
    expect(page.locator("#kpi-aov-value")).to_have_text(f"${expected['aov']:,.2f}")
    expect(page.locator("#kpi-units-value")).to_have_text(f"{expected['units']:,}")
    expect(page.locator("#nav-company")).to_have_text(jobs.DEMO_COMPANY)
    assert page.console_errors == []

    page.click("text=Sign out")
    expect(page).to_have_url(f"{url}/login")
    engine.dispose()
