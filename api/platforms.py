"""Connecting platforms and asking for syncs: /api/v1/platforms, /api/v1/sync/...

Credentials are checked with one call to the platform before anything is stored
(jobs/platforms.py), stored only encrypted, and never returned: responses name the secrets that
are set, nothing more.
"""

from __future__ import annotations

import logging

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from api import bp, params
from connectors import FILE_KINDS, SCHEDULED_KINDS
from connectors.csv_import import mapping_for
from db import companies, queries
from db.models import Platform, SyncRun, utcnow
from jobs import platforms
from jobs.csv_import import start_csv_import, upload_path
from web.context import db_session, state
from web.errors import ApiError
from web.guard import admin_required

log = logging.getLogger(__name__)


def platform_json(p: Platform) -> dict:
    return {
        "id": p.id,
        "kind": p.kind,
        "display_name": p.display_name,
        "currency": p.currency,
        "config": p.config,
        "credentials_set": sorted(state().credentials.open(p.credentials)),
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


@bp.post("/platforms/connect")
@admin_required("connect platforms")
def connect_platform():
    """Validate credentials with one call, then store the platform (encrypted) and queue its first
    sync. A CSV platform needs only its currency: its orders come from imports."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "Send a JSON object.")
    kind = body.get("kind")
    platforms.check_kind(kind)
    config, secrets = _strings(body, "config"), _strings(body, "credentials")
    app_state = state()
    try:
        platform, created = platforms.connect_platform(
            db_session(),
            current_user.company_id,
            kind,
            body.get("display_name"),
            config,
            secrets,
            box=app_state.credentials,
            network=app_state.network,
        )
    except platforms.CredentialsRefused as exc:
        raise ApiError(422, "credentials_refused", str(exc)) from None
    except platforms.PlatformUnreachable as exc:
        raise ApiError(502, "platform_unreachable", str(exc)) from None
    return jsonify(platform_json(platform)), 201 if created else 200


@bp.get("/platforms")
def list_platforms():
    return jsonify(platforms=[platform_json(p) for p in queries.platforms(db_session(), current_user.company_id)])


@bp.post("/sync/<target>")
@admin_required("request a sync")
def request_sync(target: str):
    """Queue a sync of one platform (by id) or of every platform of a kind (shopify, bestbuy).
    An admin action: a sync spends the platform's API quota, so viewers and API tokens may not."""
    session = db_session()
    query = select(Platform).where(Platform.company_id == current_user.company_id)
    if target.isdigit():
        query = query.where(Platform.id == params.row_id(target))
    elif target in SCHEDULED_KINDS:
        query = query.where(Platform.kind == target)
    else:
        raise ApiError(404, "not_found", f"No platform {target!r}: use a platform id, shopify or bestbuy.")
    now = utcnow()
    found = list(session.scalars(query))
    if not found:
        raise ApiError(404, "not_found", f"No {target} platform is connected.")
    queued = platforms.request_sync(session, found, now)
    if not queued:
        names = ", ".join(p.display_name for p in found)
        raise ApiError(409, "paused", f"{names}: paused, or not synced on a schedule; resume it on the Channels page.")
    return jsonify(queued=[p.id for p in queued], requested_at=now.isoformat()), 202


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
@admin_required("import files")
def import_csv_file(platform_id: str):
    """Import an uploaded CSV file into a CSV platform, in the background: 202 at once, then
    /sync/status shows the import's progress and outcome (all rows, or none if any is wrong;
    a file past csv_files.UPLOAD_LIMITS once decompressed fails with that reason). Repeat
    `shipping_skus` / `ignored_skus` to add postage and non-merchandise codes to the preset's."""
    session = db_session()
    platform = params.company_platform(session, current_user.company_id, platform_id)
    if platform.kind not in FILE_KINDS:
        raise ApiError(400, "invalid_parameter", "Files are imported into CSV platforms.", field="platform")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "missing_parameter", "Send the file as multipart field `file`.", field="file")
    # A bad preset or column raises InvalidMapping, a ValidationError: a 400 naming the field.
    mapping = mapping_for(
        request.form.get("preset") or "canonical",
        None,
        request.form.get("date_format"),
        shipping_skus=request.form.getlist("shipping_skus"),
        ignored_skus=request.form.getlist("ignored_skus"),
    )
    timezone = request.form.get("timezone") or None
    if timezone:
        timezone = companies.check_timezone(timezone)  # a ValidationError: a 400 naming the field
    currency = request.form.get("currency") or None
    if currency:
        currency = platforms.currency_code(currency, "currency")
    path = upload_path(state().settings.upload_dir, upload.filename)
    upload.save(path)
    start_csv_import(state().sessions, platform.id, path, mapping, currency=currency, timezone=timezone)
    return jsonify(platform_id=platform.id, status_url="/api/v1/sync/status"), 202
