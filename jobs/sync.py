"""Syncing a platform: pages from its connector upserted and checkpointed one transaction at a
time (a crash resumes at the last page), rollups of the days touched, and a sync run recording
progress and outcome for the Channels page. Also which platforms are due and the nightly rescan."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import records
from connectors import SCHEDULED_KINDS, make_connector
from connectors.base import STRICT, AuthError, Connector, ConnectorError, NetworkPolicy
from db import fx, ingest, locks, rollups
from db.credentials import CredentialBox, CredentialsError
from db.engine import transaction
from db.models import Company, Platform, SyncRun, SyncState, utcnow
from jobs.progress import Progress

log = logging.getLogger(__name__)


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
        except (ConnectorError, fx.MissingFxRate, CredentialsError) as exc:
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
            rollups.rollup_dirty(session, session.get(Platform, platform_id))
    except fx.MissingFxRate as exc:
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
    except fx.MissingFxRate as exc:  # the orders are in; their days stay marked for the next try
        error = error or str(exc)
    status = "failed" if error else "succeeded"
    with transaction(sessions) as session:
        platform = session.get(Platform, platform_id)
        run = session.get(SyncRun, run_id)
        run.status, run.error, run.finished_at = status, error, utcnow()
        if error is None:
            platform.last_sync_at = run.finished_at
            platform.status_message = None
            if platform.status != "disabled":  # paused while it ran: it stays paused
                platform.status = "active"
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
    """Active platforms asked to sync now, or not synced for `interval`; one that needs attention
    only when asked; a paused ("disabled") one never."""
    now = now or utcnow()
    rows = session.execute(
        select(Platform.id, Platform.last_sync_at, Platform.sync_requested_at)
        .where(
            Platform.kind.in_(SCHEDULED_KINDS),
            Platform.status != "disabled",
            (Platform.status == "active") | Platform.sync_requested_at.is_not(None),
        )
        .order_by(Platform.sync_requested_at.is_(None), Platform.last_sync_at.is_not(None), Platform.last_sync_at)
    )
    return [pid for pid, last, requested in rows if requested or last is None or now - last >= interval]


RESCAN_LOOKBACK = timedelta(days=3)


def rescan_all(
    sessions: sessionmaker[Session], box: CredentialBox, network: NetworkPolicy = STRICT
) -> list[SyncResult]:
    """Re-read the last few days of every active platform (the daily safety net)."""
    with sessions() as session:
        ids = list(
            session.scalars(select(Platform.id).where(Platform.status == "active", Platform.kind.in_(SCHEDULED_KINDS)))
        )
    return [sync_platform(sessions, pid, box, lookback=RESCAN_LOOKBACK, network=network) for pid in ids]
