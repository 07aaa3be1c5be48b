"""A user's own preferences: the date range pages open on, how often they refresh, the theme.
Stored on the user's row (every process sees the same), set only by the user themself.

    preferences(user) -> Preferences              what the shell reads at each page load
    set_preferences(session, user, **values)       validated; ValidationError names the field
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy.orm import Session

from db.models import DATE_RANGES, REFRESH_SECONDS, THEMES, User
from records import ValidationError

RANGE_LABELS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "mtd": "Month to date",
    "ytd": "Year to date",
}
REFRESH_LABELS = {0: "Paused", 15: "Every 15 s", 30: "Every 30 s", 60: "Every minute", 300: "Every 5 minutes"}
THEME_LABELS = {"light": "Light", "dark": "Dark"}


@dataclass(frozen=True)
class Preferences:
    default_range: str = "30d"  # one of DATE_RANGES
    refresh_seconds: int = 30  # one of REFRESH_SECONDS; 0: no automatic refresh
    theme: str = "light"  # one of THEMES


DEFAULTS = Preferences()
NAMES = tuple(f.name for f in fields(Preferences))


def preferences(user: User) -> Preferences:
    """The user's stored preferences (the defaults for a value the database somehow holds that
    is not a choice any more)."""
    return Preferences(
        default_range=user.default_range if user.default_range in DATE_RANGES else DEFAULTS.default_range,
        refresh_seconds=user.refresh_seconds if user.refresh_seconds in REFRESH_SECONDS else DEFAULTS.refresh_seconds,
        theme=user.theme if user.theme in THEMES else DEFAULTS.theme,
    )


def preferences_of(session: Session, user_id: int) -> Preferences:
    """The preferences of the user with this id (the logged-in user's, from request code that
    holds only their id); the defaults if there is no such user."""
    user = session.get(User, user_id)
    return preferences(user) if user is not None else DEFAULTS


def checked(values: dict[str, object]) -> dict[str, object]:
    """Each given preference, validated: ValidationError for an unknown name or a value that is
    not one of its choices (a JSON 30.0, "30" or true is not 30)."""
    for name in values:
        if name not in NAMES:
            raise ValidationError(str(name), f"{name!s:.40} is not a preference; they are {', '.join(NAMES)}")
    if "default_range" in values and values["default_range"] not in DATE_RANGES:
        raise ValidationError("default_range", f"The default date range must be one of {', '.join(DATE_RANGES)}.")
    if "refresh_seconds" in values:
        seconds = values["refresh_seconds"]
        if type(seconds) is not int or seconds not in REFRESH_SECONDS:
            choices = ", ".join(str(s) for s in REFRESH_SECONDS)
            raise ValidationError("refresh_seconds", f"The refresh interval must be one of {choices} seconds.")
    if "theme" in values and values["theme"] not in THEMES:
        raise ValidationError("theme", f"The theme must be one of {', '.join(THEMES)}.")
    return values


def set_preferences(session: Session, user: User, **values: object) -> Preferences:
    """Store these preferences of the user (flushed, not committed) and return all of them.
    Every value is checked before any is set, so a bad one changes nothing."""
    for name, value in checked(values).items():
        setattr(user, name, value)
    session.flush()
    return preferences(user)
