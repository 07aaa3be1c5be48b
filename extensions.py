"""The running app's shared objects (settings, engine, sessions), kept on the Flask app so
request code in api/ and dashboard/ reaches them without importing app.py."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.cache import ReadCache
from settings import Settings

KEY = "channelpulse"


@dataclass(frozen=True)
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cache: ReadCache


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
