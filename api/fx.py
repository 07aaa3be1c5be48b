"""Exchange rates: POST /api/v1/fx-rates uploads a rates file, GET /api/v1/fx-rates lists them.

An upload is parsed whole before anything is written: a file with any bad value answers 400
with its problems and stores nothing. A good one is upserted (for a euro-based ECB file, with
the company's own pairs derived from it) and the company's rollups the new rates change are
recomputed in the same transaction, so the next dashboard refresh shows the new conversion.
docs/fx.md has the formats and rules.
"""

from __future__ import annotations

import dataclasses
import logging

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from api import bp
from api.params import bad, date_range
from connectors import fx
from db.fx import FxConverter, days_without_rate, needed_pairs
from db.models import Company, FxRate
from jobs import rates
from web.context import db_session
from web.errors import ApiError, error_body
from web.guard import admin_required

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 50


@bp.post("/fx-rates")
@admin_required("upload exchange rates")
def upload_fx_rates():
    """Store the rates of an uploaded file (field `file`; `format` csv | ecb-xml | ecb-csv,
    detected from the content when not given): all of them, or none if any is wrong."""
    if (request.content_length or 0) > fx.MAX_FILE_BYTES:
        raise ApiError(413, "too_large", "A rates file can be at most 32 MB.", field="file")
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(400, "missing_parameter", "Send the rates file as the multipart field 'file'.", field="file")
    name = request.form.get("format", "").strip()
    if name and name not in fx.SOURCES:
        raise bad("format", f"format must be one of {', '.join(fx.SOURCES)}, not {name!r}")
    try:
        data = fx.unpack(upload.read())
        source = fx.SOURCES[name or fx.detect_format(data)]
        rows = source.parse(data)
    except fx.FxParseError as exc:
        body = error_body(400, "invalid_file", f"{len(exc.errors)} problem(s) in the file: nothing was stored.", "file")
        body["error"]["errors"] = [dataclasses.asdict(e) for e in exc.errors[:MAX_LISTED_ERRORS]]
        body["error"]["error_count"] = len(exc.errors)
        return jsonify(body), 400

    session = db_session()
    company = session.get(Company, current_user.company_id)
    summary = rates.store_rates(session, company, source, rows)
    session.commit()
    log.info(
        "fx rates uploaded company_id=%s format=%s rows=%d first_day=%s rollups=%d",
        company.id,
        source.name,
        summary["rows"],
        summary["first_day"],
        summary["rollups_recomputed"],
    )
    return jsonify(summary)


def _currency(name: str) -> str | None:
    value = request.args.get(name, "").strip().upper()
    if value and not fx.CODE.fullmatch(value):
        raise bad(name, f"{name} must be a 3-letter currency code like USD, not {value!r}")
    return value or None


@bp.get("/fx-rates")
def list_fx_rates():
    """Stored rates in start_date..end_date (optionally of one base and/or quote), and for each
    pair the company converts with, the days of the range that borrow an earlier day's rate."""
    session = db_session()
    company = session.get(Company, current_user.company_id)
    start, end = date_range(request.args, company)
    query = select(FxRate).where(FxRate.company_id == company.id, FxRate.day >= start, FxRate.day <= end)
    for column, value in ((FxRate.base, _currency("base")), (FxRate.quote, _currency("quote"))):
        if value:
            query = query.where(column == value)
    rates = session.scalars(query.order_by(FxRate.base, FxRate.quote, FxRate.day))
    converter = FxConverter(session, company.id, company.currency)
    return jsonify(
        period={"start_date": start.isoformat(), "end_date": end.isoformat(), "currency": company.currency},
        rates=[
            {"day": r.day.isoformat(), "base": r.base, "quote": r.quote, "rate": f"{r.rate:.8f}", "source": r.source}
            for r in rates
        ],
        needed_pairs=[
            {"base": base, "quote": quote, "days_without_rate": days_without_rate(converter, base, start, end)}
            for base, quote in needed_pairs(session, company)
        ],
    )
