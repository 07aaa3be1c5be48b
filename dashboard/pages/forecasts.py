"""Forecasts: per channel and metric, recent days and the next 30 with 80/95% bands, the model
and how good it has been in words a seller understands, every model compared, a CSV of what is
shown, and for admins a retrain button with its progress. Reads only what the training stored."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html
from flask_login import current_user

from dashboard import figures, inputs
from dashboard.data import forecast_view
from db import queries
from db.metrics import METRICS
from db.models import Company
from jobs import forecasts
from web.context import db_session

CHANNEL = "forecast-channel"
METRIC = "forecast-metric"
CHART = "forecast-chart"
SUMMARY = "forecast-summary"
TABLE = "forecast-table"
EXPORT = "forecast-export"
DOWNLOAD = "forecast-download"
RETRAIN = "forecast-retrain"
PROGRESS = "forecast-progress"
PROGRESS_TICK = "forecast-progress-tick"
ALL = "all"


def layout(**_query) -> html.Div:
    session = db_session()
    channels = [{"label": "All channels", "value": ALL}]
    channels += [{"label": p.display_name, "value": p.id} for p in queries.platforms(session, current_user.company_id)]
    admin = current_user.role == "admin"
    return html.Div(
        [
            html.H1("Forecasts", className="h3 mb-1"),
            html.P(
                "The next 30 days of each channel, with the range the forecast expects 80% and 95% of days to "
                "fall in. Every model is checked against the days it could not see before it is trusted.",
                className="text-secondary",
            ),
            dbc.Row(
                [
                    dbc.Col(dcc.Dropdown(id=CHANNEL, options=channels, value=ALL, clearable=False), md=4),
                    dbc.Col(
                        dbc.RadioItems(
                            id=METRIC,
                            options=[{"label": METRICS[m].label, "value": m} for m in forecasts.METRICS],
                            value="net_sales",
                            inline=True,
                        ),
                        md=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Button("Export CSV", id=EXPORT, size="sm", color="secondary", outline=True),
                            dbc.Button(
                                "Retrain now",
                                id=RETRAIN,
                                size="sm",
                                className="ms-2",
                                style=None if admin else {"display": "none"},
                            ),
                        ],
                        md=3,
                        className="text-end",
                    ),
                ],
                className="mb-3 g-2 align-items-center",
            ),
            html.Div(id=PROGRESS),
            dcc.Interval(id=PROGRESS_TICK, interval=3000),
            dcc.Loading(html.Div([dcc.Graph(id=CHART), html.Div(id=SUMMARY), html.Div(id=TABLE)])),
            dcc.Download(id=DOWNLOAD),
        ]
    )


def load(channel: object, metric: object):
    """The series the controls name; InputError unless it is one of the company's."""
    session = db_session()
    company = session.get(Company, current_user.company_id)
    platform_id = None
    if channel != ALL:
        platform = inputs.own_platform(session, channel)
        if platform is None:
            raise inputs.InputError("Pick one of your channels.")
        platform_id = platform.id
    if metric not in forecasts.METRICS:
        raise inputs.InputError("Pick net sales, orders or units.")
    return forecast_view(session, company, platform_id, metric)


def update(channel: object, metric: object, _refresh: object):
    try:
        view = load(channel, metric)
    except inputs.InputError as exc:
        return {}, inputs.alert(str(exc), color="secondary"), None
    label = METRICS[metric].label
    if view.run is None:
        note = "No forecast yet: the first one is made once a channel has four weeks of sales (retrains run nightly)."
        return figures.forecast_figure(view.history, [], label), inputs.alert(note, color="info"), None
    summary = html.Div([html.P(line, className="mb-1") for line in figures.forecast_summary(view.run, view.realized)])
    return (
        figures.forecast_figure(view.history, view.days, label),
        summary,
        figures.model_table(view.run, view.realized_by_model),
    )


def export(_clicks: object, channel: object, metric: object):
    try:
        view = load(channel, metric)
    except inputs.InputError:
        return dash.no_update
    what = f"{METRICS[metric].label}, {'all channels' if channel == ALL else f'platform {channel}'}"
    return dcc.send_string(figures.forecast_csv(view.history, view.days, what), f"channelpulse-forecast-{metric}.csv")


def progress(_tick: object, clicks: object):
    """The latest retrain's progress; a click (admins only) requests one first."""
    session = db_session()
    if clicks and dash.ctx.triggered_id == RETRAIN:
        if current_user.role != "admin":
            return inputs.alert("Only admins can retrain.", color="secondary")
        forecasts.request_retrain(session, current_user.company_id)
        session.commit()
    run = forecasts.latest_run(session, current_user.company_id)
    if run is None:
        return None
    if run.status == "requested":
        return dbc.Progress(value=100, label="Retrain requested: waiting for the worker", striped=True, animated=True)
    if run.status == "running":
        done = f"Retraining: {run.series_done} of {run.series_total} series"
        return dbc.Progress(value=100 * run.series_done / (run.series_total or 1), label=done, id="forecast-bar")
    if run.status == "failed":
        return inputs.alert(f"The last retrain failed: {run.error}")
    return inputs.alert(f"Forecasts retrained: {run.series_total} series.", color="success") if clicks else None


def register(app: Dash) -> None:
    dash.register_page(
        __name__, path="/forecasts", name="Forecasts", title="Forecasts · ChannelPulse", layout=layout, order=1
    )
    app.callback(
        Output(CHART, "figure"),
        Output(SUMMARY, "children"),
        Output(TABLE, "children"),
        Input(CHANNEL, "value"),
        Input(METRIC, "value"),
        Input("refresh-interval", "n_intervals"),
    )(update)
    app.callback(
        Output(DOWNLOAD, "data"),
        Input(EXPORT, "n_clicks"),
        State(CHANNEL, "value"),
        State(METRIC, "value"),
        prevent_initial_call=True,
    )(export)
    app.callback(Output(PROGRESS, "children"), Input(PROGRESS_TICK, "n_intervals"), Input(RETRAIN, "n_clicks"))(
        progress
    )
