"""Channels: each connected platform, how fresh its data is, a progress bar while it syncs, and
its buttons: "Sync now", rename, pause or resume, remove (after a dialog that says what goes).
Admins also connect Shopify and Best Buy shops, add CSV channels and import files into them, with
every row error of an import listed and downloadable.

Every callback that changes something checks the role itself (a viewer's replayed request is
refused with a message and changes nothing), and every platform id it is sent goes through
inputs.own_platform (another company's id is "no such channel").
"""

from __future__ import annotations

import base64
import binascii
import time

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate
from flask_login import current_user
from sqlalchemy.orm import Session

from connectors import FILE_KINDS, SCHEDULED_KINDS
from connectors.csv_import import PRESETS, InvalidMapping, mapping_for
from dashboard import channel_forms as forms
from dashboard import figures, inputs
from db import queries
from db.models import Company, Platform
from jobs import platforms
from jobs.csv_import import latest_import, row_errors, start_csv_import, upload_path
from records import ValidationError
from web.context import db_session, state

LIST = "channels-list"
TICK = "channels-tick"
SYNC_BUTTON = forms.SYNC_BUTTON
SYNC_NOTICE = "channels-sync-notice"
NOTICE = "channels-notice"
REFRESH = "channels-refresh"  # changed by an action: the cards redraw at once, not at the next tick
TICK_MS = 3_000  # faster than the 30 s refresh, so a running sync's bar visibly moves
ADD_NAME = "csv-channel-name"
ADD_CURRENCY = "csv-channel-currency"
ADD_BUTTON = "csv-channel-add"
ADD_STATUS = "csv-channel-status"
IMPORT_PLATFORM = "import-platform"
IMPORT_PRESET = "import-preset"
IMPORT_FILE = "import-file"
IMPORT_STATUS = "import-status"
IMPORT_REPORT = "import-report"
IMPORT_SHOWN = "import-report-shown"  # which run the report shows: redrawn only when that changes
ERRORS_DOWNLOAD = "import-errors-file"
MAX_SHOWN_NAME = 100  # characters of an upload's file name echoed back
GONE = "That channel does not exist (any more)."


def layout(**_query) -> html.Div:
    admin_forms: list = [
        html.P("Only an admin can connect channels or import files.", className="text-secondary small mt-3")
    ]
    if current_user.is_admin:
        session = db_session()
        company = session.get(Company, current_user.company_id)
        development = state().network.allow_loopback
        admin_forms = [
            dbc.Row(
                [
                    dbc.Col(forms.connect_form(form, development), md=6, className="mb-2")
                    for form in forms.FORMS.values()
                ],
                className="mt-2",
            ),
            add_channel_form(company.currency),
            import_form(csv_channel_options(session, company.id)),
        ]
    return html.Div(
        [
            html.H1("Channels", className="h3 mb-3"),
            html.Div(id=NOTICE),
            html.Div(id=LIST),
            *admin_forms,
            forms.rename_modal(),
            forms.remove_modal(),
            dcc.Store(id=forms.RENAME_TARGET),
            dcc.Store(id=forms.REMOVE_TARGET),
            dcc.Store(id=REFRESH),
            dcc.Download(id=ERRORS_DOWNLOAD),
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
    """Upload a CSV export into a CSV channel; its card above shows the import's progress, the
    report below its outcome."""
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
                html.Div(id=IMPORT_REPORT, className="small mt-2"),
                dcc.Store(id=IMPORT_SHOWN),
            ]
        ),
        className="shadow-sm mt-2",
    )


def notice(message: str, color: str, component_id: str | None = None) -> dbc.Alert:
    """What an action did (or why not), above the cards; `component_id` for one inside the list."""
    if component_id is None:
        return dbc.Alert(message, color=color, className="py-2")
    return dbc.Alert(message, color=color, id=component_id, className="py-2")


def refused(action: str) -> dbc.Alert:
    """The answer to a viewer's (replayed, or stale-page) request for an admin action."""
    return notice(f"Only an admin can {action}.", "warning")


def clicked_index(kind: str) -> object:
    """The card index of a click on one of the `kind` buttons that triggered this call, or None
    (a timer, or Dash announcing buttons that were just drawn, with no click on them)."""
    trigger = ctx.triggered_id
    if isinstance(trigger, dict) and trigger.get("type") == kind and ctx.triggered and ctx.triggered[0]["value"]:
        return trigger.get("index")
    return None


# --- the cards -----------------------------------------------------------------------------


def update(_tick: object, _sync_clicks: object, _pause_clicks: object, _refresh: object):
    """The channel cards, under what a "Sync now", "Pause" or "Resume" click did when one
    triggered this call."""
    session = db_session()
    said = None
    if (index := clicked_index(SYNC_BUTTON)) is not None:
        said = request_sync(session, index)
    elif (index := clicked_index(forms.PAUSE_BUTTON)) is not None:
        said = pause_or_resume(session, index)
    statuses = queries.sync_status(session, current_user.company_id)
    if not statuses:
        return [said, dbc.Alert("No channels are connected yet.", color="secondary")]
    admin = current_user.is_admin
    cards = [dbc.Col(figures.channel_card(s, forms.card_actions(s, admin)), md=6, className="mb-3") for s in statuses]
    return [said, dbc.Row(cards)]


def request_sync(session: Session, index: object) -> dbc.Alert | None:
    """Queue a sync of the company's platform `index`, the way POST /api/v1/sync/<id> does: admins
    only (a sync spends the platform's API quota). A viewer whose page still shows the button
    (their role changed) is told so; an id that is not one of ours gets no answer at all."""
    if not current_user.is_admin:
        return notice("Only an admin can start a sync.", "warning", SYNC_NOTICE)
    platform = inputs.own_platform(session, index)
    if platform is None or platform.kind not in SCHEDULED_KINDS:
        return None
    if platform.status == platforms.PAUSED:
        return notice(f"{platform.display_name} is paused: resume it to sync.", "info", SYNC_NOTICE)
    if platform.sync_requested_at is not None:
        return notice(f"A sync of {platform.display_name} is already queued.", "info", SYNC_NOTICE)
    platforms.request_sync(session, [platform])
    return notice(f"Sync of {platform.display_name} requested: its card shows the progress.", "success", SYNC_NOTICE)


def pause_or_resume(session: Session, index: object) -> dbc.Alert | None:
    """Pause a channel's syncs (its data stays) or resume them: admins only."""
    if not current_user.is_admin:
        return notice("Only an admin can pause or resume a channel.", "warning", SYNC_NOTICE)
    platform = inputs.own_platform(session, index)
    if platform is None:
        return notice(GONE, "warning", SYNC_NOTICE)
    pause = platform.status != platforms.PAUSED
    try:
        platforms.set_paused(session, platform, pause)
    except ValidationError as exc:
        return notice(exc.message, "warning", SYNC_NOTICE)
    if pause:
        said = f"Paused {platform.display_name}: it is not synced until you resume it. Its figures stay."
    else:
        said = f"Resumed {platform.display_name}: it syncs on its schedule again."
    return notice(said, "success", SYNC_NOTICE)


# --- connecting a platform -----------------------------------------------------------------


def connect_callback(form: forms.ConnectForm):
    """The callback of one connect form: its inputs are the display name and the form's fields."""

    def connect(_clicks: object, name: object, *values: object):
        """Check the credentials with one call and store the channel (jobs.platforms.connect_platform,
        as POST /platforms/connect does); its first sync is queued. The secret inputs are emptied on
        success, never sent back: a failure says what to fix and keeps what was typed."""
        keep = [dash.no_update] * len(form.secrets)
        if not current_user.is_admin:
            return refused("connect a channel"), *keep, dash.no_update
        app_state = state()
        config: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for field, value in zip(form.fields, values, strict=True):
            text = inputs.text(value).strip()
            if text and (app_state.network.allow_loopback or not field.development_only):
                (secrets if field.secret else config)[field.name] = text
        try:
            platform, created = platforms.connect_platform(
                db_session(),
                current_user.company_id,
                form.kind,
                inputs.text(name),
                config,
                secrets,
                box=app_state.credentials,
                network=app_state.network,
            )
        except (ValidationError, platforms.CredentialsRefused, platforms.PlatformUnreachable) as exc:
            db_session().rollback()
            return inputs.alert(forms.connect_failure(form, exc, config), color="danger"), *keep, dash.no_update
        done = "Connected" if created else "Reconnected"
        said = f"{done} {platform.display_name} ({platform.currency}): its first sync is starting, see its card above."
        return dbc.Alert(said, color="success", className="py-2 mb-0"), *[""] * len(form.secrets), time.time()

    return connect


# --- rename and remove ---------------------------------------------------------------------


def open_rename(_clicks: object):
    """Open the rename dialog for the clicked card's channel, with its name to edit."""
    index = clicked_index(forms.RENAME_BUTTON)
    if index is None:
        raise PreventUpdate
    if not current_user.is_admin:
        return False, dash.no_update, None, None, refused("rename a channel")
    platform = inputs.own_platform(db_session(), index)
    if platform is None:
        return False, dash.no_update, None, None, notice(GONE, "warning")
    return True, platform.display_name, None, platform.id, None


def save_rename(_save: object, _submit: object, _cancel: object, target: object, name: object):
    """Rename the dialog's channel; a bad name is said in the dialog, which keeps what was typed."""
    if ctx.triggered_id == forms.RENAME_CANCEL:
        return False, None, dash.no_update, dash.no_update
    if not current_user.is_admin:
        return False, None, refused("rename a channel"), dash.no_update
    session = db_session()
    platform = inputs.own_platform(session, target)
    if platform is None:
        return False, None, notice(GONE, "warning"), time.time()
    old = platform.display_name
    try:
        platforms.rename_platform(session, platform, name)
    except ValidationError as exc:
        message = exc.message.replace("display_name", "The name", 1)
        return dash.no_update, inputs.alert(message, color="danger"), dash.no_update, dash.no_update
    return False, None, notice(f"Renamed {old} to {platform.display_name}.", "success"), time.time()


def open_remove(_clicks: object):
    """Open the remove dialog for the clicked card's channel, saying what removing it deletes."""
    index = clicked_index(forms.REMOVE_BUTTON)
    if index is None:
        raise PreventUpdate
    if not current_user.is_admin:
        return False, dash.no_update, None, refused("remove a channel")
    session = db_session()
    platform = inputs.own_platform(session, index)
    if platform is None:
        return False, dash.no_update, None, notice(GONE, "warning")
    return True, forms.removal_text(platform.kind, platforms.removal_contents(session, platform)), platform.id, None


def confirm_remove(_confirm: object, _cancel: object, target: object):
    """Remove the dialog's channel and its data (jobs.platforms.remove_platform)."""
    if ctx.triggered_id == forms.REMOVE_CANCEL:
        return False, None, dash.no_update, dash.no_update
    if not current_user.is_admin:
        return False, None, refused("remove a channel"), dash.no_update
    session = db_session()
    platform = inputs.own_platform(session, target)
    if platform is None:
        return False, None, notice(GONE, "warning"), time.time()
    try:
        removal = platforms.remove_platform(session, platform)
    except platforms.PlatformBusy as exc:
        return False, None, notice(str(exc), "warning"), dash.no_update
    orders = "1 order" if removal.orders == 1 else f"{removal.orders:,} orders"
    said = f"Removed {removal.name}: its {orders} and everything computed from them are deleted."
    return False, None, notice(said, "success"), time.time()


# --- CSV channels and imports --------------------------------------------------------------


def add_channel(_clicks: object, name: object, currency: object):
    """Create the CSV channel (or update the one with this name) as the API does, then offer
    it to the import form; bad input says why and creates nothing."""
    if not current_user.is_admin:
        return refused("add a channel"), dash.no_update, dash.no_update
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


def refresh_import_options(_refresh: object, chosen: object):
    """After a channel was connected, renamed or removed: the import form's channels as they are."""
    if not current_user.is_admin:
        raise PreventUpdate
    options = csv_channel_options(db_session(), current_user.company_id)
    values = [o["value"] for o in options]
    return options, chosen if chosen in values else (values[0] if values else None)


def start_import(contents: object, filename: object, platform_id: object, preset: object):
    """Save the upload and start its import in the background; the platform's card shows the rest.
    Every input is the browser's to forge: each bad one gets an inline message, never a 500."""
    if not contents:
        return dash.no_update
    if not current_user.is_admin:
        return refused("import files")
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


def import_report(_tick: object, platform_id: object, shown: object):
    """The latest import into the chosen CSV channel: redrawn when it changes (a new run, a run
    that ended), so a long error list is read once, not every tick."""
    if not current_user.is_admin:
        raise PreventUpdate
    session = db_session()
    platform = inputs.own_platform(session, platform_id)
    if platform is None or platform.kind not in FILE_KINDS:
        return (None, None) if shown is not None else (dash.no_update, dash.no_update)
    run = latest_import(session, platform.id)
    key = f"{platform.id}:{platform.display_name}:{run.id if run else 0}:{run.status if run else ''}"
    if key == shown:
        return dash.no_update, dash.no_update
    errors = row_errors(session, platform.id, run.id) if run is not None and run.status == "failed" else None
    return forms.import_report(platform.display_name, run, errors), key


def download_errors(clicks: object, platform_id: object):
    """Every row error kept of the chosen channel's latest import, as a CSV file."""
    if not clicks or not current_user.is_admin:
        raise PreventUpdate
    session = db_session()
    platform: Platform | None = inputs.own_platform(session, platform_id)
    run = latest_import(session, platform.id) if platform is not None and platform.kind in FILE_KINDS else None
    errors = row_errors(session, platform.id, run.id) if run is not None else None
    if errors is None:
        raise PreventUpdate
    return dcc.send_string(
        forms.errors_csv(platform.display_name, errors), f"channelpulse-import-errors-{platform.id}-{run.id}.csv"
    )


# --- wiring --------------------------------------------------------------------------------


def register(app: Dash) -> None:
    dash.register_page(
        __name__, path="/channels", name="Channels", title="Channels · ChannelPulse", layout=layout, order=1
    )
    app.callback(
        Output(LIST, "children"),
        Input(TICK, "n_intervals"),
        Input({"type": SYNC_BUTTON, "index": ALL}, "n_clicks"),
        Input({"type": forms.PAUSE_BUTTON, "index": ALL}, "n_clicks"),
        Input(REFRESH, "data"),
    )(update)
    for form in forms.FORMS.values():
        app.callback(
            Output(form.id("status"), "children"),
            *[Output(form.id(f.name), "value") for f in form.secrets],
            Output(REFRESH, "data", allow_duplicate=True),
            Input(form.id("submit"), "n_clicks"),
            State(form.id(forms.NAME.key), "value"),
            *[State(form.id(f.name), "value") for f in form.fields],
            running=[
                (Output(form.id("submit"), "disabled"), True, False),
                (Output(form.id("submit"), "children"), forms.checking_label(form), forms.connect_label(form)),
            ],
            prevent_initial_call=True,
        )(connect_callback(form))
    app.callback(
        Output(forms.RENAME_MODAL, "is_open"),
        Output(forms.RENAME_INPUT, "value"),
        Output(forms.RENAME_ERROR, "children"),
        Output(forms.RENAME_TARGET, "data"),
        Output(NOTICE, "children", allow_duplicate=True),
        Input({"type": forms.RENAME_BUTTON, "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(open_rename)
    app.callback(
        Output(forms.RENAME_MODAL, "is_open", allow_duplicate=True),
        Output(forms.RENAME_ERROR, "children", allow_duplicate=True),
        Output(NOTICE, "children", allow_duplicate=True),
        Output(REFRESH, "data", allow_duplicate=True),
        Input(forms.RENAME_SAVE, "n_clicks"),
        Input(forms.RENAME_INPUT, "n_submit"),
        Input(forms.RENAME_CANCEL, "n_clicks"),
        State(forms.RENAME_TARGET, "data"),
        State(forms.RENAME_INPUT, "value"),
        prevent_initial_call=True,
    )(save_rename)
    app.callback(
        Output(forms.REMOVE_MODAL, "is_open"),
        Output(forms.REMOVE_BODY, "children"),
        Output(forms.REMOVE_TARGET, "data"),
        Output(NOTICE, "children", allow_duplicate=True),
        Input({"type": forms.REMOVE_BUTTON, "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(open_remove)
    app.callback(
        Output(forms.REMOVE_MODAL, "is_open", allow_duplicate=True),
        Output(forms.REMOVE_TARGET, "data", allow_duplicate=True),
        Output(NOTICE, "children", allow_duplicate=True),
        Output(REFRESH, "data", allow_duplicate=True),
        Input(forms.REMOVE_CONFIRM, "n_clicks"),
        Input(forms.REMOVE_CANCEL, "n_clicks"),
        State(forms.REMOVE_TARGET, "data"),
        prevent_initial_call=True,
    )(confirm_remove)
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
    app.callback(
        Output(IMPORT_PLATFORM, "options", allow_duplicate=True),
        Output(IMPORT_PLATFORM, "value", allow_duplicate=True),
        Input(REFRESH, "data"),
        State(IMPORT_PLATFORM, "value"),
        prevent_initial_call=True,
    )(refresh_import_options)
    app.callback(
        Output(IMPORT_REPORT, "children"),
        Output(IMPORT_SHOWN, "data"),
        Input(TICK, "n_intervals"),
        Input(IMPORT_PLATFORM, "value"),
        State(IMPORT_SHOWN, "data"),
    )(import_report)
    app.callback(
        Output(ERRORS_DOWNLOAD, "data"),
        Input(forms.IMPORT_ERRORS_BUTTON, "n_clicks"),
        State(IMPORT_PLATFORM, "value"),
        prevent_initial_call=True,
    )(download_errors)
