"""ChannelPulse: `create_app()` builds the Flask server with the REST API and the Dash app
mounted, and `server` (built on first access) is what gunicorn serves (`app:server`). Nothing
else lives here: the CLI is cli.py, `python app.py` (make run) is embedded.py.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from api import init_api
from cli import init_cli
from dashboard import init_dashboard
from dashboard.auth import init_auth
from settings import PROJECT_ROOT, Settings, SettingsError
from state import build_state
from web.context import init_state
from web.errors import init_errors
from web.guard import init_guard
from web.security import init_web_security
from web.tracing import init_request_tracing

UPLOAD_LIMIT_BYTES = 100 * 1024 * 1024  # CSV imports and rate files; bigger files go through the CLI


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app. `settings` defaults to the environment (Settings.from_env())."""
    settings = settings or Settings.from_env()
    server = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    server.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_DURATION=timedelta(days=14),  # also how long an unused login lives (web/guard.py)
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=UPLOAD_LIMIT_BYTES,
    )
    server.json.sort_keys = False  # answers keep the documented field order
    if settings.trusted_proxy_hops:  # remote_addr (the login throttle's client) is the real client's
        hops = settings.trusted_proxy_hops
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops)
    init_state(server, build_state(settings))
    init_request_tracing(server)
    init_web_security(server, production=settings.is_production)  # before the guard: refused before any login lookup
    init_errors(server)
    init_guard(server)
    init_auth(server)
    init_api(server)
    server.add_url_rule("/health", "health", health)
    init_cli(server)
    init_dashboard(server)
    return server


def health():
    """Liveness: the process answers. No database call, so a slow database never kills it."""
    return jsonify(status="ok")


def __getattr__(name: str):
    """`server` for gunicorn, built on first access so importing this module stays cheap."""
    if name == "server":
        try:
            value = create_app()
        except SettingsError as exc:
            raise SystemExit(f"channelpulse: configuration error: {exc}") from None
        globals()["server"] = value
        return value
    raise AttributeError(name)


if __name__ == "__main__":
    from embedded import main

    sys.exit(main())
