"""Shared fixtures, flaskr-style: `settings`, `sessions`, `app`, `client`, `auth`.

Database tests run on SQLite and on PostgreSQL: the `db_url` fixture is parametrised over both.
Postgres comes from TEST_DATABASE_URL (default: the local server); each test session creates
its own throwaway database there. With REQUIRE_POSTGRES=1 a missing server fails the run
instead of skipping, so CI cannot pass without really using Postgres.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db import migrate
from db.engine import make_engine, make_session_factory, transaction
from db.models import Base, Company
from settings import Settings, normalize_database_url

pytest_plugins = ["tests.sims"]  # the `channel` fixture: a platform connected to a running simulator

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
TEST_PASSWORD = "correct horse battery staple"


def _admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database on the Postgres server, for this test session only."""
    admin = normalize_database_url(_admin_url())
    name = f"channelpulse_test_{uuid.uuid4().hex[:10]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {admin.render_as_string()}: {exc}".splitlines()[0]
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    url = admin.set(database=name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> Iterator[str]:
    """A migrated, empty database: SQLite or Postgres."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return replace(Settings(), database_url=make_url(db_url), cache_dir=tmp_path / "cache", log_level="WARNING")


@pytest.fixture
def app(settings):
    from app import create_app

    server = create_app(settings)
    server.config.update(TESTING=True)
    return server


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def company(sessions) -> Company:
    """A company with an admin user (admin@example.com) and a viewer (viewer@example.com)."""
    import jobs

    with transaction(sessions) as session:
        company = Company(name="Acme Audio", timezone="America/New_York", currency="USD")
        session.add(company)
        jobs.create_user(session, company, "admin@example.com", TEST_PASSWORD, role="admin")
        jobs.create_user(session, company, "viewer@example.com", TEST_PASSWORD, role="viewer")
    return company


class AuthActions:
    def __init__(self, client) -> None:
        self._client = client

    def csrf_token(self) -> str:
        page = self._client.get("/login").get_data(as_text=True)
        marker = 'name="csrf_token" type="hidden" value="'
        start = page.index(marker) + len(marker)
        return page[start : page.index('"', start)]

    def login(self, email: str = "admin@example.com", password: str = TEST_PASSWORD):
        token = self.csrf_token()
        return self._client.post("/login", data={"email": email, "password": password, "csrf_token": token})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


# --- browser tests -------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium (Debian's). With REQUIRE_BROWSER=1 a missing browser fails the run."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh browser tab; console errors are collected in `page.console_errors`."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(tmp_path):
    """Start `python app.py` on a free port against `server.database_url` (set before calling
    `server.start()`), the way `make run` does; stopped at the end of the test."""

    class LiveServer:
        database_url = f"sqlite:///{tmp_path / 'live.db'}"
        process = None

        def start(self, *args: str, env: dict | None = None) -> str:
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self.process = subprocess.Popen(
                [sys.executable, "app.py", "--port", str(port), *args],
                cwd=Path(__file__).resolve().parents[1],
                env={**os.environ, "DATABASE_URL": self.database_url, "LOG_LEVEL": "WARNING", **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"app.py exited early:\n{self.process.stdout.read()}")
                try:
                    with urllib.request.urlopen(self.url + "/health", timeout=1):
                        return self.url
                except OSError:
                    time.sleep(0.2)
            raise RuntimeError("app.py did not answer /health within 90 s")

    server = LiveServer()
    yield server
    if server.process and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=20)
