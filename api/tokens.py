"""Company API tokens: /api/v1/tokens.

A token is shown once, when it is created; only its SHA-256 is stored, so a leaked database does
not leak usable tokens. The first characters (`prefix`) are kept to recognise a token in lists.
Tokens read their company's data like a viewer (web/guard.py turns one into a TokenUser); minting
and checking them is db/accounts.py.
"""

from __future__ import annotations

import logging

from flask import Response, jsonify, request
from flask_login import current_user

from api import bp, params
from db import accounts
from db.models import ApiToken
from web.context import db_session
from web.errors import ApiError
from web.guard import admin_required

log = logging.getLogger(__name__)


def token_json(token: ApiToken) -> dict:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@bp.post("/tokens")
@admin_required("create API tokens")
def create_token() -> tuple[Response, int]:
    """A new token for the caller's company. The answer is the only place the token ever appears."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "Send a JSON object with a name.")
    session = db_session()  # a bad name is a ValidationError: a 400 naming the field
    token, value = accounts.create_token(session, current_user.company_id, body.get("name"), current_user.id)
    session.commit()
    log.info("api token created id=%s company_id=%s prefix=%s", token.id, token.company_id, token.prefix)
    return jsonify({**token_json(token), "token": value}), 201


@bp.get("/tokens")
def list_tokens() -> Response:
    return jsonify(tokens=[token_json(t) for t in accounts.company_tokens(db_session(), current_user.company_id)])


@bp.delete("/tokens/<token_id>")  # any text: what is not one of the company's token ids is a 404
@admin_required("revoke API tokens")
def revoke_token(token_id: str) -> Response:
    """Revoke at once (the next request with it is refused). Revoking twice changes nothing."""
    session = db_session()
    token = accounts.company_token(session, current_user.company_id, params.row_id(token_id))
    if token is None:
        raise ApiError(404, "not_found", f"No API token {token_id!r}.")
    if accounts.revoke_token(session, token):
        session.commit()
        log.info("api token revoked id=%s company_id=%s", token.id, token.company_id)
    return jsonify(token_json(token))
