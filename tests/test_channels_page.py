"""The Channels page's cards and their buttons, clicked as the browser sends the clicks: "Sync
now", pause and resume, rename and remove (through their dialogs). An admin's click does what it
says and says so; a viewer's replayed request is refused with a message and writes nothing; an id
of another company's channel is "no such channel" and changes nothing. Every disabled button says
why beside it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db import accounts
from db.engine import transaction
from db.locks import named_lock
from db.models import Company, Platform, SyncRun, utcnow
from jobs import sync
from tests.conftest import TEST_PASSWORD
from tests.dash_client import dash_post, find, outputs_of, text

SYNC = "channels-sync"
PAUSE = "channel-pause"
RENAME = "channel-rename"
REMOVE = "channel-remove"
NOTICE = "channels-sync-notice"


@pytest.fixture
def channels(sessions, company) -> dict[str, int]:
    """A Shopify store, a Best Buy shop and a CSV channel (which has nothing to sync)."""
    with transaction(sessions) as session:
        rows = {
            "Web store": Platform(company_id=company.id, kind="shopify", display_name="Web store", currency="USD"),
            "Best Buy": Platform(company_id=company.id, kind="bestbuy", display_name="Best Buy", currency="CAD"),
            "Wholesale": Platform(company_id=company.id, kind="csv", display_name="Wholesale", currency="USD"),
        }
        session.add_all(rows.values())
        session.flush()
        return {name: p.id for name, p in rows.items()}


@pytest.fixture
def other_company(sessions) -> int:
    """Another tenant's Shopify channel (and its admin, other@example.com): its id."""
    with transaction(sessions) as session:
        company = Company(name="Other Co", timezone="UTC", currency="USD")
        accounts.create_user(session, company, "other@example.com", TEST_PASSWORD, role="admin")
        platform = Platform(company=company, kind="shopify", display_name="Their store", currency="USD")
        session.add(platform)
        session.flush()
        return platform.id


def pattern(kind: str, ids: list[int], clicked: int | None) -> list[dict]:
    """An ALL pattern's inputs as Dash sends them: every button, only the clicked one with n_clicks."""
    return [
        {"id": {"index": i, "type": kind}, "property": "n_clicks", "value": 1 if i == clicked else None} for i in ids
    ]


def changed_id(kind: str, index: int) -> str:
    return json.dumps({"index": index, "type": kind}, separators=(",", ":")) + ".n_clicks"


def click_card(client, ids: list[int], clicked: int | None, kind: str = SYNC) -> list:
    """The cards' callback after a click on `clicked`'s `kind` button (None: the 3 s tick)."""
    tick = {"id": "channels-tick", "property": "n_intervals", "value": 4}
    refresh = {"id": "channels-refresh", "property": "data", "value": None}
    syncs = pattern(SYNC, ids, clicked if kind == SYNC else None)
    pauses = pattern(PAUSE, ids, clicked if kind == PAUSE else None)
    changed = "channels-tick.n_intervals" if clicked is None else changed_id(kind, clicked)
    response = dash_post(client, [("channels-list", "children")], [tick, syncs, pauses, refresh], [changed])
    return response["channels-list"]["children"]


def click_sync(client, ids: list[int], clicked: int | None) -> list:
    return click_card(client, ids, clicked, SYNC)


def stored(sessions) -> dict[int, Platform]:
    with sessions() as session:
        return {p.id: p for p in session.scalars(select(Platform))}


def requested(sessions) -> dict[int, object]:
    return {i: p.sync_requested_at for i, p in stored(sessions).items()}


def test_an_admin_click_queues_that_platform_and_says_so(client, auth, sessions, channels):
    auth.login()
    ids, best_buy = list(channels.values()), channels["Best Buy"]
    before = click_sync(client, ids, None)
    assert find(before, NOTICE) is None and text(find(before, f"channel-state-{best_buy}")) == "Last synced never"

    page = click_sync(client, ids, best_buy)
    queued = requested(sessions)
    assert queued[best_buy] is not None and queued[channels["Web store"]] is None
    assert queued[channels["Wholesale"]] is None
    notice = find(page, NOTICE)
    assert text(notice) == "Sync of Best Buy requested: its card shows the progress."
    assert notice["props"]["color"] == "success"
    assert text(find(page, f"channel-state-{best_buy}")) == "Sync queued"
    assert find(page, {"index": best_buy, "type": SYNC})["props"]["disabled"] is True
    assert text(find(page, f"channel-why-{best_buy}")) == "Sync now: a sync is already queued."
    assert find(page, {"index": channels["Web store"], "type": SYNC})["props"]["disabled"] is False

    again = click_sync(client, ids, best_buy)  # a second click (another tab) changes nothing
    assert text(find(again, NOTICE)) == "A sync of Best Buy is already queued."
    assert requested(sessions) == queued
    assert find(click_sync(client, ids, None), NOTICE) is None  # the next tick shows the cards only


def test_the_csv_channel_has_no_sync_to_request(client, auth, sessions, channels):
    auth.login()
    page = click_sync(client, list(channels.values()), channels["Wholesale"])
    assert find(page, NOTICE) is None
    assert find(page, {"index": channels["Wholesale"], "type": SYNC})["props"]["disabled"] is True
    assert set(requested(sessions).values()) == {None}


def test_every_disabled_button_says_why(client, auth, sessions, channels):
    """A running sync disables "Sync now" and "Remove"; a CSV channel has no sync and no pause."""
    with transaction(sessions) as session:
        session.add(SyncRun(platform_id=channels["Web store"], status="running"))
    auth.login()
    page = click_sync(client, list(channels.values()), None)
    web, csv = channels["Web store"], channels["Wholesale"]
    for kind in (SYNC, REMOVE):
        assert find(page, {"index": web, "type": kind})["props"]["disabled"] is True
    for kind in (RENAME, PAUSE):
        assert find(page, {"index": web, "type": kind})["props"]["disabled"] is False
    assert text(find(page, f"channel-why-{web}")) == (
        "Sync now: a sync is running. Remove: a sync is running: remove it once that ends."
    )
    assert text(find(page, f"channel-why-{csv}")) == "Sync now and Pause: CSV channels are filled by uploads."
    assert find(page, {"index": csv, "type": PAUSE})["props"]["disabled"] is True
    assert find(page, f"channel-why-{channels['Best Buy']}") is None  # nothing disabled, nothing to say


def test_a_viewer_click_is_refused_with_a_message_and_writes_nothing(client, auth, sessions, channels):
    """A viewer sees every button disabled, with the reason; one whose page still has them enabled
    (an admin demoted meanwhile), or who replays the request, is told why nothing happened."""
    auth.login("viewer@example.com")
    ids = list(channels.values())
    page = click_sync(client, ids, channels["Web store"])
    notice = find(page, NOTICE)
    assert text(notice) == "Only an admin can start a sync." and notice["props"]["color"] == "warning"
    assert set(requested(sessions).values()) == {None}
    for kind in (SYNC, RENAME, PAUSE, REMOVE):
        assert find(page, {"index": channels["Web store"], "type": kind})["props"]["disabled"] is True
    assert text(find(page, f"channel-why-{channels['Web store']}")) == (
        "Only an admin can sync, rename, pause or remove a channel."
    )
    paused = click_card(client, ids, channels["Web store"], PAUSE)
    assert text(find(paused, NOTICE)) == "Only an admin can pause or resume a channel."
    assert {p.status for p in stored(sessions).values()} == {"active"}


def test_pausing_stops_the_scheduler_and_sync_now_until_resumed(client, auth, sessions, channels):
    auth.login()
    ids, web = list(channels.values()), channels["Web store"]
    click_sync(client, ids, web)  # a sync queued before the pause is dropped by it
    page = click_card(client, ids, web, PAUSE)
    assert text(find(page, NOTICE)) == "Paused Web store: it is not synced until you resume it. Its figures stay."
    assert (stored(sessions)[web].status, stored(sessions)[web].sync_requested_at) == ("disabled", None)
    assert text(find(page, f"channel-status-{web}")) == "paused"
    assert text(find(page, {"index": web, "type": PAUSE})) == "Resume"
    assert text(find(page, f"channel-why-{web}")) == "Sync now: the channel is paused: resume it to sync."
    with sessions() as session:
        assert web not in sync.due_platforms(session, timedelta(minutes=5))
        session.get(Platform, web).sync_requested_at = utcnow()  # e.g. POST /sync/<id> raced the pause
        session.commit()
        assert web not in sync.due_platforms(session, timedelta(minutes=5))
        assert channels["Best Buy"] in sync.due_platforms(session, timedelta(minutes=5))
    paused = client.post(f"/api/v1/sync/{web}")  # the API queues no paused channel, and says so
    assert paused.status_code == 409 and "paused" in paused.json["error"]["message"]

    with transaction(sessions) as session:  # a sync that was running when it was paused ends: still paused
        run = SyncRun(platform_id=web, status="running")
        session.add(run)
        session.get(Platform, web).sync_requested_at = None
        session.flush()
        run_id = run.id
    sync._finish(sessions, web, run_id, 1, 10, None)
    assert stored(sessions)[web].status == "disabled"

    page = click_card(client, ids, web, PAUSE)
    assert text(find(page, NOTICE)) == "Resumed Web store: it syncs on its schedule again."
    assert stored(sessions)[web].status == "active"
    with sessions() as session:
        assert web in sync.due_platforms(session, timedelta(0))  # synced by the run above: due when next due


def test_a_csv_channel_cannot_be_paused(client, auth, sessions, channels):
    auth.login()
    page = click_card(client, list(channels.values()), channels["Wholesale"], PAUSE)
    assert text(find(page, NOTICE)) == "Only channels that sync from a platform can be paused."
    assert stored(sessions)[channels["Wholesale"]].status == "active"


# --- rename --------------------------------------------------------------------------------


def open_dialog(client, kind: str, ids: list[int], clicked: int) -> dict:
    outputs = outputs_of(client, kind, "n_clicks")
    return dash_post(client, outputs, [pattern(kind, ids, clicked)], [changed_id(kind, clicked)])


def save_name(client, target: object, name: object) -> dict:
    outputs = outputs_of(client, "channel-rename-save", "n_clicks")
    clicks = [
        {"id": "channel-rename-save", "property": "n_clicks", "value": 1},
        {"id": "channel-rename-name", "property": "n_submit", "value": None},
        {"id": "channel-rename-cancel", "property": "n_clicks", "value": None},
    ]
    state = [
        {"id": "channel-rename-target", "property": "data", "value": target},
        {"id": "channel-rename-name", "property": "value", "value": name},
    ]
    return dash_post(client, outputs, clicks, ["channel-rename-save.n_clicks"], state)


def test_rename_through_the_dialog(client, auth, sessions, channels):
    auth.login()
    client.get("/channels")
    ids, web = list(channels.values()), channels["Web store"]
    opened = open_dialog(client, RENAME, ids, web)
    assert opened["channel-rename-modal"]["is_open"] is True
    assert opened["channel-rename-name"]["value"] == "Web store"
    assert opened["channel-rename-target"]["data"] == web

    for name, message in [
        ("   ", "The name must be 1-200 characters"),
        ("x" * 201, "The name must be 1-200 characters"),
        (["Web"], "The name must be 1-200 characters"),
        (None, "The name must be 1-200 characters"),
    ]:
        answer = save_name(client, web, name)
        assert text(answer["channel-rename-error"]["children"]) == message, name
        assert "channel-rename-modal" not in answer  # the dialog stays open with what was typed
    with transaction(sessions) as session:  # another Shopify store already has the name
        session.add(
            Platform(company_id=stored(sessions)[web].company_id, kind="shopify", display_name="Retail", currency="USD")
        )
    taken = save_name(client, web, "Retail")
    assert text(taken["channel-rename-error"]["children"]) == "Another channel of this kind is already called Retail."
    assert stored(sessions)[web].display_name == "Web store"

    done = save_name(client, web, "  Online shop ")
    assert done["channel-rename-modal"]["is_open"] is False
    assert text(done["channels-notice"]["children"]) == "Renamed Web store to Online shop."
    assert stored(sessions)[web].display_name == "Online shop"
    assert text(find(click_sync(client, ids, None), f"channel-name-{web}")) == "Online shop"
    same_name_other_kind = save_name(client, channels["Best Buy"], "Online shop")  # unique per kind only
    assert same_name_other_kind["channel-rename-modal"]["is_open"] is False


def test_a_viewer_cannot_rename_and_nobody_renames_another_companys_channel(
    client, auth, sessions, channels, other_company
):
    web = channels["Web store"]
    auth.login("viewer@example.com")
    client.get("/channels")
    refused = open_dialog(client, RENAME, [web], web)
    assert refused["channel-rename-modal"]["is_open"] is False
    assert text(refused["channels-notice"]["children"]) == "Only an admin can rename a channel."
    saved = save_name(client, web, "Hijacked")
    assert text(saved["channels-notice"]["children"]) == "Only an admin can rename a channel."
    assert stored(sessions)[web].display_name == "Web store"

    auth.logout()
    auth.login()
    foreign = open_dialog(client, RENAME, [other_company], other_company)
    assert foreign["channel-rename-modal"]["is_open"] is False
    assert text(foreign["channels-notice"]["children"]) == "That channel does not exist (any more)."
    for target in (other_company, str(web), True, -1, 2**40, {"id": web}):
        answer = save_name(client, target, "Hijacked")
        assert text(answer["channels-notice"]["children"]) == "That channel does not exist (any more).", target
    assert {p.display_name for p in stored(sessions).values()} == {"Web store", "Best Buy", "Wholesale", "Their store"}


# --- remove --------------------------------------------------------------------------------


def confirm_removal(client, target: object) -> dict:
    outputs = outputs_of(client, "channel-remove-confirm", "n_clicks")
    clicks = [
        {"id": "channel-remove-confirm", "property": "n_clicks", "value": 1},
        {"id": "channel-remove-cancel", "property": "n_clicks", "value": None},
    ]
    state = [{"id": "channel-remove-target", "property": "data", "value": target}]
    return dash_post(client, outputs, clicks, ["channel-remove-confirm.n_clicks"], state)


def test_remove_asks_says_what_goes_then_deletes_only_that_channel(client, auth, sessions, channels, other_company):
    auth.login()
    client.get("/channels")
    ids, web = list(channels.values()), channels["Web store"]
    opened = open_dialog(client, REMOVE, ids, web)
    assert opened["channel-remove-modal"]["is_open"] is True and opened["channel-remove-target"]["data"] == web
    said = " ".join(text(opened["channel-remove-body"]["children"]).split())
    assert said.startswith("Removing Web store deletes from ChannelPulse, for good, its 0 orders")
    assert "Nothing changes on Shopify itself" in said and "pause it instead" in said
    assert stored(sessions)[web].display_name == "Web store"  # opening the dialog deletes nothing

    with named_lock(sessions.kw["bind"], f"sync:{web}") as held:  # a sync of it is running
        assert held
        busy = confirm_removal(client, web)
    assert text(busy["channels-notice"]["children"]) == (
        "A sync or import of Web store is running: remove it once that ends."
    )
    assert web in stored(sessions)

    done = confirm_removal(client, web)
    assert done["channel-remove-modal"]["is_open"] is False
    assert text(done["channels-notice"]["children"]) == (
        "Removed Web store: its 0 orders and everything computed from them are deleted."
    )
    assert set(stored(sessions)) == {channels["Best Buy"], channels["Wholesale"], other_company}
    assert find(click_sync(client, list(channels.values()), None), f"channel-{web}") is None


def test_a_viewer_cannot_remove_and_nobody_removes_another_companys_channel(
    client, auth, sessions, channels, other_company
):
    auth.login("viewer@example.com")
    client.get("/channels")
    web = channels["Web store"]
    assert text(open_dialog(client, REMOVE, [web], web)["channels-notice"]["children"]) == (
        "Only an admin can remove a channel."
    )
    assert text(confirm_removal(client, web)["channels-notice"]["children"]) == "Only an admin can remove a channel."
    auth.logout()
    auth.login()
    for target in (other_company, "1", None, 1.5):
        answer = confirm_removal(client, target)
        assert text(answer["channels-notice"]["children"]) == "That channel does not exist (any more).", target
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Platform)) == 4


# --- crafted payloads ----------------------------------------------------------------------

BAD_VALUES = ["garbage", 123, -1, 2**40, 1.5, True, "", ["x"], {"a": 1}, "9" * 5000, None]
OUR_CALLBACKS = (
    "connect-shopify-status",
    "connect-bestbuy-status",
    "channel-rename-modal",
    "channel-remove-modal",
    "import-report",
    "import-errors-file",
    "import-platform",
)


def test_no_crafted_payload_to_a_channels_callback_gives_a_500_or_changes_anything(
    client, auth, sessions, channels, other_company, subtests, caplog
):
    """Every input and state of the page's action callbacks, one at a time, replaced by junk (an
    ALL pattern's button index included): an answer, never a 500 nor the last-resort handler, and
    no channel renamed, paused, removed or added."""
    auth.login()
    client.get("/channels")
    web = channels["Web store"]
    sane = {
        ("channel-rename-target", "data"): other_company,  # never rename or remove: a foreign id is refused
        ("channel-remove-target", "data"): other_company,
        ("channel-rename-name", "value"): "   ",  # and an empty name too
        ("import-platform", "value"): channels["Wholesale"],
        ("import-report-shown", "data"): None,
        ("connect-shopify-display_name", "value"): "",  # never connect: no name
        ("connect-bestbuy-display_name", "value"): "",
    }
    before = {i: (p.display_name, p.status) for i, p in stored(sessions).items()}
    for dependency in client.get("/_dash-dependencies").json:
        keys = dependency["output"].strip(".").split("...")
        outputs = [tuple(key.split(".", 1)) for key in keys]
        if not any(o[0] in OUR_CALLBACKS for o in outputs):
            continue
        slots = [("input", spec) for spec in dependency["inputs"]] + [("state", spec) for spec in dependency["state"]]
        for position, (_, spec) in enumerate(slots):
            for value in BAD_VALUES:
                what = f"{keys[0]} {spec['id']}.{spec['property']}={str(value)[:20]}"
                with subtests.test(msg=what):
                    caplog.clear()
                    entries = {"input": [], "state": []}
                    changed = None
                    for i, (where, other) in enumerate(slots):
                        given = value if i == position else sane.get((other["id"], other["property"]), 1)
                        if other["id"].startswith("{"):
                            kind = json.loads(other["id"])["type"]
                            index = given if i == position else web
                            entry = [{"id": {"index": index, "type": kind}, "property": other["property"], "value": 1}]
                            trigger = json.dumps({"index": index, "type": kind}, separators=(",", ":"))
                        else:
                            entry = {"id": other["id"], "property": other["property"], "value": given}
                            trigger = other["id"]
                        entries[where].append(entry)
                        if where == "input" and (changed is None or i == position):
                            changed = f"{trigger}.{other['property']}"
                    body = {
                        "output": dependency["output"],
                        "outputs": [{"id": i, "property": p} for i, p in outputs]
                        if len(outputs) > 1
                        else {"id": outputs[0][0], "property": outputs[0][1]},
                        "inputs": entries["input"],
                        "state": entries["state"],
                        "changedPropIds": [changed],
                    }
                    status = client.post("/_dash-update-component", json=body).status_code
                    assert status in (200, 204) or 400 <= status < 500, f"{what}: {status}"
                    failed = [r for r in caplog.records if r.getMessage().startswith("callback failed")]
                    assert not failed, f"{what}: {failed[0].getMessage()}"
    assert {i: (p.display_name, p.status) for i, p in stored(sessions).items()} == before
