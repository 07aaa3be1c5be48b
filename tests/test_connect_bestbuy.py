"""Connecting a Best Buy Marketplace shop through the API, as an admin's script would, against
the local Mirakl simulator (development's network policy: the simulator listens on 127.0.0.1):
the key is checked with one call, stored encrypted, never returned, and it really syncs; a wrong
key is a clear 422 that stores and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from db import fx
from db.engine import transaction
from db.models import Platform
from jobs.demo import demo_fx_rates
from jobs.sync import sync_platform
from simulators.store import ManualClock
from tests.sims import BOX, DEV_NETWORK, MIRAKL_KEY, START, build

WRONG_KEY = "not-the-mirakl-key-1234"


@pytest.fixture
def mirakl():
    """A running Mirakl simulator and the connect request's config for it."""
    server, config, _ = build("bestbuy", ManualClock(START))
    yield server, config
    server.stop()


def connect(client, config: dict, key: str):
    body = {"kind": "bestbuy", "display_name": "Best Buy", "config": config, "credentials": {"api_key": key}}
    return client.post("/api/v1/platforms/connect", json=body)


def stored_platforms(sessions) -> list[Platform]:
    with sessions() as session:
        return list(session.scalars(select(Platform)))


def test_connecting_best_buy_checks_the_key_and_never_returns_it(client, auth, sessions, company, mirakl):
    server, config = mirakl
    with transaction(sessions) as session:  # the shop sells in CAD, the company reports in USD
        rates = demo_fx_rates(START.date() - timedelta(days=60), START.date() + timedelta(days=1))
        fx.upsert_fx_rates(session, company.id, rates, source="test")
    auth.login()
    response = connect(client, config, MIRAKL_KEY)
    assert response.status_code == 201, response.get_data(as_text=True)
    platform = response.json
    assert (platform["kind"], platform["display_name"], platform["status"]) == ("bestbuy", "Best Buy", "active")
    account = requests.get(f"{server.url}/api/account", headers={"Authorization": MIRAKL_KEY}, timeout=10).json()
    assert platform["currency"] == account["currency_iso_code"] == "CAD"  # the shop's own account (A01)
    assert platform["credentials_set"] == ["api_key"] and platform["sync_requested_at"] is not None
    assert platform["config"] == config
    for answer in (response, client.get("/api/v1/platforms"), client.get("/api/v1/sync/status")):
        assert MIRAKL_KEY not in answer.get_data(as_text=True)
    [stored] = stored_platforms(sessions)
    assert MIRAKL_KEY.encode() not in stored.credentials and BOX.open(stored.credentials) == {"api_key": MIRAKL_KEY}

    result = sync_platform(sessions, platform["id"], BOX, network=DEV_NETWORK)  # what the worker then does
    assert result.status == "succeeded" and result.rows > 0
    [status] = client.get("/api/v1/sync/status").json["platforms"]
    assert (status["last_run"]["status"], status["last_run"]["rows"]) == ("succeeded", result.rows)


@pytest.mark.usefixtures("company")
def test_a_wrong_best_buy_key_is_a_clear_422_that_changes_nothing(client, auth, sessions, mirakl):
    _, config = mirakl
    auth.login()
    refused = connect(client, config, WRONG_KEY)
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "credentials_refused"
    assert error["message"].startswith("The platform refused these credentials")
    assert WRONG_KEY not in refused.get_data(as_text=True)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Platform)) == 0

    assert connect(client, config, MIRAKL_KEY).status_code == 201
    again = connect(client, config, WRONG_KEY)  # reconnecting with a wrong key keeps the working one
    assert again.status_code == 422 and WRONG_KEY not in again.get_data(as_text=True)
    [stored] = stored_platforms(sessions)
    assert BOX.open(stored.credentials) == {"api_key": MIRAKL_KEY} and stored.status == "active"


@pytest.mark.usefixtures("company")
def test_a_viewer_cannot_connect_best_buy(client, auth, sessions, mirakl):
    _, config = mirakl
    auth.login("viewer@example.com")
    assert connect(client, config, MIRAKL_KEY).status_code == 403
    assert stored_platforms(sessions) == []
