"""Login: a Flask-owned form (CSRF-protected) in front of everything, Dash included.

Every route needs a logged-in user except the login page itself, the health check, static
assets, the OpenAPI document, and webhooks (which carry their own signature). Unknown emails and
wrong passwords get the same message and take the same time, so the form does not reveal who has
an account. API calls may instead carry a company API token (`Authorization: Bearer cp_...`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, Flask, Request, flash, jsonify, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from api import error_body, tokens
from db.models import User, utcnow
from extensions import db_session, state

bp = Blueprint("auth", __name__, template_folder="templates")
login_manager = LoginManager()
hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost one argon2 check.
_DUMMY_HASH = hasher.hash("not-a-real-password")

PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/webhooks/")
PUBLIC_PATHS = ("/login", "/health", "/_favicon.ico", "/favicon.ico", "/api/v1/openapi.json")
PAGES_UNDER_API = ("/api/docs",)  # browser pages: they send a stranger to the login page like every page
INVALID_LOGIN = "Invalid email or password."


def hash_password(password: str) -> str:
    return hasher.hash(password)


@dataclass(frozen=True)
class CurrentUser(UserMixin):
    """The logged-in user as request code sees it: never the ORM object (no lazy loads)."""

    id: int
    email: str
    company_id: int
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


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


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


class LoginThrottle:
    """At most `limit` failed logins per (client, email) per `window` seconds, in this process."""

    def __init__(self, limit: int = 10, window: float = 900) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, []) if now - t < self.window]
        self._failures[key] = recent
        return recent

    def blocked_for(self, key: tuple[str, str]) -> float:
        """Seconds until this key may try again (0 = now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, now)
            return self.window - (now - recent[0]) if len(recent) >= self.limit else 0.0

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


throttle = LoginThrottle()


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me signed in")


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: never redirect a fresh login to another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        key = (request.remote_addr or "?", form.email.data.strip().lower())
        wait = throttle.blocked_for(key)
        if wait:
            flash(f"Too many failed attempts. Try again in {int(wait // 60) + 1} minutes.", "danger")
            status = 429
        else:
            session = db_session()
            user = authenticate(session, form.email.data, form.password.data)
            if user is None:
                throttle.fail(key)
                flash(INVALID_LOGIN, "danger")
            else:
                throttle.clear(key)
                user.last_login_at = utcnow()
                session.commit()
                login_user(_current(user), remember=form.remember.data)
                return redirect(safe_next(request.args.get("next")))
    elif request.method == "POST":
        flash("Your session expired or the form was incomplete; please try again.", "warning")
        status = 400
    return render_template("login.html", form=form, demo=state().settings.demo_enabled), status


@bp.route("/logout")
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


def _current(user: User) -> CurrentUser:
    return CurrentUser(user.id, user.email, user.company_id, user.role)


@login_manager.user_loader
def load_user(user_id: str) -> CurrentUser | None:
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    return _current(user) if user else None


@login_manager.request_loader
def load_token_user(req: Request) -> TokenUser | None:
    """`Authorization: Bearer <token>` on API calls only: a token must never open the dashboard.
    Flask-Login asks this only when the request has no session (or remember cookie) user."""
    if not is_api_call(req.path):
        return None
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    found = tokens.authenticate(db_session(), token.strip())
    return TokenUser(found.id, found.company_id, f"API token {found.prefix}") if found else None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_api_call(path: str) -> bool:
    return path.startswith("/api/") and path not in PAGES_UNDER_API


def require_login():
    """Before every request: let public paths through, send everyone else to the login page
    (or answer 401 JSON to API and Dash callback requests, which cannot follow a redirect)."""
    if is_public(request.path) or current_user.is_authenticated:
        return None
    if is_api_call(request.path) and "Authorization" in request.headers:
        body = error_body(401, "invalid_token", "The API token is malformed, unknown or revoked.")
        return jsonify(body), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if is_api_call(request.path) or request.path.startswith("/_dash-"):
        return jsonify(error_body(401, "unauthorized", "Log in first.")), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.before_request(require_login)
