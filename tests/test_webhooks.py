"""POST /webhooks/shopify over real HTTP (the app served on a port it bound itself), signed with
the platform's real webhook secret, after a sync from the Shopify simulator: what each kind of
delivery does to the stored orders and to the dashboard's daily rows, on SQLite and Postgres."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from db import ingest
from db.engine import transaction
from db.models import AnalyticsDaily, Order, Platform, Refund, WebhookEvent
from jobs.sync import sync_platform
from simulators.business import Business
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, build_shopify, webhook_hmac
from simulators.store import ManualClock
from tests.sims import BOX, DEV_NETWORK, START
from tests.stored import sim_snapshot, stored

SECRET = "webhook-secret-of-the-test-shop"


@dataclass
class Shop:
    """A Shopify platform, synced from its simulator, whose webhooks go to the served app."""

    url: str  # the app's
    server: object  # the simulator's SimulatorServer
    platform_id: int
    deliveries: int = 0

    def post(self, topic: str, body: bytes, secret: str = SECRET) -> requests.Response:
        self.deliveries += 1
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-Webhook-Id": f"delivery-{self.deliveries}",
            "X-Shopify-Hmac-Sha256": webhook_hmac(secret, body),
            "Content-Type": "application/json",
        }
        return requests.post(f"{self.url}/webhooks/shopify", data=body, headers=headers, timeout=30)

    def order_body(self, sim_order, as_of=None) -> bytes:
        store = self.server.simulator.store
        return json.dumps(self.server.simulator.rest_order(sim_order, as_of or store.now())).encode()


@pytest.fixture
def shop(app, sessions, company) -> Iterator[Shop]:
    clock = ManualClock(START)
    simulator = build_shopify(
        Business(scale=0.3), history_days=10, clock=clock, bucket_size=20000, restore_rate=1000
    ).start()
    secrets = {"access_token": DEV_ACCESS_TOKEN, "webhook_secret": SECRET}
    with transaction(sessions) as session:
        platform = Platform(
            company_id=company.id,
            kind="shopify",
            display_name="Shop",
            currency="USD",
            config={"shop_domain": SHOP_DOMAIN, "base_url": simulator.url},
            credentials=BOX.seal(secrets),
        )
        session.add(platform)
        session.flush()
        platform_id = platform.id
    assert sync_platform(sessions, platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    web = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    yield Shop(f"http://127.0.0.1:{web.server_port}", simulator, platform_id)
    web.shutdown()
    simulator.stop()


def daily(sessions, platform_id: int) -> dict[date, tuple[int, Decimal, Decimal]]:
    """The dashboard's daily rows: (orders, gross sales, returns) per day."""
    with sessions() as session:
        rows = session.execute(
            select(AnalyticsDaily.day, AnalyticsDaily.orders, AnalyticsDaily.gross_sales, AnalyticsDaily.returns).where(
                AnalyticsDaily.platform_id == platform_id
            )
        )
        return {day: (orders, Decimal(gross), Decimal(returns)) for day, orders, gross, returns in rows}


def deliveries_kept(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent))


def legacy_id(external_id: str) -> int:
    return int(external_id.rsplit("/", 1)[1])


UNREADABLE = {
    "not json": b"not json at all",
    "not utf-8": b'{"id": 1, "name": "\xff\xfe"}',
    "utf-16": '{"id": 1}'.encode("utf-16"),  # JSON between systems is UTF-8 (RFC 8259)
    "truncated": b'{"id": 1, "line_items": [',
}


def test_an_unreadable_signed_body_is_a_400_and_writes_nothing(engine, sessions, shop):
    orders, rows = stored(engine, shop.platform_id), daily(sessions, shop.platform_id)
    for topic in ("orders/updated", "orders/delete"):
        for name, body in UNREADABLE.items():
            refused = shop.post(topic, body)
            assert refused.status_code == 400, (topic, name)
            assert refused.json()["error"]["code"] == "invalid_body"
    assert deliveries_kept(sessions) == 0  # not even the delivery: Shopify's retry of a fixed body applies
    assert stored(engine, shop.platform_id) == orders and daily(sessions, shop.platform_id) == rows


def test_other_topics_are_accepted_and_ignored(engine, sessions, shop):
    """refunds/create (docs/connectors.md subscribes it) and topics we never asked for answer
    200, so Shopify does not retry them; they change no order: the orders/updated that comes
    with a refund carries it."""
    store = shop.server.simulator.store
    refunded = store.refund(store.by_created(store.now())[0].order_id)
    orders, rows = stored(engine, shop.platform_id), daily(sessions, shop.platform_id)
    refund = json.loads(shop.order_body(refunded))["refunds"][0]
    for topic, body in [("refunds/create", json.dumps(refund).encode()), ("products/update", b'{"id": 7}')]:
        answer = shop.post(topic, body)
        assert (answer.status_code, answer.json()) == (200, {"status": "ignored"}), topic
    assert stored(engine, shop.platform_id) == orders and daily(sessions, shop.platform_id) == rows
    assert deliveries_kept(sessions) == 2  # recorded, so a duplicate delivery is answered as one


def test_orders_delete_takes_the_order_out_of_every_metric(engine, sessions, shop, company):
    """A deleted order leaves its day's orders and sales (and its returns their days), and no
    copy of it from before the deletion (a late orders/updated, even of a version newer than
    the stored one; the next sync re-reading it) brings it back."""
    store = shop.server.simulator.store
    now = store.now()
    victim = next(o for o in store.by_created(now) if o.refunds_as_of(now) and store.updated_at(o.order_id, now) < now)
    record = victim.to_record(store.now())
    old_body = shop.order_body(victim)
    before = daily(sessions, shop.platform_id)
    with sessions() as session:
        stored_order = session.scalars(select(Order).where(Order.external_id == record.external_id)).one()
        day, refund_days = stored_order.order_day, {r.refund_day for r in stored_order.refunds}
    lines = [li for li in json.loads(old_body)["line_items"] if not li["gift_card"]]
    gross = sum(Decimal(li["price"]) * li["quantity"] for li in lines)
    returned = sum((Decimal(str(r.returns)) for r in record.refunds), Decimal(0))

    answer = shop.post("orders/delete", json.dumps({"id": legacy_id(record.external_id)}).encode())

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    after = daily(sessions, shop.platform_id)
    orders, sales, _ = before[day]
    assert after[day][:2] == (orders - 1, sales - gross)
    assert sum(after[d][2] for d in refund_days) == sum(before[d][2] for d in refund_days) - returned
    assert {d: v for d, v in after.items() if d not in refund_days | {day}} == {
        d: v for d, v in before.items() if d not in refund_days | {day}
    }

    edited = shop.order_body(store.edit(victim.order_id))  # a note edited just before the deletion,
    assert shop.post("orders/updated", edited).json() == {"status": "ok"}  # whose webhook came late
    assert shop.post("orders/updated", old_body).json() == {"status": "ok"}  # and a late retry
    assert sync_platform(sessions, shop.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    assert daily(sessions, shop.platform_id) == after
    with sessions() as session:
        assert session.scalars(select(Order.excluded_reason).where(Order.external_id == record.external_id)).one() == (
            ingest.DELETED
        )
    unknown = shop.post("orders/delete", b'{"id": 999999999999}')
    assert unknown.json() == {"status": "ok"} and daily(sessions, shop.platform_id) == after
    refused = shop.post("orders/delete", b'{"id": "all"}')
    assert refused.status_code == 400 and daily(sessions, shop.platform_id) == after


def test_an_older_delivery_after_a_newer_one_changes_nothing(engine, sessions, shop):
    """Deliveries arrive out of order: the refund's orders/updated lands first, the one from
    before the refund (a late retry) after it. The refund stays, in the order and on its day."""
    store = shop.server.simulator.store
    clock = store.clock
    order = store.by_created(store.now())[-1]
    older = shop.order_body(order)
    clock.advance(hours=2)
    refunded = store.refund(order.order_id)
    newer = shop.order_body(refunded)
    assert shop.post("orders/updated", newer).json() == {"status": "ok"}
    orders, rows = stored(engine, shop.platform_id), daily(sessions, shop.platform_id)
    assert orders[refunded.external_id] == sim_snapshot(refunded, store.now())
    with sessions() as session:
        refund = session.scalars(select(Refund).join(Order).where(Order.external_id == refunded.external_id)).one()
        assert rows[refund.refund_day][2] >= refund.returns > 0  # the refund is on the dashboard

    assert shop.post("orders/updated", older).json() == {"status": "ok"}

    assert stored(engine, shop.platform_id) == orders and daily(sessions, shop.platform_id) == rows
