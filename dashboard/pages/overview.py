"""Overview: KPI cards and the daily sales trend by channel, last 30 days, refreshed every 30 s."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html
from flask_login import current_user

from dashboard import data, figures
from dashboard.shell import REFRESH
from db import metrics
from web.context import db_session, state

KPIS = "overview-kpis"
TREND = "overview-trend"
PERIOD = "overview-period"
FRESHNESS = "overview-freshness"
EXPORT = "overview-export"
DOWNLOAD = "overview-download"
BANNER = "overview-sync-banner"


def layout(**_query) -> html.Div:
    return html.Div(
        [
            html.Div(id=BANNER),
            html.Div(
                [
                    html.H1("Overview", className="h3 mb-0"),
                    html.Span(id=PERIOD, className="text-secondary"),
                ],
                className="d-flex align-items-baseline gap-3 mb-3",
            ),
            dbc.Row(id=KPIS),
            dbc.Card(
                [
                    dbc.CardHeader(
                        [
                            html.Span("Daily net sales by channel", className="fw-semibold"),
                            dbc.Button("Export CSV", id=EXPORT, size="sm", color="secondary", outline=True),
                        ]
                    ),
                    dbc.CardBody(dcc.Graph(id=TREND, config={"displaylogo": False}, style={"height": "340px"})),
                ],
                className="chart-card shadow-sm",
            ),
            html.Div(id=FRESHNESS, className="freshness mt-2"),
            dcc.Download(id=DOWNLOAD),
        ]
    )


def update(_n_intervals: int | None):
    view = data.overview(db_session(), current_user.company_id, cache=state().cache)
    kinds = {p.id: p.kind for p in view.platforms}
    period = f"{view.start:%b %d} – {view.end:%b %d, %Y} · {view.timezone} · {view.currency}"
    synced = f"Last sync {view.last_sync_at:%Y-%m-%d %H:%M} UTC" if view.last_sync_at else "Not synced yet"
    notes = [synced, "refreshes every 30 s"]
    foreign = sorted({p.currency for p in view.platforms} - {view.currency})
    if foreign:
        notes.append(metrics.conversion_note(foreign, view.currency))
    if stale := metrics.stale_rate_note(view.totals.fx_rate_age_days):
        notes.append(f"⚠ {stale}")
    return (
        [*figures.attention_alerts(view.syncs), figures.backfill_banner(view.syncs)],
        figures.kpi_cards(view.totals, view.previous),
        figures.sales_trend_figure(view.daily, kinds, view.start, view.end, view.currency),
        period,
        " · ".join(notes),
    )


def export(_clicks: int):
    view = data.overview(db_session(), current_user.company_id, cache=state().cache)
    text = figures.trend_csv(view.daily, view.currency, view.timezone, view.start, view.end)
    return dcc.send_string(text, f"channelpulse-daily-sales-{view.start}-{view.end}.csv")


def register(app: Dash) -> None:
    dash.register_page(__name__, path="/", name="Overview", title="Overview · ChannelPulse", layout=layout, order=0)
    app.callback(
        Output(BANNER, "children"),
        Output(KPIS, "children"),
        Output(TREND, "figure"),
        Output(PERIOD, "children"),
        Output(FRESHNESS, "children"),
        Input(REFRESH, "n_intervals"),
    )(update)
    app.callback(Output(DOWNLOAD, "data"), Input(EXPORT, "n_clicks"), prevent_initial_call=True)(export)
