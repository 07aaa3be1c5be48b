"""The Channels page's "Sync now" button, clicked as the browser sends the click: an admin's
click queues that platform's sync (and only that one) and says so; a viewer's is refused with a
message and writes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from db.engine import transaction
from db.models import Platform
from tests.dash_client import dash_post, find, text

SYNC = "channels-sync"
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


def click_sync(client, ids: list[int], clicked: int | None) -> list:
    """The cards' callback after a click on `clicked`'s button (None: the 3 s tick). Dash sends
    every button of the ALL pattern, only the clicked one with n_clicks set."""
    buttons = [
        {"id": {"index": i, "type": SYNC}, "property": "n_clicks", "value": 1 if i == clicked else None} for i in ids
    ]
    tick = {"id": "channels-tick", "property": "n_intervals", "value": 4}
    if clicked is None:
        changed = "channels-tick.n_intervals"
    else:
        changed = json.dumps({"index": clicked, "type": SYNC}, separators=(",", ":")) + ".n_clicks"
    response = dash_post(client, [("channels-list", "children")], [tick, buttons], [changed])
    return response["channels-list"]["children"]


def requested(sessions) -> dict[int, object]:
    with sessions() as session:
        return {p.id: p.sync_requested_at for p in session.scalars(select(Platform))}


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


def test_a_viewer_click_is_refused_with_a_message_and_writes_nothing(client, auth, sessions, channels):
    """A viewer sees no button; one whose page still shows it (an admin demoted meanwhile), or who
    replays the request, is told why nothing happened."""
    auth.login("viewer@example.com")
    page = click_sync(client, list(channels.values()), channels["Web store"])
    notice = find(page, NOTICE)
    assert text(notice) == "Only an admin can start a sync." and notice["props"]["color"] == "warning"
    assert set(requested(sessions).values()) == {None}
    assert "Sync now" not in text(page) and find(page, {"index": channels["Web store"], "type": SYNC}) is None
    assert text(find(page, f"channel-state-{channels['Web store']}")) == "Last synced never"
