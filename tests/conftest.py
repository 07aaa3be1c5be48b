"""Shared fixtures, flaskr-style: `settings`, `sessions`, `app`, `client`, `auth`.

Database tests run on SQLite and on PostgreSQL: the `db_url` fixture is parametrised over both.
Postgres comes from TEST_DATABASE_URL (default: the local server); each test session creates
its own throwaway database there.

A test that needs an outside resource calls `require(FLAG, why)` when it is missing: with the
flag set to 1 (CI sets every one: REQUIRE_POSTGRES, REQUIRE_REDIS, REQUIRE_BROWSER,
REQUIRE_DATASETS) that fails the test, otherwise it skips, so CI cannot pass without really
using the resource.

Every test writes under its own tmp_path only (database, cache, uploads, a live server's files),
waits on conditions with deadlines (`wait_for`, `ProcessOutput.wait_for`), and its servers bind
port 0 and say which port they got.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import NoReturn, TypeVar

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db import accounts, migrate
from db.engine import make_engine, make_session_factory, transaction
from db.models import Base, Company
from settings import Settings, normalize_database_url

pytest_plugins = ["tests.sims"]  # the `channel` fixture: a platform connected to a running simulator

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_PASSWORD = "correct horse battery staple"
PROJECT_DIR = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def require(flag: str, message: str) -> NoReturn:
    """A resource the test needs is missing: fail when `flag` (e.g. REQUIRE_REDIS) is 1, as CI
    sets it, else skip."""
    if os.environ.get(flag) == "1":
        pytest.fail(f"{message} ({flag}=1)", pytrace=False)
    pytest.skip(message)


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy, which is returned; fail after `timeout`
    seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def real_clock_env() -> dict[str, str]:
    """This process's environment without libfaketime (`make test-on`), for a foreign program
    that keeps the real clock, as Postgres and Redis do."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")}


class FakeSeconds:
    """A monotonic clock that moves only when told, for the simulators' rate limiters and
    buckets: a test then says how much time passes instead of racing the real clock."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ProcessOutput:
    """The lines a subprocess writes (stdout, with stderr merged in), read by a thread: a test
    waits for a line with a deadline instead of blocking in readline(), and a chatty process
    never stalls on a full pipe."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="process-output", daemon=True)
        self._reader.start()

    def __getattr__(self, name: str):
        """The process's own attributes (pid, poll, wait, terminate, send_signal, ...)."""
        return getattr(self.process, name)

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first line (printed so far or within `timeout` s) that `pattern` matches."""
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    why = "exited" if self._closed else f"printed nothing matching it within {timeout} s"
                    raise AssertionError(f"waiting for {pattern!r}: the process {why}:\n" + "\n".join(self.lines))
                self._changed.wait(remaining)

    def stop(self, timeout: float = 20) -> str:
        """Terminate the process (kill it if it lingers) and return everything it wrote."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return self.text()


def _admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)


# --- time limits: pyproject.toml sets pytest-timeout's default per test ---------------------

SLOW_TIMEOUT = 300  # seconds, for tests marked browser or slow (measured: up to ~70 s on a busy machine)


# `make test` runs the suite on two pytest-xdist workers (`--dist loadgroup`). The demo's store
# simulators prefer fixed ports (simulators.demo.SHOPIFY_PORT, MIRAKL_PORT) so `make run` has
# stable URLs: tests that can start them (a live `app.py`, tests/test_embedded.py) share one
# group, which runs on one worker, one test at a time.
DEMO_PORTS_GROUP = "demo-store-ports"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook turns the groups into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser and slow tests get SLOW_TIMEOUT unless they set their own @pytest.mark.timeout;
    tests that can bind the demo stores' ports join DEMO_PORTS_GROUP."""
    timeouts = config.pluginmanager.hasplugin("timeout")  # not with -p no:timeout
    for item in items:
        if (
            timeouts
            and item.get_closest_marker("timeout") is None
            and (item.get_closest_marker("browser") or item.get_closest_marker("slow"))
        ):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
        if "live_server" in getattr(item, "fixturenames", ()) or item.nodeid.startswith("tests/test_embedded.py"):
            item.add_marker(pytest.mark.xdist_group(DEMO_PORTS_GROUP))


# --- tests write only under their own temporary directories ----------------------------------

# Where the product writes by default (instance/: SQLite file, cache, uploads) and where test
# tools would (.hypothesis/): nothing may appear or change there during a test run.
GUARDED = ("instance", ".hypothesis")
STARTED = pytest.StashKey[float]()


def written_into_repository(since: float) -> list[str]:
    """Files under GUARDED created or changed after `since` (a time.time())."""
    return sorted(
        str(path.relative_to(PROJECT_DIR))
        for name in GUARDED
        for path in (PROJECT_DIR / name).rglob("*")
        if path.is_file() and path.stat().st_mtime >= since
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[STARTED] = time.time()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test wrote into the repository instead of its tmp_path."""
    written = written_into_repository(session.config.stash[STARTED])
    if written:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.ensure_newline()
            reporter.write_line(f"tests wrote into the repository (use tmp_path): {', '.join(written[:10])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def hypothesis_files_in_tmp(tmp_path_factory) -> None:
    """Hypothesis keeps its caches in ./.hypothesis unless told otherwise."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


@pytest.fixture(autouse=True)
def files_in_tmp(tmp_path, monkeypatch) -> None:
    """A process a test starts with this environment (app.py, flask, gunicorn, worker) keeps its
    cache and uploads in the test's tmp_path, not in the repository's instance/."""
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path / "env-uploads"))


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
        require("REQUIRE_POSTGRES", f"PostgreSQL not reachable at {admin.render_as_string()}: {exc}".splitlines()[0])
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
    """The test's database; cache and uploads in its own tmp_path, never the repository's instance/."""
    return replace(
        Settings(),
        database_url=make_url(db_url),
        cache_dir=tmp_path / "cache",
        upload_dir=tmp_path / "uploads",
        log_level="WARNING",
    )


@pytest.fixture
def app(settings):
    """The web app on the test's database; its connection pool is closed after the test (two
    pytest-xdist workers holding every test's pool until garbage collection ran Postgres out of
    connections)."""
    from app import create_app

    server = create_app(settings)
    server.config.update(TESTING=True)
    yield server
    server.extensions["channelpulse"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def company(sessions) -> Company:
    """A company with an admin user (admin@example.com) and a viewer (viewer@example.com)."""

    with transaction(sessions) as session:
        company = Company(name="Acme Audio", timezone="America/New_York", currency="USD")
        session.add(company)
        accounts.create_user(session, company, "admin@example.com", TEST_PASSWORD, role="admin")
        accounts.create_user(session, company, "viewer@example.com", TEST_PASSWORD, role="viewer")
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
        require("REQUIRE_BROWSER", f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium keeps the real clock when `make test-on` moves ours, as Postgres and Redis do:
        # under libfaketime its pages stop completing Dash callbacks.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=real_clock_env())
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


@pytest.fixture
def live_server(tmp_path):
    """Start `python app.py --port 0` against `server.database_url` (set before calling
    `server.start()`), the way `make run` does; it binds a free port itself and prints its URL,
    which `start()` reads and returns. Its cache and uploads live in tmp_path; `server.output`
    holds what it printed. Stopped at the end of the test."""
    from embedded import RUNNING_AT

    class LiveServer:
        database_url = f"sqlite:///{tmp_path / 'live.db'}"
        process: subprocess.Popen | None = None
        output: ProcessOutput | None = None
        url = ""

        def start(self, *args: str, env: dict | None = None, timeout: float = 90) -> str:
            files = {"CACHE_DIR": str(tmp_path / "live-cache"), "UPLOAD_DIR": str(tmp_path / "live-uploads")}
            self.process = subprocess.Popen(
                [sys.executable, "app.py", "--port", "0", *args],
                cwd=PROJECT_DIR,
                env={**os.environ, "DATABASE_URL": self.database_url, "LOG_LEVEL": "WARNING", **files, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self.output = ProcessOutput(self.process)
            self.url = self.output.wait_for(re.escape(RUNNING_AT) + r"(http://\S+)", timeout).group(1)
            return self.url

    server = LiveServer()
    yield server
    if server.output:
        server.output.stop()
