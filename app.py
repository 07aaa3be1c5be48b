"""ChannelPulse: `create_app()` builds the Flask server with the Dash app mounted.

`server` (module attribute, built on first access) is what gunicorn serves (`app:server`).
`python app.py` is the embedded single-process mode of `make run`: migrate, seed the demo
company once, serve http://127.0.0.1:8050.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
import uuid

import click
from flask import Flask, g, jsonify, request
from flask.cli import with_appcontext

from api import init_api
from dashboard import init_dashboard
from dashboard.auth import init_auth
from db import migrate
from db.engine import make_engine, make_session_factory
from extensions import AppState, init_state, state
from settings import PROJECT_ROOT, Settings, SettingsError

log = logging.getLogger("channelpulse")
request_log = logging.getLogger("channelpulse.request")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
QUIET_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon.ico")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        force=True,
    )


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app. `settings` defaults to the environment (Settings.from_env())."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    server = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    server.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.is_production,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        JSON_SORT_KEYS=False,
    )
    engine = make_engine(settings.database_url)
    init_state(server, AppState(settings=settings, engine=engine, sessions=make_session_factory(engine)))
    init_request_tracing(server)
    init_auth(server)
    init_api(server)
    server.add_url_rule("/health", "health", health)
    server.cli.add_command(db_upgrade_command)
    server.cli.add_command(seed_demo_command)
    server.cli.add_command(create_user_command)
    init_dashboard(server)
    return server


def health():
    """Liveness: the process answers. No database call, so a slow database never kills it."""
    return jsonify(status="ok")


def init_request_tracing(server: Flask) -> None:
    """A request id (the caller's X-Request-ID if sane, else a new one) and the time taken, on
    every response and in one log line per request."""

    @server.before_request
    def start_timer() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @server.after_request
    def add_trace_headers(response):
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        level = logging.DEBUG if request.path.startswith(QUIET_PREFIXES) else logging.INFO
        request_log.log(
            level,
            "request method=%s path=%s status=%d duration_ms=%.1f request_id=%s",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
            g.get("request_id"),
        )
        return response


# --- CLI: flask --app app <command> --------------------------------------------------------


@click.command("db-upgrade")
@with_appcontext
def db_upgrade_command() -> None:
    """Migrate the database to the newest schema."""
    migrate.upgrade(state().engine)
    click.echo(f"database at revision {migrate.current_revision(state().engine)}")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create the demo company (not in production) and load its history."""
    seed_demo_once(state())


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--company", "company_name", required=True, help="Company name; created if new.")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--currency", default="USD", show_default=True)
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="viewer", show_default=True)
@click.password_option()
@with_appcontext
def create_user_command(email: str, company_name: str, timezone: str, currency: str, role: str, password: str) -> None:
    """Create a user (and their company if it does not exist yet)."""
    from sqlalchemy import select

    import jobs
    from db.engine import transaction
    from db.models import Company

    with transaction(state().sessions) as session:
        company = session.scalar(select(Company).where(Company.name == company_name))
        if company is None:
            company = Company(name=company_name, timezone=timezone, currency=currency.upper())
        jobs.create_user(session, company, email, password, role)
    click.echo(f"created {role} {email.lower()} in {company_name}")


def seed_demo_once(app_state: AppState) -> None:
    import jobs

    if not app_state.settings.demo_enabled:
        raise click.ClickException("the demo company is not created in production")
    progress = jobs.ProgressLine("loading demo orders")
    summary = jobs.seed_demo(app_state.sessions, progress=progress)
    progress.finish(f"{summary.orders:,} orders over {summary.days} days")


# --- embedded mode: python app.py ----------------------------------------------------------


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ChannelPulse, embedded single-process mode")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--no-demo", action="store_true", help="do not create or top up the demo company")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"channelpulse: configuration error: {exc}", file=sys.stderr)
        return 2
    server = create_app(settings)
    app_state = server.extensions["channelpulse"]
    migrate.upgrade(app_state.engine)
    if settings.demo_enabled and not args.no_demo:
        seed_demo_once(app_state)
    url = f"http://{args.host}:{args.port}"
    print(f"\nChannelPulse is running at {url}", flush=True)
    if settings.demo_enabled:
        print("Demo login: demo@example.com / demo\n", flush=True)
    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, server, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
