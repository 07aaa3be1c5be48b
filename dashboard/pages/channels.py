"""Channels: each connected platform, how fresh its data is, a progress bar while it syncs,
and "Sync now". Admins also add CSV channels and import files into them."""

from __future__ import annotations

import base64
import binascii

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html
from flask_login import current_user
from sqlalchemy.orm import Session

from connectors import FILE_KINDS, SCHEDULED_KINDS
from connectors.csv_import import PRESETS, InvalidMapping, mapping_for
from dashboard import figures, inputs
from db import queries
from db.models import Company
from jobs import platforms
from jobs.csv_import import start_csv_import, upload_path
from records import ValidationError
from web.context import db_session, state

LIST = "channels-list"
TICK = "channels-tick"
SYNC_BUTTON = "channels-sync"
SYNC_NOTICE = "channels-sync-notice"
TICK_MS = 3_000  # faster than the 30 s refresh, so a running sync's bar visibly moves
ADD_NAME = "csv-channel-name"
ADD_CURRENCY = "csv-channel-currency"
ADD_BUTTON = "csv-channel-add"
ADD_STATUS = "csv-channel-status"
IMPORT_PLATFORM = "import-platform"
IMPORT_PRESET = "import-preset"
IMPORT_FILE = "import-file"
IMPORT_STATUS = "import-status"
MAX_SHOWN_NAME = 100  # characters of an upload's file name echoed back


def layout(**_query) -> html.Div:
    admin_forms = []
    if current_user.is_admin:
        session = db_session()
        company = session.get(Company, current_user.company_id)
        admin_forms = [add_channel_form(company.currency), import_form(csv_channel_options(session, company.id))]
    return html.Div(
        [
            html.H1("Channels", className="h3 mb-3"),
            html.Div(id=LIST),
            *admin_forms,
            dcc.Interval(id=TICK, interval=TICK_MS),
        ]
    )


def csv_channel_options(session: Session, company_id: int) -> list[dict]:
    """The company's CSV channels as dropdown options: where an upload can go."""
    channels = queries.platforms(session, company_id)
    return [{"label": p.display_name, "value": p.id} for p in channels if p.kind in FILE_KINDS]


def add_channel_form(currency: str) -> dbc.Card:
    """Create a CSV channel (a channel without an API) to import files into."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Add a CSV channel", className="h5"),
                dbc.Row(
                    [
                        dbc.Col(
                            [
                                dbc.Label("Display name", html_for=ADD_NAME, className="small"),
                                dbc.Input(id=ADD_NAME, placeholder="e.g. Wholesale"),
                            ],
                            md=4,
                        ),
                        dbc.Col(
                            [
                                dbc.Label("Currency", html_for=ADD_CURRENCY, className="small"),
                                dbc.Input(id=ADD_CURRENCY, value=currency, placeholder="e.g. GBP"),
                            ],
                            md=2,
                        ),
                        dbc.Col(dbc.Button("Add channel", id=ADD_BUTTON, color="primary"), md="auto"),
                    ],
                    className="g-2 align-items-end",
                ),
                html.Div(id=ADD_STATUS, className="small mt-2"),
            ]
        ),
        className="shadow-sm mt-2",
    )


def import_form(options: list[dict]) -> dbc.Card:
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
                                value=options[0]["value"] if options else None,
                                options=options,
                                placeholder="Add a CSV channel first",
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


def add_channel(_clicks: object, name: object, currency: object):
    """Create the CSV channel (or update the one with this name) as the API does, then offer
    it to the import form; bad input says why and creates nothing."""
    if not current_user.is_admin:
        return dash.no_update, dash.no_update, dash.no_update
    session, app_state = db_session(), state()
    config = {"currency": inputs.text(currency)}
    try:
        platform, created = platforms.connect_platform(
            session, current_user.company_id, "csv", name, config, {}, box=app_state.credentials
        )
    except ValidationError as exc:
        return inputs.alert(exc.message, color="danger"), dash.no_update, dash.no_update
    done = "Added" if created else "Updated"
    message = f"{done} {platform.display_name} ({platform.currency}): import a file into it below."
    return message, csv_channel_options(session, current_user.company_id), platform.id


def start_import(contents: object, filename: object, platform_id: object, preset: object):
    """Save the upload and start its import in the background; the platform's card shows the rest.
    Every input is the browser's to forge: each bad one gets an inline message, never a 500."""
    if not contents or not current_user.is_admin:
        return dash.no_update
    platform = inputs.own_platform(db_session(), platform_id)
    if platform is None or platform.kind not in FILE_KINDS:
        return inputs.alert("Pick one of your CSV channels.")
    try:
        mapping = mapping_for(preset)
    except InvalidMapping:
        return inputs.alert("Pick one of the layouts in the list.")
    name = filename[-MAX_SHOWN_NAME:] if isinstance(filename, str) and filename.strip() else "upload.csv"
    data = uploaded_bytes(contents)
    if data is None:
        return inputs.alert("The file did not arrive whole: choose it again.")
    path = upload_path(state().settings.upload_dir, name)
    path.write_bytes(data)
    start_csv_import(state().sessions, platform.id, path, mapping)
    return f"Importing {name} into {platform.display_name}: see its progress above."


def uploaded_bytes(contents: object) -> bytes | None:
    """The file of a dcc.Upload `contents` ("data:<type>;base64,<data>"), None if it is not one.
    Its size is already capped: Flask refuses a request over MAX_CONTENT_LENGTH."""
    if not isinstance(contents, str):
        return None
    header, comma, data = contents.partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        return None


def update(_tick: object, _clicks: object):
    """The channel cards, under what a "Sync now" click did when one triggered this call."""
    session = db_session()
    clicked = ctx.triggered_id
    notice = None
    if isinstance(clicked, dict) and clicked.get("type") == SYNC_BUTTON:
        notice = request_sync(session, clicked.get("index"))
    statuses = queries.sync_status(session, current_user.company_id)
    if not statuses:
        return dbc.Alert("No channels are connected yet.", color="secondary")
    button = SYNC_BUTTON if current_user.is_admin else None
    return [notice, dbc.Row([dbc.Col(figures.channel_card(s, button), md=6, className="mb-3") for s in statuses])]


def request_sync(session: Session, index: object) -> dbc.Alert | None:
    """Queue a sync of the company's platform `index`, the way POST /api/v1/sync/<id> does: admins
    only (a sync spends the platform's API quota). A viewer whose page still shows the button
    (their role changed) is told so; an id that is not one of ours gets no answer at all."""
    if not current_user.is_admin:
        return alert_notice("Only an admin can start a sync.", "warning")
    platform = inputs.own_platform(session, index)
    if platform is None or platform.kind not in SCHEDULED_KINDS:
        return None
    if platform.sync_requested_at is not None:
        return alert_notice(f"A sync of {platform.display_name} is already queued.", "info")
    platforms.request_sync(session, [platform])
    return alert_notice(f"Sync of {platform.display_name} requested: its card shows the progress.", "success")


def alert_notice(message: str, color: str) -> dbc.Alert:
    return dbc.Alert(message, color=color, id=SYNC_NOTICE, className="py-2")


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
    app.callback(
        Output(ADD_STATUS, "children"),
        Output(IMPORT_PLATFORM, "options"),
        Output(IMPORT_PLATFORM, "value"),
        Input(ADD_BUTTON, "n_clicks"),
        State(ADD_NAME, "value"),
        State(ADD_CURRENCY, "value"),
        prevent_initial_call=True,
    )(add_channel)
