"""The `flask --app app <command>` commands: migrate, seed the demo, manage users, sync a
platform, import a CSV file, retrain the forecasts. Registered on the app by `init_cli(app)`; long ones print a
progress line (jobs.progress.ProgressLine) and say when they are done."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfoNotFoundError

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

from connectors.csv_files import CLI_LIMITS, UnreadableFile
from connectors.csv_import import mapping_for
from db import accounts, migrate
from db.engine import transaction
from db.fx import MissingFxRate
from db.models import Company, ForecastRun, User
from jobs import forecasts
from jobs.csv_import import import_csv
from jobs.progress import ProgressLine
from jobs.sync import LOOKBACK, sync_platform
from state import AppState
from web.context import state


def init_cli(app: Flask) -> None:
    for command in (
        db_upgrade_command,
        seed_demo_command,
        create_user_command,
        set_password_command,
        import_csv_command,
        sync_command,
        retrain_command,
    ):
        app.cli.add_command(command)


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
            accounts.create_user(session, company, email, password, role)
    except accounts.UserExists as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {email.lower()} in {company_name}")


@click.command("set-password")
@click.option("--email", required=True)
@click.password_option(prompt="New password")
@with_appcontext
def set_password_command(email: str, password: str) -> None:
    """Set a user's password and sign them out everywhere (every login of theirs is revoked)."""
    if len(password) < accounts.MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"the password must have at least {accounts.MIN_PASSWORD_LENGTH} characters")
    with transaction(state().sessions) as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user with the email {email.strip().lower()}")
        ended = accounts.set_password(session, user, password)
    click.echo(f"password set for {user.email}; {ended} sign-ins ended")


@click.command("sync")
@click.option("--platform-id", type=int, required=True)
@click.option(
    "--lookback-minutes",
    type=float,
    default=LOOKBACK.total_seconds() / 60,
    show_default=True,
    help="How far before the cursor to re-read.",
)
@with_appcontext
def sync_command(platform_id: int, lookback_minutes: float) -> None:
    """Sync one platform now, with a progress line; exits 1 if it fails."""
    progress = ProgressLine(f"syncing platform {platform_id}")
    result = sync_platform(
        state().sessions,
        platform_id,
        state().credentials,
        lookback=timedelta(minutes=lookback_minutes),
        progress=progress,
        activity=progress.note,
        network=state().network,
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
    parse_line, write_line = ProgressLine(f"parsing {name}"), ProgressLine(f"writing {name}")
    try:
        mapping = mapping_for(
            preset,
            dict(c.split("=", 1) for c in columns),
            date_format,
            shipping_skus=shipping_skus,
            ignored_skus=ignored_skus,
        )
        result = import_csv(
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
    from jobs.demo import seed_demo  # only here: the demo's simulators stay out of the web process

    progress = ProgressLine("loading demo orders")
    summary = seed_demo(app_state.sessions, progress=progress)
    progress.finish(f"{summary.orders:,} orders over {summary.days} days")


@click.command("retrain")
@click.option("--company-id", type=int, required=True)
@with_appcontext
def retrain_command(company_id: int) -> None:
    """Refit a company's forecasts now, in a child process as the worker does, with a progress
    line; exits 1 if the run fails."""
    sessions = state().sessions
    with transaction(sessions) as session:
        if session.get(Company, company_id) is None:
            raise click.ClickException(f"no company with id {company_id}")
        run_id = forecasts.request_retrain(session, company_id)
    if forecasts.claim(sessions, run_id) is None:
        raise click.ClickException(f"a retrain of this company is already running (run {run_id})")
    progress = ProgressLine(f"retraining company {company_id}")
    url = state().settings.database_url.render_as_string(hide_password=False)
    forecasts.run_in_child(sessions, run_id, url, progress=progress)
    with sessions() as session:
        run = session.get(ForecastRun, run_id)
        if run.status != "succeeded":
            raise click.ClickException(f"retrain {run.status}: {run.error}")
        progress.finish(f"{run.series_total} series" + (f" ({run.error})" if run.error else ""))
