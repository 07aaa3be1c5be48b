"""REST API v1. Every answer under /api/ is JSON, errors included, with the request id."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, g, jsonify, request
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from db import migrate, queries
from extensions import db_session, state
from settings import VERSION

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    """A client error with a JSON body: {"error": {"status", "code", "message", "field"?}}."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_body(status: int, code: str, message: str, field: str | None = None) -> dict:
    error = {"status": status, "code": code, "message": message, "request_id": g.get("request_id")}
    if field:
        error["field"] = field
    return {"error": error}


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def handle_api_error(exc: ApiError):
    return jsonify(error_body(exc.status, exc.code, exc.message, exc.field)), exc.status


def handle_http_exception(exc: HTTPException):
    """JSON for any HTTP error under /api/ (404 of unknown routes, 405, ...); HTML elsewhere."""
    if not _is_api_request():
        return exc
    code = (exc.name or "error").lower().replace(" ", "_")
    return jsonify(error_body(exc.code or 500, code, exc.description or exc.name)), exc.code or 500


DATABASE_UNAVAILABLE = "The database is not reachable right now; try again in a minute."


def handle_database_unavailable(exc: OperationalError | PoolTimeout):
    """The database refused, dropped or timed out (an OperationalError, often in the login lookup
    before any view runs), or the pool had no free connection: a 503, not a 500. One warning
    line names the driver's error class, never the connection string or a traceback: the fault
    is outside this process."""
    reason = type(getattr(exc, "orig", None) or exc).__name__
    log.warning("database unavailable path=%s error=%s request_id=%s", request.path, reason, g.get("request_id"))
    if not _is_api_request():
        return ServiceUnavailable(DATABASE_UNAVAILABLE)
    return jsonify(error_body(503, "database_unavailable", DATABASE_UNAVAILABLE)), 503


def handle_unexpected(exc: Exception):
    log.exception("unhandled error path=%s request_id=%s", request.path, g.get("request_id"))
    if not _is_api_request():
        return InternalServerError()
    return jsonify(error_body(500, "internal_error", "Something went wrong on our side.")), 500


def reject_non_api_routes() -> None:
    """Dash's catch-all page route would answer any unknown /api/ path with the app's HTML:
    an unknown API path is a JSON 404 instead."""
    if _is_api_request() and request.url_rule is not None and not request.url_rule.rule.startswith("/api/"):
        abort(404)


def init_api(app: Flask) -> None:
    import api.reconciliation  # noqa: F401  (its routes join the blueprint on import)
    from api import analytics, company, fx, openapi, platforms, tokens, webhooks  # noqa: F401  (routes join on import)

    app.register_blueprint(bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(openapi.docs_bp)
    app.before_request(reject_non_api_routes)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(PoolTimeout, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)


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
