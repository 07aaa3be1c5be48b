"""The caller's company and its reporting settings: /api/v1/company."""

from __future__ import annotations

from flask import Response, jsonify, request

from api import bp
from api.analytics import company
from db import queries, rollups
from db.models import REFUND_DATING, Company
from web.context import db_session
from web.errors import ApiError
from web.guard import admin_required


def company_json(owner: Company) -> dict:
    return {
        "id": owner.id,
        "name": owner.name,
        "timezone": owner.timezone,
        "currency": owner.currency,
        "refund_dating": owner.refund_dating,
        "data_version": owner.data_version,
    }


@bp.get("/company")
def get_company() -> Response:
    return jsonify(company_json(company()))


@bp.patch("/company")
@admin_required("change company settings")
def update_company() -> Response:
    """Change how returns are dated ("processed": the refund's day, as Shopify; "order": the
    original order's day). Every rollup of the company is recomputed before answering."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"refund_dating"}:
        raise ApiError(400, "invalid_body", "Send a JSON object with refund_dating.")
    dating = body.get("refund_dating")
    if dating not in REFUND_DATING:
        raise ApiError(
            400, "invalid_parameter", f"refund_dating must be one of {', '.join(REFUND_DATING)}", field="refund_dating"
        )
    session, owner = db_session(), company()
    if owner.refund_dating != dating:
        owner.refund_dating = dating
        session.flush()
        for platform in queries.platforms(session, owner.id):
            rollups.rollup_all(session, platform)
        session.commit()
        session.refresh(owner)
    return jsonify(company_json(owner))
