"""Query-parameter parsing for the API: every bad value is a 400 naming the parameter, never a 500."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import queries
from db.models import MAX_ID, PLATFORM_KINDS, Company, Platform
from db.queries import FIRST_DAY, LAST_DAY, company_today
from web.errors import ApiError

MAX_SPAN_DAYS = 3 * 366  # "spans over 3 years" are refused
DEFAULT_SPAN_DAYS = 30


def bad(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, field=field)


def row_id(raw: str) -> int | None:
    """An id from a path or parameter, or None when it cannot name a row (not ASCII digits, or
    beyond an INTEGER), so callers answer 404 as for any unknown id."""
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID else None


def parse_date(args: Mapping[str, str], name: str) -> date | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise bad(name, f"{name} must be a date like 2026-01-31, not {raw!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise bad(name, f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def date_range(args: Mapping[str, str], company: Company) -> tuple[date, date]:
    """start_date..end_date inclusive (company-local days); by default the last 30 days."""
    end = parse_date(args, "end_date") or company_today(company)
    start = parse_date(args, "start_date") or end - timedelta(days=DEFAULT_SPAN_DAYS - 1)
    if end < start:
        raise bad("end_date", "end_date is before start_date")
    if (end - start).days + 1 > MAX_SPAN_DAYS:
        raise bad("start_date", "the range spans more than 3 years")
    return start, end


def platform_filter(
    args: Mapping[str, str], session: Session, company_id: int, required: bool = False
) -> list[int] | None:
    """`platform` as a platform id or a kind (shopify, bestbuy, csv): the company's matching
    platform ids, or None for all. Another company's id answers 404, exactly like a missing one."""
    raw = (args.get("platform") or "").strip()
    if not raw:
        if required:
            raise bad("platform", "platform is required (a platform id, shopify, bestbuy or csv)")
        return None
    query = select(Platform.id).where(Platform.company_id == company_id)
    if raw.isdigit():
        query = query.where(Platform.id == row_id(raw))
    elif raw in PLATFORM_KINDS:
        query = query.where(Platform.kind == raw)
    else:
        raise bad("platform", f"platform must be a platform id or one of {', '.join(PLATFORM_KINDS)}, not {raw!r}")
    ids = list(session.scalars(query.order_by(Platform.id)))
    if not ids:
        raise ApiError(404, "not_found", f"No platform {raw!r} is connected to your company.", field="platform")
    return ids


def integer(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(name, f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise bad(name, f"{name} must be between {low} and {high}")
    return value


def choice(args: Mapping[str, str], name: str, options: Sequence[str], default: str) -> str:
    value = args.get(name) or default
    if value not in options:
        raise bad(name, f"{name} must be one of {', '.join(options)}, not {value!r}")
    return value


def wants_csv(args: Mapping[str, str]) -> bool:
    return choice(args, "format", ("json", "csv"), "json") == "csv"


def company_platform(session: Session, company_id: int, raw_id: str) -> Platform:
    """The company's platform with this id from a URL, or 404 (also for another company's)."""
    platform = queries.company_platform(session, company_id, row_id(raw_id))
    if platform is None:
        raise ApiError(404, "not_found", f"No platform {raw_id!r} is connected to your company.")
    return platform
