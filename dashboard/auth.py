"""Login, logout and password change: Flask-owned forms (CSRF-protected) in front of everything,
Dash included; web/guard.py sends every stranger here.

Unknown emails and wrong passwords get the same message and take the same time (db/accounts.py),
so the form does not reveal who has an account. Logout revokes the server-side login and a
password change revokes every login of the user, so replayed session or remember-me cookies stop
working. Failed logins are throttled
per email and per client in storage every process shares (Redis when configured, the database
while Redis is down, else the database): PER_EMAIL failures per email from any client, PER_CLIENT
failures per client over all emails, each in a fixed 15-minute window counted from its first failure.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from db import accounts, logins
from db.models import User, utcnow
from settings import Settings
from web.context import db_session, state
from web.guard import CurrentUser, current_of, idle_limit

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, template_folder="templates")

INVALID_LOGIN = "Invalid email or password."
PER_EMAIL = RateLimitItemPerMinute(10, 15, namespace="login-email")
PER_CLIENT = RateLimitItemPerMinute(20, 15, namespace="login-client")
THROTTLE_KEY = "login_throttle"  # app.extensions key
REDIS_RETRY_SECONDS = 30  # while Redis is down, how long the throttle counts in the database before trying it again


class LoginThrottle:
    """Failed logins per email and per client (see the module docstring), on a `limits` storage.

    An attempt reserves one failure on both counters before its password is checked, so parallel
    guesses cannot all pass a check made before any of them failed; a refused attempt and a
    success give their reservation back, and a success also clears the email's count. So the
    counters hold failed password checks only (plus the ones in flight).
    """

    def __init__(self, storage: Storage, per_email: RateLimitItem = PER_EMAIL, per_client: RateLimitItem = PER_CLIENT):
        self.storage, self.limiter = storage, FixedWindowRateLimiter(storage)
        self.per_email, self.per_client = per_email, per_client

    def reserve(self, client: str, email: str) -> float:
        """0 if this attempt may check its password (one failure is then counted in advance),
        else the seconds until it may (and nothing is counted)."""
        counters = [(self.per_client, client), (self.per_email, email_key(email))]
        for n, (limit, who) in enumerate(counters):
            if not self.limiter.hit(limit, who):
                wait = self.limiter.get_window_stats(limit, who).reset_time - time.time()
                for taken in counters[: n + 1]:
                    self._give_back(*taken)
                return max(wait, 1.0)
        return 0.0

    def succeeded(self, client: str, email: str) -> None:
        self.limiter.clear(self.per_email, email_key(email))
        self._give_back(self.per_client, client)

    def _give_back(self, limit: RateLimitItem, who: str) -> None:
        self.storage.incr(limit.key_for(who), limit.get_expiry(), amount=-1)


def email_key(email: str) -> str:
    """Emails are counted by digest: what people type there (sometimes a password) is not stored."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def client_key(address: str | None) -> str:
    """The client the throttle counts: its IP address, or its /64 for IPv6 (one host commonly
    holds a whole /64, so counting single addresses would not limit it)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


class FailoverStorage(Storage):
    """The primary storage (Redis), or the fallback (the database) while the primary fails.

    A login must neither fail nor go unthrottled because Redis is down: a 503 would lock every user
    out for the length of a Redis outage, and skipping the throttle would let guesses through. The
    database is there anyway (the password check reads it) and every process shares it, so the
    counters move there, with one warning per outage and process; the primary is tried again
    `retry_after` seconds later. The counts do not move along, so each switch can give a guesser
    one more window's worth of attempts. The database's own errors are not caught.
    """

    STORAGE_SCHEME = None  # built from two storages, never from a URI

    def __init__(self, primary: Storage, fallback: Storage, retry_after: float = REDIS_RETRY_SECONDS) -> None:
        super().__init__()
        self.primary, self.fallback, self.retry_after = primary, fallback, retry_after
        self._down_until = 0.0  # time.monotonic() until which the primary is skipped; 0 while it works

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return self.fallback.base_exceptions

    def _call(self, method: str, *args: object) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                result = getattr(self.primary, method)(*args)
            except self.primary.base_exceptions as exc:
                if not self._down_until:  # the name of the error only: a Redis URL may hold a password
                    log.warning("login throttle: Redis failed (%s), counting in the database", type(exc).__name__)
                self._down_until = time.monotonic() + self.retry_after
            else:
                if self._down_until:
                    log.info("login throttle: Redis is back, counting there again")
                    self._down_until = 0.0
                return result
        return getattr(self.fallback, method)(*args)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._call("incr", key, expiry, amount)

    def get(self, key: str) -> int:
        return self._call("get", key)

    def get_expiry(self, key: str) -> float:
        return self._call("get_expiry", key)

    def clear(self, key: str) -> None:
        return self._call("clear", key)

    def check(self) -> bool:
        return self.primary.check() or self.fallback.check()

    def reset(self) -> int | None:
        return self._call("reset")


def throttle_storage(settings: Settings, engine: Engine) -> Storage:
    """Redis when REDIS_URL is set (limits' own storage, the database standing in while it is down),
    else the database: shared by every process either way."""
    database = logins.SqlStorage(engine)
    if settings.redis_url:
        redis = RedisStorage(settings.redis_url, key_prefix="cp-login", socket_timeout=2, socket_connect_timeout=2)
        return FailoverStorage(redis, database)
    return database


def throttle() -> LoginThrottle:
    return current_app.extensions[THROTTLE_KEY]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me signed in")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=accounts.MIN_PASSWORD_LENGTH, max=1024)]
    )
    confirm = PasswordField(
        "New password again", validators=[DataRequired(), EqualTo("new_password", "The new passwords differ.")]
    )


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: never redirect a fresh login to another host. Control
    characters (a header cannot hold them) and backslashes (browsers read them as slashes, so
    `/\\evil.example` is another host) are refused too."""
    if not target or "\\" in target or not target.isprintable():
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _too_many(wait: float) -> None:
    flash(f"Too many failed attempts. Try again in {int(wait // 60) + 1} minutes.", "danger")


def _log_in(session: Session, user: User, remember: bool) -> None:
    """Start a new server-side login (a new random id, so a new remember token) and commit."""
    login_id = logins.start(session, user.id, idle_limit())
    session.commit()
    login_user(current_of(user, login_id), remember=remember)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        client = client_key(request.remote_addr)
        wait = throttle().reserve(client, form.email.data)
        if wait:
            _too_many(wait)
            status = 429
        else:
            session = db_session()
            user = accounts.authenticate(session, form.email.data, form.password.data)
            if user is None:
                flash(INVALID_LOGIN, "danger")
            else:
                throttle().succeeded(client, form.email.data)
                user.last_login_at = utcnow()
                _log_in(session, user, remember=form.remember.data)
                return redirect(safe_next(request.args.get("next")))
    elif request.method == "POST":
        flash("Your session expired or the form was incomplete; please try again.", "warning")
        status = 400
    return render_template("login.html", form=form, demo=state().settings.demo_enabled), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """End this login on the server too, so its cookies are worthless even if kept. Only a POST
    does: a GET (an old bookmark, or a link or image on another site) gets a page with the button,
    and a POST is a write, which web/security.py refuses from another origin."""
    if request.method == "GET":
        return render_template("logout.html")
    if isinstance(current_user, CurrentUser):
        session = db_session()
        logins.revoke(session, current_user.login_id)
        session.commit()
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    """The logged-in user changes their password (the current one required, throttled like the
    login). Every other login of theirs ends; this browser continues on a fresh login."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        client = client_key(request.remote_addr)
        wait = throttle().reserve(client, current_user.email)
        session = db_session()
        user = session.get(User, current_user.id)
        if wait:
            _too_many(wait)
            status = 429
        elif accounts.authenticate(session, user.email, form.current_password.data) is None:
            flash("The current password is wrong.", "danger")
            status = 400
        else:
            throttle().succeeded(client, user.email)
            accounts.set_password(session, user, form.new_password.data)
            remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
            _log_in(session, user, remember=remember)
            flash("Password changed. You are signed out everywhere else.", "success")
            return redirect(url_for("auth.change_password"))
    elif request.method == "POST":
        for errors in form.errors.values():
            flash(errors[0], "warning")
        status = 400
    return render_template("password.html", form=form, min_length=accounts.MIN_PASSWORD_LENGTH), status


def init_auth(app: Flask) -> None:
    with app.app_context():
        app.extensions[THROTTLE_KEY] = LoginThrottle(throttle_storage(state().settings, state().engine))
    app.register_blueprint(bp)
