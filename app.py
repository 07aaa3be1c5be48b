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
import threading
import time
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfoNotFoundError

import click
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask, g, jsonify, request
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.middleware.proxy_fix import ProxyFix

import jobs
import worker
from api import init_api
from connectors.base import NetworkPolicy
from connectors.csv_files import CLI_LIMITS, UnreadableFile
from connectors.csv_import import mapping_for
from dashboard import init_dashboard
from dashboard.auth import MIN_PASSWORD_LENGTH, init_auth, set_password
from db import migrate
from db.cache import ReadCache, database_identity
from db.credentials import CredentialBox
from db.engine import make_engine, make_session_factory, transaction
from db.ingest import MissingFxRate
from db.models import Company, Platform, User
from extensions import AppState, init_state, state
from logs import configure_logging
from settings import PROJECT_ROOT, Settings, SettingsError
from simulators.demo import MIRAKL_PORT, SHOPIFY_PORT, available_port, build_demo_stores, demo_connections
from web_security import init_web_security

log = logging.getLogger("channelpulse")
request_log = logging.getLogger("channelpulse.request")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
UPLOAD_LIMIT_BYTES = 100 * 1024 * 1024  # CSV imports and rate files; bigger files go through the CLI
QUIET_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon.ico")
RUNNING_AT = "ChannelPulse is running at "  # + the URL it serves, printed once it listens


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
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_DURATION=timedelta(days=14),  # also how long an unused login lives (dashboard/auth.py)
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=UPLOAD_LIMIT_BYTES,
    )
    server.json.sort_keys = False  # answers keep the documented field order
    if settings.trusted_proxy_hops:  # remote_addr (the login throttle's client) is the real client's
        hops = settings.trusted_proxy_hops
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops)
    engine = make_engine(settings.database_url)
    cache = ReadCache(settings.cache_dir, settings.redis_url, namespace=database_identity(settings.database_url))
    init_state(server, AppState(settings=settings, engine=engine, sessions=make_session_factory(engine), cache=cache))
    init_request_tracing(server)
    init_web_security(server, production=settings.is_production)  # before init_auth: refused before any login lookup
    init_auth(server)
    init_api(server)
    server.add_url_rule("/health", "health", health)
    server.cli.add_command(db_upgrade_command)
    server.cli.add_command(seed_demo_command)
    server.cli.add_command(create_user_command)
    server.cli.add_command(set_password_command)
    server.cli.add_command(import_csv_command)
    server.cli.add_command(sync_command)
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
    try:
        with transaction(state().sessions) as session:
            company = session.scalar(select(Company).where(Company.name == company_name))
            if company is None:
                company = Company(name=company_name, timezone=timezone, currency=currency.upper())
            jobs.create_user(session, company, email, password, role)
    except jobs.UserExists as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {email.lower()} in {company_name}")


@click.command("set-password")
@click.option("--email", required=True)
@click.password_option(prompt="New password")
@with_appcontext
def set_password_command(email: str, password: str) -> None:
    """Set a user's password and sign them out everywhere (every login of theirs is revoked)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with transaction(state().sessions) as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user with the email {email.strip().lower()}")
        ended = set_password(session, user, password)
    click.echo(f"password set for {user.email}; {ended} sign-ins ended")


@click.command("sync")
@click.option("--platform-id", type=int, required=True)
@click.option(
    "--lookback-minutes",
    type=float,
    default=jobs.LOOKBACK.total_seconds() / 60,
    show_default=True,
    help="How far before the cursor to re-read.",
)
@with_appcontext
def sync_command(platform_id: int, lookback_minutes: float) -> None:
    """Sync one platform now, with a progress line; exits 1 if it fails."""
    progress = jobs.ProgressLine(f"syncing platform {platform_id}")
    result = jobs.sync_platform(
        state().sessions,
        platform_id,
        CredentialBox(state().settings.credentials_keys),
        lookback=timedelta(minutes=lookback_minutes),
        progress=progress,
        activity=progress.note,
        network=NetworkPolicy.for_app_env(state().settings.app_env),
    )
    if result.status != "succeeded":
        raise click.ClickException(f"sync {result.status}: {result.error or 'another sync of it is running'}")
    progress.finish(f"{result.rows:,} orders in {result.pages} pages")


@click.command("import-csv")
@click.option("--platform-id", type=int, required=True, help="A platform of kind csv.")
@click.option("--preset", default="canonical", show_default=True, help="A known layout (docs/csv_import.md).")
@click.option("--column", "columns", multiple=True, metavar="NAME=HEADER", help="Map a canonical column (repeatable).")
@click.option("--date-format", help="strptime format of the file's dates, instead of the preset's.")
@click.option("--shipping-sku", "shipping_skus", multiple=True, help="A SKU that is postage (repeatable).")
@click.option("--ignored-sku", "ignored_skus", multiple=True, help="A SKU that is not goods: left out (repeatable).")
@click.option("--currency", help="Currency of rows without one (default: the platform's).")
@click.option("--timezone", help="Time zone of times without an offset (default: the company's).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_csv_command(
    platform_id: int,
    preset: str,
    columns: tuple[str, ...],
    date_format: str | None,
    shipping_skus: tuple[str, ...],
    ignored_skus: tuple[str, ...],
    currency: str | None,
    timezone: str | None,
    file: str,
) -> None:
    """Import orders from a CSV file: every row, or nothing if any row is wrong. Files may be
    bigger than a web upload (csv_files.CLI_LIMITS)."""
    if any("=" not in c for c in columns):
        raise click.BadParameter("expected NAME=HEADER", param_hint="--column")
    name = click.format_filename(file, shorten=True)
    parse_line, write_line = jobs.ProgressLine(f"parsing {name}"), jobs.ProgressLine(f"writing {name}")
    try:
        mapping = mapping_for(
            preset,
            dict(c.split("=", 1) for c in columns),
            date_format,
            shipping_skus=shipping_skus,
            ignored_skus=ignored_skus,
        )
        result = jobs.import_csv(
            state().sessions,
            platform_id,
            file,
            mapping,
            currency=currency,
            timezone=timezone,
            parse_progress=parse_line,
            write_progress=write_line,
            limits=CLI_LIMITS,
        )
    except (ValueError, ZoneInfoNotFoundError, MissingFxRate, UnreadableFile) as exc:
        raise click.ClickException(str(exc)) from None
    if result.errors:
        parse_line.finish(f"{len(result.errors):,} errors")
        for error in result.errors[:50]:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{len(result.errors):,} errors in {name} (the first 50 above); nothing imported")
    write_line.finish(
        f"{result.rows:,} rows: {result.orders:,} orders, {result.lines:,} lines, {result.returns:,} returned lines, "
        f"{result.skipped:,} skipped, {result.ignored:,} ignored "
        f"(parse {result.parse_s:.1f} s, write {result.write_s:.1f} s)"
    )


def seed_demo_once(app_state: AppState) -> None:
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
    parser.add_argument("--port", type=int, default=8050, help="0: any free port (the URL printed says which)")
    parser.add_argument("--no-demo", action="store_true", help="no demo company and no store simulators")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"channelpulse: configuration error: {exc}", file=sys.stderr)
        return 2
    server = create_app(settings)
    app_state = server.extensions["channelpulse"]
    try:
        migrate.upgrade(app_state.engine)
    except OperationalError as exc:  # refused, unknown host, bad password: one line, not a traceback
        url = settings.database_url.render_as_string(hide_password=True)
        reason = str(exc.orig).partition("\n")[0] or type(exc.orig).__name__
        print(f"channelpulse: cannot use the database at {url}: {reason}", file=sys.stderr)
        return 1
    from werkzeug.serving import make_server

    # Bind first: the port is ours before anyone is told it, and --port 0 takes any free one.
    http = make_server(args.host, args.port, server, threaded=True)
    url = f"http://{args.host}:{http.port}"
    demo = settings.demo_enabled and not args.no_demo
    demo_ports = connect_demo_company(app_state) if demo else None
    threading.Thread(
        target=start_background, args=(app_state, demo_ports, f"{url}/webhooks/shopify"), name="embedded", daemon=True
    ).start()
    print(f"\n{RUNNING_AT}{url}", flush=True)
    if demo:
        print("Demo login: demo@example.com / demo", flush=True)
        print("The demo stores' two-year history syncs in the background: see the Channels page.\n", flush=True)
    http.serve_forever()
    return 0


def connect_demo_company(app_state: AppState) -> tuple[int, int]:
    """Create the demo company (once) connected to the demo stores' ports: the usual ones, or
    free ones when something holds those. Returns the ports."""
    ports = available_port(SHOPIFY_PORT), available_port(MIRAKL_PORT)
    connections = demo_connections(*(f"http://127.0.0.1:{port}" for port in ports))
    jobs.seed_demo(
        app_state.sessions,
        connections=connections,
        box=CredentialBox(app_state.settings.credentials_keys),
        days=app_state.settings.demo_history_days,
    )
    return ports


def start_background(app_state: AppState, demo_ports: tuple[int, int] | None, webhook_url: str) -> BaseScheduler:
    """Serve the demo stores (generating their history takes a few seconds), then schedule syncs.
    The scheduler starts even when the stores cannot (a port taken since it was chosen)."""
    if demo_ports:
        try:
            stores = build_demo_stores(
                shopify_port=demo_ports[0],
                mirakl_port=demo_ports[1],
                webhook_url=webhook_url,
                history_days=app_state.settings.demo_history_days,
            )
        except OSError as exc:
            report_demo_stores_down(app_state, exc)
        else:
            stores.start()
            log.info("demo stores shopify=%s bestbuy=%s", stores.shopify.url, stores.bestbuy.url)
    scheduler = worker.build_scheduler(app_state.settings, app_state.sessions, background=True)
    scheduler.start()
    return scheduler


def report_demo_stores_down(app_state: AppState, error: OSError) -> None:
    """Say it everywhere someone looks: the log, the console, and the demo channels' cards (their
    syncs are paused until the next start, so the message stays)."""
    reason = error.strerror or str(error)
    message = f"The demo store could not start: {reason}. Free the port and start ChannelPulse again."
    log.error("demo stores not started error=%s", reason)
    print(f"channelpulse: {message}", file=sys.stderr, flush=True)
    with transaction(app_state.sessions) as session:
        demo = select(Platform).join(Company).where(Company.name == jobs.DEMO_COMPANY, Platform.kind != "csv")
        for platform in session.scalars(demo):
            platform.status, platform.status_message = "disabled", message
            platform.sync_requested_at = None


if __name__ == "__main__":
    sys.exit(main())
