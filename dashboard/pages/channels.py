"""Channels: each connected platform, how fresh its data is, a progress bar while it syncs,
and "Sync now"."""

from __future__ import annotations

import base64

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html
from flask import current_app
from flask_login import current_user
from sqlalchemy import select

import jobs
from connectors.csv_import import PRESETS
from dashboard import figures
from db import queries
from db.models import Platform, utcnow
from extensions import db_session, state

LIST = "channels-list"
TICK = "channels-tick"
SYNC_BUTTON = "channels-sync"
TICK_MS = 3_000  # faster than the 30 s refresh, so a running sync's bar visibly moves
IMPORT_PLATFORM = "import-platform"
IMPORT_PRESET = "import-preset"
IMPORT_FILE = "import-file"
IMPORT_STATUS = "import-status"


def layout(**_query) -> html.Div:
    session = db_session()
    csv_platforms = [p for p in queries.platforms(session, current_user.company_id) if p.kind == "csv"]
    return html.Div(
        [
            html.H1("Channels", className="h3 mb-3"),
            html.Div(id=LIST),
            import_form(csv_platforms) if csv_platforms and current_user.is_admin else None,
            dcc.Interval(id=TICK, interval=TICK_MS),
        ]
    )


def import_form(csv_platforms: list[Platform]) -> dbc.Card:
    """Upload a CSV export into a CSV channel; its card above shows the import's progress."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Import a CSV file", className="h5"),
                html.P(
                    [
                        "Orders from a channel without an API, in our documented layout or a known export "
                        "(docs/csv_import.md). Every row is checked first: a file with errors imports nothing."
                    ],
                    className="text-secondary small",
                ),
                dbc.Row(
                    [
                        dbc.Col(
                            dcc.Dropdown(
                                id=IMPORT_PLATFORM,
                                clearable=False,
                                value=csv_platforms[0].id,
                                options=[{"label": p.display_name, "value": p.id} for p in csv_platforms],
                            ),
                            md=4,
                        ),
                        dbc.Col(
                            dcc.Dropdown(
                                id=IMPORT_PRESET,
                                clearable=False,
                                value="canonical",
                                options=[{"label": name.replace("_", " "), "value": name} for name in PRESETS],
                            ),
                            md=4,
                        ),
                    ],
                    className="g-2 mb-2",
                ),
                dcc.Upload(
                    id=IMPORT_FILE,
                    children=html.Div(["Drop a .csv or .csv.gz file here, or ", html.A("choose one")]),
                    className="border border-2 rounded p-3 text-center text-secondary",
                    multiple=False,
                ),
                html.Div(id=IMPORT_STATUS, className="small mt-2"),
            ]
        ),
        className="shadow-sm mt-2",
    )


def start_import(contents: str | None, filename: str | None, platform_id: int, preset: str):
    """Save the upload and start its import in the background; the platform's card shows the rest."""
    if not contents or not current_user.is_admin:
        return dash.no_update
    platform = next((p for p in queries.platforms(db_session(), current_user.company_id) if p.id == platform_id), None)
    if platform is None or platform.kind != "csv":
        return dbc.Alert("Pick one of your CSV channels.", color="warning", className="py-2")
    path = jobs.upload_path(current_app.instance_path, filename or "upload.csv")
    path.write_bytes(base64.b64decode(contents.split(",", 1)[1]))
    jobs.start_csv_import(state().sessions, platform.id, path, PRESETS[preset])
    return f"Importing {filename} into {platform.display_name}: see its progress above."


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
    app.callback(
        Output(IMPORT_STATUS, "children"),
        Input(IMPORT_FILE, "contents"),
        State(IMPORT_FILE, "filename"),
        State(IMPORT_PLATFORM, "value"),
        State(IMPORT_PRESET, "value"),
        prevent_initial_call=True,
    )(start_import)
