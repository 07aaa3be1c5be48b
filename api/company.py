"""The caller's company and its reporting settings: /api/v1/company."""

from __future__ import annotations

from flask import Response, jsonify, request

from api import bp
from api.analytics import company
from db import companies
from db.models import Company
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
    """Change the time zone, the reporting currency and/or how returns are dated ("processed": the
    refund's day, as Shopify; "order": the original order's day). Every rollup of the company is
    recomputed before answering (db/companies.py, as the Settings page does)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body or set(body) - set(companies.FIELDS):
        raise ApiError(400, "invalid_body", f"Send a JSON object with any of {', '.join(companies.FIELDS)}.")
    session, owner = db_session(), company()
    if companies.update_settings(session, owner, body):
        session.commit()
        session.refresh(owner)
    return jsonify(company_json(owner))
