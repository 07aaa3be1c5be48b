"""One frozen Settings object read from the environment: the only reader of os.environ.

Every setting is validated here, at start-up, so a bad value stops the process with one line
that names the variable instead of failing later in the middle of a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

VERSION = "0.1.0"
PROJECT_ROOT = Path(__file__).resolve().parent

APP_ENVS = ("development", "staging", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Development-only defaults. They are public (they live in this file), so production and
# staging refuse to start with them.
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"
DEV_CREDENTIALS_KEY = "ZGV2LW9ubHktY3JlZGVudGlhbHMta2V5LTMyYnl0ZXM="


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and fits on one line."""


def normalize_database_url(raw: str) -> URL:
    """Parse DATABASE_URL, mapping the `postgres://` and `postgresql://` forms used by Neon and
    Render to the psycopg 3 driver. Query options such as `sslmode=require` are kept."""
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise SettingsError(f"DATABASE_URL is not a valid database URL ({exc})") from None
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise SettingsError("DATABASE_URL names no database (expected .../<database>)")
    elif backend == "sqlite":
        if url.drivername != "sqlite":
            url = url.set(drivername="sqlite")
    else:
        raise SettingsError(f"DATABASE_URL uses an unsupported database {backend!r}; use postgresql:// or sqlite://")
    return url


def _check_fernet_keys(value: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    if not keys:
        raise SettingsError("CREDENTIALS_KEY is empty")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SettingsError(
                "CREDENTIALS_KEY must be one or more comma-separated Fernet keys "
                "(generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from None
    return keys


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A number of seconds from `name` (`default` when unset), refused outside low..high."""
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        raise SettingsError(f"{name} must be a number of seconds from {low:g} to {high:g}, not {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    database_url: URL = field(
        default_factory=lambda: make_url(f"sqlite:///{PROJECT_ROOT / 'instance' / 'channelpulse.db'}")
    )
    secret_key: str = DEV_SECRET_KEY
    # Fernet keys; the first encrypts, all decrypt (so keys can be rotated).
    credentials_keys: tuple[str, ...] = (DEV_CREDENTIALS_KEY,)
    cache_dir: Path = PROJECT_ROOT / "instance" / "cache"
    # Where a web upload waits for its import (which deletes it); tests point it at their own tmp dir.
    upload_dir: Path = PROJECT_ROOT / "instance" / "uploads"
    redis_url: str | None = None
    log_level: str = "INFO"
    # The embedded single-process mode of `make run`: scheduler, simulators, demo company.
    embedded: bool = False
    # How often each platform is synced (Mirakl asks for at most one order poll a minute).
    sync_interval_seconds: float = 300.0
    # How often a standby worker (`python -m worker`) tries for the leader lock: how long the
    # schedule can stop after the leading worker dies.
    standby_retry_seconds: float = 30.0
    # How much history the demo stores hold (make run); smaller makes a quicker first backfill.
    demo_history_days: int = 730
    # Reverse proxies in front of the web process whose X-Forwarded-For/-Proto are trusted (Render: 1).
    trusted_proxy_hops: int = 0
    # When set, how often every open dashboard page asks for new numbers, whatever each user chose
    # on the Settings page (tests and demos); None: each user's own interval.
    refresh_seconds: float | None = None

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def demo_enabled(self) -> bool:
        """The demo account exists only outside production."""
        return not self.is_production

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build the settings from environment variables, raising SettingsError on bad input."""
        env = os.environ if env is None else env
        defaults = cls()

        app_env = env.get("APP_ENV", "development").strip().lower() or "development"
        if app_env not in APP_ENVS:
            raise SettingsError(f"APP_ENV must be one of {', '.join(APP_ENVS)}, not {app_env!r}")

        raw_url = env.get("DATABASE_URL", "").strip()
        database_url = normalize_database_url(raw_url) if raw_url else defaults.database_url

        secret_key = env.get("SECRET_KEY", "").strip() or DEV_SECRET_KEY
        credentials_keys = _check_fernet_keys(env.get("CREDENTIALS_KEY", "") or DEV_CREDENTIALS_KEY)
        if app_env != "development":
            if secret_key == DEV_SECRET_KEY or len(secret_key) < 16:
                raise SettingsError(
                    f"SECRET_KEY must be set to a private value of 16+ characters when APP_ENV={app_env}"
                )
            if DEV_CREDENTIALS_KEY in credentials_keys:
                raise SettingsError(f"CREDENTIALS_KEY must be set to a private Fernet key when APP_ENV={app_env}")
            if not raw_url:
                raise SettingsError(f"DATABASE_URL must be set when APP_ENV={app_env}")

        log_level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")

        redis_url = env.get("REDIS_URL", "").strip() or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("REDIS_URL must start with redis://, rediss:// or unix://")

        cache_dir = Path(env.get("CACHE_DIR", "").strip() or defaults.cache_dir)
        upload_dir = Path(env.get("UPLOAD_DIR", "").strip() or defaults.upload_dir)
        embedded = env.get("EMBEDDED", "").strip().lower() in ("1", "true", "yes")
        sync_interval = _seconds(env, "SYNC_INTERVAL_SECONDS", 15.0 if embedded else 300.0, 1, 86400)
        standby_retry = _seconds(env, "WORKER_STANDBY_RETRY_SECONDS", defaults.standby_retry_seconds, 0.1, 3600)
        refresh = _seconds(env, "REFRESH_SECONDS", 0, 1, 3600) if env.get("REFRESH_SECONDS", "").strip() else None
        raw_days = env.get("DEMO_HISTORY_DAYS", "").strip() or str(defaults.demo_history_days)
        if not raw_days.isdigit() or not 1 <= int(raw_days) <= 1500:
            raise SettingsError(f"DEMO_HISTORY_DAYS must be a whole number of days from 1 to 1500, not {raw_days!r}")
        raw_hops = env.get("TRUSTED_PROXY_HOPS", "").strip() or "0"
        if raw_hops not in ("0", "1", "2", "3", "4", "5"):
            raise SettingsError(f"TRUSTED_PROXY_HOPS must be a whole number of proxies from 0 to 5, not {raw_hops!r}")

        return cls(
            app_env=app_env,
            database_url=database_url,
            secret_key=secret_key,
            credentials_keys=credentials_keys,
            cache_dir=cache_dir,
            upload_dir=upload_dir,
            redis_url=redis_url,
            log_level=log_level,
            embedded=embedded,
            sync_interval_seconds=sync_interval,
            standby_retry_seconds=standby_retry,
            demo_history_days=int(raw_days),
            trusted_proxy_hops=int(raw_hops),
            refresh_seconds=refresh,
        )
