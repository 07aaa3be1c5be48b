"""The Overview in a real browser, as a user drives it: log in with the demo account; the cards
show the numbers pandas computes from the business's raw events and the REST API's for the same
filters; the filters live in the URL (a link, a reload and the back button reproduce the view); a
refresh with new data keeps the chart's zoom and hidden series and the table's sort and search;
the key figures' export holds what the cards show; a channel whose credentials stopped working
is called out; at phone width the navbar collapses and no page scrolls sideways."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from db import migrate
from db.engine import make_engine, make_session_factory, transaction
from db.models import Company, Platform
from db.queries import company_today
from jobs.demo import DEMO_COMPANY, seed_demo
from simulators.business import Business
from tests.conftest import wait_for
from tests.hand_orders import Line, sale, write
from tests.pandas_metrics import expected_daily, expected_totals
from tests.sims import seeded_events

pytestmark = pytest.mark.browser
SEEDED_AT = datetime.now(UTC)  # the live server shows the month up to today
REFRESH_SECONDS = 2  # the live server's page refresh (REFRESH_SECONDS), so a test waits seconds, not 30


def start_demo(live_server, business: Business, days: int):
    """The live server on a database holding `days` of the demo company (no stores) up to SEEDED_AT."""
    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    seed_demo(sessions, business=business, days=days, now=SEEDED_AT)
    return engine, sessions, live_server.start("--no-demo", env={"REFRESH_SECONDS": str(REFRESH_SECONDS)})


def log_in(page, email: str = "demo@example.com", password: str = "demo") -> None:
    """Fill in and send the login form the page shows."""
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def demo_company(sessions) -> Company:
    with sessions() as session:
        return session.scalar(select(Company).where(Company.name == DEMO_COMPANY))


def pick(page, dropdown: str, option: str) -> None:
    """Choose an option of a dcc.Dropdown the way a user does: open it, click the option."""
    page.click(f"#{dropdown}")
    page.get_by_role("option", name=option).click()
    page.keyboard.press("Escape")


def money(value: str) -> str:
    return f"${Decimal(value):,.2f}"


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

    company = demo_company(sessions)
    today = company_today(company)
    events = seeded_events(engine, company.id, business, SEEDED_AT, days=40)
    expected = expected_totals(expected_daily(engine, company.id, events), today - timedelta(days=29), today)
    expect(page.locator("#kpi-net-sales-value")).to_have_text(f"${expected['net_sales']:,.2f}")
    expect(page.locator("#kpi-total-sales-value")).to_have_text(f"${expected['total_sales']:,.2f}")
    expect(page.locator("#kpi-orders-value")).to_have_text(f"{expected['orders']:,}")
    expect(page.locator("#kpi-aov-value")).to_have_text(f"${expected['aov']:,.2f}")
    expect(page.locator("#kpi-units-value")).to_have_text(f"{expected['units']:,}")
    expect(page.locator("#kpi-returns-value")).to_have_text(f"${expected['returns']:,.2f}")
    expect(page.locator("#kpi-discounts-value")).to_have_text(f"${expected['discounts']:,.2f}")
    expect(page.locator("#overview-period")).to_contain_text("(today so far) · America/New_York · USD")
    symbols = page.evaluate("() => document.querySelector('#overview-trend .js-plotly-plot').data[0].marker.symbol")
    assert symbols[-2:] == ["circle", "circle-open"]  # today is still filling in: drawn hollow
    assert page.console_errors == []

    page.click("#nav-account")
    page.click("text=Sign out")  # a form POST, under the Content-Security-Policy's form-action 'self'
    # (a refresh in flight as the session ends is answered 401, and the page asks for a login too)
    expect(page).to_have_url(re.compile(re.escape(f"{url}/login") + r"(\?next=%2F)?$"))
    page.goto(url + "/")  # the login is over, not just forgotten by this page
    expect(page).to_have_url(f"{url}/login?next=/")
    assert page.console_errors == []
    engine.dispose()


def test_filters_live_in_the_url_and_the_cards_match_the_api(live_server, browser_page):
    engine, sessions, url = start_demo(live_server, Business(scale=0.2), days=400)
    page = browser_page
    page.goto(url + "/login")
    log_in(page)
    net = page.locator("#kpi-net-sales-value")
    expect(net).to_be_visible(timeout=20_000)
    today = company_today(demo_company(sessions))

    def api(**query) -> dict:
        response = page.request.get(f"{url}/api/v1/analytics/metrics", params=query)
        assert response.ok, response.text()
        return response.json()["metrics"]

    last_30 = api(start_date=(today - timedelta(days=29)).isoformat(), end_date=today.isoformat())
    expect(net).to_have_text(money(last_30["net_sales"]["value"]))

    pick(page, "filter-range", "Last 7 days")
    expect(page).to_have_url(f"{url}/?range=7d")
    week = {"start_date": (today - timedelta(days=6)).isoformat(), "end_date": today.isoformat()}
    expect(net).to_have_text(money(api(**week)["net_sales"]["value"]))
    expect(page.locator("#kpi-orders-value")).to_have_text(f"{api(**week)['orders']['value']:,}")

    pick(page, "filter-compare", "vs same period last year")
    expect(page).to_have_url(f"{url}/?range=7d&compare=previous_year")
    change = api(**week, compare="previous_year")["net_sales"]["change_pct"]
    arrow = "▲" if change > 0 else "▼"
    expect(page.locator("#kpi-net-sales .kpi-note")).to_contain_text(f"{arrow} {abs(change):.1f}% vs ")

    with sessions() as session:
        shop = session.scalar(select(Platform).where(Platform.kind == "shopify"))
    pick(page, "filter-channels", shop.display_name)
    expect(page).to_have_url(f"{url}/?range=7d&channels={shop.id}&compare=previous_year")
    expect(net).to_have_text(money(api(**week, platform=shop.id)["net_sales"]["value"]))
    shop_only = net.inner_text()

    other = page.context.new_page()  # the link alone reproduces the view
    other.goto(f"{url}/?range=7d&channels={shop.id}&compare=previous_year")
    expect(other.locator("#kpi-net-sales-value")).to_have_text(shop_only, timeout=20_000)
    expect(other.locator("#filter-range")).to_contain_text("Last 7 days")
    expect(other.locator("#filter-channels")).to_contain_text(shop.display_name)
    other.close()

    page.go_back()  # before the channel was chosen
    expect(page).to_have_url(f"{url}/?range=7d&compare=previous_year")
    expect(net).to_have_text(money(api(**week)["net_sales"]["value"]))
    page.click("text=Forecasts")  # the navbar carries the filters to the next page and back
    expect(page).to_have_url(f"{url}/forecasts?range=7d&compare=previous_year")
    page.click("a.nav-link:has-text('Overview')")
    expect(page).to_have_url(f"{url}/?range=7d&compare=previous_year")
    expect(net).to_have_text(money(api(**week)["net_sales"]["value"]))
    assert page.console_errors == []
    engine.dispose()


def plot_state(page) -> dict:
    return page.evaluate(
        """() => {
            const gd = document.querySelector('#overview-trend .js-plotly-plot');
            const visible = gd.data.map(t => (t.visible === undefined ? true : t.visible));
            return {range: gd.layout.xaxis.range, visible: visible};
        }"""
    )


def test_a_refresh_with_new_data_keeps_zoom_hidden_series_sort_and_search(live_server, browser_page):
    engine, sessions, url = start_demo(live_server, Business(scale=0.2), days=60)
    page = browser_page
    page.goto(url + "/login")
    log_in(page)
    expect(page.locator("#overview-trend .scatterlayer .trace")).to_have_count(2, timeout=20_000)
    net = page.locator("#kpi-net-sales-value")
    before = net.inner_text()

    box = page.locator("#overview-trend .nsewdrag").bounding_box()  # drag across the plot: zoom in x
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=8)
    page.mouse.up()
    page.mouse.move(0, 0)
    legend = page.locator(
        "#overview-trend .legend .traces", has=page.locator("[data-unformatted='Best Buy Marketplace']")
    )
    legend.locator(".legendtoggle").click()  # hide a series
    wait_for(lambda: plot_state(page)["visible"] == [True, "legendonly"], 10, "the series to hide")
    zoomed = plot_state(page)
    assert isinstance(zoomed["range"][0], str)  # dates, no longer autorange

    page.locator(".ag-header-cell-text", has_text="Units").click()  # sort by units
    page.fill("#overview-product-search", "NW-")
    page.keyboard.press("Enter")
    sorted_by = "() => dash_ag_grid.getApi('overview-products-grid').getColumnState().filter(c => c.sort)"
    wait_for(lambda: page.evaluate(sorted_by), 10, "the grid to sort")
    sort = page.evaluate(sorted_by)

    company = demo_company(sessions)
    yesterday = company_today(company) - timedelta(days=1)
    with transaction(sessions) as session:  # a sync writes a big order: the data version moves
        shop = session.scalar(select(Platform).where(Platform.kind == "shopify"))
        write(session, shop, [sale("BIG-1", yesterday, [Line("NW-BIG", "Big order", 1, "5000.00")], at=time(10))],
              company.timezone)  # fmt: skip
    expect(net).not_to_have_text(before, timeout=(REFRESH_SECONDS * 5 + 10) * 1000)  # no reload
    assert Decimal(net.inner_text().strip("$").replace(",", "")) - Decimal(
        before.strip("$").replace(",", "")
    ) == Decimal("5000.00")
    after = plot_state(page)
    assert after == zoomed  # the same zoom and the same hidden series
    assert page.evaluate(sorted_by) == sort
    assert page.input_value("#overview-product-search") == "NW-"
    assert page.console_errors == []
    engine.dispose()


def test_the_key_figures_export_holds_what_the_cards_show(live_server, browser_page):
    engine, _sessions, url = start_demo(live_server, Business(scale=0.1), days=20)
    page = browser_page
    page.goto(url + "/login")
    log_in(page)
    expect(page.locator("#kpi-net-sales-value")).to_be_visible(timeout=20_000)
    with page.expect_download() as download:
        page.click("text=Export key figures (CSV)")
    text = Path(download.value.path()).read_text()
    lines = text.splitlines()
    assert lines[1] == "# filters: Last 30 days; all channels; compared with previous period; by day"
    rows = {r["metric"]: r for r in csv.DictReader(line for line in lines if not line.startswith("#"))}
    for metric, card in (("Net sales", "net-sales"), ("Total sales", "total-sales"), ("Returns", "returns"),
                         ("Average order value", "aov"), ("Discounts", "discounts")):  # fmt: skip
        assert money(rows[metric]["value"]) == page.inner_text(f"#kpi-{card}-value"), metric
    for metric, card in (("Orders", "orders"), ("Units", "units")):
        assert f"{int(rows[metric]['value']):,}" == page.inner_text(f"#kpi-{card}-value"), metric
    engine.dispose()


def test_overview_warns_when_a_channels_credentials_stop_working(live_server, browser_page):
    """A sync refused by the platform marks the channel needs_attention (sync_platform); the
    open Overview says so within its refresh, naming the channel and what fixes it."""
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
    expect(warning).to_be_visible(timeout=(REFRESH_SECONDS * 5 + 10) * 1000)  # the page's own refresh, no reload
    expect(warning).to_contain_text(f"{name} stopped syncing")
    expect(warning).to_contain_text("new credentials")
    expect(page.locator(f"#fresh-{platform_id}")).to_have_text(f"{name}: sync failing")

    page.click("#attention-" + str(platform_id) + " >> text=See Channels")
    card = page.locator(f"#channel-{platform_id}")
    expect(card).to_contain_text("needs attention", timeout=20_000)
    expect(card).to_contain_text("new credentials")
    assert page.console_errors == []
    engine.dispose()


def test_at_phone_width_the_navbar_collapses_and_nothing_scrolls_sideways(live_server, chromium):
    engine, _sessions, url = start_demo(live_server, Business(scale=0.1), days=20)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(url + "/login")
    log_in(page)
    expect(page.locator("#kpi-net-sales-value")).to_be_visible(timeout=20_000)
    links = page.locator("#nav-collapse")
    expect(links).to_be_hidden()
    page.click("#nav-toggle")
    expect(links.locator("a.nav-link", has_text="Channels")).to_be_visible()
    for path in ("/", "/channels", "/forecasts", "/reconciliation", "/no-such-page"):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
    expect(page.locator("#not-found")).to_contain_text("Page not found")
    page.click("text=Go to the Overview")
    expect(page.locator("#kpi-net-sales-value")).to_be_visible(timeout=20_000)
    context.close()
    engine.dispose()
