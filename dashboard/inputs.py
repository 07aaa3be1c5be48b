"""What a Dash callback receives: any JSON the browser, or someone replaying its requests, sends.

Callbacks take each value through these checks, so a crafted one becomes an inline message or no
update, never a 500 and never another company's row. The bounds are the API's (api/params.py).
"""

from __future__ import annotations

from datetime import date, datetime

import dash_bootstrap_components as dbc
from flask_login import current_user
from sqlalchemy.orm import Session

from db import queries
from db.models import MAX_ID, Platform
from db.queries import FIRST_DAY, LAST_DAY

MAX_DAY_TEXT = 32  # "2026-01-31T00:00:00.000000+00:00" is the longest a date picker sends


class InputError(ValueError):
    """A value a callback cannot use; its message is shown in the page."""


def row_id(value: object) -> int | None:
    """An id a component sent (a dropdown's value, a button's pattern index): a JSON integer that
    fits the INTEGER column, else None. A bool is an int in Python, never an id."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID:
        return value
    return None


def own_platform(session: Session, value: object) -> Platform | None:
    """The logged-in user's company's platform with this id; None for anything else, another
    company's platform included."""
    return queries.company_platform(session, current_user.company_id, row_id(value))


def day(value: object) -> date | None:
    """A date picker's value ("2026-01-31", or with a time) between the years the API accepts."""
    if not isinstance(value, str) or len(value) > MAX_DAY_TEXT:
        return None
    try:
        parsed = datetime.fromisoformat(value).date()
    except ValueError:
        return None
    return parsed if FIRST_DAY <= parsed <= LAST_DAY else None


def day_range(start: object, end: object, max_days: int) -> tuple[date, date]:
    """Two date picker values as an inclusive range of at most `max_days`, or InputError."""
    first, last = day(start), day(end)
    if first is None or last is None or last < first or (last - first).days >= max_days:
        raise InputError(f"Pick a date range of at most {max_days} days between {FIRST_DAY} and {LAST_DAY}.")
    return first, last


def text(value: object) -> str:
    """A text input's value: the string, or "" for anything else (None, a number, a list)."""
    return value if isinstance(value, str) else ""


def alert(message: str, color: str = "warning") -> dbc.Alert:
    """A refused input, said in the page where the answer would have been."""
    return dbc.Alert(message, color=color, className="py-2 mb-0")
