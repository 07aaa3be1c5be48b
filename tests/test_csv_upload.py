"""CSV imports the way a seller does them: create a CSV channel, upload a file over HTTP, watch
the import's progress in /sync/status (or on the Channels page), see the orders in the numbers."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from api import ApiError
from api.platforms import save_platform
from db.locks import named_lock
from db.models import Order, Platform
from tests.conftest import TEST_PASSWORD

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def create_csv_channel(client, name: str = "Wholesale", currency: str = "USD"):
    return client.post(
        "/api/v1/platforms/connect", json={"kind": "csv", "display_name": name, "config": {"currency": currency}}
    )


def upload(client, platform_id: int, name: str, **form):
    data = {"file": (io.BytesIO((FIXTURES / name).read_bytes()), name), **form}
    return client.post(f"/api/v1/platforms/{platform_id}/import", data=data, content_type="multipart/form-data")


def last_run(client, platform_id: int, timeout: float = 30) -> dict:
    """The platform's latest run once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = next(p for p in client.get("/api/v1/sync/status").json["platforms"] if p["id"] == platform_id)
        if status["last_run"] and status["last_run"]["status"] != "running":
            return status["last_run"]
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


@pytest.mark.usefixtures("company")
def test_upload_imports_in_the_background_with_its_outcome_in_sync_status(client, auth, sessions):
    auth.login()
    created = create_csv_channel(client)
    assert created.status_code == 201 and created.json["currency"] == "USD" and created.json["kind"] == "csv"
    platform_id = created.json["id"]
    accepted = upload(client, platform_id, "canonical.csv", timezone="America/New_York")
    assert accepted.status_code == 202 and accepted.json["status_url"] == "/api/v1/sync/status"
    run = last_run(client, platform_id)
    assert run["status"] == "succeeded" and run["rows"] > 0 and run["error"] is None
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order).where(Order.platform_id == platform_id)) > 0
    metrics = client.get(f"/api/v1/analytics/metrics?platform={platform_id}&start_date=2024-03-01&end_date=2024-03-31")
    assert metrics.json["metrics"]["orders"]["value"] > 0


@pytest.mark.usefixtures("company")
def test_a_bad_file_imports_nothing_and_says_why(client, auth, sessions):
    auth.login()
    platform_id = create_csv_channel(client).json["id"]
    assert upload(client, platform_id, "bad.csv").status_code == 202
    run = last_run(client, platform_id)
    assert run["status"] == "failed" and "row errors, nothing imported; the first: line" in run["error"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.usefixtures("company")
def test_a_file_uploaded_during_another_import_is_refused_visibly(client, auth, sessions):
    auth.login()
    platform_id = create_csv_channel(client).json["id"]
    with named_lock(sessions.kw["bind"], f"sync:{platform_id}") as held:  # an import is running
        assert held
        assert upload(client, platform_id, "canonical.csv").status_code == 202
        run = last_run(client, platform_id)
    assert run["status"] == "failed" and "another import" in run["error"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.usefixtures("company")
def test_upload_validation(client, auth):
    auth.login()
    assert create_csv_channel(client, currency="dollars").status_code == 400
    platform_id = create_csv_channel(client).json["id"]
    assert upload(client, platform_id, "canonical.csv", preset="nope").json["error"]["field"] == "preset"
    assert upload(client, platform_id, "canonical.csv", timezone="Mars/Olympus").json["error"]["field"] == "timezone"
    assert upload(client, platform_id, "canonical.csv", currency="dollars").json["error"]["field"] == "currency"
    no_file = client.post(f"/api/v1/platforms/{platform_id}/import", data={}, content_type="multipart/form-data")
    assert no_file.status_code == 400 and no_file.json["error"]["field"] == "file"
    assert upload(client, 99999, "canonical.csv").status_code == 404
    auth.logout()
    auth.login("viewer@example.com")
    assert upload(client, platform_id, "canonical.csv").status_code == 403


def test_save_platform_checks_then_creates_or_updates(app, sessions, company):
    """The rules the API and the Channels page share: bad input stores nothing, and the same kind
    and name again updates that channel instead of adding a second one."""
    with app.app_context(), sessions() as session:
        platform, created = save_platform(session, company.id, "csv", " Wholesale ", {"currency": "gbp"}, {})
        assert created and platform.display_name == "Wholesale" and platform.currency == "GBP"
        again, created = save_platform(session, company.id, "csv", "Wholesale", {"currency": "EUR"}, {})
        assert not created and again.id == platform.id and again.currency == "EUR"
        for name, currency, message in [
            ("Retail", "dollars", "config.currency must be a 3-letter currency code"),
            ("Retail", "", "config.currency must be a 3-letter currency code"),
            ("  ", "USD", "display_name must be 1-200 characters"),
            ("x" * 201, "USD", "display_name must be 1-200 characters"),
            (None, "USD", "display_name must be 1-200 characters"),
        ]:
            with pytest.raises(ApiError, match=message):
                save_platform(session, company.id, "csv", name, {"currency": currency}, {})
        assert session.scalar(select(func.count()).select_from(Platform)) == 1


@pytest.mark.usefixtures("company")
def test_a_file_over_the_upload_limit_is_refused_with_json(app, client, auth):
    auth.login()
    platform_id = create_csv_channel(client).json["id"]
    app.config["MAX_CONTENT_LENGTH"] = 1_000
    refused = upload(client, platform_id, "canonical.csv")
    assert refused.status_code == 413 and refused.json["error"]["code"] == "request_entity_too_large"


def log_in(page, url: str, email: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")


def company_database(live_server, name: str, users: dict[str, str], csv_channel: str | None = None):
    """The live server's database, migrated, with a USD company, these users (email -> role)
    and perhaps a CSV channel; the caller disposes of the engine it returns."""
    import jobs
    from db import migrate
    from db.engine import make_engine, make_session_factory, transaction
    from db.models import Company

    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        company = Company(name=name, timezone="America/New_York", currency="USD")
        for email, role in users.items():
            jobs.create_user(session, company, email, TEST_PASSWORD, role=role)
        if csv_channel:
            session.add(Platform(company=company, kind="csv", display_name=csv_channel, currency="USD"))
    return engine


@pytest.mark.browser
def test_channels_page_upload_shows_the_import(live_server, browser_page):
    from db.engine import make_session_factory

    engine = company_database(live_server, "Upload Co", {"owner@upload.example": "admin"}, csv_channel="Wholesale")
    url = live_server.start("--no-demo")

    page = browser_page
    log_in(page, url, "owner@upload.example")
    page.goto(f"{url}/channels")
    page.locator("#import-file input[type=file]").set_input_files(str(FIXTURES / "canonical.csv"))
    expect(page.locator("#import-status")).to_contain_text("Importing canonical.csv into Wholesale")
    expect(page.locator("#channel-state-1")).to_contain_text("Last synced just now", timeout=20_000)
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Order)) > 0
    assert page.console_errors == []
    engine.dispose()


@pytest.mark.browser
def test_channels_page_adds_a_csv_channel_then_imports_into_it(live_server, browser_page):
    from db.engine import make_session_factory

    engine = company_database(live_server, "New Co", {"owner@new.example": "admin", "viewer@new.example": "viewer"})
    url = live_server.start("--no-demo")

    page = browser_page
    log_in(page, url, "owner@new.example")
    page.goto(f"{url}/channels")
    expect(page.locator("#channels-list")).to_contain_text("No channels are connected yet.")
    expect(page.locator("#csv-channel-currency")).to_have_value("USD")  # the company's currency
    page.fill("#csv-channel-name", "Wholesale")
    page.fill("#csv-channel-currency", "dollars")
    page.click("#csv-channel-add")
    expect(page.locator("#csv-channel-status")).to_contain_text("config.currency must be a 3-letter currency code")
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Platform)) == 0

    page.fill("#csv-channel-currency", "usd")
    page.click("#csv-channel-add")
    expect(page.locator("#csv-channel-status")).to_contain_text("Added Wholesale (USD)")
    expect(page.locator("#channel-state-1")).to_be_visible()  # the list refreshes on its own
    expect(page.locator("#import-platform")).to_contain_text("Wholesale")
    page.locator("#import-file input[type=file]").set_input_files(str(FIXTURES / "canonical.csv"))
    expect(page.locator("#import-status")).to_contain_text("Importing canonical.csv into Wholesale")
    expect(page.locator("#channel-state-1")).to_contain_text("Last synced just now", timeout=20_000)
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Order)) > 0
    assert page.console_errors == []

    page.goto(f"{url}/logout")
    log_in(page, url, "viewer@new.example")
    page.goto(f"{url}/channels")
    expect(page.locator("#channel-state-1")).to_be_visible()
    expect(page.locator("#csv-channel-add")).to_have_count(0)
    expect(page.locator("#import-file")).to_have_count(0)
    engine.dispose()
