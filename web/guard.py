"""The login guard in front of every route, Dash included, and the admin guard: who is calling.

Every route needs a logged-in user except the login page itself, the health check, static
assets, the OpenAPI document, and webhooks (which carry their own signature). API calls may
instead carry a company API token (`Authorization: Bearer cp_...`). The cookies carry only the
id of a server-side login session (db/logins.py, Flask-Login's "alternative token" pattern), so
logging out or changing a password really ends a login.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, Request, current_app, jsonify, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user

from db import accounts, logins
from db.models import User
from web.context import db_session
from web.errors import ApiError, error_body

login_manager = LoginManager()

PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/webhooks/")
PUBLIC_PATHS = ("/login", "/health", "/_favicon.ico", "/favicon.ico", "/api/v1/openapi.json")
PAGES_UNDER_API = ("/api/docs",)  # browser pages: they send a stranger to the login page like every page
# What a user still holding an admin's one-time password may reach: choosing their own, signing out.
PASSWORD_PATHS = ("/account/password", "/logout")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CurrentUser(UserMixin):
    """The logged-in user as request code sees it: never the ORM object (no lazy loads)."""

    id: int
    email: str
    company_id: int
    role: str
    login_id: str  # the server-side login session (db/logins.py) the cookies name
    must_change_password: bool = False  # invited with a one-time password not changed yet

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        """What Flask-Login puts in the session and remember-me cookies: the login, not the user."""
        return self.login_id


@dataclass(frozen=True)
class TokenUser(UserMixin):
    """An API call signed with a company API token. A token is not a user (it has no user id): it
    reads its company's data as a viewer does and is never an admin, so it cannot mint tokens."""

    token_id: int
    company_id: int
    email: str  # not an address but a label ("API token cp_AbCdE"), so code showing who calls works
    role: str = "viewer"

    @property
    def is_admin(self) -> bool:
        return False


def idle_limit() -> timedelta:
    """A login unused this long is over, like its remember-me cookie."""
    return current_app.config["REMEMBER_COOKIE_DURATION"]


def current_of(user: User, login_id: str) -> CurrentUser:
    return CurrentUser(user.id, user.email, user.company_id, user.role, login_id, user.must_change_password)


@login_manager.user_loader
def load_user(login_id: str) -> CurrentUser | None:
    """The user of a live login; None for a revoked, expired or unknown one (the old cookies
    that named a user id included), which Flask-Login treats as logged out."""
    found = logins.find_live(db_session(), login_id, idle_limit())
    return current_of(found.user, login_id) if found else None


@login_manager.request_loader
def load_token_user(req: Request) -> TokenUser | None:
    """`Authorization: Bearer <token>` on API calls only: a token must never open the dashboard.
    Flask-Login asks this only when the request has no session (or remember cookie) user."""
    if not is_api_call(req.path):
        return None
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    found = accounts.authenticate_token(db_session(), token.strip())
    return TokenUser(found.id, found.company_id, f"API token {found.prefix}") if found else None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_api_call(path: str) -> bool:
    return path.startswith("/api/") and path not in PAGES_UNDER_API


def require_login():
    """Before every request: let public paths through, send everyone else to the login page
    (or answer 401 JSON to API and Dash callback requests, which cannot follow a redirect), and
    a user who must change their one-time password to the password form."""
    if is_public(request.path):
        return None
    if current_user.is_authenticated:
        return None if not getattr(current_user, "must_change_password", False) else password_first()
    if is_api_call(request.path) and "Authorization" in request.headers:
        body = error_body(401, "invalid_token", "The API token is malformed, unknown or revoked.")
        return jsonify(body), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if is_api_call(request.path) or request.path.startswith("/_dash-"):
        return jsonify(error_body(401, "unauthorized", "Log in first.")), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def password_first():
    """A user invited with a one-time password (db/accounts.py invite_user) chooses their own
    before anything else: pages send them to the password form, API and callback calls get a 403."""
    if request.path in PASSWORD_PATHS:
        return None
    message = "Choose your own password first, at /account/password."
    if is_api_call(request.path) or request.path.startswith("/_dash-"):
        return jsonify(error_body(403, "password_change_required", message)), 403
    return redirect(url_for("auth.change_password"))


def admin_required(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Only an admin may run the decorated view; anyone else gets a 403 saying they cannot
    `action` ("connect channels"). Roles are checked on the server, not only by hiding buttons."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.is_admin:
                raise ApiError(403, "forbidden", f"Only an admin can {action}.")
            return view(*args, **kwargs)

        return guarded

    return decorate


def init_guard(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(require_login)
