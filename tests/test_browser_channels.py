"""The Channels page in a real browser, against `python app.py --no-demo` (its scheduler syncs)
and a Shopify simulator of the test's own: a wrong token is refused with a clear message and
stores nothing, the right one connects the store and its first sync runs to "Last synced", then
the channel is renamed and removed through its dialogs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from db.engine import make_session_factory
from db.models import Order, Platform
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN
from simulators.store import ManualClock
from tests.sims import START, build
from tests.test_csv_upload import company_database, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_connect_rename_and_remove_a_shopify_store(live_server, browser_page):
    engine = company_database(live_server, "Shop Co", {"owner@shop.example": "admin"})
    shop, _, _ = build("shopify", ManualClock(START))
    sessions = make_session_factory(engine)
    try:
        url = live_server.start("--no-demo", env={"SYNC_INTERVAL_SECONDS": "600"})
        page = browser_page
        log_in(page, url, "owner@shop.example")
        page.goto(f"{url}/channels")
        expect(page.locator("#channels-list")).to_contain_text("No channels are connected yet.")

        page.fill("#connect-shopify-display_name", "Web store")
        page.fill("#connect-shopify-shop_domain", SHOP_DOMAIN)
        page.fill("#connect-shopify-base_url", shop.url)
        page.fill("#connect-shopify-access_token", "shpat_not_the_token")
        page.click("#connect-shopify-submit")
        status = page.locator("#connect-shopify-status")
        expect(status).to_contain_text("Shopify refused the access token (401)", timeout=20_000)
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Platform)) == 0

        page.fill("#connect-shopify-access_token", DEV_ACCESS_TOKEN)
        page.click("#connect-shopify-submit")
        expect(status).to_contain_text("Connected Web store (USD)", timeout=20_000)
        expect(page.locator("#connect-shopify-access_token")).to_have_value("")  # never shown again
        card = page.locator("#channel-1")
        expect(card).to_contain_text("Web store")
        expect(page.locator("#channel-state-1")).to_contain_text("Last synced just now", timeout=90_000)
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Order)) > 0

        card.get_by_role("button", name="Rename").click()
        expect(page.locator("#channel-rename-modal")).to_be_visible()
        expect(page.locator("#channel-rename-name")).to_have_value("Web store")
        page.fill("#channel-rename-name", "Online shop")
        page.click("#channel-rename-save")
        expect(page.locator("#channels-notice")).to_contain_text("Renamed Web store to Online shop.")
        expect(page.locator("#channel-name-1")).to_have_text("Online shop")

        card.get_by_role("button", name="Remove").click()
        dialog = page.locator("#channel-remove-modal")
        expect(dialog).to_contain_text("Removing Online shop deletes from ChannelPulse, for good, its")
        page.click("#channel-remove-confirm")
        expect(page.locator("#channels-notice")).to_contain_text("Removed Online shop: its")
        expect(page.locator("#channels-list")).to_contain_text("No channels are connected yet.")
        expect(dialog).to_be_hidden()
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert page.console_errors == []
    finally:
        shop.stop()
        engine.dispose()
