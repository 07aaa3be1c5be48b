"""Settings: every bad value stops start-up with one line that names the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from settings import DEV_SECRET_KEY, PROJECT_ROOT, Settings, SettingsError

GOOD_PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "a-long-private-secret-key-0123456789",
    "CREDENTIALS_KEY": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgresql://app:pw@db.example.com/channelpulse?sslmode=require",
}


def test_defaults_are_a_local_sqlite_development_setup():
    settings = Settings.from_env({})
    assert settings.app_env == "development"
    assert settings.database_url.drivername == "sqlite"
    assert settings.database_url.database.endswith("instance/channelpulse.db")
    assert settings.demo_enabled


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_neon_and_render_urls_map_to_psycopg3_and_keep_sslmode(scheme):
    url = Settings.from_env({"DATABASE_URL": f"{scheme}://u:p@ep-x.neon.tech/db?sslmode=require"}).database_url
    assert url.drivername == "postgresql+psycopg"
    assert url.query["sslmode"] == "require"
    assert url.database == "db"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u:p@host"}, "DATABASE_URL"),
        ({"APP_ENV": "prod"}, "APP_ENV"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"CREDENTIALS_KEY": "short"}, "CREDENTIALS_KEY"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ],
)
def test_malformed_values_name_the_variable(env, names):
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env(env)
    message = str(excinfo.value)
    assert names in message and "\n" not in message


def test_password_is_not_echoed_in_url_errors():
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({"DATABASE_URL": "mysql://user:hunter2@host/db"})
    assert "hunter2" not in str(excinfo.value)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CREDENTIALS_KEY", "DATABASE_URL"])
def test_production_refuses_missing_secrets(missing):
    env = {k: v for k, v in GOOD_PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_production_refuses_the_development_secret():
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({**GOOD_PRODUCTION, "SECRET_KEY": DEV_SECRET_KEY})


def test_production_with_real_secrets_starts_without_demo():
    settings = Settings.from_env(GOOD_PRODUCTION)
    assert settings.is_production and not settings.demo_enabled


def test_credentials_keys_rotate():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert Settings.from_env({"CREDENTIALS_KEY": f"{new}, {old}"}).credentials_keys == (new, old)


def run_app(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Start `python app.py` the way a user would and return how it ended."""
    return subprocess.run(
        [sys.executable, "app.py", "--no-demo", "--port", "0"],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_app_refuses_to_start_in_production_without_secrets():
    result = run_app({"APP_ENV": "production"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SECRET_KEY" in lines[0]


def test_app_reports_a_malformed_database_url_in_one_line():
    result = run_app({"DATABASE_URL": "postgresql//nope"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]


def test_gunicorn_entry_point_refuses_in_one_line():
    result = subprocess.run(
        [sys.executable, "-c", "import app; app.server"],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "APP_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "channelpulse: configuration error: SECRET_KEY must be set to a private value of 16+ characters "
        "when APP_ENV=production"
    ]


def test_cache_and_upload_dirs_default_to_instance_and_follow_the_environment(tmp_path):
    defaults = Settings.from_env({})
    assert (defaults.cache_dir, defaults.upload_dir) == (
        PROJECT_ROOT / "instance" / "cache",
        PROJECT_ROOT / "instance" / "uploads",
    )
    moved = Settings.from_env({"CACHE_DIR": str(tmp_path / "c"), "UPLOAD_DIR": str(tmp_path / "u")})
    assert (moved.cache_dir, moved.upload_dir) == (tmp_path / "c", tmp_path / "u")
