"""Reporting periods in company-local days: the date-range presets a seller picks from, and the
period a range is compared with. The API and the dashboard both take their ranges from here, so
a link's numbers and the API's agree."""

from __future__ import annotations

from datetime import date, timedelta

PRESETS: dict[str, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "mtd": "Month to date",
    "ytd": "Year to date",
    "custom": "Custom",
}
DEFAULT_PRESET = "30d"
COMPARISONS: dict[str, str] = {"previous_period": "Previous period", "previous_year": "Same period last year"}
DEFAULT_COMPARISON = "previous_period"
LAST_DAYS = {"7d": 7, "30d": 30, "90d": 90}


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """The days a preset covers, today included where it says so ("custom" has no days of its
    own: it raises KeyError, as an unknown preset does)."""
    if preset in LAST_DAYS:
        return today - timedelta(days=LAST_DAYS[preset] - 1), today
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if preset == "mtd":
        return today.replace(day=1), today
    if preset == "ytd":
        return today.replace(month=1, day=1), today
    raise KeyError(preset)


def year_earlier(day: date) -> date:
    """The same date a year before; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def comparison_range(start: date, end: date, compare: str) -> tuple[date, date]:
    """The period `start`..`end` is compared with: the as many days just before it
    ("previous_period"), or the same dates a year earlier ("previous_year")."""
    if compare == "previous_year":
        return year_earlier(start), year_earlier(end)
    if compare != "previous_period":
        raise KeyError(compare)
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)
