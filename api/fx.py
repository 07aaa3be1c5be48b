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
from collections import Counter
from datetime import date, timedelta

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import bp
from api.params import bad, date_range
from connectors import fx
from db import rollups
from db.fx import FxConverter, MissingFxRate, upsert_fx_rates
from db.models import Company, FxRate, Order, Platform, Refund
from web.context import db_session
from web.errors import ApiError, error_body
from web.guard import admin_required

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 50


def needed_pairs(session: Session, company: Company) -> list[tuple[str, str]]:
    """(store currency, reporting currency) for each currency the company's platforms sell in,
    other than its reporting currency: the pairs its rollups convert with."""
    currencies = session.scalars(select(Platform.currency).where(Platform.company_id == company.id).distinct())
    return sorted((c, company.currency) for c in currencies if c != company.currency)


def _affected_days(session: Session, platform: Platform, currencies: set[str], first: date) -> set[date]:
    """The platform's booked days whose conversion new rates of `currencies` from `first` on
    can change: the days of its orders in those currencies from `first` on (an order converts
    at its own day's rate, or an earlier one) and the days of their returns."""
    orders = (Order.platform_id == platform.id, Order.currency.in_(currencies), Order.order_day >= first)
    sales = select(Order.order_day).where(*orders).distinct()
    returns = select(Refund.refund_day).join(Order, Order.id == Refund.order_id).where(*orders).distinct()
    return set(session.scalars(sales)) | set(session.scalars(returns))


def store_rates(session: Session, company: Company, source: fx.FxSource, rows: list[fx.RateRow]) -> dict:
    """Upsert parsed rates (plus the company's cross pairs, for a single-base source) and
    recompute the company's rollups they change; returns the upload's summary."""
    if source.base:
        rows = rows + fx.cross_rates(rows, needed_pairs(session, company), via=source.base)
    upsert_fx_rates(session, company.id, rows, source.label)
    pairs = Counter((r.base, r.quote) for r in rows)
    # The converter uses a currency's direct rate to the reporting currency, or the inverse one.
    currencies = {b for b, q in pairs if q == company.currency} | {q for b, q in pairs if b == company.currency}
    first = min(r.day for r in rows)
    recomputed, failed = 0, []
    platforms = session.scalars(select(Platform).where(Platform.company_id == company.id).order_by(Platform.id)).all()
    for platform in platforms:
        days = _affected_days(session, platform, currencies, first)
        try:
            with session.begin_nested():
                rollups.rollup_daily(session, platform, days)
        except MissingFxRate as exc:  # that platform keeps its old rollups: nothing is mixed
            failed.append({"platform_id": platform.id, "message": str(exc)})
        else:
            recomputed += len(days)
    return {
        "source": source.label,
        "format": source.name,
        "rows": len(rows),
        "pairs": [{"base": b, "quote": q, "rows": n} for (b, q), n in sorted(pairs.items())],
        "first_day": first.isoformat(),
        "last_day": max(r.day for r in rows).isoformat(),
        "rollups_recomputed": recomputed,
        "rollups_failed": failed,
    }


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
    summary = store_rates(session, company, source, rows)
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


def _days_without_rate(converter: FxConverter, currency: str, start: date, end: date) -> list[dict]:
    """The days of start..end with no rate of their own, each with the day whose rate the
    rollups use instead (None: there is no earlier rate, and those days cannot be converted)."""
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        try:
            age = converter.rate(currency, day)[1]
        except MissingFxRate:
            days.append({"day": day.isoformat(), "uses_rate_of": None})
            continue
        if age:
            days.append({"day": day.isoformat(), "uses_rate_of": (day - timedelta(days=age)).isoformat()})
    return days


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
            {"base": base, "quote": quote, "days_without_rate": _days_without_rate(converter, base, start, end)}
            for base, quote in needed_pairs(session, company)
        ],
    )
