"""REST API v1. Every answer under /api/ is JSON, errors included, with the request id."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, jsonify, request
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from db import migrate, queries
from settings import VERSION
from web.context import db_session, state
from web.errors import is_api_request

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def reject_non_api_routes() -> None:
    """Dash's catch-all page route would answer any unknown /api/ path with the app's HTML:
    an unknown API path is a JSON 404 instead."""
    if is_api_request() and request.url_rule is not None and not request.url_rule.rule.startswith("/api/"):
        abort(404)


def init_api(app: Flask) -> None:
    import api.reconciliation  # noqa: F401  (its routes join the blueprint on import)
    from api import analytics, company, fx, ml, openapi, platforms, tokens, webhooks  # noqa: F401  (routes join on import)

    app.register_blueprint(bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(openapi.docs_bp)
    app.before_request(reject_non_api_routes)


@bp.get("/status")
def status():
    """Is the database reachable, at which migration, and when did each platform last sync."""
    body = {"version": VERSION, "environment": state().settings.app_env}
    session = db_session()
    try:
        session.execute(text("SELECT 1"))
        body["database"] = {
            "reachable": True,
            "backend": session.get_bind().dialect.name,
            "revision": migrate.current_revision(state().engine),
            "head": migrate.head_revision(),
        }
    except SQLAlchemyError as exc:
        log.warning("status database unreachable error=%s", type(exc).__name__)
        body["database"] = {"reachable": False}
        return jsonify(body), 503
    runs = queries.latest_sync_runs(session, current_user.company_id)
    body["platforms"] = [
        {
            "id": p.id,
            "kind": p.kind,
            "name": p.display_name,
            "status": p.status,
            "last_sync_at": p.last_sync_at.isoformat() if p.last_sync_at else None,
            "last_run": runs[p.id].status if p.id in runs else None,
        }
        for p in queries.platforms(session, current_user.company_id)
    ]
    return jsonify(body)
