"""A user's first minute, in a real browser: log in with the demo account, see the overview,
and the numbers on the cards are the ones pandas computes from the business's raw events; a channel
whose credentials stopped working is called out above them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dashboard import data
from dashboard.shell import REFRESH_MS
from db import migrate
from db.engine import make_engine, make_session_factory, transaction
from db.models import Company, Platform
from jobs.demo import DEMO_COMPANY, seed_demo
from simulators.business import Business
from tests.pandas_metrics import expected_daily, expected_totals
from tests.sims import seeded_events

pytestmark = pytest.mark.browser
SEEDED_AT = datetime.now(UTC)  # the live server shows the month up to today


def start_demo(live_server, business: Business, days: int):
    """The live server on a database holding `days` of the demo company (no stores) up to SEEDED_AT."""
    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    seed_demo(sessions, business=business, days=days, now=SEEDED_AT)
    return engine, sessions, live_server.start("--no-demo")


def log_in(page, email: str = "demo@example.com", password: str = "demo") -> None:
    """Fill in and send the login form the page shows."""
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_demo_login_shows_overview_matching_pandas(live_server, browser_page):
    business = Business(scale=0.3)
    engine, sessions, url = start_demo(live_server, business, days=40)
    page = browser_page
    page.goto(url + "/")
    expect(page).to_have_url(f"{url}/login?next=/")
    log_in(page, password="wrong")
    expect(page.locator(".alert-danger")).to_have_text("Invalid email or password.")

    log_in(page)
    expect(page.locator("#kpi-net-sales-value")).to_be_visible(timeout=20_000)
    expect(page.locator("#overview-trend .scatterlayer .trace")).to_have_count(2, timeout=20_000)

    with sessions() as session:
        company = session.scalar(select(Company).where(Company.name == DEMO_COMPANY))
        view = data.overview(session, company.id)
    events = seeded_events(engine, company.id, business, SEEDED_AT, days=40)
    expected = expected_totals(expected_daily(engine, company.id, events), view.start, view.start + timedelta(days=29))
    expect(page.locator("#kpi-net-sales-value")).to_have_text(f"${expected['net_sales']:,.2f}")
    expect(page.locator("#kpi-orders-value")).to_have_text(f"{expected['orders']:,}")
    expect(page.locator("#kpi-aov-value")).to_have_text(f"${expected['aov']:,.2f}")
    expect(page.locator("#kpi-units-value")).to_have_text(f"{expected['units']:,}")
    expect(page.locator("#nav-company")).to_have_text(DEMO_COMPANY)
    assert page.console_errors == []

    page.click("text=Sign out")  # a form POST, under the Content-Security-Policy's form-action 'self'
    expect(page).to_have_url(f"{url}/login")
    page.goto(url + "/")  # the login is over, not just forgotten by this page
    expect(page).to_have_url(f"{url}/login?next=/")
    assert page.console_errors == []
    engine.dispose()


def test_overview_warns_when_a_channels_credentials_stop_working(live_server, browser_page):
    """A sync refused by the platform marks the channel needs_attention (sync_platform); the
    open Overview says so within its 30 s refresh, naming the channel and what fixes it."""
    engine, sessions, url = start_demo(live_server, Business(scale=0.1), days=10)
    page = browser_page
    page.goto(url + "/login")
    log_in(page)
    expect(page.locator("#kpi-net-sales-value")).to_be_visible(timeout=20_000)
    expect(page.locator("[id^=attention-]")).to_have_count(0)

    with transaction(sessions) as session:
        platform = session.scalars(select(Platform).where(Platform.kind == "shopify")).one()
        platform.status, platform.status_message = "needs_attention", "Shopify refused the access token (401)"
        name, platform_id = platform.display_name, platform.id
    warning = page.locator(f"#attention-{platform_id}")
    expect(warning).to_be_visible(timeout=REFRESH_MS + 10_000)  # the page's own refresh, no reload
    expect(warning).to_contain_text(f"{name} stopped syncing")
    expect(warning).to_contain_text("new credentials")

    page.click("#attention-" + str(platform_id) + " >> text=See Channels")
    card = page.locator(f"#channel-{platform_id}")
    expect(card).to_contain_text("needs attention", timeout=20_000)
    expect(card).to_contain_text("new credentials")
    assert page.console_errors == []
    engine.dispose()
