"""The running app's shared objects (state.AppState), kept on the Flask app so request code in
api/ and dashboard/ reaches them without importing app.py, and the request's database session."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from state import AppState

KEY = "channelpulse"


def init_state(app: Flask, state: AppState) -> None:
    app.extensions[KEY] = state
    app.teardown_appcontext(_close_session)


def state() -> AppState:
    return current_app.extensions[KEY]


def db_session() -> Session:
    """The request's session: opened on first use, closed when the request ends."""
    if "db_session" not in g:
        g.db_session = state().sessions()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
