"""CSV imports the way a seller does them: create a CSV channel, upload a file over HTTP, watch
the import's progress in /sync/status (or on the Channels page), see the orders in the numbers."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import time
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from connectors.csv_files import UPLOAD_LIMITS
from db import accounts
from db.engine import transaction
from db.locks import named_lock
from db.models import Order, Platform, SyncRun
from jobs.platforms import connect_platform
from records import ValidationError
from tests.conftest import TEST_PASSWORD

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def create_csv_channel(client, name: str = "Wholesale", currency: str = "USD"):
    return client.post(
        "/api/v1/platforms/connect", json={"kind": "csv", "display_name": name, "config": {"currency": currency}}
    )


def upload(client, platform_id: int, name: str, content: bytes | None = None, **form):
    """POST a file (a fixture, or `content` under this name) to the import route."""
    content = (FIXTURES / name).read_bytes() if content is None else content
    data = {"file": (io.BytesIO(content), name), **form}
    return client.post(f"/api/v1/platforms/{platform_id}/import", data=data, content_type="multipart/form-data")


def platform_status(client, platform_id: int) -> dict:
    return next(p for p in client.get("/api/v1/sync/status").json["platforms"] if p["id"] == platform_id)


def last_run(client, platform_id: int, timeout: float = 30, after: int = 0) -> dict:
    """The platform's latest run (newer than run `after`) once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = platform_status(client, platform_id)
        if status["last_run"] and status["last_run"]["id"] > after and status["last_run"]["status"] != "running":
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
    too_long = upload(client, platform_id, "canonical.csv", shipping_skus="x" * 129)
    assert too_long.status_code == 400 and too_long.json["error"]["field"] == "shipping_skus"
    both = upload(client, platform_id, "canonical.csv", preset="uci_online_retail", shipping_skus="M")
    assert both.status_code == 400 and both.json["error"]["message"] == "SKU(s) both shipping and ignored: M"
    no_file = client.post(f"/api/v1/platforms/{platform_id}/import", data={}, content_type="multipart/form-data")
    assert no_file.status_code == 400 and no_file.json["error"]["field"] == "file"
    assert upload(client, 99999, "canonical.csv").status_code == 404
    auth.logout()
    auth.login("viewer@example.com")
    assert upload(client, platform_id, "canonical.csv").status_code == 403


CANONICAL_HEADER = b"order_id,order_date,sku,title,quantity,unit_price,currency\n"
CANONICAL_ROW = b"1001,2024-03-01 09:15:00,HP-100,Studio Headphones,1,199.00,USD\n"


def gzip_bomb(size: int) -> bytes:
    """A valid gzip of a CSV `size` bytes long: a header, then one row again and again
    (compressed as it is built, so the test never holds the expanded file)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    block = CANONICAL_ROW * (1024 * 1024 // len(CANONICAL_ROW))
    parts = [packer.compress(CANONICAL_HEADER)]
    parts += [packer.compress(block) for _ in range(size // len(block) + 1)]
    return b"".join(parts) + packer.flush()


def reset_peak_rss() -> int | None:
    """Reset this process's peak resident memory to its current size and return that size in
    bytes; None where Linux does not offer it (/proc/self/clear_refs "5", Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return peak_rss()


def peak_rss() -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) * 1024


@pytest.mark.usefixtures("company")
def test_a_gzip_bomb_is_refused_with_its_reason_in_bounded_memory(client, auth, sessions):
    """Finding 3: the upload cap counted compressed bytes, so a small gzip expanded without limit."""
    auth.login()
    platform_id = create_csv_channel(client).json["id"]
    bomb = gzip_bomb(UPLOAD_LIMITS.max_bytes + 16 * 1024 * 1024)  # 144 MB of CSV rows
    assert len(bomb) < 512 * 1024  # under half a MB on the wire: deflate packs up to 1:1032
    before = reset_peak_rss()
    assert upload(client, platform_id, "orders.csv.gz", bomb).status_code == 202
    run = last_run(client, platform_id)
    growth = peak_rss() - before if before else 0
    assert run["status"] == "failed"
    assert run["error"] == (
        "the file is larger than 128 MB (uncompressed): split it, or import it with the command line "
        "(docs/csv_import.md)"
    )
    status = platform_status(client, platform_id)
    assert status["running"] is False and status["status_message"] == run["error"]
    assert growth < 48 * 1024 * 1024, growth  # streamed in 1 MB chunks, never held whole
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "nul.csv",
            CANONICAL_HEADER + CANONICAL_ROW + b"1002,2024-03-01 10:00:00,EP-1,Ear\x00buds,1,59.00,USD\n",
            "1 row errors, nothing imported; the first: line 3: contains a NUL byte (a UTF-16 file? "
            "save it as CSV UTF-8)",
        ),
        (
            "cut.csv.gz",
            gzip.compress(CANONICAL_HEADER + CANONICAL_ROW * 5000)[:-100],
            "the gzip file is damaged or cut short (Compressed file ended before the end-of-stream marker "
            "was reached): compress it again",
        ),
        (
            "long.csv",
            CANONICAL_HEADER + CANONICAL_ROW + b'1002,2024-03-01,EP-1,"' + b"x" * 131_073 + b'",1,59.00,USD\n',
            "1 row errors, nothing imported; the first: line 3: a field is longer than 131,072 characters",
        ),
    ],
)
@pytest.mark.usefixtures("company")
def test_an_import_that_fails_ends_its_run_with_the_reason(client, auth, sessions, name, content, reason):
    """Finding 7: these files crashed the import thread and left its run `running` for good."""
    auth.login()
    platform_id = create_csv_channel(client).json["id"]
    assert upload(client, platform_id, name, content).status_code == 202
    run = last_run(client, platform_id)
    assert (run["status"], run["error"]) == ("failed", reason)
    status = platform_status(client, platform_id)
    assert status["running"] is False and status["status_message"] == reason
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.usefixtures("company")
def test_an_unexpected_error_in_an_import_ends_its_run_as_an_internal_error(client, auth, monkeypatch, caplog):
    auth.login()
    platform_id = create_csv_channel(client).json["id"]

    def broken_reader(*_args, **_kwargs):
        raise RuntimeError("csv module exploded")

    monkeypatch.setattr(csv, "reader", broken_reader)  # the standard library failing, not our code
    assert upload(client, platform_id, "canonical.csv").status_code == 202
    run = last_run(client, platform_id)
    assert run["status"] == "failed"
    assert run["error"] == "internal error (RuntimeError), nothing imported: please report it"
    assert platform_status(client, platform_id)["running"] is False
    crash = next(r for r in caplog.records if r.getMessage().startswith("csv import crashed"))
    assert crash.exc_info and "csv module exploded" not in run["error"]


@pytest.mark.usefixtures("company")
def test_an_import_killed_with_its_process_is_ended_by_the_next_one(client, auth, sessions):
    """A run left `running` by a process that died (a deploy, kill -9) is marked interrupted by
    the next import of the channel, which holds the channel's lock and so knows none is running."""
    auth.login()
    platform_id = create_csv_channel(client).json["id"]
    with transaction(sessions) as session:
        killed = SyncRun(platform_id=platform_id, stream="import")
        session.add(killed)
        session.flush()
        killed_id = killed.id
    assert platform_status(client, platform_id)["running"] is True
    assert upload(client, platform_id, "canonical.csv").status_code == 202
    assert last_run(client, platform_id, after=killed_id)["status"] == "succeeded"
    with sessions() as session:
        killed = session.get(SyncRun, killed_id)
        assert (killed.status, killed.error) == ("failed", "interrupted (the process stopped)")
    assert platform_status(client, platform_id)["running"] is False


def import_callback(client, contents: object, filename: object, platform_id: object, preset: object) -> dict:
    """The Channels page's import callback over HTTP, as the browser's renderer calls it."""
    body = {
        "output": "import-status.children",
        "outputs": {"id": "import-status", "property": "children"},
        "inputs": [{"id": "import-file", "property": "contents", "value": contents}],
        "changedPropIds": ["import-file.contents"],
        "state": [
            {"id": "import-file", "property": "filename", "value": filename},
            {"id": "import-platform", "property": "value", "value": platform_id},
            {"id": "import-preset", "property": "value", "value": preset},
        ],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:500]
    return json.loads(response.data)["response"]["import-status"]["children"]


def alert_text(children: object) -> str:
    assert isinstance(children, dict) and children["type"] == "Alert", children
    return children["props"]["children"]


@pytest.mark.usefixtures("company")
def test_channels_page_import_answers_forged_inputs_inline(client, auth):
    """Finding 9: a bad preset or `contents` without a comma raised in the callback (a 500)."""
    auth.login()
    platform_id = create_csv_channel(client).json["id"]
    client.get("/channels")  # Dash registers its routing callbacks on the first page load
    good = "data:text/csv;base64," + base64.b64encode((FIXTURES / "canonical.csv").read_bytes()).decode()
    forged = [
        ((good, "a.csv", platform_id, "nope"), "Pick one of the layouts in the list."),
        ((good, "a.csv", platform_id, ["canonical"]), "Pick one of the layouts in the list."),
        ((good, "a.csv", platform_id, None), "Pick one of the layouts in the list."),
        (("no comma at all", "a.csv", platform_id, "canonical"), "The file did not arrive whole: choose it again."),
        (("data:text/csv;base64,%%%not base64", "a.csv", platform_id, "canonical"), "The file did not arrive whole"),
        (("data:text/csv,plain", "a.csv", platform_id, "canonical"), "The file did not arrive whole"),
        (({"not": "text"}, "a.csv", platform_id, "canonical"), "The file did not arrive whole"),
        ((good, "a.csv", "1; DROP TABLE orders", "canonical"), "Pick one of your CSV channels."),
        ((good, "a.csv", 2**40, "canonical"), "Pick one of your CSV channels."),
        ((good, "a.csv", True, "canonical"), "Pick one of your CSV channels."),
    ]
    for inputs, message in forged:
        assert alert_text(import_callback(client, *inputs)).startswith(message), inputs
    run_id = 0
    for filename in (None, "", "x" * 100_000 + ".csv", ["a.csv"]):
        answer = import_callback(client, good, filename, platform_id, "canonical")
        assert answer.startswith("Importing ") and answer.endswith("into Wholesale: see its progress above.")
        assert len(answer) < 200
        run = last_run(client, platform_id, after=run_id)
        assert run["status"] == "succeeded", run
        run_id = run["id"]


def test_connect_platform_checks_then_creates_or_updates(app, sessions, company):
    """The rules the API and the Channels page share: bad input stores nothing, and the same kind
    and name again updates that channel instead of adding a second one."""
    box = app.extensions["channelpulse"].credentials
    with sessions() as session:
        platform, created = connect_platform(
            session, company.id, "csv", " Wholesale ", {"currency": "gbp"}, {}, box=box
        )
        assert created and platform.display_name == "Wholesale" and platform.currency == "GBP"
        again, created = connect_platform(session, company.id, "csv", "Wholesale", {"currency": "EUR"}, {}, box=box)
        assert not created and again.id == platform.id and again.currency == "EUR"
        for name, currency, message in [
            ("Retail", "dollars", "config.currency must be a 3-letter currency code"),
            ("Retail", "", "config.currency must be a 3-letter currency code"),
            ("  ", "USD", "display_name must be 1-200 characters"),
            ("x" * 201, "USD", "display_name must be 1-200 characters"),
            (None, "USD", "display_name must be 1-200 characters"),
        ]:
            with pytest.raises(ValidationError, match=message):
                connect_platform(session, company.id, "csv", name, {"currency": currency}, {}, box=box)
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
    from db import migrate
    from db.engine import make_engine, make_session_factory, transaction
    from db.models import Company

    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        company = Company(name=name, timezone="America/New_York", currency="USD")
        for email, role in users.items():
            accounts.create_user(session, company, email, TEST_PASSWORD, role=role)
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

    page.click("#nav-account")  # the account menu
    page.click("text=Sign out")
    expect(page).to_have_url(f"{url}/login")
    log_in(page, url, "viewer@new.example")
    page.goto(f"{url}/channels")
    expect(page.locator("#channel-state-1")).to_be_visible()
    expect(page.locator("#csv-channel-add")).to_have_count(0)
    expect(page.locator("#import-file")).to_have_count(0)
    engine.dispose()
