"""Channels: each connected platform, how fresh its data is, a progress bar while it syncs,
and "Sync now"."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, ctx, dcc, html
from flask_login import current_user
from sqlalchemy import select

from dashboard import figures
from db import queries
from db.models import Platform, utcnow
from extensions import db_session

LIST = "channels-list"
TICK = "channels-tick"
SYNC_BUTTON = "channels-sync"
TICK_MS = 3_000  # faster than the 30 s refresh, so a running sync's bar visibly moves


def layout(**_query) -> html.Div:
    return html.Div(
        [
            html.H1("Channels", className="h3 mb-3"),
            html.Div(id=LIST),
            dcc.Interval(id=TICK, interval=TICK_MS),
        ]
    )


def update(_tick, _clicks):
    session = db_session()
    if ctx.triggered_id and isinstance(ctx.triggered_id, dict) and ctx.triggered_id.get("type") == SYNC_BUTTON:
        platform = session.scalar(
            select(Platform).where(
                Platform.id == ctx.triggered_id["index"], Platform.company_id == current_user.company_id
            )
        )
        if platform is not None and platform.sync_requested_at is None:
            platform.sync_requested_at = utcnow()
            session.commit()
    statuses = queries.sync_status(session, current_user.company_id)
    if not statuses:
        return dbc.Alert("No channels are connected yet.", color="secondary")
    return dbc.Row([dbc.Col(figures.channel_card(s, SYNC_BUTTON), md=6, className="mb-3") for s in statuses])


def register(app: Dash) -> None:
    dash.register_page(
        __name__, path="/channels", name="Channels", title="Channels · ChannelPulse", layout=layout, order=1
    )
    app.callback(
        Output(LIST, "children"), Input(TICK, "n_intervals"), Input({"type": SYNC_BUTTON, "index": ALL}, "n_clicks")
    )(update)
