"""Issue #9, finding 2: a page on another origin must not make a logged-in user's browser change
data. 127.0.0.1 on two ports is two origins but one *site*, so SameSite cookies go along: only
the cross-origin check (web/security.py) stands between the attacker's page and the API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from db import accounts, migrate
from db.accounts import hash_token
from db.engine import make_engine, make_session_factory, transaction
from db.models import ApiToken, Company, Order, Platform, SyncRun
from tests.conftest import TEST_PASSWORD

FAKE_ORDER = (  # the 99,999 USD order of the finding
    "order_id,order_date,sku,title,quantity,unit_price,currency\nEVIL-1,2024-03-01 09:00:00,X,Fake,1,99999.00,USD\n"
)

# The attacker's two ways in: a form submitted by script (a top-level navigation) and a fetch
# that sends cookies. Both are "simple" requests: the browser sends them without asking first.
ATTACKS = {
    "form": """
        <form id="f" method="post" enctype="multipart/form-data" action="{target}">
          <input type="file" name="file" id="file">
        </form>
        <script>
          const files = new DataTransfer();
          files.items.add(new File([{csv}], "orders.csv", {{type: "text/csv"}}));
          document.getElementById("file").files = files.files;
          document.getElementById("f").submit();
        </script>""",
    "fetch": """
        <script>
          const body = new FormData();
          body.append("file", new File([{csv}], "orders.csv", {{type: "text/csv"}}));
          fetch("{target}", {{method: "POST", body, credentials: "include", mode: "no-cors"}});
        </script>""",
}


class AttackerSite:
    """A second local web server (another port: another origin, the same site) serving the
    attacker's pages at /form and /fetch, each aimed at `target`."""

    def __init__(self) -> None:
        self.target = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                attack = ATTACKS.get(self.path.strip("/"))
                if attack is None:
                    self.send_error(404)
                    return
                page = attack.format(target=site.target, csv=json.dumps(FAKE_ORDER))
                body = f"<!doctype html><html><body>{page}</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def attacker_site() -> Iterator[AttackerSite]:
    site = AttackerSite()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()


def count(sessions, model, platform_id: int) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(model.platform_id == platform_id))


@pytest.mark.browser
def test_another_origin_cannot_make_an_admins_browser_import_orders(live_server, browser_page, attacker_site):
    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        company = Company(name="Acme Audio", timezone="UTC", currency="USD")
        accounts.create_user(session, company, "admin@example.com", TEST_PASSWORD, role="admin")
        platform = Platform(company=company, kind="csv", display_name="Wholesale", currency="USD", config={})
        session.add(platform)
        session.flush()
        platform_id = platform.id
    url = live_server.start("--no-demo")
    import_path = f"/api/v1/platforms/{platform_id}/import"
    attacker_site.target = url + import_path

    page = browser_page
    page.goto(url + "/login")
    page.fill("#email", "admin@example.com")
    page.fill("#password", TEST_PASSWORD)
    page.check("#remember")
    page.click("button[type=submit]")
    expect(page.locator("#kpi-net-sales-value")).to_be_visible(timeout=20_000)
    assert {c["name"] for c in page.context.cookies()} >= {"session", "remember_token"}

    for attack in ATTACKS:
        with page.expect_response(lambda r: r.url.endswith(import_path)) as answer:
            page.goto(f"{attacker_site.url}/{attack}")
        assert answer.value.status == 403, attack
    assert count(sessions, SyncRun, platform_id) == 0  # no import was even started
    assert count(sessions, Order, platform_id) == 0

    # The app's own pages still write: the same upload, sent from the app's origin, is accepted.
    page.goto(url + "/")
    status = page.evaluate(
        """async ([path, csv]) => {
            const body = new FormData();
            body.append("file", new File([csv], "orders.csv", {type: "text/csv"}));
            return (await fetch(path, {method: "POST", body})).status;
        }""",
        [import_path, FAKE_ORDER],
    )
    assert status == 202
    deadline = time.monotonic() + 30
    while count(sessions, Order, platform_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert count(sessions, Order, platform_id) == 1
    engine.dispose()


# --- the check itself, header by header (Flask's test client: Host is "localhost") ----------------

FROM_ANOTHER_ORIGIN = [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:9999"},  # another port: same site
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},  # a browser without Sec-Fetch-Site (before 2023)
    {"Origin": "http://localhost:9999"},
    {"Origin": "null"},  # a sandboxed frame, or a redirect from another origin
]
FROM_OUR_ORIGIN = [
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    {"Sec-Fetch-Site": "none"},  # typed in the address bar, a bookmark
    {"Origin": "http://localhost"},
    {},  # no browser headers at all: curl, a script, a server
]


@pytest.mark.parametrize("headers", FROM_ANOTHER_ORIGIN)
@pytest.mark.usefixtures("company")
def test_a_cookie_authenticated_write_from_another_origin_is_refused(client, auth, sessions, headers):
    auth.login()
    refused = client.post("/api/v1/tokens", json={"name": "forged"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "cross_origin_request"
    assert "API token" in refused.json["error"]["message"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


@pytest.mark.parametrize("headers", FROM_OUR_ORIGIN)
@pytest.mark.usefixtures("company")
def test_a_write_from_our_own_origin_or_from_no_browser_passes(client, auth, headers):
    auth.login()
    assert client.post("/api/v1/tokens", json={"name": "ours"}, headers=headers).status_code == 201


@pytest.mark.usefixtures("company")
def test_the_remember_cookie_alone_is_checked_too(client, auth):
    """The finding's cookie: with the session gone, the remember-me cookie still logs the browser in."""
    client.get("/login")
    client.post(
        "/login",
        data={
            "email": "admin@example.com",
            "password": TEST_PASSWORD,
            "remember": "y",
            "csrf_token": auth.csrf_token(),
        },
    )
    client.delete_cookie("session")
    assert client.get("/api/v1/company").status_code == 200  # logged in by the remember cookie alone
    client.delete_cookie("session")  # that request set a new one
    assert client.get_cookie("remember_token") is not None
    refused = client.patch("/api/v1/company", json={"refund_dating": "order"}, headers=FROM_ANOTHER_ORIGIN[0])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "cross_origin_request"
    assert client.get("/api/v1/company").json["refund_dating"] == "processed"


@pytest.mark.usefixtures("company")
def test_reads_from_another_origin_are_not_refused(client, auth):
    """Links from other sites must keep working: only writes are checked."""
    auth.login()
    assert client.get("/api/v1/company", headers=FROM_ANOTHER_ORIGIN[0]).status_code == 200


@pytest.mark.usefixtures("company")
def test_dash_callbacks_and_pages_from_another_origin_are_refused(client, auth):
    auth.login()
    callback = client.post("/_dash-update-component", json={}, headers=FROM_ANOTHER_ORIGIN[0])
    assert callback.status_code == 403 and callback.json["error"]["code"] == "cross_origin_request"
    page = client.post("/login", data={}, headers=FROM_ANOTHER_ORIGIN[0])
    assert page.status_code == 403 and "Cross-origin request refused" in page.get_data(as_text=True)


def test_an_api_token_call_from_anywhere_passes(app, sessions, company):
    """No cookie, no ambient authority: a browser cannot forge a request that carries a token. Tokens
    act as viewers, so the write reaches the role check (403 forbidden), not the origin check."""
    token = "cp_csrf-test-token"
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="bestbuy", display_name="Ours", currency="CAD", config={})
        session.add(platform)
        session.add(ApiToken(company_id=company.id, name="script", prefix=token[:8], token_hash=hash_token(token)))
        session.flush()
        platform_id = platform.id
    queued = app.test_client().post(
        f"/api/v1/sync/{platform_id}", headers={"Authorization": f"Bearer {token}", **FROM_ANOTHER_ORIGIN[0]}
    )
    assert queued.status_code == 403 and queued.json["error"]["code"] == "forbidden"
