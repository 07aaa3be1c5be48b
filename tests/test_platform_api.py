"""Connecting platforms, asking for syncs and receiving Shopify webhooks, the way a client does:
over HTTP, against the running simulators, with the credentials never coming back out."""

from __future__ import annotations

import functools
import io
import json
import threading
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

import cli
from dashboard import figures
from db.engine import transaction
from db.models import Company, Order, Platform, Refund, SyncRun, WebhookEvent
from db.queries import PlatformStatus
from jobs.demo import demo_fx_rates
from jobs.progress import ProgressLine
from jobs.sync import sync_platform
from simulators.business import Business
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, build_shopify, webhook_hmac
from simulators.store import ManualClock
from tests.conftest import TEST_PASSWORD
from tests.sims import BOX, DEV_NETWORK, START
from worker import SyncDispatcher

WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture
def shop():
    """A Shopify simulator a platform can be connected to (a Plus bucket: fast tests)."""
    clock = ManualClock(START)
    server = build_shopify(
        Business(scale=0.3), history_days=10, clock=clock, bucket_size=20000, restore_rate=1000
    ).start()
    yield server
    server.stop()


def connect_body(shop, token=DEV_ACCESS_TOKEN, **extra) -> dict:
    return {
        "kind": "shopify",
        "display_name": "My Shopify",
        "config": {"shop_domain": SHOP_DOMAIN, "base_url": shop.url},
        "credentials": {"access_token": token, "webhook_secret": WEBHOOK_SECRET},
        **extra,
    }


@pytest.mark.usefixtures("company")
def test_connect_checks_stores_encrypted_and_never_echoes_secrets(client, auth, sessions, shop):
    auth.login()
    response = client.post("/api/v1/platforms/connect", json=connect_body(shop))
    assert response.status_code == 201, response.json
    body = response.get_data(as_text=True)
    assert DEV_ACCESS_TOKEN not in body and WEBHOOK_SECRET not in body
    platform = response.json
    assert platform["credentials_set"] == ["access_token", "webhook_secret"]
    assert platform["currency"] == "USD" and platform["status"] == "active"
    assert platform["sync_requested_at"] is not None  # the first backfill is queued

    with sessions() as session:
        stored = session.get(Platform, platform["id"])
        assert DEV_ACCESS_TOKEN.encode() not in stored.credentials
        assert BOX.open(stored.credentials)["access_token"] == DEV_ACCESS_TOKEN
    listed = client.get("/api/v1/platforms").json["platforms"]
    assert [p["id"] for p in listed] == [platform["id"]]
    assert DEV_ACCESS_TOKEN not in client.get("/api/v1/platforms").get_data(as_text=True)

    again = client.post("/api/v1/platforms/connect", json=connect_body(shop))
    assert again.status_code == 200 and again.json["id"] == platform["id"]  # reconnecting updates it


@pytest.mark.usefixtures("company")
def test_refused_credentials_store_nothing(client, auth, sessions, shop):
    auth.login()
    response = client.post("/api/v1/platforms/connect", json=connect_body(shop, token="shpat_wrong"))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "credentials_refused"
    assert "shpat_wrong" not in response.get_data(as_text=True)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Platform)) == 0


@pytest.mark.usefixtures("company")
@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"kind": "ebay"}, 400, "kind"),
        ({"display_name": ""}, 400, "display_name"),
        ({"config": {}}, 400, "config.shop_domain"),
        ({"credentials": {"access_token": ""}}, 400, "credentials.access_token"),
        ({"config": ["not", "an", "object"]}, 400, "config"),
    ],
)
def test_connect_validates_input(client, auth, shop, change, status, field):
    auth.login()
    response = client.post("/api/v1/platforms/connect", json={**connect_body(shop), **change})
    assert response.status_code == status
    assert response.json["error"]["field"] == field


@pytest.mark.usefixtures("company")
def test_unreachable_platform_and_bad_settings(client, auth):
    auth.login()
    body = {
        "kind": "bestbuy",
        "display_name": "BB",
        "config": {"base_url": "http://127.0.0.1:9", "window_days": "x"},
        "credentials": {"api_key": "k"},
    }
    assert client.post("/api/v1/platforms/connect", json=body).status_code == 400
    body["config"] = {"base_url": "http://127.0.0.1:9", "min_interval_seconds": "0"}
    response = client.post("/api/v1/platforms/connect", json=body)
    assert response.status_code == 502 and response.json["error"]["code"] == "platform_unreachable"


@pytest.mark.usefixtures("company")
def test_only_admins_connect(client, auth, shop):
    auth.login("viewer@example.com")
    assert client.post("/api/v1/platforms/connect", json=connect_body(shop)).status_code == 403


def test_sync_request_runs_and_reports_status(client, auth, engine, sessions, channel):
    auth.login()
    kind = channel.kind
    queued = client.post(f"/api/v1/sync/{kind}")
    assert queued.status_code == 202 and queued.json["queued"] == [channel.platform_id]
    status = client.get("/api/v1/sync/status").json["platforms"][0]
    assert status["queued"] is True and status["last_run"] is None

    dispatcher = SyncDispatcher(sessions, BOX, interval=timedelta(hours=1), network=DEV_NETWORK)
    assert dispatcher.dispatch() == [channel.platform_id]
    dispatcher.pool.shutdown(wait=True)
    status = client.get("/api/v1/sync/status").json["platforms"][0]
    assert status["queued"] is False and status["running"] is False
    assert status["last_run"]["status"] == "succeeded" and status["last_run"]["rows"] > 0
    assert dispatcher.dispatch() == []  # synced a moment ago, not due for an hour
    assert client.post(f"/api/v1/sync/{channel.platform_id}").status_code == 202


@pytest.mark.parametrize("channel", ["shopify"], indirect=True)
def test_sync_status_says_what_a_first_backfill_waits_for(client, auth, sessions, channel):
    auth.login()
    channel.server.simulator.bulk_delay = 1.0  # Shopify takes its time building the export
    args, kwargs = (sessions, channel.platform_id, BOX), {"network": DEV_NETWORK}
    sync = threading.Thread(target=sync_platform, args=args, kwargs=kwargs)
    sync.start()
    try:
        deadline, seen = time.monotonic() + 20, None
        while time.monotonic() < deadline and not seen:
            run = client.get("/api/v1/sync/status").json["platforms"][0]["last_run"]
            seen = run and run["status"] == "running" and run["activity"]
            time.sleep(0.05)
        assert seen and seen.startswith("Shopify is preparing the export:")
    finally:
        sync.join()
    assert client.get("/api/v1/sync/status").json["platforms"][0]["last_run"]["status"] == "succeeded"


@pytest.mark.parametrize("channel", ["shopify"], indirect=True)
def test_the_sync_command_says_what_it_waits_for_then_counts(app, channel, monkeypatch):
    progress = io.StringIO()
    monkeypatch.setattr(cli, "ProgressLine", functools.partial(ProgressLine, stream=progress))
    channel.server.simulator.bulk_delay = 0.3
    done = app.test_cli_runner().invoke(args=["sync", "--platform-id", str(channel.platform_id)])
    assert done.exit_code == 0, done.output
    lines = progress.getvalue().splitlines()
    label = f"syncing platform {channel.platform_id}"
    assert lines[0] == f"{label}: Shopify is preparing the export: 0 records so far"
    assert lines[-2].startswith(f"{label}: 100% (") and lines[-1].startswith(f"{label}: done, ")


def test_the_channel_card_shows_the_activity_until_orders_arrive():
    run = SyncRun(status="running", rows=0, activity="Shopify is preparing the export: 1,200 records so far")
    status = PlatformStatus(1, "shopify", "Shop", "USD", "active", None, None, False, run)
    assert figures.sync_progress(status).label == run.activity
    run.rows = 250
    assert figures.sync_progress(status).label == "250 orders so far"


@pytest.mark.usefixtures("company")
def test_sync_requests_are_scoped_to_the_company(client, auth, sessions):
    with transaction(sessions) as session:
        other = Company(name="Other Co", timezone="UTC", currency="EUR")
        session.add(Platform(company=other, kind="shopify", display_name="Theirs", currency="EUR", config={}))
        session.flush()
        their_id = session.scalar(select(Platform.id).where(Platform.display_name == "Theirs"))
    auth.login()
    assert client.post(f"/api/v1/sync/{their_id}").status_code == 404
    assert client.post("/api/v1/sync/shopify").status_code == 404  # ours has no Shopify platform
    assert client.post("/api/v1/sync/nonsense").status_code == 404
    assert client.get("/api/v1/platforms").json["platforms"] == []


def test_only_admins_request_syncs(client, auth, sessions, company):
    """A sync spends the platform's API quota, so it is an admin action: viewers and API tokens
    (which read as viewers) get 403 and nothing is queued."""
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="shopify", display_name="Ours", currency="USD", config={})
        session.add(platform)
        session.flush()
        platform_id = platform.id
    auth.login()
    token = client.post("/api/v1/tokens", json={"name": "reader"}).json["token"]
    auth.logout()
    auth.login("viewer@example.com")
    for target in (platform_id, "shopify"):
        refused = client.post(f"/api/v1/sync/{target}")
        assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    auth.logout()
    refused = client.post(f"/api/v1/sync/{platform_id}", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    with sessions() as session:
        assert session.get(Platform, platform_id).sync_requested_at is None
    auth.login()
    assert client.post(f"/api/v1/sync/{platform_id}").status_code == 202


@pytest.fixture
def live_app(app):
    """The app served over real HTTP in this process, so simulators can POST webhooks to it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_simulator_webhooks_reach_the_database_without_a_sync(live_app, engine, sessions, company):
    clock = ManualClock(START)
    shop = build_shopify(
        Business(scale=0.3),
        history_days=10,
        clock=clock,
        bucket_size=20000,
        restore_rate=1000,
        webhook_url=f"{live_app}/webhooks/shopify",
        webhook_secret=WEBHOOK_SECRET,
    ).start()
    try:
        web = requests.Session()
        page = web.get(f"{live_app}/login").text
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        web.post(
            f"{live_app}/login", data={"email": "admin@example.com", "password": TEST_PASSWORD, "csrf_token": token}
        )
        platform_id = web.post(f"{live_app}/api/v1/platforms/connect", json=connect_body(shop)).json()["id"]
        with transaction(sessions) as session:
            rates = demo_fx_rates(START.date() - timedelta(days=30), START.date() + timedelta(days=30))
            from db import fx

            company_id = session.scalar(select(Company.id).where(Company.name == "Acme Audio"))
            fx.upsert_fx_rates(session, company_id, rates, "test")
        assert sync_platform(sessions, platform_id, BOX, network=DEV_NETWORK).status == "succeeded"

        store = shop.simulator.store
        order = store.by_created(clock())[0]
        store.refund(order.order_id)  # the simulator POSTs orders/updated, signed
        external_id = order.external_id
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sessions() as session:
                refunds = session.scalar(
                    select(func.count()).select_from(Refund).join(Order).where(Order.external_id == external_id)
                )
            if refunds:
                break
            time.sleep(0.1)
        assert refunds == 1
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    finally:
        shop.stop()


@pytest.mark.usefixtures("company")
def test_webhook_signature_and_duplicates(client, auth, sessions, shop):
    auth.login()
    client.post("/api/v1/platforms/connect", json=connect_body(shop))
    order = shop.simulator.store.by_created(shop.simulator.store.now())[0]
    body = json.dumps(shop.simulator.rest_order(order, shop.simulator.store.now())).encode()
    headers = {
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-Webhook-Id": "delivery-1",
        "X-Shopify-Hmac-Sha256": webhook_hmac(WEBHOOK_SECRET, body),
        "Content-Type": "application/json",
    }
    assert client.post("/webhooks/shopify", data=body, headers=headers).json == {"status": "ok"}
    assert client.post("/webhooks/shopify", data=body, headers=headers).json == {"status": "duplicate"}
    forged = {**headers, "X-Shopify-Webhook-Id": "delivery-2", "X-Shopify-Hmac-Sha256": webhook_hmac("guess", body)}
    refused = client.post("/webhooks/shopify", data=body, headers=forged)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_signature"
    assert client.post("/webhooks/shopify", data=body, headers={"X-Shopify-Topic": "x"}).status_code == 400
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1


def deliver(client, body: bytes, delivery: str):
    """POST a Shopify orders/updated webhook, signed with the platform's webhook secret."""
    headers = {
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-Webhook-Id": delivery,
        "X-Shopify-Hmac-Sha256": webhook_hmac(WEBHOOK_SECRET, body),
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/shopify", data=body, headers=headers)


@pytest.mark.usefixtures("company")
def test_a_replayed_older_webhook_never_rolls_an_order_back(client, auth, sessions, shop):
    """A validly signed older body under a new delivery id (a delayed retry, or a replay) is
    accepted and ignored: the refunded order and its refund stay, and so after a sync."""
    auth.login()
    platform_id = client.post("/api/v1/platforms/connect", json=connect_body(shop)).json["id"]
    store = shop.simulator.store
    order = store.by_created(store.now())[0]
    before = json.dumps(shop.simulator.rest_order(order, store.now())).encode()
    refunded = store.refund(order.order_id)
    after = json.dumps(shop.simulator.rest_order(refunded, store.now())).encode()
    assert deliver(client, before, "delivery-1").json == {"status": "ok"}
    assert deliver(client, after, "delivery-2").json == {"status": "ok"}

    def stored_order() -> tuple:
        with sessions() as session:
            stored = session.scalars(select(Order).where(Order.external_id == refunded.external_id)).one()
            return stored.updated_at, len(stored.refunds)

    newest = stored_order()
    assert newest == (refunded.to_record(store.now()).updated_at, 1)
    assert deliver(client, before, "delivery-3").json == {"status": "ok"}
    assert stored_order() == newest
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 3  # each delivery applied once
    assert sync_platform(sessions, platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    assert deliver(client, before, "delivery-4").json == {"status": "ok"}
    assert stored_order() == newest


@pytest.mark.usefixtures("company")
def test_signed_webhook_bodies_that_are_no_order_are_refused(client, auth, sessions, shop):
    """A signed body is still the sender's: 100k-deep JSON, a list, a price that is no number."""
    auth.login()
    client.post("/api/v1/platforms/connect", json=connect_body(shop))
    order = shop.simulator.rest_order(shop.simulator.store.by_created(shop.simulator.store.now())[0], START)
    order["line_items"][0]["price"] = "free"
    for n, body in enumerate([b"[" * 100_000 + b"]" * 100_000, b"[]", json.dumps(order).encode()]):
        refused = deliver(client, body, f"delivery-{n}")
        assert refused.status_code == 400 and refused.json["error"]["code"] == "invalid_body", body[:40]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0  # a fixed retry still applies
