"""Importing a CSV file into a "csv" platform: parse and validate all of it, then write it in one
transaction (all or nothing), as a job the Channels page can watch."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.utils import secure_filename

from connectors import FILE_KINDS, csv_files, csv_import
from connectors.base import ConnectorError
from db import fx, ingest, locks, rollups
from db.engine import transaction
from db.models import Company, Platform, SyncRun, utcnow
from jobs.progress import Progress
from jobs.sync import SyncResult, end_interrupted_runs

log = logging.getLogger(__name__)


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
        if platform is None or platform.kind not in FILE_KINDS:
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
            rollups.rollup_daily(session, platform, touched)
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
        except (ValueError, ConnectorError, fx.MissingFxRate) as exc:
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
