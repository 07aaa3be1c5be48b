"""Reconciliation endpoints: our daily totals beside a platform's own sales report, each
difference explained (db/reconciliation.py), and uploads of Shopify's sales report as CSV.

The platform's report is fetched when the one stored for the range is missing or over an hour
old; if the platform cannot give it, the stored one is used and the answer says why.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from flask import Response, jsonify, request
from flask_login import current_user
from sqlalchemy.orm import Session

from api import bp, params
from api.analytics import company
from connectors.csv_files import CsvImportError
from connectors.shopify import report as shopify_report
from db import companies, reconciliation
from db.models import Platform
from jobs.reports import reconcile_with_report
from web import exports
from web.context import db_session, state
from web.errors import ApiError, error_body
from web.guard import admin_required
from web.reconciliation import CSV_COLUMNS, csv_header, csv_rows, reconciliation_json

log = logging.getLogger(__name__)

MAX_ROW_ERRORS = 100  # row errors listed in a refused upload's answer


@bp.get("/analytics/reconciliation")
def get_reconciliation() -> Response:
    session, owner = db_session(), company()
    start, end = params.date_range(request.args, owner)
    platform = _one_platform(session, owner.id)
    as_csv = params.wants_csv(request.args)
    session.commit()  # end this session's read: a fetched report is written by the job's own session
    app_state = state()
    result, error = reconcile_with_report(
        app_state.sessions, platform.id, app_state.credentials, start, end, app_state.network
    )
    body = reconciliation_json(platform, result, error)
    if as_csv:
        filename = f"channelpulse-reconciliation-{platform.id}-{start}-{end}.csv"
        return Response(
            exports.csv_text(csv_header(body, start, end), CSV_COLUMNS, csv_rows(body)),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return jsonify(body)


@bp.post("/platforms/<platform_id>/sales-report")
@admin_required("upload a sales report")
def upload_sales_report(platform_id: str) -> tuple[Response, int]:
    """Store a Shopify "Sales over time" CSV export, grouped by day, as the platform's report.
    Its days are the shop's: `timezone` (a form field) defaults to the calendar of the report
    already stored, else the company's."""
    session = db_session()
    platform = params.company_platform(session, current_user.company_id, platform_id)
    if platform.kind != "shopify":
        raise ApiError(400, "invalid_parameter", "A Shopify sales report belongs to a Shopify platform.")
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(400, "missing_parameter", "Send the report as a multipart file named file.", field="file")
    timezone = (
        request.form.get("timezone") or reconciliation.report_timezone(session, platform.id) or company().timezone
    )
    companies.check_timezone(timezone)  # a ValidationError: a 400 naming the field
    try:
        days = shopify_report.parse_csv(upload.stream, timezone, platform.currency)
    except CsvImportError as exc:
        body = error_body(400, "invalid_file", f"The report was not stored: {exc}", "file")
        body["error"]["rows"] = [asdict(e) for e in exc.errors[:MAX_ROW_ERRORS]]
        body["error"]["rows_total"] = len(exc.errors)
        return jsonify(body), 400
    reconciliation.store_report(session, platform.id, days, source="upload")
    session.commit()
    log.info("sales report uploaded platform_id=%s days=%d", platform.id, len(days))
    return jsonify(
        platform_id=platform.id,
        source="upload",
        days=len(days),
        start_date=days[0].day.isoformat(),
        end_date=days[-1].day.isoformat(),
        timezone=timezone,
        currency=platform.currency,
    ), 201


def _one_platform(session: Session, company_id: int) -> Platform:
    ids = params.platform_filter(request.args, session, company_id, required=True)
    if len(ids) > 1:
        raise params.bad("platform", f"platform {request.args['platform']!r} names {len(ids)} platforms: give its id")
    return session.get(Platform, ids[0])
