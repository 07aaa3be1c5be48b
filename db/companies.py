"""A company's reporting settings: its time zone (which calendar days its figures fall on), its
reporting currency (what every figure is converted to) and how returns are dated. One operation
for the API (PATCH /api/v1/company) and the Settings page: both validate here and apply here.

Each setting is baked into the rollups, so changing one recomputes them: a new time zone also
moves every stored order and refund onto the new zone's calendar days first. The work is done
in the caller's transaction (not committed), so a refused change (a currency without exchange
rates, say) leaves nothing half-written once the caller rolls back.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import rollups
from db.fx import MissingFxRate
from db.ingest import local_day
from db.models import REFUND_DATING, AnalyticsDaily, Company, Order, Platform, Refund
from records import ValidationError

FIELDS = ("timezone", "currency", "refund_dating")
MAX_TIMEZONE = 64  # companies.timezone is VARCHAR(64)
CURRENCY = re.compile(r"[A-Z]{3}")
# Files in the system's zoneinfo folder that are not IANA zones a company could be in.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
REDATE_CHUNK = 5_000


@functools.cache
def timezones() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows, sorted (the Settings page's choices)."""
    return tuple(sorted(available_timezones() - NOT_ZONES))


def check_timezone(value: object, field: str = "timezone") -> str:
    """An IANA time zone name like America/New_York, else ValidationError naming `field`.
    Loading arbitrary names is not enough: ZoneInfo("America") raises IsADirectoryError."""
    if not isinstance(value, str) or not value or len(value) > MAX_TIMEZONE or value not in timezones():
        shown = value[:MAX_TIMEZONE] if isinstance(value, str) else value
        raise ValidationError(field, f"{field} must be an IANA time zone like America/New_York, not {shown!r}")
    ZoneInfo(value)
    return value


def check_currency(value: object, field: str = "currency") -> str:
    """A 3-letter currency code (upper-cased), else ValidationError."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if not CURRENCY.fullmatch(code):
        raise ValidationError(field, f"{field} must be a 3-letter currency code like USD")
    return code


def check_refund_dating(value: object) -> str:
    if value not in REFUND_DATING:
        raise ValidationError("refund_dating", f"refund_dating must be one of {', '.join(REFUND_DATING)}")
    return value


CHECKS = {"timezone": check_timezone, "currency": check_currency, "refund_dating": check_refund_dating}


def checked(values: Mapping[str, object]) -> dict[str, str]:
    """The settings given, each validated: ValidationError for an unknown or bad one."""
    unknown = sorted(set(values) - set(FIELDS), key=str)
    if unknown:
        raise ValidationError(str(unknown[0]), f"only {', '.join(FIELDS)} can be changed")
    return {name: CHECKS[name](value) for name, value in values.items()}


@dataclass(frozen=True)
class Impact:
    """What saving these settings would do, said before it is done."""

    changed: tuple[str, ...]  # the fields whose value differs from the stored one
    days: int  # company days of figures recomputed
    orders: int  # orders (and their refunds) moved to the new time zone's days; 0 without one

    def describe(self, company: Company, wanted: Mapping[str, str]) -> list[str]:
        if not self.changed:
            return []
        lines = []
        if "timezone" in self.changed:
            lines.append(
                f"Time zone {company.timezone} → {wanted['timezone']}: {self.orders:,} orders and their returns "
                "move to the new zone's calendar days."
            )
        if "currency" in self.changed:
            lines.append(
                f"Reporting currency {company.currency} → {wanted['currency']}: every figure is converted at its "
                "order day's exchange rate (refused if a rate is missing)."
            )
        if "refund_dating" in self.changed:
            how = "the day the refund was processed" if wanted["refund_dating"] == "processed" else "the order's day"
            lines.append(f"Returns are booked on {how}.")
        lines.append(f"Saving recomputes {self.days:,} days of figures; forecasts follow at the next retrain.")
        return lines


def impact(session: Session, company: Company, values: Mapping[str, object]) -> Impact:
    """What update_settings(values) would change (ValidationError for bad values)."""
    wanted = checked(values)
    changed = tuple(f for f in FIELDS if f in wanted and getattr(company, f) != wanted[f])
    if not changed:
        return Impact((), 0, 0)
    days = session.scalar(
        select(func.count(func.distinct(AnalyticsDaily.day))).where(AnalyticsDaily.company_id == company.id)
    )
    orders = 0
    if "timezone" in changed:
        orders = session.scalar(select(func.count()).select_from(Order).where(Order.company_id == company.id))
    return Impact(changed, days or 0, orders or 0)


def update_settings(session: Session, company: Company, values: Mapping[str, object]) -> tuple[str, ...]:
    """Validate and apply these settings, recomputing the company's rollups (flushed, not
    committed); returns the fields that changed. A currency some stored order cannot be
    converted to (no rate) is a ValidationError: roll the session back."""
    wanted = checked(values)
    changed = tuple(f for f in FIELDS if f in wanted and getattr(company, f) != wanted[f])
    if not changed:
        return ()
    for name in changed:
        setattr(company, name, wanted[name])
    session.flush()
    if "timezone" in changed:
        redate(session, company)
    try:
        for platform in session.scalars(
            select(Platform).where(Platform.company_id == company.id).order_by(Platform.id)
        ):
            rollups.rollup_all(session, platform)
    except MissingFxRate as exc:
        raise ValidationError(
            "currency", f"Cannot report in {company.currency}: {exc}. Upload exchange rates first."
        ) from None
    rollups.bump_data_version(session, company.id)
    return changed


def redate(session: Session, company: Company) -> int:
    """Put every order and refund of the company on its day in the company's (new) time zone;
    returns how many rows moved. Their rollups are then stale: rollup_all recomputes them."""
    tz = ZoneInfo(company.timezone)
    platforms = select(Platform.id).where(Platform.company_id == company.id)
    moved = 0
    for model, day in ((Order, Order.order_day), (Refund, Refund.refund_day)):
        owned = Order.company_id == company.id if model is Order else Refund.platform_id.in_(platforms)
        rows = session.execute(select(model.id, model.processed_at, day).where(owned)).all()
        changes = [{"id": i, day.key: local_day(at, tz)} for i, at, old in rows if local_day(at, tz) != old]
        for start in range(0, len(changes), REDATE_CHUNK):
            session.execute(update(model), changes[start : start + REDATE_CHUNK])
        moved += len(changes)
    return moved
