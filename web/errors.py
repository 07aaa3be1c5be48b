"""The JSON error shape every answer under /api/ uses (and the 401s the login guard gives Dash
callbacks), and the app-wide error handlers: JSON under /api/, HTML pages elsewhere, a 503 when
the database is away, never a traceback. An operation's `ValidationError` becomes a 400 here."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from records import MissingValue, ValidationError

log = logging.getLogger(__name__)


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


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def handle_api_error(exc: ApiError):
    return jsonify(error_body(exc.status, exc.code, exc.message, exc.field)), exc.status


def handle_http_exception(exc: HTTPException):
    """JSON for any HTTP error under /api/ (404 of unknown routes, 405, ...); HTML elsewhere."""
    if not is_api_request():
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
    if not is_api_request():
        return ServiceUnavailable(DATABASE_UNAVAILABLE)
    return jsonify(error_body(503, "database_unavailable", DATABASE_UNAVAILABLE)), 503


def handle_unexpected(exc: Exception):
    log.exception("unhandled error path=%s request_id=%s", request.path, g.get("request_id"))
    if not is_api_request():
        return InternalServerError()
    return jsonify(error_body(500, "internal_error", "Something went wrong on our side.")), 500


def handle_validation_error(exc: ValidationError):
    code = "missing_parameter" if isinstance(exc, MissingValue) else "invalid_parameter"
    return handle_api_error(ApiError(400, code, exc.message, exc.field))


def init_errors(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(PoolTimeout, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
