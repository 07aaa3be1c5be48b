"""The Settings page's admin cards: who may sign in (users and their roles) and which API tokens
may read the company's data. Every callback checks the caller is an admin itself (a viewer
never sees these cards, but may post a callback by hand) and takes ids from the payload only
through db/accounts.py, which finds nothing outside the caller's company.

Removing a user and revoking a token ask first: the click stores the row's id and opens a
confirmation; the confirmation's click checks everything again on the stored id.
"""

from __future__ import annotations

import logging
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate
from flask_login import current_user
from sqlalchemy.orm import Session

from dashboard import inputs
from db import accounts
from db.models import ROLES, ApiToken, User
from records import ValidationError
from web.context import db_session

log = logging.getLogger(__name__)

USERS_TABLE = "settings-users"
USERS_STATUS = "settings-users-status"
INVITE_EMAIL = "settings-invite-email"
INVITE_ROLE = "settings-invite-role"
INVITE_BUTTON = "settings-invite"
INVITE_PASSWORD = "settings-invite-password"
USER_ROLE = "settings-user-role"  # pattern type: {"type", "index": user id, "role": the role it gives}
USER_REMOVE = "settings-user-remove"  # pattern type: {"type", "index": user id}
USER_CONFIRM = "settings-user-confirm"
USER_CONFIRM_TEXT = "settings-user-confirm-text"
USER_CONFIRM_YES = "settings-user-confirm-yes"
USER_CONFIRM_NO = "settings-user-confirm-no"
USER_PENDING = "settings-user-pending"

TOKENS_TABLE = "settings-tokens"
TOKENS_STATUS = "settings-tokens-status"
TOKEN_NAME = "settings-token-name"
TOKEN_CREATE = "settings-token-create"
TOKEN_SECRET = "settings-token-secret"
TOKEN_REVOKE = "settings-token-revoke"  # pattern type: {"type", "index": token id}
TOKEN_CONFIRM = "settings-token-confirm"
TOKEN_CONFIRM_TEXT = "settings-token-confirm-text"
TOKEN_CONFIRM_YES = "settings-token-confirm-yes"
TOKEN_CONFIRM_NO = "settings-token-confirm-no"
TOKEN_PENDING = "settings-token-pending"

ONLY_ADMINS_USERS = "Only an admin can manage users."
ONLY_ADMINS_TOKENS = "Only an admin can manage API tokens."
LAST_ADMIN = "The only admin: make another user an admin before demoting or removing this account."
MAX_SHOWN_NAME = 60  # characters of a typed name echoed back in a message


@dataclass
class Answer:
    """What a card's callback sends back: its table, its message, the confirmation's state."""

    table: Any = dash.no_update
    status: Any = dash.no_update
    confirm_open: Any = dash.no_update
    confirm_text: Any = dash.no_update
    pending: Any = dash.no_update

    def out(self) -> tuple:
        return astuple(self)


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def clicked() -> object:
    """The id of the component whose click triggered this call; None when no click did (a
    pattern button just rendered reports n_clicks None)."""
    return ctx.triggered_id if any(t.get("value") for t in ctx.triggered) else None


def confirm_modal(modal: str, body: str, yes: str, no: str, action: str) -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Are you sure?")),
            dbc.ModalBody(id=body),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=no, color="secondary", outline=True),
                    dbc.Button(action, id=yes, color="danger"),
                ]
            ),
        ],
        id=modal,
        is_open=False,
    )


# --- users ------------------------------------------------------------------------------


def users_card(session: Session, company_id: int) -> dbc.Card:
    invite = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Email", html_for=INVITE_EMAIL, className="small"),
                    dbc.Input(
                        id=INVITE_EMAIL, type="email", maxLength=accounts.MAX_EMAIL, placeholder="name@example.com"
                    ),
                ],
                md=5,
            ),
            dbc.Col(
                [
                    dbc.Label("Role", html_for=INVITE_ROLE, className="small"),
                    dbc.Select(id=INVITE_ROLE, options=[{"label": r, "value": r} for r in ROLES], value="viewer"),
                ],
                md=3,
            ),
            dbc.Col(dbc.Button("Invite", id=INVITE_BUTTON, color="primary"), md="auto"),
        ],
        className="g-2 align-items-end",
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("Users", className="h5"),
                html.P(
                    "Admins change settings, connect channels and manage users and tokens; viewers read. "
                    "A new user gets a one-time password to give them; they choose their own when they first sign in.",
                    className="text-secondary small",
                ),
                html.Div(users_table(session, company_id), id=USERS_TABLE),
                html.H3("Invite a user", className="h6 mt-3"),
                invite,
                html.Div(id=USERS_STATUS, className="small mt-2"),
                dcc.Store(id=USER_PENDING),
                confirm_modal(USER_CONFIRM, USER_CONFIRM_TEXT, USER_CONFIRM_YES, USER_CONFIRM_NO, "Remove user"),
            ]
        ),
        className="shadow-sm mt-3",
    )


def users_table(session: Session, company_id: int) -> dbc.Table:
    header = html.Thead(html.Tr([html.Th(h) for h in ("Email", "Role", "Last sign-in", "")]))
    rows = []
    people = accounts.company_users(session, company_id)
    admins = sum(u.role == "admin" for u in people)  # counted once, unlocked: the actions check again
    for user in people:
        other = "viewer" if user.role == "admin" else "admin"
        sole = user.role == "admin" and admins == 1
        buttons = [
            dbc.Button(
                f"Make {other}",
                id={"type": USER_ROLE, "index": user.id, "role": other},
                size="sm",
                color="secondary",
                outline=True,
                disabled=sole,
                title=LAST_ADMIN if sole else f"{user.email} becomes {'an' if other == 'admin' else 'a'} {other}.",
            ),
            dbc.Button(
                "Remove",
                id={"type": USER_REMOVE, "index": user.id},
                size="sm",
                color="danger",
                outline=True,
                className="ms-2",
                disabled=sole,
                title=LAST_ADMIN if sole else f"Remove {user.email}",
            ),
        ]
        if sole:
            buttons.append(html.Div(LAST_ADMIN, className="small text-secondary mt-1"))
        you = " (you)" if user.id == current_user.id else ""
        pending = " · must choose a password" if user.must_change_password else ""
        rows.append(
            html.Tr(
                [
                    html.Td(user.email + you),
                    html.Td(user.role + pending),
                    html.Td(when(user.last_login_at)),
                    html.Td(buttons, className="text-end"),
                ],
                id=f"settings-user-{user.id}",
            )
        )
    return dbc.Table([header, html.Tbody(rows)], size="sm", className="align-middle mb-0")


def users_update(_invite, _roles, _removes, _yes, _no, email, role, pending):
    """The users card's one callback: invite, change a role, ask to remove, remove, cancel."""
    if not current_user.is_admin:
        return Answer(status=inputs.alert(ONLY_ADMINS_USERS), confirm_open=False, pending=None).out()
    trigger = clicked()
    if trigger is None:
        raise PreventUpdate
    session = db_session()
    try:
        answer = users_action(session, trigger, email, role, pending)
    except ValidationError as exc:
        session.rollback()
        answer = Answer(status=inputs.alert(exc.message, color="danger"), confirm_open=False, pending=None)
    else:
        session.commit()
    if answer.table is dash.no_update:
        answer.table = users_table(session, current_user.company_id)
    return answer.out()


def users_action(session: Session, trigger: object, email: object, role: object, pending: object) -> Answer:
    company_id = current_user.company_id
    if trigger == INVITE_BUTTON:
        user, password = accounts.invite_user(session, company_id, email, role)
        log.info("user invited id=%s company_id=%s role=%s by=%s", user.id, company_id, user.role, current_user.id)
        return Answer(status=invited(user, password))
    if trigger == USER_CONFIRM_NO:
        return Answer(status=None, confirm_open=False, pending=None)
    if trigger == USER_CONFIRM_YES:
        user_id = inputs.row_id(pending)
        removed = accounts.remove_user(session, company_id, user_id)
        log.info("user removed id=%s company_id=%s by=%s", user_id, company_id, current_user.id)
        return Answer(status=inputs.alert(f"Removed {removed}: they are signed out.", "success"), confirm_open=False)
    if isinstance(trigger, dict) and trigger.get("type") == USER_ROLE:
        user = accounts.set_role(session, company_id, inputs.row_id(trigger.get("index")), trigger.get("role"))
        log.info("user role set id=%s company_id=%s role=%s by=%s", user.id, company_id, user.role, current_user.id)
        return Answer(
            status=inputs.alert(f"{user.email} is now {'an' if user.role == 'admin' else 'a'} {user.role}.", "success")
        )
    if isinstance(trigger, dict) and trigger.get("type") == USER_REMOVE:
        user = accounts.company_user(session, company_id, inputs.row_id(trigger.get("index")))
        if accounts.last_admin(session, user):
            raise ValidationError("user", f"{user.email} is the only admin: make another user an admin first.")
        ask = f"Remove {user.email}? They are signed out at once and can no longer sign in."
        return Answer(table=dash.no_update, confirm_open=True, confirm_text=ask, pending=user.id)
    raise PreventUpdate


def invited(user: User, password: str) -> dbc.Alert:
    """The one-time password, shown this once: it is not stored anywhere but as a hash."""
    return dbc.Alert(
        [
            html.Div(
                f"Invited {user.email} as {'an' if user.role == 'admin' else 'a'} {user.role}. Their one-time password:"
            ),
            html.Div(
                [
                    html.Code(password, id=INVITE_PASSWORD, className="fs-6 me-2"),
                    dcc.Clipboard(target_id=INVITE_PASSWORD),
                ],
                className="d-flex align-items-center my-1",
            ),
            html.Div(
                "Copy it now and give it to them: it is not shown again. They choose their own password when they "
                "first sign in."
            ),
        ],
        color="success",
        className="py-2 mb-0",
    )


# --- API tokens ---------------------------------------------------------------------------


def tokens_card(session: Session, company_id: int) -> dbc.Card:
    create = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Name", html_for=TOKEN_NAME, className="small"),
                    dbc.Input(
                        id=TOKEN_NAME, maxLength=accounts.MAX_TOKEN_NAME, placeholder="e.g. Weekly report script"
                    ),
                ],
                md=6,
            ),
            dbc.Col(dbc.Button("Create token", id=TOKEN_CREATE, color="primary"), md="auto"),
        ],
        className="g-2 align-items-end",
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H2("API tokens", className="h5"),
                html.P(
                    "A token reads this company's data through /api/v1 as a viewer does "
                    "(Authorization: Bearer <token>). It is shown once, when it is created.",
                    className="text-secondary small",
                ),
                html.Div(tokens_table(session, company_id), id=TOKENS_TABLE),
                html.H3("Create a token", className="h6 mt-3"),
                create,
                html.Div(id=TOKENS_STATUS, className="small mt-2"),
                dcc.Store(id=TOKEN_PENDING),
                confirm_modal(TOKEN_CONFIRM, TOKEN_CONFIRM_TEXT, TOKEN_CONFIRM_YES, TOKEN_CONFIRM_NO, "Revoke token"),
            ]
        ),
        className="shadow-sm mt-3",
    )


def tokens_table(session: Session, company_id: int) -> dbc.Table | html.P:
    tokens = accounts.company_tokens(session, company_id)
    if not tokens:
        return html.P("No tokens yet.", className="text-secondary small mb-0")
    header = html.Thead(html.Tr([html.Th(h) for h in ("Name", "Token", "Created", "Last used", "")]))
    rows = [
        html.Tr(
            [
                html.Td(t.name),
                html.Td(html.Code(f"{t.prefix}…")),
                html.Td(when(t.created_at)),
                html.Td(when(t.last_used_at)),
                html.Td(
                    f"Revoked {when(t.revoked_at)}"
                    if t.revoked_at
                    else dbc.Button(
                        "Revoke", id={"type": TOKEN_REVOKE, "index": t.id}, size="sm", color="danger", outline=True
                    ),
                    className="text-end",
                ),
            ],
            id=f"settings-token-{t.id}",
        )
        for t in tokens
    ]
    return dbc.Table([header, html.Tbody(rows)], size="sm", className="align-middle mb-0")


def tokens_update(_create, _revokes, _yes, _no, name, pending):
    """The tokens card's one callback: create, ask to revoke, revoke, cancel."""
    if not current_user.is_admin:
        return Answer(status=inputs.alert(ONLY_ADMINS_TOKENS), confirm_open=False, pending=None).out()
    trigger = clicked()
    if trigger is None:
        raise PreventUpdate
    session = db_session()
    try:
        answer = tokens_action(session, trigger, name, pending)
    except ValidationError as exc:
        session.rollback()
        answer = Answer(status=inputs.alert(exc.message, color="danger"), confirm_open=False, pending=None)
    else:
        session.commit()
    if answer.table is dash.no_update:
        answer.table = tokens_table(session, current_user.company_id)
    return answer.out()


def tokens_action(session: Session, trigger: object, name: object, pending: object) -> Answer:
    company_id = current_user.company_id
    if trigger == TOKEN_CREATE:
        token, value = accounts.create_token(session, company_id, name, current_user.id)
        log.info("api token created id=%s company_id=%s prefix=%s", token.id, company_id, token.prefix)
        return Answer(status=created(token, value))
    if trigger == TOKEN_CONFIRM_NO:
        return Answer(status=None, confirm_open=False, pending=None)
    if trigger == TOKEN_CONFIRM_YES:
        token = own_token(session, pending)
        if accounts.revoke_token(session, token):
            log.info("api token revoked id=%s company_id=%s", token.id, company_id)
        return Answer(status=inputs.alert(f"Revoked {token.name[:MAX_SHOWN_NAME]}.", "success"), confirm_open=False)
    if isinstance(trigger, dict) and trigger.get("type") == TOKEN_REVOKE:
        token = own_token(session, trigger.get("index"))
        ask = f"Revoke {token.name[:MAX_SHOWN_NAME]} ({token.prefix}…)? Programs using it are refused from now on."
        return Answer(table=dash.no_update, confirm_open=True, confirm_text=ask, pending=token.id)
    raise PreventUpdate


def own_token(session: Session, value: object) -> ApiToken:
    token = accounts.company_token(session, current_user.company_id, inputs.row_id(value))
    if token is None:
        raise ValidationError("token", "No such API token in your company.")
    return token


def created(token: ApiToken, value: str) -> dbc.Alert:
    """The new token, shown this once: only its SHA-256 is stored."""
    return dbc.Alert(
        [
            html.Div(f"Created {token.name[:MAX_SHOWN_NAME]}. The token:"),
            html.Div(
                [html.Code(value, id=TOKEN_SECRET, className="fs-6 me-2"), dcc.Clipboard(target_id=TOKEN_SECRET)],
                className="d-flex align-items-center my-1",
            ),
            html.Div("Copy it now: it is not shown again (the list shows only its first characters)."),
        ],
        color="success",
        className="py-2 mb-0",
    )


def register_callbacks(app: dash.Dash) -> None:
    app.callback(
        Output(USERS_TABLE, "children"),
        Output(USERS_STATUS, "children"),
        Output(USER_CONFIRM, "is_open"),
        Output(USER_CONFIRM_TEXT, "children"),
        Output(USER_PENDING, "data"),
        Input(INVITE_BUTTON, "n_clicks"),
        Input({"type": USER_ROLE, "index": ALL, "role": ALL}, "n_clicks"),
        Input({"type": USER_REMOVE, "index": ALL}, "n_clicks"),
        Input(USER_CONFIRM_YES, "n_clicks"),
        Input(USER_CONFIRM_NO, "n_clicks"),
        State(INVITE_EMAIL, "value"),
        State(INVITE_ROLE, "value"),
        State(USER_PENDING, "data"),
        prevent_initial_call=True,
    )(users_update)
    app.callback(
        Output(TOKENS_TABLE, "children"),
        Output(TOKENS_STATUS, "children"),
        Output(TOKEN_CONFIRM, "is_open"),
        Output(TOKEN_CONFIRM_TEXT, "children"),
        Output(TOKEN_PENDING, "data"),
        Input(TOKEN_CREATE, "n_clicks"),
        Input({"type": TOKEN_REVOKE, "index": ALL}, "n_clicks"),
        Input(TOKEN_CONFIRM_YES, "n_clicks"),
        Input(TOKEN_CONFIRM_NO, "n_clicks"),
        State(TOKEN_NAME, "value"),
        State(TOKEN_PENDING, "data"),
        prevent_initial_call=True,
    )(tokens_update)
