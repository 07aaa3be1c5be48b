"""Settings in the browser, on make run's embedded demo: the demo admin changes their preferences
and the company's time zone and finds them kept after a reload, creates an API token that is
shown once and works as a Bearer token, and invites a viewer, who must choose a password first
and then sees the company's settings with no admin controls."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.test_embedded import login, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEW_PASSWORD = "a viewer's own long password"
ADMIN_ONLY = ("#settings-timezone", "#settings-company-save", "#settings-users", "#settings-tokens", "#settings-invite")


def sign_in(page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def choose(page, dropdown: str, option: str, search: str | None = None) -> None:
    page.click(dropdown)
    if search:  # the list of time zones is long: narrow it down as a person would
        page.locator("input.dash-dropdown-search").fill(search)
    page.get_by_role("option", name=option, exact=True).click()


def test_an_admin_changes_settings_and_a_viewer_only_reads_them(live_server, browser_page, chromium):
    url = live_server.start(env={"DEMO_HISTORY_DAYS": "10", "SYNC_INTERVAL_SECONDS": "600"})
    web = login(url)

    def backfilled() -> bool:
        platforms = web.get(f"{url}/api/v1/sync/status").json()["platforms"]
        return len(platforms) == 2 and all(p["last_sync_at"] for p in platforms)

    wait_for(backfilled, 120, "the demo's first sync")  # a time zone change must not race it
    page = browser_page
    sign_in(page, url, "demo@example.com", "demo")
    page.goto(f"{url}/settings")

    # Preferences: the user's own, kept in the database.
    choose(page, "#settings-refresh", "Every minute")
    page.get_by_role("radio", name="Dark").check()
    page.click("#settings-preferences-save")
    expect(page.locator("#settings-preferences-status")).to_contain_text("Saved: last 30 days, refresh every minute")

    # The company's time zone: the form says what saving does, then does it.
    expect(page.locator("#settings-company-save")).to_be_disabled()
    expect(page.locator("#settings-company-save-why")).to_have_text(
        "Nothing to save: no setting differs from the saved ones."
    )
    choose(page, "#settings-timezone", "Europe/Berlin", search="Europe/Berl")
    preview = page.locator("#settings-company-preview")
    expect(preview).to_contain_text("Time zone America/New_York → Europe/Berlin", timeout=20_000)
    expect(preview).to_contain_text("Saving recomputes")
    page.click("#settings-company-save")
    expect(preview).to_contain_text("Saved (timezone)", timeout=60_000)
    assert web.get(f"{url}/api/v1/company").json()["timezone"] == "Europe/Berlin"

    page.reload()
    expect(page.locator("#settings-timezone")).to_contain_text("Europe/Berlin", timeout=20_000)
    expect(page.locator("#settings-refresh")).to_contain_text("Every minute")
    expect(page.get_by_role("radio", name="Dark")).to_be_checked()

    # An API token: shown once, works as a Bearer token on the API.
    page.fill("#settings-token-name", "Browser test")
    page.click("#settings-token-create")
    secret_box = page.locator("#settings-token-secret")
    expect(secret_box).to_have_text(re.compile(r"^cp_\S{20,}$"), timeout=20_000)
    secret = secret_box.inner_text()
    expect(page.locator("#settings-tokens")).to_contain_text(f"{secret[:8]}…")
    answer = requests.get(f"{url}/api/v1/company", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["timezone"] == "Europe/Berlin"
    page.reload()
    expect(page.locator("#settings-tokens")).to_contain_text("Browser test", timeout=20_000)
    assert secret not in page.content()

    # A viewer: invited here, must choose a password first, then reads without admin controls.
    page.fill("#settings-invite-email", "reader@example.com")
    page.click("#settings-invite")
    one_time = page.locator("#settings-invite-password")
    expect(one_time).to_be_visible(timeout=20_000)
    password = one_time.inner_text()
    assert page.console_errors == []

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        viewer = context.new_page()
        sign_in(viewer, url, "reader@example.com", password)
        expect(viewer).to_have_url(re.compile(r"/account/password$"))
        viewer.fill("#current_password", password)
        viewer.fill("#new_password", NEW_PASSWORD)
        viewer.fill("#confirm", NEW_PASSWORD)
        viewer.click("button[type=submit]")
        expect(viewer.locator(".alert-success")).to_contain_text("Password changed")
        viewer.goto(f"{url}/settings")
        expect(viewer.locator("#settings-company-view")).to_contain_text("Europe/Berlin", timeout=20_000)
        expect(viewer.locator("#settings-preferences-save")).to_be_visible()
        for control in ADMIN_ONLY:
            expect(viewer.locator(control)).to_have_count(0)
    finally:
        context.close()
