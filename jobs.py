"""The only glue between connectors, the database and forecasting: demo seeding, syncs,
rollups. Each job opens its own sessions, so the web process, the scheduler and the CLI can
all run them."""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.utils import secure_filename

import records
from connectors import CONNECTORS, csv_files, csv_import, make_connector
from connectors.base import STRICT, AuthError, Connector, ConnectorError, NetworkPolicy
from db import ingest, locks, reconciliation
from db.credentials import CredentialBox, CredentialsError
from db.engine import transaction
from db.models import Company, Order, Platform, SyncRun, SyncState, User, utcnow
from simulators.business import BESTBUY, CHANNELS, CURRENCY, SHOPIFY, Business, cad_usd_rate

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

DEMO_COMPANY = "Northwind Audio (demo)"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo"
DEMO_DAYS = 730
# Orders change for about six weeks after they are placed (shipping, returns): a top-up
# re-reads that long a tail so the demo stays exactly as the business would report it.
DEMO_TAIL_DAYS = 45
DEMO_PLATFORMS = {
    SHOPIFY: ("Shopify store", {"shop_domain": "northwind-audio.myshopify.com"}),
    BESTBUY: ("Best Buy Marketplace", {"shop_id": "2001", "shop_name": "Northwind Audio CA"}),
}


class ProgressLine:
    """A one-line progress report for the CLI: rewritten in place on a terminal, printed every
    10% otherwise (logs, CI), and finished with a done line. Before there is anything to count,
    `note` says what the work is waiting for (on a terminal as it changes, in logs every 10 s)."""

    NOTE_EVERY_SECONDS = 10.0

    def __init__(self, label: str, stream=sys.stderr) -> None:
        self.label, self.stream = label, stream
        self.started = time.monotonic()
        self._last_step = -1
        self._last_note = -self.NOTE_EVERY_SECONDS

    def note(self, text: str) -> None:
        if self.stream.isatty():
            self.stream.write(f"\r\033[K{self.label}: {text}")
        elif time.monotonic() - self._last_note >= self.NOTE_EVERY_SECONDS:
            self._last_note = time.monotonic()
            self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if self.stream.isatty():
            self.stream.write(f"\r{self.label}: {pct:3d}% ({done:,}/{total:,})")
        elif pct // 10 != self._last_step:
            self._last_step = pct // 10
            self.stream.write(f"{self.label}: {pct}% ({done:,}/{total:,})\n")
        self.stream.flush()

    def finish(self, summary: str) -> None:
        end = "\n" if self.stream.isatty() else ""
        self.stream.write(f"{end}{self.label}: done, {summary} in {time.monotonic() - self.started:.1f} s\n")
        self.stream.flush()


class UserExists(ValueError):
    """create_user was given an email that already has an account."""


def create_user(session: Session, company: Company, email: str, password: str, role: str = "viewer") -> User:
    from dashboard.auth import hash_password  # argon2 set-up lives with the login

    email = email.strip().lower()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserExists("a user with this email already exists")
    user = User(email=email, password_hash=hash_password(password), company=company, role=role)
    session.add(user)
    return user


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    orders: int
    days: int


def seed_demo(
    sessions: sessionmaker[Session],
    *,
    business: Business | None = None,
    connections: Mapping[str, tuple[dict[str, str], dict[str, str]]] | None = None,
    box: CredentialBox | None = None,
    now: datetime | None = None,
    days: int = DEMO_DAYS,
    progress: Progress | None = None,
) -> DemoSummary:
    """Create the demo company (once) with its exchange rates and catalog, then fill in history.

    Given `connections` (running store simulators: kind -> config, secrets), its platforms are
    connected to them and the scheduler's syncs bring the history in through the real
    connectors. Without, the business's history up to `now` is written straight into the
    database (tests, benchmarks); run again, that only tops up what changed since.
    """
    business = business or Business()
    now = now or datetime.now(UTC)
    tz = ZoneInfo(business.timezone)
    today = now.astimezone(tz).date()

    with transaction(sessions) as session:
        company = session.scalar(select(Company).where(Company.name == DEMO_COMPANY))
        created = company is None
        if created:
            company = Company(name=DEMO_COMPANY, timezone=business.timezone, currency="USD")
            session.add(company)
            create_user(session, company, DEMO_EMAIL, DEMO_PASSWORD, role="admin")
            for kind, (name, config) in DEMO_PLATFORMS.items():
                session.add(
                    Platform(company=company, kind=kind, display_name=name, currency=CURRENCY[kind], config=config)
                )
            session.flush()
        platforms = {p.kind: p for p in session.scalars(select(Platform).where(Platform.company_id == company.id))}
        for kind, platform in platforms.items():
            if connections:
                config, secrets = connections[kind]
                platform.config, platform.credentials = config, box.seal(secrets)
                platform.status, platform.status_message = "active", None
            else:
                platform.status, platform.status_message = "disabled", "Demo data loaded directly: no store connected."
        newest = session.scalar(select(func.max(Order.order_day)).where(Order.company_id == company.id))
        start = today - timedelta(days=days - 1)
        rates = demo_fx_rates(start - timedelta(days=7), today + timedelta(days=7))
        ingest.upsert_fx_rates(session, company.id, rates, "demo")
        for kind in CHANNELS:
            ingest.upsert_products(session, platforms[kind], business.products(kind))
    if connections:
        return DemoSummary(created=created, orders=0, days=0)

    if newest is not None:
        start = min(newest, today) - timedelta(days=DEMO_TAIL_DAYS)
    batches = {
        kind: [o.to_record(now) for o in business.orders_between(kind, start, today) if o.created_at <= now]
        for kind in CHANNELS
    }
    total = sum(len(b) for b in batches.values())
    loaded = 0
    for kind, orders in batches.items():
        offset = loaded

        def overall(done: int, _total: int, offset: int = offset) -> None:
            if progress:
                progress(offset + done, total)

        write_orders(sessions, platforms[kind], orders, tz, overall)
        loaded += len(orders)
    log.info("demo seeded created=%s orders=%d from=%s to=%s", created, loaded, start, today)
    return DemoSummary(created=created, orders=loaded, days=(today - start).days + 1)


def demo_fx_rates(start: date, end: date) -> Iterable[tuple[date, str, str, object]]:
    day = start
    while day <= end:
        rate = cad_usd_rate(day)
        if rate is not None:
            yield day, "CAD", "USD", rate
        day += timedelta(days=1)


def write_orders(
    sessions: sessionmaker[Session],
    platform: Platform,
    orders: list[records.Order],
    tz: ZoneInfo,
    progress: Progress | None = None,
    page_size: int = 1000,
) -> set[date]:
    """Upsert orders page by page (a transaction each) and roll up the days they touched."""
    touched: set[date] = set()
    for offset in range(0, len(orders), page_size):
        with transaction(sessions) as session:
            touched |= ingest.upsert_orders(session, platform, orders[offset : offset + page_size], tz)
        if progress:
            progress(min(offset + page_size, len(orders)), len(orders))
    with transaction(sessions) as session:
        ingest.rollup_daily(session, session.get(Platform, platform.id), touched)
    return touched


# --- sync ----------------------------------------------------------------------------------

# Re-read this much before the cursor on every sync: platforms update an order's children a
# moment after the order itself, and a sync may race an update (Airbyte, Singer do the same).
LOOKBACK = timedelta(minutes=10)
# Pages only mark the days they touch; their rollups are recomputed this often (and at the end).
ROLLUP_EVERY_SECONDS = 3.0
# A backfill's pages touch days all over its history: rolling those up every few seconds would
# recompute the same days many times over, so a first sync fills the dashboard in less often.
BACKFILL_ROLLUP_EVERY_SECONDS = 20.0
# Products change rarely; refresh the catalog at most this often.
PRODUCTS_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class SyncResult:
    platform_id: int
    status: str  # succeeded | failed | busy
    pages: int = 0
    rows: int = 0
    error: str | None = None


def sync_platform(
    sessions: sessionmaker[Session],
    platform_id: int,
    box: CredentialBox,
    *,
    lookback: timedelta = LOOKBACK,
    progress: Progress | None = None,
    activity: Callable[[str], None] | None = None,
    connector: Connector | None = None,
    network: NetworkPolicy = STRICT,
) -> SyncResult:
    """Bring one platform's orders (and, hourly, products) up to date, incrementally. `network`
    is where the connector may send requests (the settings' policy; strict by default).

    Each page is written in one transaction together with the rollup of the days it touched
    and the new cursor, so a crash at any point resumes from the last committed page with
    nothing lost and nothing doubled. Two syncs of one platform never run at once.
    """
    engine = sessions.kw["bind"]
    with locks.named_lock(engine, f"sync:{platform_id}") as held:
        if not held:
            return SyncResult(platform_id, "busy")
        run_id, since, tz, fetch_products = _start_run(sessions, platform_id, lookback)
        pages = rows = 0
        try:
            with sessions() as session:
                platform = session.get(Platform, platform_id)
                if connector is None:
                    secrets = box.open(platform.credentials)
                    connector = make_connector(platform.kind, platform.config, secrets, network=network)
            connector.on_activity = partial(_record_activity, sessions, run_id, activity)
            if fetch_products:
                _sync_products(sessions, platform_id, connector)
            rolled_up, every = time.monotonic(), ROLLUP_EVERY_SECONDS if since else BACKFILL_ROLLUP_EVERY_SECONDS
            with records.cycle_collector_paused():  # a sync's pages make next to no cycles
                for page in connector.fetch_orders(since):
                    if time.monotonic() - rolled_up >= every:  # the dashboard fills in as it goes
                        _rollup_dirty(sessions, platform_id, during_sync=True)
                        rolled_up = time.monotonic()
                    if not page:
                        continue
                    with transaction(sessions) as session:
                        _write_page(session, platform, run_id, page, tz, connector.expected_total)
                    pages, rows = pages + 1, rows + len(page)
                    expected = connector.expected_total
                    if progress:
                        progress(rows, expected or rows)
                    if expected and rows * 10 // expected != (rows - len(page)) * 10 // expected:
                        log.info(
                            "sync progress platform_id=%s rows=%d of=%d pct=%d",
                            platform_id,
                            rows,
                            expected,
                            100 * rows // expected,
                        )
        except AuthError as exc:
            return _finish(sessions, platform_id, run_id, pages, rows, str(exc), needs_attention=True)
        except (ConnectorError, ingest.MissingFxRate, CredentialsError) as exc:
            return _finish(sessions, platform_id, run_id, pages, rows, str(exc))
        except Exception as exc:
            log.exception("sync crashed platform_id=%s", platform_id)
            return _finish(sessions, platform_id, run_id, pages, rows, f"internal error ({type(exc).__name__})")
        return _finish(sessions, platform_id, run_id, pages, rows, None)


def end_interrupted_runs(session: Session, platform_id: int) -> None:
    """Mark the platform's runs still `running` as failed. Call it holding the platform's
    `sync:` lock: no run of it can be going on then, so those were killed mid-way."""
    session.execute(
        update(SyncRun)
        .where(SyncRun.platform_id == platform_id, SyncRun.status == "running")
        .values(status="failed", finished_at=utcnow(), error="interrupted (the process stopped)")
    )


def _start_run(
    sessions: sessionmaker[Session], platform_id: int, lookback: timedelta
) -> tuple[int, datetime | None, ZoneInfo, bool]:
    with transaction(sessions) as session:
        platform = session.get(Platform, platform_id)
        if platform is None:
            raise LookupError(f"no platform {platform_id}")
        end_interrupted_runs(session, platform_id)
        platform.sync_requested_at = None
        run = SyncRun(platform_id=platform_id, stream="orders")
        session.add(run)
        state = session.get(SyncState, (platform_id, "orders"))
        products = session.get(SyncState, (platform_id, "products"))
        session.flush()
        since = state.cursor - lookback if state and state.cursor else None
        due = products is None or products.cursor is None or utcnow() - products.cursor >= PRODUCTS_EVERY
        company = session.get(Company, platform.company_id)
        return run.id, since, ZoneInfo(company.timezone), due


def _record_activity(
    sessions: sessionmaker[Session], run_id: int, tell: Callable[[str], None] | None, text: str
) -> None:
    """Store what the sync is doing on its run (the UI shows it), and tell the CLI if it asked."""
    with transaction(sessions) as session:
        session.execute(update(SyncRun).where(SyncRun.id == run_id).values(activity=text[:200]))
    if tell is not None:
        tell(text)


def _sync_products(sessions: sessionmaker[Session], platform_id: int, connector: Connector) -> None:
    started = utcnow()
    for page in connector.fetch_products():
        with transaction(sessions) as session:
            ingest.upsert_products(session, session.get(Platform, platform_id), page)
    with transaction(sessions) as session:
        state = session.get(SyncState, (platform_id, "products")) or SyncState(
            platform_id=platform_id, stream="products"
        )
        state.cursor = started
        session.add(state)


def _write_page(
    session: Session, platform: Platform, run_id: int, page: list[records.Order], tz: ZoneInfo, expected: int | None
) -> None:
    """One page, its dirty days, the cursor and the run's counts, in the caller's transaction.
    `platform` is the run's, loaded once (ingest reads its ids only)."""
    platform_id = platform.id
    ingest.mark_dirty(session, platform_id, ingest.upsert_orders(session, platform, page, tz))
    newest = max(o.updated_at for o in page)
    state = session.get(SyncState, (platform_id, "orders")) or SyncState(platform_id=platform_id, stream="orders")
    if state.cursor is None or newest > state.cursor:
        state.cursor = newest
    session.add(state)
    session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(pages=SyncRun.pages + 1, rows=SyncRun.rows + len(page), expected_rows=expected)
    )


def _rollup_dirty(sessions: sessionmaker[Session], platform_id: int, during_sync: bool = False) -> None:
    """Roll up the platform's marked days. `during_sync`: a missing exchange rate does not stop
    the sync reading its pages (the orders are worth having); the days stay marked and the
    sync's end, which rolls up again, reports the missing rate."""
    try:
        with transaction(sessions) as session:
            ingest.rollup_dirty(session, session.get(Platform, platform_id))
    except ingest.MissingFxRate as exc:
        if not during_sync:
            raise
        log.warning("rollup waits for a rate platform_id=%s error=%s", platform_id, exc)


def _finish(
    sessions: sessionmaker[Session],
    platform_id: int,
    run_id: int,
    pages: int,
    rows: int,
    error: str | None,
    needs_attention: bool = False,
) -> SyncResult:
    try:
        _rollup_dirty(sessions, platform_id)
    except ingest.MissingFxRate as exc:  # the orders are in; their days stay marked for the next try
        error = error or str(exc)
    status = "failed" if error else "succeeded"
    with transaction(sessions) as session:
        platform = session.get(Platform, platform_id)
        run = session.get(SyncRun, run_id)
        run.status, run.error, run.finished_at = status, error, utcnow()
        if error is None:
            platform.last_sync_at = run.finished_at
            platform.status, platform.status_message = "active", None
        else:
            platform.status_message = error
            if needs_attention:
                platform.status = "needs_attention"
    log.log(
        logging.WARNING if error else logging.INFO,
        "sync finished platform_id=%s status=%s pages=%d rows=%d error=%s",
        platform_id,
        status,
        pages,
        rows,
        error,
    )
    return SyncResult(platform_id, status, pages, rows, error)


def due_platforms(session: Session, interval: timedelta, now: datetime | None = None) -> list[int]:
    """Active platforms asked to sync now, or not synced for `interval`."""
    now = now or utcnow()
    rows = session.execute(
        select(Platform.id, Platform.last_sync_at, Platform.sync_requested_at)
        .where(Platform.kind != "csv", (Platform.status == "active") | Platform.sync_requested_at.is_not(None))
        .order_by(Platform.sync_requested_at.is_(None), Platform.last_sync_at.is_not(None), Platform.last_sync_at)
    )
    return [pid for pid, last, requested in rows if requested or last is None or now - last >= interval]


RESCAN_LOOKBACK = timedelta(days=3)


def rescan_all(
    sessions: sessionmaker[Session], box: CredentialBox, network: NetworkPolicy = STRICT
) -> list[SyncResult]:
    """Re-read the last few days of every active platform (the daily safety net)."""
    with sessions() as session:
        ids = list(session.scalars(select(Platform.id).where(Platform.status == "active", Platform.kind != "csv")))
    return [sync_platform(sessions, pid, box, lookback=RESCAN_LOOKBACK, network=network) for pid in ids]


# --- CSV import ----------------------------------------------------------------------------

CSV_WRITE_CHUNK = 1000  # orders per upsert_orders call, all inside the import's one transaction


@dataclass(frozen=True)
class CsvImportResult:
    rows: int
    orders: int
    lines: int
    returns: int
    skipped: int
    ignored: int
    errors: list[csv_files.RowError]
    parse_s: float
    write_s: float


def import_csv(
    sessions: sessionmaker[Session],
    platform_id: int,
    source: csv_files.Source,
    mapping: csv_import.CsvMapping = csv_import.CANONICAL,
    *,
    currency: str | None = None,
    timezone: str | None = None,
    parse_progress: Progress | None = None,
    write_progress: Progress | None = None,
    limits: csv_files.Limits = csv_files.UPLOAD_LIMITS,
) -> CsvImportResult:
    """Import a CSV file into a "csv" platform: all of it, or, if any row is wrong, nothing.

    The whole file is parsed and validated first; only a clean file is written, in one
    transaction with the rollup of the days it touched. Re-importing a file rewrites the same
    orders (same external ids), so it never duplicates. `currency` defaults to the platform's,
    `timezone` (of the file's times) to the company's. A file past `limits` (the web upload's
    unless the caller, the CLI, says otherwise) raises csv_files.UnreadableFile.
    """
    with sessions() as session:
        platform = session.get(Platform, platform_id)
        if platform is None or platform.kind != "csv":
            raise ValueError(f"platform {platform_id} is not a CSV platform")
        company_tz = session.get(Company, platform.company_id).timezone

    started = time.perf_counter()
    parsed = csv_import.parse_csv(
        source,
        mapping,
        currency=currency or platform.currency,
        timezone=timezone or company_tz,
        progress=parse_progress,
        limits=limits,
    )
    parse_s = time.perf_counter() - started
    orders, tz = parsed.orders, ZoneInfo(company_tz)
    if orders:  # only a clean file has orders
        with transaction(sessions) as session:
            platform = session.get(Platform, platform_id)
            touched: set[date] = set()
            for offset in range(0, len(orders), CSV_WRITE_CHUNK):
                touched |= ingest.upsert_orders(session, platform, orders[offset : offset + CSV_WRITE_CHUNK], tz)
                if write_progress:
                    write_progress(min(offset + CSV_WRITE_CHUNK, len(orders)), len(orders))
            ingest.upsert_products(session, platform, csv_import.products(orders))
            ingest.rollup_daily(session, platform, touched)
            ingest.mark_synced(session, platform)
    write_s = time.perf_counter() - started - parse_s
    log.info(
        "csv import platform_id=%d rows=%d orders=%d errors=%d parse_s=%.2f write_s=%.2f",
        platform_id,
        parsed.rows,
        len(orders),
        len(parsed.errors),
        parse_s,
        write_s,
    )
    return CsvImportResult(
        rows=parsed.rows,
        orders=len(orders),
        lines=parsed.lines,
        returns=parsed.returns,
        skipped=parsed.skipped,
        ignored=parsed.ignored,
        errors=parsed.errors,
        parse_s=parse_s,
        write_s=write_s,
    )


IMPORT_STREAM = "import"  # the sync_runs stream of CSV imports (their progress bar)
PROGRESS_WRITE_SECONDS = 0.5
IMPORT_BUSY = "another import into this channel was running: nothing imported; upload the file again"
MAX_UPLOAD_NAME = 100  # characters of the upload's name kept in its stored file's name


def run_csv_import(
    sessions: sessionmaker[Session],
    platform_id: int,
    source: csv_files.Source,
    mapping: csv_import.CsvMapping = csv_import.CANONICAL,
    *,
    currency: str | None = None,
    timezone: str | None = None,
) -> SyncResult:
    """import_csv as a job the UI can watch: its progress and outcome are a sync run of the
    platform (first the lines parsed, then the orders written), one import at a time: a file
    uploaded while another is importing is refused, and its run says so."""
    with locks.named_lock(sessions.kw["bind"], f"sync:{platform_id}") as held:
        with transaction(sessions) as session:
            run = SyncRun(platform_id=platform_id, stream=IMPORT_STREAM)
            if held:
                end_interrupted_runs(session, platform_id)  # an import whose process was killed
            else:
                run.status, run.finished_at, run.error = "failed", utcnow(), IMPORT_BUSY
            session.add(run)
            session.flush()
            run_id = run.id
        if not held:
            return SyncResult(platform_id, "busy", error=IMPORT_BUSY)
        last_report = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last_report
            if time.monotonic() - last_report >= PROGRESS_WRITE_SECONDS or done == total:
                last_report = time.monotonic()
                with transaction(sessions) as session:
                    session.execute(update(SyncRun).where(SyncRun.id == run_id).values(rows=done, expected_rows=total))

        try:
            result = import_csv(
                sessions,
                platform_id,
                source,
                mapping,
                currency=currency,
                timezone=timezone,
                parse_progress=progress,
                # The write is one transaction: SQLite (one writer at a time) cannot record its
                # progress from another connection meanwhile; Postgres can.
                write_progress=progress if sessions.kw["bind"].dialect.name == "postgresql" else None,
            )
        except (ValueError, ConnectorError, ingest.MissingFxRate) as exc:
            error, rows = str(exc), 0
        except Exception as exc:  # a bug or a database error: the run must still end, and say so
            log.exception("csv import crashed platform_id=%s run_id=%s", platform_id, run_id)
            error, rows = f"internal error ({type(exc).__name__}), nothing imported: please report it", 0
        else:
            rows = result.orders
            error = None
            if result.errors:
                error = f"{len(result.errors):,} row errors, nothing imported; the first: {result.errors[0]}"

        with transaction(sessions) as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.id == run_id)
                .values(
                    status="failed" if error else "succeeded",
                    finished_at=utcnow(),
                    error=error,
                    rows=rows,
                    expected_rows=rows or None,
                )
            )
            platform = session.get(Platform, platform_id)
            platform.status_message = error
    log.log(
        logging.WARNING if error else logging.INFO,
        "csv import finished platform_id=%s orders=%d error=%s",
        platform_id,
        rows,
        error,
    )
    return SyncResult(platform_id, "failed" if error else "succeeded", rows=rows, error=error)


def upload_path(folder: Path, filename: str) -> Path:
    """A new file in `folder` (the settings' upload_dir) for an upload (its import deletes it when
    done): a random name, then the upload's own made safe and cut short (file names have a length
    limit)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}-{secure_filename(filename)[-MAX_UPLOAD_NAME:] or 'upload.csv'}"


def start_csv_import(
    sessions: sessionmaker[Session],
    platform_id: int,
    path: Path,
    mapping: csv_import.CsvMapping,
    *,
    currency: str | None = None,
    timezone: str | None = None,
) -> threading.Thread:
    """Run an uploaded file's import in the background (progress: the platform's sync runs)
    and delete the file afterwards. run_csv_import ends its run whatever the file does; what
    can still escape it (the database gone before the run is recorded) is logged here."""

    def run() -> None:
        try:
            run_csv_import(sessions, platform_id, path, mapping, currency=currency, timezone=timezone)
        except Exception:
            log.exception("csv import thread failed platform_id=%s", platform_id)
        finally:
            path.unlink(missing_ok=True)

    thread = threading.Thread(target=run, name=f"csv-import-{platform_id}", daemon=True)
    thread.start()
    return thread


# --- platform reports (reconciliation) -----------------------------------------------------


def fetch_platform_reports(
    sessions: sessionmaker[Session],
    platform_id: int,
    box: CredentialBox,
    start: date,
    end: date,
    network: NetworkPolicy = STRICT,
) -> int:
    """Download the platform's own daily sales report for its days start..end and store it in
    place of those days, for reconciliation; returns the days stored (0 when another process is
    fetching it right now). Connector errors are the caller's: it decides whether the report
    already stored will do."""
    with locks.named_lock(sessions.kw["bind"], f"report:{platform_id}") as held:
        if not held:
            return 0
        with sessions() as session:
            platform = session.get(Platform, platform_id)
            if platform is None:
                raise LookupError(f"no platform {platform_id}")
            connector = make_connector(platform.kind, platform.config, box.open(platform.credentials), network=network)
        days, pending = _report_and_changes(sessions, platform_id, connector, start, end)
        with transaction(sessions) as session:
            stored = reconciliation.store_report(session, platform_id, days, source="platform", pending=pending)
    log.info("platform report stored platform_id=%s start=%s end=%s days=%d", platform_id, start, end, stored)
    return stored


REPORT_ATTEMPTS = 3


def _report_and_changes(
    sessions: sessionmaker[Session], platform_id: int, connector: Connector, start: date, end: date
) -> tuple[list[records.ReportDay], reconciliation.PendingChanges]:
    """The report, and the orders changed since our sync as one snapshot with it: the changes
    are read before and after the report, which is read again when they differ (the platform
    or our data changed meanwhile); if they never settle, the changes are stored as not known."""
    before = _changes_since_sync(sessions, platform_id, connector)
    for _ in range(REPORT_ATTEMPTS):
        days = connector.fetch_daily_report(start, end)
        after = _changes_since_sync(sessions, platform_id, connector)
        if after == before:
            return days, after
        before = after
    return days, reconciliation.PendingChanges(known=False, data_version=after.data_version)


def _changes_since_sync(
    sessions: sessionmaker[Session], platform_id: int, connector: Connector
) -> reconciliation.PendingChanges:
    """The orders the platform changed after our last sync (read, not stored as orders), which
    reconciliation puts down to sync lag; not known when never synced or too many changed."""
    with sessions() as session:
        platform = session.get(Platform, platform_id)
        version = session.get(Company, platform.company_id).data_version
        cursor = reconciliation.orders_cursor(session, platform_id)
    unknown = reconciliation.PendingChanges(known=False, data_version=version)
    if cursor is None:
        return unknown
    changed: dict[str, records.Order] = {}
    for page in connector.fetch_orders(cursor):
        changed.update((o.external_id, o) for o in page if o.updated_at >= cursor)
        if len(changed) > reconciliation.PENDING_MAX:
            return unknown
    with sessions() as session:
        return reconciliation.PendingChanges.of(session, platform, changed.values(), version)


def refresh_platform_report(
    sessions: sessionmaker[Session],
    platform_id: int,
    box: CredentialBox,
    start: date,
    end: date,
    network: NetworkPolicy = STRICT,
) -> str | None:
    """Fetch the platform's report for start..end when the stored one is missing or old and the
    platform has one; returns why it could not be fetched (the stored one is then used), if so."""
    with sessions() as session:
        platform = session.get(Platform, platform_id)
        if not CONNECTORS[platform.kind].has_daily_report:
            return None
        if not reconciliation.report_needs_refresh(session, platform, start, end):
            return None
    try:
        fetch_platform_reports(sessions, platform_id, box, start, end, network)
    except (ConnectorError, CredentialsError) as exc:
        log.warning("platform report not fetched platform_id=%s error=%s", platform_id, exc)
        return f"The platform's report could not be fetched ({exc}); the one stored before, if any, is used."
    return None
