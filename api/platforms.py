"""Connecting platforms and asking for syncs: /api/v1/platforms, /api/v1/sync/...

Credentials are checked with one call to the platform before anything is stored, stored only
encrypted, and never returned: responses name the secrets that are set, nothing more.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

import jobs
from api import ApiError, bp, params
from connectors import CONNECTORS, make_connector
from connectors.base import AuthError, BlockedURL, ConnectorError, NetworkPolicy, shown_url
from connectors.csv_import import InvalidMapping, mapping_for
from db import queries
from db.credentials import CredentialBox
from db.models import Platform, SyncRun, utcnow
from extensions import db_session, state

log = logging.getLogger(__name__)

SYNCABLE_KINDS = ("shopify", "bestbuy")
CONNECTABLE_KINDS = (*SYNCABLE_KINDS, "csv")
# The credentials check tries the platform this many times: an admin is waiting for the answer.
CHECK_ATTEMPTS = 3


def platform_json(p: Platform) -> dict:
    return {
        "id": p.id,
        "kind": p.kind,
        "display_name": p.display_name,
        "currency": p.currency,
        "config": p.config,
        "credentials_set": sorted(CredentialBox(state().settings.credentials_keys).open(p.credentials)),
        "status": p.status,
        "status_message": p.status_message,
        "last_sync_at": p.last_sync_at.isoformat() if p.last_sync_at else None,
        "sync_requested_at": p.sync_requested_at.isoformat() if p.sync_requested_at else None,
    }


def _strings(body: dict, name: str) -> dict[str, str]:
    value = body.get(name, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ApiError(400, "invalid_parameter", f"{name} must be an object of strings", field=name)
    return {k: v.strip() for k, v in value.items()}


def _currency_code(value: str, field: str) -> str:
    currency = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ApiError(400, "invalid_parameter", f"{field} must be a 3-letter currency code", field=field)
    return currency


def _checked_currency(kind: str, config: dict[str, str], secrets: dict[str, str]) -> str:
    """The store's currency, from one call that proves the credentials work. A URL the network
    policy refuses is a 400 naming its field; any other failure to reach the platform is one
    message whatever happened (a closed port, an open one answering an error, a timeout), so the
    check cannot be used to map a network: the details go to the log, never the body."""
    cls = CONNECTORS[kind]
    for field in cls.config_fields:
        if not config.get(field):
            raise ApiError(400, "missing_parameter", f"config.{field} is required", field=f"config.{field}")
    for field in cls.secret_fields:
        if not secrets.get(field):
            raise ApiError(400, "missing_parameter", f"credentials.{field} is required", field=f"credentials.{field}")
    network = NetworkPolicy.for_app_env(state().settings.app_env)
    try:
        connector = make_connector(kind, config, secrets, network=network, max_attempts=CHECK_ATTEMPTS)
    except ConnectorError as exc:
        raise ApiError(400, "invalid_parameter", str(exc), field="config") from None
    field, url = connector.endpoint
    try:
        return connector.check().currency
    except BlockedURL as exc:
        raise ApiError(400, "invalid_parameter", f"config.{field}: {exc}", field=f"config.{field}") from None
    except AuthError as exc:
        raise ApiError(422, "credentials_refused", f"The platform refused these credentials: {exc}") from None
    except ConnectorError as exc:
        log.warning("platform check failed kind=%s url=%s error=%s", kind, shown_url(url), exc)
        raise ApiError(
            502,
            "platform_unreachable",
            f"Could not check the credentials with the platform at {urlsplit(url).hostname}: check config.{field}"
            " and try again later.",
        ) from None


def save_platform(
    session: Session, company_id: int, kind: str, name: object, config: dict[str, str], secrets: dict[str, str]
) -> tuple[Platform, bool]:
    """Check a platform's name and currency, then store it, the same for the API and the Channels
    page: connecting the same kind and name again updates that platform, so it never duplicates.
    Returns the platform and whether it was created; raises ApiError (nothing stored) on bad input."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise ApiError(400, "invalid_parameter", "display_name must be 1-200 characters", field="display_name")
    name = name.strip()
    if kind == "csv":
        currency = _currency_code(config.get("currency", ""), "config.currency")
    else:
        currency = _checked_currency(kind, config, secrets)

    platform = session.scalar(
        select(Platform).where(Platform.company_id == company_id, Platform.kind == kind, Platform.display_name == name)
    )
    created = platform is None
    if created:
        platform = Platform(company_id=company_id, kind=kind, display_name=name)
        session.add(platform)
    platform.currency = currency
    platform.config = config
    platform.credentials = CredentialBox(state().settings.credentials_keys).seal(secrets)
    platform.status, platform.status_message = "active", None
    platform.sync_requested_at = utcnow() if kind in SYNCABLE_KINDS else None
    session.commit()
    log.info("platform connected id=%s kind=%s company_id=%s created=%s", platform.id, kind, company_id, created)
    return platform, created


@bp.post("/platforms/connect")
def connect_platform():
    """Validate credentials with one call, then store the platform (encrypted) and queue its first
    sync. A CSV platform needs only its currency: its orders come from imports."""
    if not current_user.is_admin:
        raise ApiError(403, "forbidden", "Only an admin can connect platforms.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "Send a JSON object.")
    kind = body.get("kind")
    if kind not in CONNECTABLE_KINDS:
        raise ApiError(400, "invalid_parameter", f"kind must be one of {', '.join(CONNECTABLE_KINDS)}", field="kind")
    config, secrets = _strings(body, "config"), _strings(body, "credentials")
    platform, created = save_platform(
        db_session(), current_user.company_id, kind, body.get("display_name"), config, secrets
    )
    return jsonify(platform_json(platform)), 201 if created else 200


@bp.get("/platforms")
def list_platforms():
    return jsonify(platforms=[platform_json(p) for p in queries.platforms(db_session(), current_user.company_id)])


@bp.post("/sync/<target>")
def request_sync(target: str):
    """Queue a sync of one platform (by id) or of every platform of a kind (shopify, bestbuy).
    An admin action: a sync spends the platform's API quota, so viewers and API tokens may not."""
    if not current_user.is_admin:
        raise ApiError(403, "forbidden", "Only an admin can request a sync.")
    session = db_session()
    query = select(Platform).where(Platform.company_id == current_user.company_id)
    if target.isdigit():
        query = query.where(Platform.id == params.row_id(target))
    elif target in SYNCABLE_KINDS:
        query = query.where(Platform.kind == target)
    else:
        raise ApiError(404, "not_found", f"No platform {target!r}: use a platform id, shopify or bestbuy.")
    platforms = [p for p in session.scalars(query) if p.kind in SYNCABLE_KINDS]
    if not platforms:
        raise ApiError(404, "not_found", f"No {target} platform is connected.")
    now = utcnow()
    for p in platforms:
        p.sync_requested_at = p.sync_requested_at or now
    session.commit()
    return jsonify(queued=[p.id for p in platforms], requested_at=now.isoformat()), 202


def run_json(run: SyncRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "pages": run.pages,
        "rows": run.rows,
        "expected_rows": run.expected_rows,
        "activity": run.activity,
        "error": run.error,
    }


def sync_status_json(statuses: list[queries.PlatformStatus]) -> list[dict]:
    """Where each platform's syncing stands (/sync/status, and the dashboard summary's `sync`)."""
    return [
        {
            "id": s.id,
            "kind": s.kind,
            "display_name": s.name,
            "status": s.status,
            "status_message": s.status_message,
            "last_sync_at": s.last_sync_at.isoformat() if s.last_sync_at else None,
            "queued": s.queued,
            "running": s.running,
            "progress": s.progress,
            "last_run": run_json(s.run),
        }
        for s in statuses
    ]


@bp.get("/sync/status")
def sync_status():
    return jsonify(platforms=sync_status_json(queries.sync_status(db_session(), current_user.company_id)))


@bp.post("/platforms/<platform_id>/import")
def import_csv_file(platform_id: str):
    """Import an uploaded CSV file into a CSV platform, in the background: 202 at once, then
    /sync/status shows the import's progress and outcome (all rows, or none if any is wrong;
    a file past csv_files.UPLOAD_LIMITS once decompressed fails with that reason). Repeat
    `shipping_skus` / `ignored_skus` to add postage and non-merchandise codes to the preset's."""
    if not current_user.is_admin:
        raise ApiError(403, "forbidden", "Only an admin can import files.")
    session = db_session()
    platform = params.company_platform(session, current_user.company_id, platform_id)
    if platform.kind != "csv":
        raise ApiError(400, "invalid_parameter", "Files are imported into CSV platforms.", field="platform")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "missing_parameter", "Send the file as multipart field `file`.", field="file")
    try:
        mapping = mapping_for(
            request.form.get("preset") or "canonical",
            None,
            request.form.get("date_format"),
            shipping_skus=request.form.getlist("shipping_skus"),
            ignored_skus=request.form.getlist("ignored_skus"),
        )
    except InvalidMapping as exc:
        raise ApiError(400, "invalid_parameter", str(exc), field=exc.field) from None
    timezone = request.form.get("timezone") or None
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ApiError(400, "invalid_parameter", f"unknown time zone {timezone!r}", field="timezone") from None
    currency = request.form.get("currency") or None
    if currency:
        currency = _currency_code(currency, "currency")
    path = jobs.upload_path(state().settings.upload_dir, upload.filename)
    upload.save(path)
    jobs.start_csv_import(state().sessions, platform.id, path, mapping, currency=currency, timezone=timezone)
    return jsonify(platform_id=platform.id, status_url="/api/v1/sync/status"), 202
