"""Crafted Dash inputs, replayed to /_dash-update-component as an attacker would send them: every
callback answers with an inline message or no update, never a 500, and never acts on another
company's platform. (The Channels page's upload callback is covered with the CSV upload tests.)"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from db.engine import transaction
from db.models import Company, ForecastRun, Platform

Slot = tuple[str, str]  # (component id, property)
SYNC_TYPE = "channels-sync"
WILDCARD = ('{"index":["ALL"],"type":"channels-sync"}', "n_clicks")  # its value fuzzes the button's index
PAUSES = ('{"index":["ALL"],"type":"channel-pause"}', "n_clicks")  # sent as no buttons clicked
# Other ALL-pattern inputs: one button of each, whose n_clicks is the value.
RETRY = ('{"index":["ALL"],"type":"overview-retry"}', "n_clicks")
EXPORT = ('{"index":["ALL"],"type":"overview-export"}', "n_clicks")
PATTERN_BUTTONS = {RETRY: "kpis", EXPORT: "trend"}
OVERVIEW_FILTERS = {
    "preset": "custom",
    "start": "2026-01-01",
    "end": "2026-03-31",
    "channels": [],
    "compare": "previous_period",
    "granularity": "week",
}


@dataclass(frozen=True)
class Callback:
    """One callback as the browser's renderer calls it, with sane values for each input and state."""

    outputs: list[Slot]
    inputs: dict[Slot, object]
    state: dict[Slot, object] = field(default_factory=dict)


def callbacks(ours: int) -> dict[str, Callback]:
    """Every callback in dashboard/ except the upload's, with one of our platforms as the sane choice."""
    return {
        "overview": Callback(
            [
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
            ],
            {("refresh-interval", "n_intervals"): 1, ("overview-filters", "data"): OVERVIEW_FILTERS, RETRY: 1},
            {
                ("overview-trend-metric", "value"): "net_sales",
                ("overview-rendered", "data"): [1, None],
                ("overview-trend-zoom", "data"): {"xaxis": ["2026-01-05", "2026-02-01"]},
            },
        ),
        "overview trend metric": Callback(
            [("overview-trend", "figure"), ("overview-trend", "style"), ("overview-trend-note", "children")],
            {("overview-trend-metric", "value"): "orders"},
            {("overview-filters", "data"): OVERVIEW_FILTERS},
        ),
        "overview status": Callback(
            [("overview-sync-banner", "children"), ("overview-freshness", "children")],
            {("refresh-interval", "n_intervals"): 1, ("overview-filters", "data"): OVERVIEW_FILTERS},
        ),
        "overview export": Callback(
            [("overview-download", "data")], {EXPORT: 1}, {("overview-filters", "data"): OVERVIEW_FILTERS}
        ),
        "overview product search": Callback(
            [("overview-products-grid", "dashGridOptions")], {("overview-product-search", "value"): "lamp"}
        ),
        "filter bar": Callback(
            [
                ("filter-range", "value"),
                ("filter-dates", "start_date"),
                ("filter-dates", "end_date"),
                ("filter-channels", "options"),
                ("filter-channels", "value"),
                ("filter-compare", "value"),
                ("filter-granularity", "value"),
                ("filter-url", "search"),
            ],
            {
                ("filter-range", "value"): "custom",
                ("filter-dates", "start_date"): "2026-01-01",
                ("filter-dates", "end_date"): "2026-01-31",
                ("filter-channels", "value"): [ours],
                ("filter-compare", "value"): "previous_year",
                ("filter-granularity", "value"): "week",
                ("filter-url", "search"): f"?range=7d&channels={ours}",
            },
        ),
        "channels": Callback(
            [("channels-list", "children")],
            {("channels-tick", "n_intervals"): 1, WILDCARD: ours, PAUSES: None, ("channels-refresh", "data"): None},
        ),
        "add channel": Callback(
            [("csv-channel-status", "children"), ("import-platform", "options"), ("import-platform", "value")],
            {("csv-channel-add", "n_clicks"): 1},
            {("csv-channel-name", "value"): "Wholesale", ("csv-channel-currency", "value"): "USD"},
        ),
        "reconciliation": Callback(
            [("recon-summary", "children"), ("recon-table", "children")],
            {
                ("recon-platform", "value"): ours,
                ("recon-dates", "start_date"): "2026-01-01",
                ("recon-dates", "end_date"): "2026-01-31",
                ("refresh-interval", "n_intervals"): 1,
            },
        ),
        "reconciliation export": Callback(
            [("recon-download", "data")],
            {("recon-export", "n_clicks"): 1},
            {
                ("recon-platform", "value"): ours,
                ("recon-dates", "start_date"): "2026-01-01",
                ("recon-dates", "end_date"): "2026-01-31",
            },
        ),
        "forecasts": Callback(
            [("forecast-chart", "figure"), ("forecast-summary", "children"), ("forecast-table", "children")],
            {
                ("forecast-channel", "value"): ours,
                ("forecast-metric", "value"): "orders",
                ("refresh-interval", "n_intervals"): 1,
            },
        ),
        "forecasts export": Callback(
            [("forecast-download", "data")],
            {("forecast-export", "n_clicks"): 1},
            {("forecast-channel", "value"): "all", ("forecast-metric", "value"): "units"},
        ),
        "forecasts retrain": Callback(
            [("forecast-progress", "children")],
            {("forecast-progress-tick", "n_intervals"): 1, ("forecast-retrain", "n_clicks"): 1},
        ),
        "page routing": Callback(
            [("_pages_content", "children"), ("_pages_store", "data")],
            {("_pages_location", "pathname"): "/forecasts", ("_pages_location", "search"): ""},
        ),
    }


def wildcard_inputs(index: object) -> list[dict]:
    """The "Sync now" buttons' n_clicks, as Dash sends an ALL input: one entry per button."""
    return [{"id": {"index": index, "type": SYNC_TYPE}, "property": "n_clicks", "value": 1}]


def post(client, callback: Callback, changed: Slot, values: dict[Slot, object] | None = None):
    """POST the callback with `values` replacing the sane ones, `changed` as the triggering input."""
    values = {**callback.inputs, **callback.state, **(values or {})}

    def button(slot: Slot) -> dict:
        return {"index": PATTERN_BUTTONS[slot], "type": json.loads(slot[0])["type"]}

    def entry(slot: Slot) -> dict | list[dict]:
        if slot == WILDCARD:
            return wildcard_inputs(values[slot])
        if slot in PATTERN_BUTTONS:
            return [{"id": button(slot), "property": slot[1], "value": values[slot]}]
        if slot == PAUSES:
            return []
        return {"id": slot[0], "property": slot[1], "value": values[slot]}

    if changed == WILDCARD:
        changed_id = json.dumps({"index": values[WILDCARD], "type": SYNC_TYPE}, separators=(",", ":"))
        changed_prop = f"{changed_id}.n_clicks"
    elif changed in PATTERN_BUTTONS:
        changed_prop = f"{json.dumps(button(changed), separators=(',', ':'))}.{changed[1]}"
    else:
        changed_prop = "{}.{}".format(*changed)
    outputs = [{"id": i, "property": p} for i, p in callback.outputs]
    keys = ["{}.{}".format(*slot) for slot in callback.outputs]
    body = {
        "output": f"..{'...'.join(keys)}.." if len(keys) > 1 else keys[0],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [entry(slot) for slot in callback.inputs],
        "state": [entry(slot) for slot in callback.state],
        "changedPropIds": [changed_prop],
    }
    return client.post("/_dash-update-component", json=body)


BAD_VALUES = ["garbage", 123, -1, 2**40, 1.5, True, "", ["x"], {"a": 1}, "9" * 5000]
BAD_DAYS = ["garbage", 123, "0001-01-01", "9999-12-31", "2026-02-30", "2026-01-01T99:99"]


@pytest.fixture
def platforms(sessions, company) -> tuple[int, int]:
    """One of our platforms and one of another company's."""
    with transaction(sessions) as session:
        ours = Platform(company_id=company.id, kind="shopify", display_name="Ours", currency="USD", config={})
        other = Company(name="Other Co", timezone="UTC", currency="EUR")
        theirs = Platform(company=other, kind="shopify", display_name="Theirs", currency="EUR", config={})
        session.add_all([ours, theirs])
        session.flush()
        return ours.id, theirs.id


def test_no_crafted_input_gives_a_500(client, auth, platforms, subtests, caplog):
    """Our callbacks check every value themselves: none falls through to the last-resort handler
    (which logs "callback failed"). Dash's own page routing may, but still answers without a 500."""
    auth.login()
    client.get("/")  # Dash registers its page-routing callback on the first page load
    for name, callback in callbacks(platforms[0]).items():
        for slot in [*callback.inputs, *callback.state]:
            for value in BAD_VALUES + (BAD_DAYS if slot[1].endswith("_date") else []):
                what = f"{name} {slot[0]}.{slot[1]}={str(value)[:20]}"
                with subtests.test(msg=what):
                    caplog.clear()
                    changed = slot if slot in callback.inputs else next(iter(callback.inputs))
                    status = post(client, callback, changed, {slot: value}).status_code
                    assert status in (200, 204) or 400 <= status < 500, f"{what}: {status}"
                    failed = [r for r in caplog.records if r.getMessage().startswith("callback failed")]
                    assert name == "page routing" or not failed, f"{what}: {failed[0].getMessage()}"


@pytest.mark.usefixtures("platforms")
def test_a_malformed_callback_request_is_a_400(client, auth):
    auth.login()
    overview = {"id": "overview-download", "property": "data"}
    for body in (
        {"output": "nowhere.children", "outputs": {"id": "nowhere", "property": "children"}, "inputs": []},
        {"output": "overview-download.data", "outputs": overview, "inputs": [], "changedPropIds": []},
        {"output": "overview-download.data"},
        ["not", "an", "object"],
        "text",
    ):
        assert client.post("/_dash-update-component", json=body).status_code == 400, body


def reconciliation_text(client, callback: Callback, values: dict[Slot, object]) -> str:
    response = post(client, callback, ("recon-platform", "value"), values)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize("start", ["garbage", 123, "0001-01-01", "2026-02-30", None])
def test_bad_reconciliation_dates_say_what_to_pick(client, auth, platforms, start):
    auth.login()
    callback = callbacks(platforms[0])["reconciliation"]
    body = reconciliation_text(client, callback, {("recon-dates", "start_date"): start})
    assert "Pick a date range" in body


def test_another_companys_platform_is_never_shown_or_synced(client, auth, sessions, platforms):
    ours, theirs = platforms
    auth.login()
    pages = callbacks(ours)
    body = reconciliation_text(client, pages["reconciliation"], {("recon-platform", "value"): theirs})
    assert "Theirs" not in body and "Pick one of your platforms" in body
    export = post(
        client, pages["reconciliation export"], ("recon-export", "n_clicks"), {("recon-platform", "value"): theirs}
    )
    assert export.status_code in (200, 204) and "recon-download" not in export.get_data(as_text=True)
    ours_export = post(client, pages["reconciliation export"], ("recon-export", "n_clicks"))
    assert "channelpulse-reconciliation-" in ours_export.get_data(as_text=True)

    for index in (theirs, 2**40, "1", [ours], {"id": ours}):
        response = post(client, pages["channels"], WILDCARD, {WILDCARD: index})
        assert response.status_code == 200 and "Theirs" not in response.get_data(as_text=True)
    with sessions() as session:
        queued = dict(session.execute(select(Platform.id, Platform.sync_requested_at)).all())
    assert queued == {ours: None, theirs: None}

    assert post(client, pages["channels"], WILDCARD, {WILDCARD: ours}).status_code == 200
    with sessions() as session:
        assert session.get(Platform, ours).sync_requested_at is not None


def test_viewers_cannot_sync_and_see_why_the_button_is_disabled(client, auth, sessions, platforms):
    ours, _ = platforms
    auth.login("viewer@example.com")
    callback = callbacks(ours)["channels"]
    response = post(client, callback, WILDCARD, {WILDCARD: ours})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Only an admin can start a sync." in body and "Ours" in body
    assert "Only an admin can sync, rename, pause or remove a channel." in body
    with sessions() as session:
        assert session.get(Platform, ours).sync_requested_at is None

    auth.logout()
    auth.login()
    assert "Sync now" in post(client, callback, ("channels-tick", "n_intervals")).get_data(as_text=True)


@pytest.mark.parametrize("currency", [123, ["USD"], {"code": "USD"}, "dollars"])
def test_add_channel_with_a_bad_currency_says_why(client, auth, sessions, platforms, currency):
    auth.login()
    callback = callbacks(platforms[0])["add channel"]
    response = post(client, callback, ("csv-channel-add", "n_clicks"), {("csv-channel-currency", "value"): currency})
    assert response.status_code == 200 and "3-letter currency code" in response.get_data(as_text=True)
    with sessions() as session:
        assert session.scalar(select(Platform).where(Platform.kind == "csv")) is None


def test_a_viewer_cannot_retrain_from_the_forecasts_page(client, auth, sessions, platforms):
    auth.login("viewer@example.com")
    callback = callbacks(platforms[0])["forecasts retrain"]
    response = post(client, callback, ("forecast-retrain", "n_clicks"))
    assert response.status_code == 200 and "Only admins can retrain" in response.get_data(as_text=True)
    with sessions() as session:
        assert session.scalar(select(ForecastRun.id)) is None
    auth.logout()
    auth.login()
    assert post(client, callback, ("forecast-retrain", "n_clicks")).status_code == 200
    with sessions() as session:
        assert session.scalar(select(ForecastRun.status)) == "requested"
