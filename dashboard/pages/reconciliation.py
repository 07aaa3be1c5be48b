"""Reconciliation: our daily totals beside the platform's own report, every difference explained."""

from __future__ import annotations

from datetime import date, timedelta

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html
from flask_login import current_user

from connectors import CONNECTORS
from dashboard import figures, inputs
from db import queries
from db.models import Company
from jobs.reports import reconcile_with_report
from web.context import db_session, state
from web.exports import csv_text
from web.reconciliation import CSV_COLUMNS, csv_header, csv_rows, reconciliation_json

PLATFORM = "recon-platform"
DATES = "recon-dates"
SUMMARY = "recon-summary"
TABLE = "recon-table"
EXPORT = "recon-export"
DOWNLOAD = "recon-download"
SPAN_DAYS = 30
MAX_SPAN_DAYS = 366


def layout(**_query) -> html.Div:
    session = db_session()
    company = session.get(Company, current_user.company_id)
    choices = [p for p in queries.platforms(session, company.id) if CONNECTORS[p.kind].has_daily_report]
    end = queries.company_today(company)
    return html.Div(
        [
            html.H1("Reconciliation", className="h3 mb-1"),
            html.P(
                "Our daily totals beside the platform's own sales report. Each difference is explained: "
                "currency, refund dating, time zone, which orders count, and changes our last sync has not seen yet.",
                className="text-secondary",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Dropdown(
                            id=PLATFORM,
                            options=[{"label": p.display_name, "value": p.id} for p in choices],
                            value=choices[0].id if choices else None,
                            clearable=False,
                        ),
                        md=4,
                    ),
                    dbc.Col(
                        dcc.DatePickerRange(
                            id=DATES,
                            start_date=end - timedelta(days=SPAN_DAYS - 1),
                            end_date=end,
                            max_date_allowed=end,
                            display_format="YYYY-MM-DD",
                        ),
                        md=5,
                    ),
                    dbc.Col(
                        dbc.Button("Export CSV", id=EXPORT, size="sm", color="secondary", outline=True),
                        md=3,
                        className="text-end",
                    ),
                ],
                className="mb-3 g-2 align-items-center",
            ),
            dcc.Loading(html.Div([html.Div(id=SUMMARY), html.Div(id=TABLE)])),
            dcc.Download(id=DOWNLOAD),
        ]
    )


def load(platform_id: object, start: object, end: object) -> tuple[dict, date, date]:
    """The reconciliation as the API answers it (fetching the platform's report if stale) and its
    range; InputError unless the choice names one of the company's platforms and a range of a
    year at most."""
    session = db_session()
    platform = inputs.own_platform(session, platform_id)
    if platform is None:
        raise inputs.InputError("Pick one of your platforms.")
    first, last = inputs.day_range(start, end, MAX_SPAN_DAYS)
    session.commit()  # a fetched report is written by the job's own session
    app_state = state()
    result, error = reconcile_with_report(
        app_state.sessions, platform.id, app_state.credentials, first, last, app_state.network
    )
    body = reconciliation_json(platform, result, error)
    return body, first, last


def update(platform_id: object, start: object, end: object, _refresh: object):
    try:
        body, _first, _last = load(platform_id, start, end)
    except inputs.InputError as exc:
        return inputs.alert(str(exc), color="secondary"), None
    return figures.reconciliation_summary(body), figures.reconciliation_table(body)


def export(_clicks: object, platform_id: object, start: object, end: object):
    try:
        body, first, last = load(platform_id, start, end)
    except inputs.InputError:
        return dash.no_update  # the page already says what to pick
    text = csv_text(csv_header(body, first, last), CSV_COLUMNS, csv_rows(body))
    return dcc.send_string(text, f"channelpulse-reconciliation-{body['platform']['id']}-{first}-{last}.csv")


def register(app: Dash) -> None:
    dash.register_page(
        __name__,
        path="/reconciliation",
        name="Reconciliation",
        title="Reconciliation · ChannelPulse",
        layout=layout,
        order=2,
    )
    app.callback(
        Output(SUMMARY, "children"),
        Output(TABLE, "children"),
        Input(PLATFORM, "value"),
        Input(DATES, "start_date"),
        Input(DATES, "end_date"),
        Input("refresh-interval", "n_intervals"),
    )(update)
    app.callback(
        Output(DOWNLOAD, "data"),
        Input(EXPORT, "n_clicks"),
        State(PLATFORM, "value"),
        State(DATES, "start_date"),
        State(DATES, "end_date"),
        prevent_initial_call=True,
    )(export)
