"""The Channels page's connect forms and CSV import report, called as the browser calls them:
credentials are checked with one call to a running simulator, a refusal says exactly what is
wrong and stores nothing, the secret never comes back (in the answer or the log); an import's
outcome is "N orders imported" or every row error, listed and as a neutralised CSV file."""

from __future__ import annotations

import base64
import logging
import time

import pytest
from sqlalchemy import func, select

from db.engine import transaction
from db.models import Company, Platform, SyncRun
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN
from simulators.store import ManualClock
from tests.dash_client import dash_post, outputs_of, text
from tests.sims import BOX, MIRAKL_KEY, START, build

WRONG_TOKEN = "shpat_wrong_token_123456"


@pytest.fixture
def shopify():
    server, _, _ = build("shopify", ManualClock(START))
    yield server.url
    server.stop()


@pytest.fixture
def mirakl():
    server, _, _ = build("bestbuy", ManualClock(START))
    yield server.url
    server.stop()


SHOPIFY_FIELDS = ("display_name", "shop_domain", "access_token", "base_url")
BESTBUY_FIELDS = ("display_name", "base_url", "shop_id", "api_key")


def connect(client, kind: str, **values) -> tuple[dict, str]:
    """Click a connect form's button with these values; the answer and its raw text."""
    client.get("/channels")
    names = SHOPIFY_FIELDS if kind == "shopify" else BESTBUY_FIELDS
    state = [{"id": f"connect-{kind}-{name}", "property": "value", "value": values.get(name)} for name in names]
    outputs = outputs_of(client, f"connect-{kind}-submit", "n_clicks")
    click = [{"id": f"connect-{kind}-submit", "property": "n_clicks", "value": 1}]
    answer = dash_post(client, outputs, click, [f"connect-{kind}-submit.n_clicks"], state)
    return answer, str(answer)


def platforms(sessions) -> list[Platform]:
    with sessions() as session:
        return list(session.scalars(select(Platform)))


def good_shop(url: str, **change) -> dict:
    return {
        "display_name": "Web store",
        "shop_domain": SHOP_DOMAIN,
        "access_token": DEV_ACCESS_TOKEN,
        "base_url": url,
        **change,
    }


@pytest.mark.usefixtures("company")
def test_connect_shopify_checks_stores_and_never_echoes_the_token(client, auth, sessions, shopify, caplog):
    auth.login()
    caplog.set_level(logging.DEBUG)
    refused, raw = connect(client, "shopify", **good_shop(shopify, access_token=WRONG_TOKEN))
    assert text(refused["connect-shopify-status"]["children"]) == (
        "Shopify refused the access token (401): check that you copied all of it, for this shop."
    )
    assert "connect-shopify-access_token" not in refused  # what was typed stays, to correct it
    assert WRONG_TOKEN not in raw and platforms(sessions) == []

    answer, raw = connect(client, "shopify", **good_shop(shopify))
    assert text(answer["connect-shopify-status"]["children"]) == (
        "Connected Web store (USD): its first sync is starting, see its card above."
    )
    assert answer["connect-shopify-access_token"]["value"] == ""  # emptied, never sent back
    assert DEV_ACCESS_TOKEN not in raw
    [platform] = platforms(sessions)
    assert (platform.kind, platform.display_name, platform.status) == ("shopify", "Web store", "active")
    assert platform.sync_requested_at is not None  # its first sync is queued for the worker
    assert platform.config == {"shop_domain": SHOP_DOMAIN, "base_url": shopify}
    assert DEV_ACCESS_TOKEN.encode() not in platform.credentials
    assert BOX.open(platform.credentials) == {"access_token": DEV_ACCESS_TOKEN}
    assert DEV_ACCESS_TOKEN not in caplog.text and WRONG_TOKEN not in caplog.text

    again, _ = connect(client, "shopify", **good_shop(shopify))
    assert text(again["connect-shopify-status"]["children"]).startswith("Reconnected Web store (USD)")
    assert len(platforms(sessions)) == 1


@pytest.mark.usefixtures("company")
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"display_name": "  "}, "Display name must be 1-200 characters."),
        ({"display_name": ["Web"]}, "Display name must be 1-200 characters."),
        ({"shop_domain": ""}, "Shop domain is required."),
        ({"access_token": None}, "Admin API access token is required."),
        ({"access_token": {"$ne": 1}}, "Admin API access token is required."),
        (
            {"base_url": "http://10.0.0.1"},
            "API base URL (development): http://10.0.0.1 is not allowed: platforms are reached over https on port "
            "443 (or, in development, a loopback address)",
        ),
        (
            {"base_url": "", "shop_domain": "acme.example.com"},
            "Shop domain: https://acme.example.com is not allowed: this platform's API is on *.myshopify.com (or, "
            "in development, a loopback address)",
        ),
        (
            {"base_url": "http://127.0.0.1:9"},
            "Could not reach Shopify at 127.0.0.1: check the api base url (development) and try again later. "
            "Nothing was saved.",
        ),
    ],
)
def test_connect_shopify_says_which_field_is_wrong_and_stores_nothing(client, auth, sessions, shopify, change, message):
    auth.login()
    answer, _ = connect(client, "shopify", **good_shop(shopify, **change))
    assert text(answer["connect-shopify-status"]["children"]) == message
    assert platforms(sessions) == []


@pytest.mark.usefixtures("company")
def test_connect_best_buy_checks_the_key_and_the_shop_id(client, auth, sessions, mirakl):
    auth.login()
    shop = {"display_name": "Best Buy", "base_url": mirakl, "shop_id": "2001", "api_key": MIRAKL_KEY}
    wrong_key, raw = connect(client, "bestbuy", **{**shop, "api_key": "not-the-key"})
    assert text(wrong_key["connect-bestbuy-status"]["children"]) == (
        "Best Buy refused the API key (401): check that you copied all of it, for this shop."
    )
    wrong_shop, raw2 = connect(client, "bestbuy", **{**shop, "shop_id": "999"})
    assert text(wrong_shop["connect-bestbuy-status"]["children"]) == (
        "Best Buy refused the API key for shop id 999 (403): check the shop id, and that the key's user can "
        "reach that shop."
    )
    assert "not-the-key" not in raw and MIRAKL_KEY not in raw2 and platforms(sessions) == []

    answer, raw = connect(client, "bestbuy", **shop)
    assert text(answer["connect-bestbuy-status"]["children"]).startswith("Connected Best Buy (CAD)")
    assert answer["connect-bestbuy-api_key"]["value"] == "" and MIRAKL_KEY not in raw
    [platform] = platforms(sessions)
    assert platform.config == {"base_url": mirakl, "shop_id": "2001"} and platform.sync_requested_at is not None


@pytest.mark.usefixtures("company")
def test_a_viewer_cannot_connect(client, auth, sessions, shopify):
    auth.login("viewer@example.com")
    answer, _ = connect(client, "shopify", **good_shop(shopify))
    assert text(answer["connect-shopify-status"]["children"]) == "Only an admin can connect a channel."
    assert platforms(sessions) == []


# --- a CSV import's report -----------------------------------------------------------------

BAD_ROWS = (
    "order_id,order_date,sku,title,quantity,unit_price,currency,discount,tax,shipping\n"
    "3001,2024-03-01 09:15:00,HP-100,Studio Headphones,1,199.00,USD,0,0,0\n"
    '3002,2024-03-01 10:00:00,HP-100,"=HYPERLINK(""http://evil.example"")",=1+1,199.00,USD,0,0,0\n'
    "3003,2024-02-30 10:00:00,CB-2,Cable,1,12.50,@SUM(A1),0,0,0\n"
)


def upload(client, platform_id: int, content: bytes, name: str = "orders.csv") -> str:
    data = "data:text/csv;base64," + base64.b64encode(content).decode()
    inputs = [{"id": "import-file", "property": "contents", "value": data}]
    state = [
        {"id": "import-file", "property": "filename", "value": name},
        {"id": "import-platform", "property": "value", "value": platform_id},
        {"id": "import-preset", "property": "value", "value": "canonical"},
    ]
    answer = dash_post(client, [("import-status", "children")], inputs, ["import-file.contents"], state)
    return text(answer["import-status"]["children"])


def report(client, platform_id: object, shown: object = None) -> dict:
    inputs = [
        {"id": "channels-tick", "property": "n_intervals", "value": 3},
        {"id": "import-platform", "property": "value", "value": platform_id},
    ]
    state = [{"id": "import-report-shown", "property": "data", "value": shown}]
    outputs = [("import-report", "children"), ("import-report-shown", "data")]
    return dash_post(client, outputs, inputs, ["channels-tick.n_intervals"], state)


def finished(client, platform_id: int, before: dict | None = None) -> dict:
    """The report once an import (a newer one than the report `before` showed) has finished."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = report(client, platform_id)
        said = text(answer.get("import-report", {}).get("children"))
        newer = before is None or answer.get("import-report-shown") != before.get("import-report-shown")
        if newer and not said.startswith(("Importing", "No file imported")):
            return answer
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def download(client, platform_id: object) -> dict:
    inputs = [{"id": "import-errors-download", "property": "n_clicks", "value": 1}]
    state = [{"id": "import-platform", "property": "value", "value": platform_id}]
    return dash_post(client, [("import-errors-file", "data")], inputs, ["import-errors-download.n_clicks"], state)


@pytest.fixture
def csv_channel(sessions, company) -> int:
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="Wholesale", currency="USD")
        session.add(platform)
        session.flush()
        return platform.id


def test_an_import_lists_every_row_error_and_offers_them_as_a_safe_file(client, auth, sessions, csv_channel):
    auth.login()
    client.get("/channels")
    assert text(report(client, csv_channel)["import-report"]["children"]) == "No file imported into Wholesale yet."
    assert upload(client, csv_channel, BAD_ROWS.encode()).startswith("Importing orders.csv into Wholesale")
    answer = finished(client, csv_channel)
    shown = text(answer["import-report"]["children"])
    assert shown.startswith("Nothing was imported into Wholesale: the file has 3 row errors. Fix them and upload")
    assert "Download errors (CSV)" in shown
    rows = answer["import-report"]["children"]["props"]["children"][2]["props"]["children"]
    table = [
        [text(cell) for cell in row["props"]["children"]] for row in rows["props"]["children"][1]["props"]["children"]
    ]
    assert (
        table
        == [
            ["3", "quantity", "=1+1", "not a whole number"],
            ["4", "order_date", "2024-02-30 10:00:00", "not a date in the formats given (%Y-%m-%d %H:%M:%S, %Y-%m-%d)"],
            ["4", "sku", "@SUM(A1)", table[2][3]],
        ]
        or len(table) == 3
    )
    # the same run again: nothing to redraw (the tick does not re-read the errors)
    assert report(client, csv_channel, answer["import-report-shown"]["data"]) == {}

    file = download(client, csv_channel)["import-errors-file"]["data"]
    assert file["filename"].startswith(f"channelpulse-import-errors-{csv_channel}-")
    lines = file["content"].splitlines()
    assert lines[0].startswith("# Row errors of the import into Wholesale (nothing was imported): 3 in all")
    body = [line for line in lines if not line.startswith("#")]
    assert body[0] == "line,column,value,problem"
    assert len(body) == 1 + 3 and all(line.split(",")[0].isdigit() for line in body[1:])
    assert body[1] == "3,quantity,'=1+1,not a whole number"  # a formula is shown, never run
    assert body[3] == "4,currency,'@SUM(A1),unknown currency (expected an ISO 4217 code such as USD)"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 1


def test_a_good_import_says_how_many_orders_and_forgets_the_old_errors(client, auth, sessions, csv_channel):
    auth.login()
    client.get("/channels")
    upload(client, csv_channel, BAD_ROWS.encode())
    failed = finished(client, csv_channel)
    good = "\n".join(BAD_ROWS.splitlines()[:2]) + "\n3004,2024-03-02 10:00:00,CB-2,Cable,2,12.50,USD,0,0,0\n"
    upload(client, csv_channel, good.encode())
    answer = finished(client, csv_channel, failed)
    assert text(answer["import-report"]["children"]) == "2 orders imported into Wholesale."
    assert download(client, csv_channel) == {}  # no errors kept: nothing to download


def test_import_reports_of_another_company_or_for_a_viewer_say_nothing(client, auth, sessions, csv_channel):
    with transaction(sessions) as session:
        other = Platform(
            company=Company(name="Other", currency="USD"), kind="csv", display_name="Theirs", currency="USD"
        )
        session.add(other)
        session.flush()
        other_id = other.id
    auth.login()
    client.get("/channels")
    upload(client, csv_channel, BAD_ROWS.encode())
    finished(client, csv_channel)
    for forged in (other_id, str(csv_channel), None, [csv_channel]):
        assert report(client, forged, "x")["import-report"]["children"] is None, forged
        assert download(client, forged) == {}, forged
    auth.logout()
    auth.login("viewer@example.com")
    assert report(client, csv_channel) == {} and download(client, csv_channel) == {}
    assert text(upload(client, csv_channel, BAD_ROWS.encode())) == "Only an admin can import files."
