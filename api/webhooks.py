"""Platform webhooks: POST /webhooks/shopify.

The signature is checked on the raw body before anything is parsed; each delivery is applied
once (platforms retry and duplicate); the order is upserted at once so the dashboard sees it
on its next refresh. Polling stays the source of truth: webhooks only make changes arrive sooner.
"""

from __future__ import annotations

import json
import logging
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import ApiError
from connectors import shopify
from connectors.base import ConnectorError
from db import ingest
from db.credentials import CredentialBox
from db.models import Company, Platform, WebhookEvent
from extensions import db_session, state

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


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
    if topic.startswith("orders/") and topic != "orders/delete":
        try:
            order = shopify.order_from_webhook(json.loads(body))
        except (ValueError, RecursionError, ConnectorError) as exc:  # RecursionError: JSON nested too deep
            session.rollback()
            log.warning("webhook unreadable shop=%s topic=%s error=%s", shop_domain, topic, type(exc).__name__)
            raise ApiError(400, "invalid_body", "The webhook body is not a Shopify order.") from None
        company = session.get(Company, platform.company_id)
        touched = ingest.upsert_orders(session, platform, [order], ZoneInfo(company.timezone))
        ingest.rollup_daily(session, platform, touched)
    session.commit()
    log.info("webhook applied platform_id=%s topic=%s", platform.id, topic)
    return jsonify(status="ok"), 200
