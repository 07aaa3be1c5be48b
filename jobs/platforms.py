"""Connecting a platform and asking for its sync: the operations behind POST /platforms/connect,
POST /sync/<target> and the Channels page, written once for both. Also what the Channels page
does to a connected platform: rename it, pause and resume its syncs, remove it with its data.

Credentials are checked with one call to the platform before anything is stored, and stored
only encrypted. Bad input raises records.ValidationError (nothing stored); a platform that
refuses the credentials or cannot be reached raises the two errors below, whose messages say
what to fix without telling a caller anything about the network behind a URL.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors import CONNECTORS, SCHEDULED_KINDS, make_connector
from connectors.base import STRICT, AuthError, BlockedURL, ConnectorError, NetworkPolicy, shown_url
from db import locks, rollups
from db.credentials import CredentialBox
from db.models import ModelRun, Order, Platform, utcnow
from jobs import forecasts
from records import MissingValue, ValidationError

log = logging.getLogger(__name__)

# The credentials check tries the platform this many times: an admin is waiting for the answer.
CHECK_ATTEMPTS = 3
MAX_NAME = 200  # characters of a display name (the column's size)


class CredentialsRefused(Exception):
    """The platform answered and refused the credentials; `status` is the HTTP status it refused
    them with (401, 403; None when its answer's body said so)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PlatformUnreachable(Exception):
    """The platform could not be asked (closed port, error page, timeout): one message whatever
    happened, so the check cannot be used to map a network; the details go to the log. `field`
    is the config field that says where the platform is, `host` the host it names."""

    def __init__(self, message: str, field: str = "", host: str = "") -> None:
        super().__init__(message)
        self.field, self.host = field, host


class PlatformBusy(Exception):
    """A sync or an import of the platform is running: what was asked waits until it ends."""


# What a paused platform says on its card; the scheduler skips it (jobs.sync.due_platforms).
PAUSED = "disabled"


def check_kind(kind: object) -> None:
    if kind not in CONNECTORS:
        raise ValidationError("kind", f"kind must be one of {', '.join(CONNECTORS)}")


def currency_code(value: str, field: str) -> str:
    currency = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValidationError(field, f"{field} must be a 3-letter currency code")
    return currency


def checked_currency(kind: str, config: dict[str, str], secrets: dict[str, str], network: NetworkPolicy) -> str:
    """The store's currency, from one call that proves the credentials work. A URL the network
    policy refuses is a ValidationError naming its field."""
    cls = CONNECTORS[kind]
    for field in cls.config_fields:
        if not config.get(field):
            raise MissingValue(f"config.{field}", f"config.{field} is required")
    for field in cls.secret_fields:
        if not secrets.get(field):
            raise MissingValue(f"credentials.{field}", f"credentials.{field} is required")
    try:
        connector = make_connector(kind, config, secrets, network=network, max_attempts=CHECK_ATTEMPTS)
    except ConnectorError as exc:
        raise ValidationError("config", str(exc)) from None
    field, url = connector.endpoint
    try:
        return connector.check().currency
    except BlockedURL as exc:
        raise ValidationError(f"config.{field}", f"config.{field}: {exc}") from None
    except AuthError as exc:
        raise CredentialsRefused(f"The platform refused these credentials: {exc}", exc.status) from None
    except ConnectorError as exc:
        log.warning("platform check failed kind=%s url=%s error=%s", kind, shown_url(url), exc)
        host = urlsplit(url).hostname or ""
        raise PlatformUnreachable(
            f"Could not check the credentials with the platform at {host}: check config.{field} and try again later.",
            f"config.{field}",
            host,
        ) from None


def display_name(name: object) -> str:
    """A channel's display name as given (stripped), or ValidationError."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME:
        raise ValidationError("display_name", f"display_name must be 1-{MAX_NAME} characters")
    return name.strip()


def connect_platform(
    session: Session,
    company_id: int,
    kind: str,
    name: object,
    config: dict[str, str],
    secrets: dict[str, str],
    *,
    box: CredentialBox,
    network: NetworkPolicy = STRICT,
) -> tuple[Platform, bool]:
    """Check a platform's name and currency, then store it and queue its first sync: connecting
    the same kind and name again updates that platform, so it never duplicates. Returns the
    platform and whether it was created. A file-imported kind needs only config.currency."""
    check_kind(kind)
    name = display_name(name)
    if CONNECTORS[kind].imports_files:
        currency = currency_code(config.get("currency", ""), "config.currency")
    else:
        currency = checked_currency(kind, config, secrets, network)

    platform = session.scalar(
        select(Platform).where(Platform.company_id == company_id, Platform.kind == kind, Platform.display_name == name)
    )
    created = platform is None
    if created:
        platform = Platform(company_id=company_id, kind=kind, display_name=name)
        session.add(platform)
    platform.currency = currency
    platform.config = config
    platform.credentials = box.seal(secrets)
    platform.status, platform.status_message = "active", None
    platform.sync_requested_at = utcnow() if kind in SCHEDULED_KINDS else None
    session.commit()
    log.info("platform connected id=%s kind=%s company_id=%s created=%s", platform.id, kind, company_id, created)
    return platform, created


def request_sync(session: Session, platforms: list[Platform], now: datetime | None = None) -> list[Platform]:
    """Queue a sync of each of these platforms the scheduler syncs, unless paused (a sync already
    queued keeps its time), and commit; returns the ones queued. The worker starts them within
    seconds."""
    queued = [p for p in platforms if p.kind in SCHEDULED_KINDS and p.status != PAUSED]
    now = now or utcnow()
    for p in queued:
        p.sync_requested_at = p.sync_requested_at or now
    session.commit()
    return queued


def rename_platform(session: Session, platform: Platform, name: object) -> Platform:
    """Give the platform another display name (unique among the company's channels of its kind,
    as connecting matches them by kind and name) and commit; ValidationError changes nothing."""
    name = display_name(name)
    taken = session.scalar(
        select(Platform.id).where(
            Platform.company_id == platform.company_id,
            Platform.kind == platform.kind,
            Platform.display_name == name,
            Platform.id != platform.id,
        )
    )
    if taken is not None:
        raise ValidationError("display_name", f"Another channel of this kind is already called {name}.")
    old, platform.display_name = platform.display_name, name
    try:
        session.commit()
    except IntegrityError:  # renamed the same way at the same moment elsewhere
        session.rollback()
        raise ValidationError("display_name", f"Another channel of this kind is already called {name}.") from None
    log.info("platform renamed id=%s company_id=%s changed=%s", platform.id, platform.company_id, old != name)
    return platform


def set_paused(session: Session, platform: Platform, paused: bool) -> bool:
    """Pause a platform the scheduler syncs (no sync starts, a queued one is dropped; a running one
    finishes) or resume it, and commit; returns whether its state changed. Its data stays."""
    if platform.kind not in SCHEDULED_KINDS:
        raise ValidationError("platform", "Only channels that sync from a platform can be paused.")
    if (platform.status == PAUSED) == paused:
        return False
    if paused:
        platform.status, platform.sync_requested_at = PAUSED, None
    else:
        platform.status = "active"
    platform.status_message = None
    session.commit()
    log.info("platform %s id=%s company_id=%s", "paused" if paused else "resumed", platform.id, platform.company_id)
    return True


@dataclass(frozen=True)
class Removal:
    """What removing a platform deletes (counted before it is gone)."""

    name: str
    orders: int
    forecasts: int  # the channel's own model runs


def removal_contents(session: Session, platform: Platform) -> Removal:
    orders = session.scalar(select(func.count()).select_from(Order).where(Order.platform_id == platform.id))
    fits = session.scalar(select(func.count()).select_from(ModelRun).where(ModelRun.platform_id == platform.id))
    return Removal(platform.display_name, orders or 0, fits or 0)


def remove_platform(session: Session, platform: Platform) -> Removal:
    """Delete a platform and everything that is its own, and commit: its orders (with their lines
    and refunds), products, daily and product rollups, sync runs and state, webhook deliveries,
    reconciliation reports and its own forecasts (the database's ON DELETE CASCADE does it, in
    one transaction). The company's cached figures are invalidated, and if it has forecasts, a
    retrain is requested so the all-channels forecast stops counting the channel's history.
    Refused with PlatformBusy while a sync or an import of it runs (it would write into it)."""
    platform_id, company_id = platform.id, platform.company_id
    with locks.named_lock(session.get_bind(), f"sync:{platform_id}") as held:
        if not held:
            raise PlatformBusy(f"A sync or import of {platform.display_name} is running: remove it once that ends.")
        removal = removal_contents(session, platform)
        session.delete(platform)
        rollups.bump_data_version(session, company_id)
        if session.scalar(select(ModelRun.id).where(ModelRun.company_id == company_id).limit(1)) is not None:
            forecasts.request_retrain(session, company_id)
        session.commit()
    log.info("platform removed id=%s company_id=%s orders=%d", platform_id, company_id, removal.orders)
    return removal
