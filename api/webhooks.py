"""Platform webhooks: POST /webhooks/shopify.

The signature is checked on the raw body before anything is parsed; each delivery is applied
once (platforms retry and duplicate); the order is upserted at once so the dashboard sees it
on its next refresh. Polling stays the source of truth: webhooks only make changes arrive sooner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors import shopify
from connectors.base import ConnectorError
from db import ingest, rollups
from db.credentials import CredentialBox
from db.models import Company, Platform, WebhookEvent, utcnow
from web.context import db_session, state
from web.errors import ApiError

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
T = TypeVar("T")


def _signed_platform(shop_domain: str, body: bytes, signature: str) -> Platform | None:
    """The Shopify platform for this shop whose webhook secret signed the body."""
    box = CredentialBox(state().settings.credentials_keys)
    candidates = db_session().scalars(select(Platform).where(Platform.kind == "shopify"))
    for platform in candidates:
        if platform.config.get("shop_domain", "").lower() != shop_domain:
            continue
        secret = box.open(platform.credentials).get("webhook_secret")
        if secret and shopify.verify_webhook(secret, body, signature):
            return platform
    return None


@bp.post("/shopify")
def shopify_webhook():
    body = request.get_data()
    shop_domain = request.headers.get("X-Shopify-Shop-Domain", "").strip().lower()
    signature = request.headers.get("X-Shopify-Hmac-Sha256", "")
    delivery = request.headers.get("X-Shopify-Webhook-Id") or request.headers.get("X-Shopify-Event-Id")
    topic = request.headers.get("X-Shopify-Topic", "")
    if not (shop_domain and signature and delivery and topic):
        raise ApiError(400, "missing_header", "Shopify webhook headers are missing.")
    platform = _signed_platform(shop_domain, body, signature)
    if platform is None:
        log.warning("webhook rejected shop=%s topic=%s reason=signature", shop_domain, topic)
        raise ApiError(401, "invalid_signature", "The webhook signature does not match.")

    session = db_session()
    session.add(WebhookEvent(platform_id=platform.id, delivery_id=delivery[:128], topic=topic[:64]))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return jsonify(status="duplicate"), 200
    if topic == "orders/delete":
        external_id = _read_body(body, shopify.deleted_order_id, shop_domain, topic)
        rollups.rollup_daily(session, platform, ingest.delete_order(session, platform, external_id, utcnow()))
    elif topic.startswith("orders/"):
        order = _read_body(body, shopify.order_from_webhook, shop_domain, topic)
        company = session.get(Company, platform.company_id)
        touched = ingest.upsert_orders(session, platform, [order], ZoneInfo(company.timezone))
        rollups.rollup_daily(session, platform, touched)
    else:  # refunds/create and the like: the orders/updated that comes with them carries the change
        session.commit()
        log.info("webhook ignored platform_id=%s topic=%s", platform.id, topic)
        return jsonify(status="ignored"), 200
    session.commit()
    log.info("webhook applied platform_id=%s topic=%s", platform.id, topic)
    return jsonify(status="ok"), 200


def _read_body(body: bytes, read: Callable[[Any], T], shop_domain: str, topic: str) -> T:
    """The signed body read by `read`; a body that is not JSON (or not UTF-8) or not what the
    topic carries answers 400 and nothing of the delivery is kept, so a fixed retry applies."""
    try:
        return read(json.loads(body.decode("utf-8")))  # UTF-8 only, as JSON between systems is
    except (ValueError, RecursionError, ConnectorError) as exc:  # RecursionError: JSON nested too deep
        db_session().rollback()
        log.warning("webhook unreadable shop=%s topic=%s error=%s", shop_domain, topic, type(exc).__name__)
        raise ApiError(400, "invalid_body", f"The webhook body is not a Shopify {topic} body.") from None
