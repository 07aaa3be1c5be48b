"""`make run` / `python app.py`: the embedded single-process mode. It migrates, creates the demo
company once connected to local store simulators, serves the web app on http://127.0.0.1:8050
and runs the scheduler in the same process (syncs; forecasting training runs in a child
process), so a fresh machine needs no account, no service and no internet."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import worker
from app import create_app
from connectors import SCHEDULED_KINDS
from db import migrate
from db.engine import transaction
from db.models import Company, Platform
from jobs.demo import DEMO_COMPANY, seed_demo
from settings import Settings, SettingsError
from simulators.demo import MIRAKL_PORT, SHOPIFY_PORT, available_port, build_demo_stores, demo_connections
from state import AppState

log = logging.getLogger("channelpulse")

RUNNING_AT = "ChannelPulse is running at "  # + the URL it serves, printed once it listens


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
    seed_demo(
        app_state.sessions,
        connections=connections,
        box=app_state.credentials,
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
    scheduler = worker.build_scheduler(app_state, background=True)
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
        demo = select(Platform).join(Company).where(Company.name == DEMO_COMPANY, Platform.kind.in_(SCHEDULED_KINDS))
        for platform in session.scalars(demo):
            platform.status, platform.status_message = "disabled", message
            platform.sync_requested_at = None
