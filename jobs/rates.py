"""Exchange rates from a file into the database: the parsed rows (connectors/fx.py) stored, with
the company's cross pairs derived from a single-base source, and the rollups the new rates change
recomputed in the same transaction, so the next refresh shows the new conversion."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import fx
from db import rollups
from db.fx import MissingFxRate, needed_pairs, upsert_fx_rates
from db.models import Company, Order, Platform, Refund


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
