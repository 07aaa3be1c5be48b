"""Settings: the company's reporting settings (admins change them, viewers read them), the
signed-in user's own preferences, and for admins the users and API tokens
(dashboard/pages/settings_access.py).

A company setting is recomputed into every figure, so the form says what saving would do before
it is saved; the Save button is disabled with the reason beside it while there is nothing (valid)
to save. Every callback checks its payload (dashboard/inputs.py, db/companies.py,
db/preferences.py) and the caller's role itself: a bad value is a message and changes nothing.
"""

from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, dcc, html
from flask_login import current_user
from sqlalchemy.orm import Session

from dashboard import inputs
from dashboard.pages import settings_access
from db import companies, preferences
from db.models import DATE_RANGES, REFRESH_SECONDS, THEMES, Company, User
from records import ValidationError
from web.context import db_session

log = logging.getLogger(__name__)

TIMEZONE = "settings-timezone"
CURRENCY = "settings-currency"
REFUND_DATING = "settings-refund-dating"
COMPANY_PREVIEW = "settings-company-preview"
COMPANY_SAVE = "settings-company-save"
COMPANY_SAVE_WHY = "settings-company-save-why"
COMPANY_VIEW = "settings-company-view"
RANGE = "settings-default-range"
REFRESH = "settings-refresh"
THEME = "settings-theme"
PREFERENCES_SAVE = "settings-preferences-save"
PREFERENCES_STATUS = "settings-preferences-status"

DATING_LABELS = {"processed": "On the day the refund is processed (as Shopify)", "order": "On the original order's day"}
ONLY_ADMINS = "Only an admin can change company settings."
NOTHING_TO_SAVE = "Nothing to save: no setting differs from the saved ones."


def layout(**_query) -> html.Div:
    session = db_session()
    company = session.get(Company, current_user.company_id)
    admin = current_user.is_admin
    cards = [
        company_form(company) if admin else company_view(company),
        preferences_form(preferences.preferences_of(session, current_user.id)),
    ]
    if admin:
        cards += [
            settings_access.users_card(session, company.id),
            settings_access.tokens_card(session, company.id),
        ]
    return html.Div(
        [
            html.H1("Settings", className="h3 mb-1"),
            html.P(
                "How your company's figures are reported, and how the dashboard opens for you."
                + ("" if admin else " Only an admin can change the company's settings."),
                className="text-secondary",
            ),
            *cards,
        ]
    )


def labelled(label: str, control_id: str, control, md: int = 4) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=control_id, className="small"), control], md=md)


def company_form(company: Company) -> dbc.Card:
    controls = dbc.Row(
        [
            labelled(
                "Time zone (your calendar days)",
                TIMEZONE,
                dcc.Dropdown(
                    id=TIMEZONE,
                    options=list(companies.timezones()),
                    value=company.timezone,
                    clearable=False,
                    searchable=True,
                ),
            ),
            labelled(
                "Reporting currency",
                CURRENCY,
                dbc.Input(id=CURRENCY, value=company.currency, maxLength=3, placeholder="e.g. USD"),
                md=2,
            ),
            labelled(
                "Book returns",
                REFUND_DATING,
                dbc.RadioItems(
                    id=REFUND_DATING,
                    options=[{"label": label, "value": key} for key, label in DATING_LABELS.items()],
                    value=company.refund_dating,
                ),
                md=6,
            ),
        ],
        className="g-3",
    )
    save = html.Div(
        [
            dbc.Button("Save company settings", id=COMPANY_SAVE, color="primary", disabled=True),
            html.Span(NOTHING_TO_SAVE, id=COMPANY_SAVE_WHY, className="small text-secondary ms-2"),
        ],
        className="d-flex align-items-center mt-3",
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Company", className="h5"),
                controls,
                dcc.Loading(html.Div(id=COMPANY_PREVIEW, className="small mt-3")),
                save,
            ]
        ),
        className="shadow-sm",
    )


def company_view(company: Company) -> dbc.Card:
    """What a viewer sees: the settings, no controls."""
    rows = [
        ("Time zone", company.timezone),
        ("Reporting currency", company.currency),
        ("Returns are booked", DATING_LABELS.get(company.refund_dating, company.refund_dating)),
    ]
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Company", className="h5"),
                html.Dl(
                    [part for label, value in rows for part in (html.Dt(label), html.Dd(value))],
                    id=COMPANY_VIEW,
                    className="mb-0",
                ),
            ]
        ),
        className="shadow-sm",
    )


def preferences_form(prefs: preferences.Preferences) -> dbc.Card:
    controls = dbc.Row(
        [
            labelled(
                "Pages open on",
                RANGE,
                dcc.Dropdown(
                    id=RANGE,
                    options=[{"label": preferences.RANGE_LABELS[r], "value": r} for r in DATE_RANGES],
                    value=prefs.default_range,
                    clearable=False,
                ),
            ),
            labelled(
                "Refresh",
                REFRESH,
                dcc.Dropdown(
                    id=REFRESH,
                    options=[{"label": preferences.REFRESH_LABELS[s], "value": s} for s in REFRESH_SECONDS],
                    value=prefs.refresh_seconds,
                    clearable=False,
                ),
            ),
            labelled(
                "Theme",
                THEME,
                dbc.RadioItems(
                    id=THEME,
                    options=[{"label": preferences.THEME_LABELS[t], "value": t} for t in THEMES],
                    value=prefs.theme,
                    inline=True,
                ),
            ),
        ],
        className="g-3",
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Your preferences", className="h5"),
                html.P("Yours only; they apply from your next page load.", className="text-secondary small"),
                controls,
                dbc.Button("Save preferences", id=PREFERENCES_SAVE, color="primary", className="mt-3"),
                html.Div(id=PREFERENCES_STATUS, className="small mt-2"),
            ]
        ),
        className="shadow-sm mt-3",
    )


def company_update(timezone: object, currency: object, dating: object, clicks: object):
    """Say what saving the form would do; on Save (admins only), do it. Returns the preview, whether
    Save is disabled, and why it is."""
    if not current_user.is_admin:
        return inputs.alert(ONLY_ADMINS), True, ONLY_ADMINS
    session = db_session()
    company = session.get(Company, current_user.company_id)
    values = {"timezone": timezone, "currency": currency, "refund_dating": dating}
    saving = ctx.triggered_id == COMPANY_SAVE and bool(clicks)
    try:
        if saving:
            return save_company(session, company, values)
        impact = companies.impact(session, company, values)
    except ValidationError as exc:
        session.rollback()
        return inputs.alert(exc.message, color="danger"), True, "Correct the setting above to save."
    if not impact.changed:
        return None, True, NOTHING_TO_SAVE
    lines = impact.describe(company, companies.checked(values))
    return (
        dbc.Alert(html.Ul([html.Li(line) for line in lines], className="mb-0"), color="info", className="py-2"),
        False,
        "",
    )


def save_company(session: Session, company: Company, values: dict[str, object]):
    before = {f: getattr(company, f) for f in companies.FIELDS}
    changed = companies.update_settings(session, company, values)
    session.commit()
    if not changed:
        return None, True, NOTHING_TO_SAVE
    log.info(
        "company settings changed company_id=%s by=%s %s",
        company.id,
        current_user.id,
        " ".join(f"{f}={before[f]}->{getattr(company, f)}" for f in changed),
    )
    what = ", ".join(f.replace("_", " ") for f in changed)
    return inputs.alert(f"Saved ({what}): every figure now uses the new settings.", "success"), True, "Saved."


def preferences_update(_clicks: object, default_range: object, refresh_seconds: object, theme: object):
    """Store the signed-in user's own preferences: only theirs, whatever the payload holds."""
    session = db_session()
    user = session.get(User, current_user.id)
    try:
        prefs = preferences.set_preferences(
            session, user, default_range=default_range, refresh_seconds=refresh_seconds, theme=theme
        )
    except ValidationError as exc:
        session.rollback()
        return inputs.alert(exc.message, color="danger")
    session.commit()
    labels = preferences.RANGE_LABELS, preferences.REFRESH_LABELS, preferences.THEME_LABELS
    summary = ", ".join(
        [
            labels[0][prefs.default_range],
            f"refresh {labels[1][prefs.refresh_seconds]}",
            f"{labels[2][prefs.theme]} theme",
        ]
    )
    return inputs.alert(f"Saved: {summary.lower()}. They apply from your next page load.", "success")


def register(app: Dash) -> None:
    dash.register_page(
        __name__, path="/settings", name="Settings", title="Settings · ChannelPulse", layout=layout, order=9
    )
    app.callback(
        Output(COMPANY_PREVIEW, "children"),
        Output(COMPANY_SAVE, "disabled"),
        Output(COMPANY_SAVE_WHY, "children"),
        Input(TIMEZONE, "value"),
        Input(CURRENCY, "value"),
        Input(REFUND_DATING, "value"),
        Input(COMPANY_SAVE, "n_clicks"),
        prevent_initial_call=True,
    )(company_update)
    app.callback(
        Output(PREFERENCES_STATUS, "children"),
        Input(PREFERENCES_SAVE, "n_clicks"),
        State(RANGE, "value"),
        State(REFRESH, "value"),
        State(THEME, "value"),
        prevent_initial_call=True,
    )(preferences_update)
    settings_access.register_callbacks(app)
