"""Importing a CSV file into a "csv" platform: parse and validate all of it, then write it in one
transaction (all or nothing), as a job the Channels page can watch."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.utils import secure_filename

from connectors import FILE_KINDS, csv_files, csv_import
from connectors.base import ConnectorError
from db import fx, ingest, locks, rollups
from db.bulk import is_postgres
from db.engine import transaction
from db.models import Company, Platform, SyncRun, SyncState, utcnow
from jobs.progress import Progress
from jobs.sync import SyncResult, end_interrupted_runs
from records import Order

log = logging.getLogger(__name__)


CSV_WRITE_CHUNK = 1000  # orders per upsert_orders call, all inside the import's one transaction
PROGRESS_WRITE_SECONDS = 0.5


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

    One transaction writes the orders, their products and the rollup of the days they touched,
    and commits only if every row of the file was right: on Postgres the orders are written
    while the file is still being read (see _OrderWriter), and rolled back if a row turns out
    wrong; on SQLite the whole file is parsed first. Re-importing a file rewrites the same
    orders (same external ids), so it never duplicates. `currency` defaults to the platform's,
    `timezone` (of the file's times) to the company's. A file past `limits` (the web upload's
    unless the caller, the CLI, says otherwise) raises csv_files.UnreadableFile.
    """
    with sessions() as session:
        platform = session.get(Platform, platform_id)
        if platform is None or platform.kind not in FILE_KINDS:
            raise ValueError(f"platform {platform_id} is not a CSV platform")
        company_tz = session.get(Company, platform.company_id).timezone

    started = time.perf_counter()
    try:
        with transaction(sessions) as session:
            platform = session.get(Platform, platform_id)
            with _OrderWriter(session, platform, ZoneInfo(company_tz)) as writer:
                parsed = csv_import.parse_csv(
                    source,
                    mapping,
                    currency=currency or platform.currency,
                    timezone=timezone or company_tz,
                    progress=parse_progress,
                    limits=limits,
                    on_order=writer.add if writer.threaded else None,
                )
                parse_s = time.perf_counter() - started
                if parsed.errors:
                    raise _Refused  # take back what was written while the file was read
                writer.finish(write_progress, len(parsed.orders))
            _write_rest(session, platform, parsed.orders, writer, write_progress)
    except _Refused:
        pass
    write_s = time.perf_counter() - started - parse_s
    log.info(
        "csv import platform_id=%d rows=%d orders=%d errors=%d parse_s=%.2f write_s=%.2f",
        platform_id,
        parsed.rows,
        len(parsed.orders),
        len(parsed.errors),
        parse_s,
        write_s,
    )
    return CsvImportResult(
        rows=parsed.rows,
        orders=len(parsed.orders),
        lines=parsed.lines,
        returns=parsed.returns,
        skipped=parsed.skipped,
        ignored=parsed.ignored,
        errors=parsed.errors,
        parse_s=parse_s,
        write_s=write_s,
    )


class _Refused(Exception):
    """A file with wrong rows, raised inside the import's transaction to roll it back."""


class _OrderWriter:
    """Writes an import's orders in pages of CSV_WRITE_CHUNK. On Postgres a thread of its own
    writes them while the file is still being parsed (parse_csv's `on_order`), so the parse
    (Python, one core) and the server's work on the pages written so far (COPY, foreign-key
    checks, indexes: the other core) overlap; psycopg releases the GIL while it waits on the
    server. The thread is the session's only user until `finish` returns, and what it wrote is
    rolled back with the transaction if a later row is wrong. SQLite writes nothing during the
    parse: its one writer at a time would lock out the parse's progress reports. The queue is
    unbounded: its pages hold orders the parse keeps anyway."""

    def __init__(self, session: Session, platform: Platform, tz: ZoneInfo) -> None:
        self.session, self.platform, self.tz = session, platform, tz
        self.written: dict[str, Order] = {}  # external id -> the version written
        self.touched: set[date] = set()
        self.page: list[Order] = []
        self.pages: queue.SimpleQueue[list[Order] | None] = queue.SimpleQueue()
        self.failure: BaseException | None = None
        self.closed = False
        self.threaded = is_postgres(session)
        self.thread = threading.Thread(target=self._drain, name="csv-import-writer", daemon=True)

    def __enter__(self) -> _OrderWriter:
        if self.threaded:
            self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """On the way out, also after an error (a wrong row, a file past its limits), let the
        thread end (it writes the pages queued: they go with the rollback) before the
        transaction ends."""
        self._close()
        if self.threaded:
            self.thread.join()

    def add(self, order: Order) -> None:
        self.page.append(order)
        if len(self.page) >= CSV_WRITE_CHUNK:
            self.pages.put(self.page)
            self.page = []

    def write(self, page: list[Order]) -> None:
        self.touched |= ingest.upsert_orders(self.session, self.platform, page, self.tz)
        self.written.update((o.external_id, o) for o in page)

    def finish(self, progress: Progress | None, total: int) -> None:
        """Wait until the pages handed out are written (reporting them as the write's progress),
        then raise what the thread met, if anything."""
        if self.page:
            self.pages.put(self.page)
        self._close()
        while self.thread.is_alive():
            self.thread.join(PROGRESS_WRITE_SECONDS)
            if progress:
                progress(len(self.written), total)
        if self.failure is not None:
            raise self.failure

    def _close(self) -> None:
        """Tell the thread that no page follows those queued."""
        if not self.closed:
            self.closed = True
            self.pages.put(None)

    def _drain(self) -> None:
        while (page := self.pages.get()) is not None:
            if self.failure is None:
                try:
                    self.write(page)
                except BaseException as exc:  # raised by finish(); the parse must never wait on it
                    self.failure = exc


def _write_rest(
    session: Session, platform: Platform, orders: list[Order], writer: _OrderWriter, progress: Progress | None
) -> None:
    """Write the orders the parse did not hand out, or changed after (an order whose rows came
    back later in the file: the version written is deleted first), then the products, the
    rollups of the days touched, and the platform's sync mark."""
    if not orders:
        return
    rest = [o for o in orders if writer.written.get(o.external_id) is not o]
    ingest.delete_orders(session, platform, [o.external_id for o in rest if o.external_id in writer.written])
    for offset in range(0, len(rest), CSV_WRITE_CHUNK):
        writer.write(rest[offset : offset + CSV_WRITE_CHUNK])
        if progress:
            progress(len(writer.written), len(orders))
    ingest.upsert_products(session, platform, csv_import.products(orders))
    rollups.rollup_daily(session, platform, writer.touched)
    ingest.mark_synced(session, platform)


IMPORT_STREAM = "import"  # the sync_runs stream of CSV imports (their progress bar)
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

        wrong_rows: list[csv_files.RowError] = []
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
        except csv_files.CsvImportError as exc:  # the file as a whole (its errors say where)
            error, rows, wrong_rows = str(exc), 0, exc.errors
        except (ValueError, ConnectorError, fx.MissingFxRate) as exc:
            error, rows = str(exc), 0
        except Exception as exc:  # a bug or a database error: the run must still end, and say so
            log.exception("csv import crashed platform_id=%s run_id=%s", platform_id, run_id)
            error, rows = f"internal error ({type(exc).__name__}), nothing imported: please report it", 0
        else:
            rows, error, wrong_rows = result.orders, None, result.errors
            if wrong_rows:
                error = f"{len(wrong_rows):,} row errors, nothing imported; the first: {wrong_rows[0]}"

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
            store_row_errors(session, platform_id, run_id, wrong_rows)
    log.log(
        logging.WARNING if error else logging.INFO,
        "csv import finished platform_id=%s orders=%d error=%s",
        platform_id,
        rows,
        error,
    )
    return SyncResult(platform_id, "failed" if error else "succeeded", rows=rows, error=error)


# An import's row errors are kept for the Channels page to list and offer as a file: the latest
# import's, per platform, in its sync state under this stream. A file with more keeps the first
# MAX_STORED_ERRORS (a wrong layout makes every row wrong: those say what to fix) and their total.
ERRORS_STREAM = "import_errors"
MAX_STORED_ERRORS = 10_000
MAX_ERROR_VALUE = 200  # characters of a wrong cell's value kept (a field may hold 131,072)


@dataclass(frozen=True)
class ImportErrors:
    """The row errors of one import run: `errors` holds at most MAX_STORED_ERRORS of `total`."""

    run_id: int
    total: int
    errors: list[csv_files.RowError]


def store_row_errors(session: Session, platform_id: int, run_id: int, errors: list[csv_files.RowError]) -> None:
    """Keep the row errors of the platform's latest import (replacing the previous import's;
    none: nothing kept)."""
    state = session.get(SyncState, (platform_id, ERRORS_STREAM))
    if not errors:
        if state is not None:
            session.delete(state)
        return
    state = state or SyncState(platform_id=platform_id, stream=ERRORS_STREAM)
    kept = [[e.line, e.column, e.value[:MAX_ERROR_VALUE], e.reason] for e in errors[:MAX_STORED_ERRORS]]
    state.detail = {"run_id": run_id, "total": len(errors), "errors": kept}
    session.add(state)


def row_errors(session: Session, platform_id: int, run_id: int) -> ImportErrors | None:
    """The row errors kept for this import run of the platform, or None (it had none, or a
    later import replaced them)."""
    state = session.get(SyncState, (platform_id, ERRORS_STREAM))
    if state is None or state.detail.get("run_id") != run_id:
        return None
    errors = [csv_files.RowError(*row) for row in state.detail.get("errors", [])]
    return ImportErrors(run_id, state.detail.get("total", len(errors)), errors)


def latest_import(session: Session, platform_id: int) -> SyncRun | None:
    """The platform's newest import run (running or finished), or None."""
    return session.scalar(
        select(SyncRun)
        .where(SyncRun.platform_id == platform_id, SyncRun.stream == IMPORT_STREAM)
        .order_by(SyncRun.id.desc())
        .limit(1)
    )


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
