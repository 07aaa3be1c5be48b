"""Connecting a platform and asking for its sync: the operations behind POST /platforms/connect,
POST /sync/<target> and the Channels page, written once for both.

Credentials are checked with one call to the platform before anything is stored, and stored
only encrypted. Bad input raises records.ValidationError (nothing stored); a platform that
refuses the credentials or cannot be reached raises the two errors below, whose messages say
what to fix without telling a caller anything about the network behind a URL.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors import CONNECTORS, SCHEDULED_KINDS, make_connector
from connectors.base import STRICT, AuthError, BlockedURL, ConnectorError, NetworkPolicy, shown_url
from db.credentials import CredentialBox
from db.models import Platform, utcnow
from records import MissingValue, ValidationError

log = logging.getLogger(__name__)

# The credentials check tries the platform this many times: an admin is waiting for the answer.
CHECK_ATTEMPTS = 3


class CredentialsRefused(Exception):
    """The platform answered and refused the credentials."""


class PlatformUnreachable(Exception):
    """The platform could not be asked (closed port, error page, timeout): one message whatever
    happened, so the check cannot be used to map a network; the details go to the log."""


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
        raise CredentialsRefused(f"The platform refused these credentials: {exc}") from None
    except ConnectorError as exc:
        log.warning("platform check failed kind=%s url=%s error=%s", kind, shown_url(url), exc)
        raise PlatformUnreachable(
            f"Could not check the credentials with the platform at {urlsplit(url).hostname}: check config.{field}"
            " and try again later."
        ) from None


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
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise ValidationError("display_name", "display_name must be 1-200 characters")
    name = name.strip()
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
    """Queue a sync of each of these platforms the scheduler syncs (a sync already queued keeps
    its time) and commit; returns the ones queued. The worker starts them within seconds."""
    queued = [p for p in platforms if p.kind in SCHEDULED_KINDS]
    now = now or utcnow()
    for p in queued:
        p.sync_requested_at = p.sync_requested_at or now
    session.commit()
    return queued
