"""The platforms' own daily sales reports, fetched for reconciliation, with the orders the platform
changed since our last sync read beside them (what reconciliation calls sync lag)."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

import records
from connectors import CONNECTORS, make_connector
from connectors.base import STRICT, Connector, ConnectorError, NetworkPolicy
from db import locks, reconciliation
from db.credentials import CredentialBox, CredentialsError
from db.engine import transaction
from db.models import Company, Platform

log = logging.getLogger(__name__)


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


def reconcile_with_report(
    sessions: sessionmaker[Session],
    platform_id: int,
    box: CredentialBox,
    start: date,
    end: date,
    network: NetworkPolicy = STRICT,
) -> tuple[reconciliation.Reconciliation, str | None]:
    """Our days start..end beside the platform's report (fetched first when it is missing or
    old), and why the report could not be fetched, if so: what the API and the page show."""
    error = refresh_platform_report(sessions, platform_id, box, start, end, network)
    with sessions() as session:
        return reconciliation.reconcile(session, session.get(Platform, platform_id), start, end), error
