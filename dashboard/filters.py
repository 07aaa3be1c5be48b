"""The global filter bar: date range (a preset or custom days), channels, comparison and
granularity, kept in the URL's query so a link reproduces the view.

The URL is the one source of truth. Changing a control rewrites the query (FILTER_URL); Dash's
page router then builds the page again from it (`layout(**query)` -> `Filters.from_query`), and
the page's callbacks read the parsed filters from its own store. Anything in a query that cannot
be used (hand-edited, stale, another company's channel) falls back to the default instead of
failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from urllib.parse import parse_qs, urlencode

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, ctx, dcc, html, no_update
from flask_login import current_user

from dashboard import inputs
from db import periods, queries
from db.models import Company
from db.preferences import DEFAULTS, Preferences, preferences_of
from web.context import db_session

FILTER_URL = "filter-url"
RANGE = "filter-range"
DATES = "filter-dates"
CHANNELS = "filter-channels"
COMPARE = "filter-compare"
GRANULARITY = "filter-granularity"
BAR = "filter-bar"
MAX_RANGE_DAYS = 3 * 366  # the API's limit
GRANULARITY_LABELS = {"day": "Day", "week": "Week", "month": "Month"}


@dataclass(frozen=True)
class Filters:
    preset: str
    start: date
    end: date
    channels: tuple[int, ...]  # empty: every channel
    compare: str
    granularity: str

    @property
    def platform_ids(self) -> list[int] | None:
        return list(self.channels) or None

    def query(self) -> str:
        """The URL query that reproduces these filters (defaults left out)."""
        pairs: dict[str, str] = {}
        if self.preset != periods.DEFAULT_PRESET:
            pairs["range"] = self.preset
        if self.preset == "custom":
            pairs.update(start=self.start.isoformat(), end=self.end.isoformat())
        if self.channels:
            pairs["channels"] = ",".join(map(str, self.channels))
        if self.compare != periods.DEFAULT_COMPARISON:
            pairs["compare"] = self.compare
        if self.granularity != "day":
            pairs["granularity"] = self.granularity
        return f"?{urlencode(pairs)}" if pairs else ""

    def as_json(self) -> dict:
        """For a dcc.Store: the page's callbacks read the filters back with `from_json`."""
        return {**asdict(self), "start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_json(cls, data: object, company: Company, channel_ids: Sequence[int]) -> Filters:
        """From a store's data, which a crafted callback request may have replaced: checked again."""
        if not isinstance(data, dict):
            return cls.from_query({}, company, channel_ids)
        listed = data.get("channels")
        channels = ",".join(str(c) for c in listed if inputs.row_id(c)) if isinstance(listed, list) else ""
        return cls.from_query(
            {
                "range": data.get("preset"),
                "start": data.get("start"),
                "end": data.get("end"),
                "channels": channels,
                "compare": data.get("compare"),
                "granularity": data.get("granularity"),
            },
            company,
            channel_ids,
        )

    @classmethod
    def from_query(
        cls,
        query: Mapping[str, object],
        company: Company,
        channel_ids: Sequence[int],
        today: date | None = None,
        default_range: str = periods.DEFAULT_PRESET,
    ) -> Filters:
        """Filters from a URL's query values; what cannot be used becomes the default (a query
        without a range: the user's own default range)."""
        today = today or queries.company_today(company)
        preset = _choice(query.get("range"), periods.PRESETS, default_range)
        if preset == "custom":
            try:
                start, end = inputs.day_range(query.get("start"), query.get("end"), MAX_RANGE_DAYS)
            except inputs.InputError:
                preset = default_range if default_range != "custom" else periods.DEFAULT_PRESET
        if preset != "custom":
            start, end = periods.preset_range(preset, today)
        raw = query.get("channels")
        wanted = {inputs.row_id(int(p)) for p in raw.split(",") if p.isdigit()} if isinstance(raw, str) else set()
        channels = tuple(c for c in channel_ids if c in wanted)
        return cls(
            preset,
            start,
            end,
            channels,
            _choice(query.get("compare"), periods.COMPARISONS, periods.DEFAULT_COMPARISON),
            _choice(query.get("granularity"), GRANULARITY_LABELS, "day"),
        )


def _choice(value: object, options: Mapping[str, str], default: str) -> str:
    return value if isinstance(value, str) and value in options else default


def own_preferences() -> Preferences:
    """The logged-in user's preferences; the defaults for anyone else (an API token's caller,
    which Dash may build the layout for on a server's first request)."""
    user_id = getattr(current_user, "id", None) if current_user.is_authenticated else None
    return preferences_of(db_session(), user_id) if user_id else DEFAULTS


def company_filters(query: Mapping[str, object]) -> Filters:
    """The logged-in user's company's filters from a page's query (without a range: the user's
    own default range)."""
    session = db_session()
    company = session.get(Company, current_user.company_id)
    own = [p.id for p in queries.platforms(session, company.id)]
    return Filters.from_query(query, company, own, default_range=own_preferences().default_range)


def parse_search(search: object) -> dict[str, str]:
    """A location's `search` ("?range=7d&...") as single values; anything else as no values."""
    if not isinstance(search, str) or len(search) > 2_000:
        return {}
    return {k: v[-1] for k, v in parse_qs(search.lstrip("?")).items()}


def filter_bar() -> html.Div:
    """The controls, empty: the sync callback fills them from the URL when the page loads."""
    presets = [{"label": label, "value": key} for key, label in periods.PRESETS.items()]
    compares = [{"label": f"vs {label.lower()}", "value": key} for key, label in periods.COMPARISONS.items()]
    return html.Div(
        [
            dcc.Location(id=FILTER_URL, refresh="callback-nav"),
            dbc.Row(
                [
                    dbc.Col(dcc.Dropdown(id=RANGE, options=presets, clearable=False, searchable=False), xs=6, lg=2),
                    dbc.Col(
                        dcc.DatePickerRange(
                            id=DATES,
                            display_format="MMM D, YYYY",
                            minimum_nights=0,
                            className="w-100",
                            start_date_placeholder_text="Start",
                            end_date_placeholder_text="End",
                        ),
                        xs=12,
                        md=6,
                        lg=3,
                    ),
                    dbc.Col(dcc.Dropdown(id=CHANNELS, multi=True, placeholder="All channels"), xs=12, md=6, lg=3),
                    dbc.Col(dcc.Dropdown(id=COMPARE, options=compares, clearable=False, searchable=False), xs=6, lg=2),
                    dbc.Col(
                        dbc.RadioItems(
                            id=GRANULARITY,
                            options=[{"label": v, "value": k} for k, v in GRANULARITY_LABELS.items()],
                            className="btn-group btn-group-sm",
                            inputClassName="btn-check",
                            labelClassName="btn btn-outline-secondary",
                            labelCheckedClassName="active",
                        ),
                        xs="auto",
                    ),
                ],
                className="g-2 align-items-center",
            ),
        ],
        id=BAR,
        className="filter-bar mb-3",
    )


def sync_filters(range_, start, end, channels, compare, granularity, search):
    """One callback both ways: a changed control rewrites the URL; a URL (page load, a link,
    back and forward) sets the controls. Controls are shown normalised (a preset's days)."""
    session = db_session()
    company = session.get(Company, current_user.company_id)
    own = queries.platforms(session, company.id)
    trigger = ctx.triggered_id
    default_range = own_preferences().default_range
    if trigger in (None, FILTER_URL):  # the controls follow the URL, which is left as it is
        filters = Filters.from_query(parse_search(search), company, [p.id for p in own], default_range=default_range)
    else:
        chosen = range_ if trigger != DATES else "custom"
        picked = ",".join(str(c) for c in channels or () if inputs.row_id(c)) if isinstance(channels, list) else ""
        query = {
            "range": chosen,
            "start": start,
            "end": end,
            "channels": picked,
            "compare": compare,
            "granularity": granularity,
        }
        filters = Filters.from_query(query, company, [p.id for p in own], default_range=default_range)
    options = [{"label": p.display_name, "value": p.id} for p in own]
    new_search = filters.query()
    unchanged = trigger in (None, FILTER_URL) or new_search == (search or "")
    return (
        filters.preset,
        filters.start.isoformat(),
        filters.end.isoformat(),
        options,
        list(filters.channels),
        filters.compare,
        filters.granularity,
        no_update if unchanged else new_search,
    )


def register(app: Dash) -> None:
    app.callback(
        Output(RANGE, "value"),
        Output(DATES, "start_date"),
        Output(DATES, "end_date"),
        Output(CHANNELS, "options"),
        Output(CHANNELS, "value"),
        Output(COMPARE, "value"),
        Output(GRANULARITY, "value"),
        Output(FILTER_URL, "search"),
        Input(RANGE, "value"),
        Input(DATES, "start_date"),
        Input(DATES, "end_date"),
        Input(CHANNELS, "value"),
        Input(COMPARE, "value"),
        Input(GRANULARITY, "value"),
        Input(FILTER_URL, "search"),
    )(sync_filters)
