"""The Channels page's forms and dialogs: connecting a Shopify shop or a Best Buy (Mirakl) shop,
each card's buttons (with the reason beside any that is disabled), the rename and remove dialogs,
and the report of a CSV import (its orders, or every row error and the file of them).

Pure builders: components in, components out. The callbacks that use them, and every check of
who may do what, are in dashboard/pages/channels.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dash_bootstrap_components as dbc
from dash import html

from connectors import FILE_KINDS, SCHEDULED_KINDS
from connectors.csv_files import RowError
from dashboard import figures
from db.models import SyncRun
from db.queries import PlatformStatus
from jobs import platforms
from jobs.csv_import import MAX_STORED_ERRORS, ImportErrors
from records import MissingValue, ValidationError
from web import exports

SYNC_BUTTON = "channels-sync"
RENAME_BUTTON = "channel-rename"
PAUSE_BUTTON = "channel-pause"
REMOVE_BUTTON = "channel-remove"

RENAME_MODAL = "channel-rename-modal"
RENAME_INPUT = "channel-rename-name"
RENAME_ERROR = "channel-rename-error"
RENAME_SAVE = "channel-rename-save"
RENAME_CANCEL = "channel-rename-cancel"
RENAME_TARGET = "channel-rename-target"
REMOVE_MODAL = "channel-remove-modal"
REMOVE_BODY = "channel-remove-body"
REMOVE_CONFIRM = "channel-remove-confirm"
REMOVE_CANCEL = "channel-remove-cancel"
REMOVE_TARGET = "channel-remove-target"

IMPORT_ERRORS_BUTTON = "import-errors-download"
SHOWN_ERRORS = 200  # rows of the error table in the page; the download holds every one kept

RUNNING = "a sync is running"
QUEUED = "a sync is already queued"
FILES_ONLY = "CSV channels are filled by uploads"
PAUSED = "the channel is paused: resume it to sync"
VIEWER = "Only an admin can sync, rename, pause or remove a channel."


# --- connecting a platform -----------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One input of a connect form; `key` is the connect operation's name for it
    ("config.shop_domain", "credentials.access_token"), as in its validation errors."""

    key: str
    label: str
    placeholder: str = ""
    help: str = ""
    default: str = ""
    secret: bool = False
    development_only: bool = False  # only where the network policy reaches loopback simulators

    @property
    def name(self) -> str:
        return self.key.partition(".")[2]


@dataclass(frozen=True)
class ConnectForm:
    kind: str
    platform: str  # the platform's name in messages ("Shopify")
    title: str
    secret: str  # what its credential is called ("access token")
    fields: tuple[Field, ...]

    def id(self, part: str) -> str:
        return f"connect-{self.kind}-{part}"

    @property
    def secrets(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.secret)


NAME = Field("display_name", "Display name")

FORMS = {
    "shopify": ConnectForm(
        "shopify",
        "Shopify",
        "Connect a Shopify store",
        "access token",
        (
            Field(
                "config.shop_domain",
                "Shop domain",
                "acme.myshopify.com",
                "Your store's myshopify.com address (Settings > Domains).",
            ),
            Field(
                "credentials.access_token",
                "Admin API access token",
                "shpat_…",
                "From the store's custom app (Settings > Apps > Develop apps), with the read_orders, "
                "read_all_orders and read_products scopes.",
                secret=True,
            ),
            Field(
                "config.base_url",
                "API base URL (development)",
                "http://127.0.0.1:…",
                "A local store simulator's address; leave it empty for the shop domain's.",
                development_only=True,
            ),
        ),
    ),
    "bestbuy": ConnectForm(
        "bestbuy",
        "Best Buy",
        "Connect a Best Buy Marketplace shop",
        "API key",
        (
            Field(
                "config.base_url",
                "Marketplace URL",
                "https://marketplace.bestbuy.ca",
                "Best Buy Canada's marketplace, or your Mirakl operator's https://….mirakl.net address.",
                default="https://marketplace.bestbuy.ca",
            ),
            Field(
                "config.shop_id",
                "Shop id",
                "e.g. 2001",
                "Your shop's id in the seller portal; needed when your user has several shops.",
            ),
            Field(
                "credentials.api_key",
                "API key",
                "",
                "The shop's API key from the seller portal (your user settings, API key).",
                secret=True,
            ),
        ),
    ),
}
assert set(FORMS) == set(SCHEDULED_KINDS), "every platform the scheduler syncs needs a connect form"


def connect_form(form: ConnectForm, development: bool) -> dbc.Card:
    """A connect form: the display name, the platform's fields (secrets as password inputs that
    the browser does not fill or remember) and the button, whose label says while it checks."""
    rows = []
    for field in (NAME, *form.fields):
        hidden = field.development_only and not development
        rows.append(
            html.Div(
                [
                    dbc.Label(field.label, html_for=form.id(field.name or field.key), className="small mb-0"),
                    dbc.Input(
                        id=form.id(field.name or field.key),
                        type="password" if field.secret else "text",
                        placeholder=field.placeholder or ("e.g. Web store" if field is NAME else ""),
                        value=field.default or None,
                        autoComplete="new-password" if field.secret else "off",
                        maxLength=platforms.MAX_NAME if field is NAME else 500,
                        size="sm",
                    ),
                    dbc.FormText(field.help) if field.help else None,
                ],
                className="mb-2",
                style={"display": "none"} if hidden else None,
            )
        )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2(form.title, className="h5"),
                html.P(
                    f"ChannelPulse checks the {form.secret} with one call to {form.platform} before it keeps "
                    f"anything. It is stored encrypted and never shown again.",
                    className="text-secondary small",
                ),
                *rows,
                dbc.Button(connect_label(form), id=form.id("submit"), color="primary", size="sm"),
                html.Div(id=form.id("status"), className="small mt-2"),
            ]
        ),
        className="shadow-sm h-100",
    )


def connect_label(form: ConnectForm) -> str:
    return f"Connect {form.platform}"


def checking_label(form: ConnectForm) -> str:
    """The button's label (and why it is disabled) while the check call runs."""
    return f"Checking with {form.platform}…"


def field_label(form: ConnectForm, key: str | None) -> str | None:
    return next((f.label for f in (NAME, *form.fields) if f.key == key), None)


def refused_message(form: ConnectForm, error: platforms.CredentialsRefused, config: dict[str, str]) -> str:
    """What the platform's refusal means, in the form's words."""
    status = f" ({error.status})" if error.status else ""
    if error.status is None:
        return (
            f"{form.platform} accepted the {form.secret} but refused a query: the app lacks a scope ChannelPulse "
            "reads with (read_orders, read_all_orders, read_products)."
        )
    if error.status == 403 and config.get("shop_id"):
        return (
            f"{form.platform} refused the {form.secret} for shop id {config['shop_id']}{status}: check the shop id, "
            f"and that the key's user can reach that shop."
        )
    return f"{form.platform} refused the {form.secret}{status}: check that you copied all of it, for this shop."


def connect_failure(form: ConnectForm, error: Exception, config: dict[str, str]) -> str:
    """A failed connect's message: which field is wrong and how, in the form's words (the
    operation's messages name fields as the API does: config.shop_domain)."""
    if isinstance(error, platforms.CredentialsRefused):
        return refused_message(form, error, config)
    if isinstance(error, platforms.PlatformUnreachable):
        where = field_label(form, error.field) or "address"
        return (
            f"Could not reach {form.platform} at {error.host or 'that address'}: check the {where.lower()} and try "
            "again later. Nothing was saved."
        )
    assert isinstance(error, ValidationError)
    label = field_label(form, error.field)
    if label is None:
        return error.message
    if isinstance(error, MissingValue):
        return f"{label} is required."
    if error.message.startswith(f"{error.field}: "):
        return f"{label}: {error.message[len(error.field) + 2 :]}"
    if error.message.startswith(error.field):
        return f"{label}{error.message[len(error.field) :]}."
    return f"{label}: {error.message}"


# --- the cards' buttons and dialogs --------------------------------------------------------


def card_actions(status: PlatformStatus, admin: bool) -> html.Div:
    """A card's buttons. Each disabled one has its reason beside the buttons and as its tooltip."""
    scheduled = status.kind in SCHEDULED_KINDS
    paused = status.status == platforms.PAUSED
    sync_why = None
    if not admin:
        sync_why = VIEWER
    elif not scheduled:
        sync_why = FILES_ONLY
    elif paused:
        sync_why = PAUSED
    elif status.running:
        sync_why = RUNNING
    elif status.queued:
        sync_why = QUEUED
    pause_why = VIEWER if not admin else (None if scheduled else FILES_ONLY)
    remove_why = VIEWER if not admin else (f"{RUNNING}: remove it once that ends" if status.running else None)
    rename_why = VIEWER if not admin else None
    buttons = [
        action(SYNC_BUTTON, status.id, "Sync now", sync_why, "primary"),
        action(RENAME_BUTTON, status.id, "Rename", rename_why),
        action(PAUSE_BUTTON, status.id, "Resume" if paused else "Pause", pause_why),
        action(REMOVE_BUTTON, status.id, "Remove", remove_why, "danger"),
    ]
    reasons = [VIEWER] if not admin else because(buttons)
    return html.Div(
        [
            html.Div(buttons, className="d-flex flex-wrap gap-2"),
            html.Div(" ".join(reasons), id=f"channel-why-{status.id}", className="small text-secondary mt-1")
            if reasons
            else None,
        ]
    )


def because(buttons: list[html.Span]) -> list[str]:
    """Each reason a button is disabled, once, naming its buttons: "Sync now and Pause: CSV ..."."""
    labels: dict[str, list[str]] = {}
    for span in buttons:
        if span.title:
            labels.setdefault(span.title, []).append(span.children.children)
    return [f"{' and '.join(names)}: {lower_first(why)}." for why, names in labels.items()]


def lower_first(text: str) -> str:
    """A sentence's start as the middle of another ("A sync is running" -> "a sync ..."); not an
    initialism ("CSV channels ...")."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def action(kind: str, index: int, label: str, disabled_why: str | None, color: str = "secondary") -> html.Span:
    """A card button; wrapped in a span that carries the reason as its tooltip (a disabled button
    gets no mouse events of its own)."""
    button = dbc.Button(
        label, id={"type": kind, "index": index}, size="sm", color=color, outline=True, disabled=bool(disabled_why)
    )
    return html.Span(button, title=disabled_why[:1].upper() + disabled_why[1:] if disabled_why else None)


def rename_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Rename the channel")),
            dbc.ModalBody(
                [
                    dbc.Label("Display name", html_for=RENAME_INPUT, className="small"),
                    dbc.Input(id=RENAME_INPUT, maxLength=platforms.MAX_NAME, autoComplete="off"),
                    html.Div(id=RENAME_ERROR, className="small mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=RENAME_CANCEL, color="secondary", outline=True),
                    dbc.Button("Save", id=RENAME_SAVE, color="primary"),
                ]
            ),
        ],
        id=RENAME_MODAL,
        is_open=False,
    )


def remove_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Remove the channel?")),
            dbc.ModalBody(id=REMOVE_BODY),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=REMOVE_CANCEL, color="secondary", outline=True),
                    dbc.Button("Remove it and its data", id=REMOVE_CONFIRM, color="danger"),
                ]
            ),
        ],
        id=REMOVE_MODAL,
        is_open=False,
    )


def removal_text(kind: str, removal: platforms.Removal) -> list:
    """What removing a channel does, exactly (jobs.platforms.remove_platform)."""
    source = figures.KIND_LABELS.get(kind, kind)
    again = (
        "Importing its files again brings its orders back."
        if kind in FILE_KINDS
        else f"Nothing changes on {source} itself: connecting it again imports its history again."
    )
    forecasts = f" and its {removal.forecasts:,} forecast fits" if removal.forecasts else ""
    return [
        html.P(
            [
                "Removing ",
                html.Strong(removal.name),
                f" deletes from ChannelPulse, for good, its {removal.orders:,} orders (with their lines and refunds), "
                f"its products, its daily figures, its sync and import history, its reconciliation reports{forecasts}. "
                "The Overview and every total stop counting them, and the all-channels forecast is refit without it.",
            ]
        ),
        html.P(again, className="mb-1"),
        html.P("To stop syncing but keep its figures, pause it instead.", className="text-secondary mb-0"),
    ]


# --- a CSV import's outcome ----------------------------------------------------------------


def import_report(name: str, run: SyncRun | None, errors: ImportErrors | None) -> html.Div | dbc.Alert:
    """The latest import into a CSV channel: running, "N orders imported", or what went wrong
    with every row error (the first SHOWN_ERRORS in the page, every one kept in the download)."""
    if run is None:
        return html.Div(f"No file imported into {name} yet.", className="text-secondary")
    if run.status == "running":
        return html.Div(f"Importing into {name}: its card above shows the progress.", className="text-secondary")
    if run.status == "succeeded":
        orders = "1 order" if run.rows == 1 else f"{run.rows:,} orders"
        return dbc.Alert(f"{orders} imported into {name}.", color="success", className="py-2 mb-0")
    if errors is None:
        return dbc.Alert(f"The last import into {name} failed: {run.error}", color="danger", className="py-2 mb-0")
    shown = errors.errors[:SHOWN_ERRORS]
    if errors.total > len(errors.errors):
        more = (
            f"The first {len(shown):,} are listed; the download holds the first {MAX_STORED_ERRORS:,} of the "
            f"{errors.total:,}: fix those and upload the file again to see the rest."
        )
    elif errors.total > len(shown):
        more = f"The first {len(shown):,} are listed; the download holds all {errors.total:,}."
    else:
        more = "The download holds them as a CSV file."
    count = "1 row error" if errors.total == 1 else f"{errors.total:,} row errors"
    return html.Div(
        [
            dbc.Alert(
                f"Nothing was imported into {name}: the file has {count}. Fix them and upload it again.",
                color="danger",
                className="py-2 mb-2",
            ),
            html.Div(
                [
                    html.Span(more, className="me-2"),
                    dbc.Button("Download errors (CSV)", id=IMPORT_ERRORS_BUTTON, size="sm", outline=True),
                ],
                className="mb-2",
            ),
            html.Div(error_table(shown), style={"maxHeight": "22rem", "overflowY": "auto"}),
        ]
    )


def error_table(errors: Sequence[RowError]) -> dbc.Table:
    head = html.Thead(html.Tr([html.Th("Line"), html.Th("Column"), html.Th("Value"), html.Th("Problem")]))
    body = html.Tbody(
        [html.Tr([html.Td(e.line), html.Td(e.column), html.Td(e.value), html.Td(e.reason)]) for e in errors]
    )
    return dbc.Table([head, body], size="sm", striped=True, className="mb-0", id="import-errors-table")


def errors_csv(name: str, errors: ImportErrors) -> str:
    """Every kept row error of an import, as a spreadsheet opens it safely (exports.csv_text)."""
    header = [f"Row errors of the import into {name} (nothing was imported): {errors.total} in all"]
    if errors.total > len(errors.errors):
        header.append(f"the first {len(errors.errors)} are listed here")
    header.append("line: the file's line (the header is line 1)")
    rows = [(e.line, e.column, e.value, e.reason) for e in errors.errors]
    return exports.csv_text(header, ["line", "column", "value", "problem"], rows)
