"""The login throttle: failed logins per email and per client, shared by every process, in the
database or in Redis (every test here runs on both backends, over SQLite and Postgres)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import redis
import requests
from limits.storage import RedisStorage

from dashboard.auth import PER_CLIENT, PER_EMAIL, FailoverStorage, client_key, email_key
from db import accounts
from db.engine import transaction
from db.logins import SqlStorage
from db.models import Company
from settings import Settings, SettingsError
from tests.conftest import TEST_PASSWORD, AuthActions, ProcessOutput, real_clock_env, require, wait_for
from tests.test_sessions import change_password

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture(params=["database", "redis"])
def settings(request, settings: Settings) -> Settings:
    """The conftest settings, with the throttle's counters in the database or in Redis."""
    if request.param == "database":
        return settings
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        require("REQUIRE_REDIS", f"Redis not reachable at {REDIS_URL}")
    return replace(settings, redis_url=REDIS_URL)


@pytest.fixture
def user_email(sessions, company: Company) -> str:
    """A user of its own per test, so counters left in the shared Redis by other runs never count."""
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    with transaction(sessions) as session:
        accounts.create_user(session, session.get(Company, company.id), email, TEST_PASSWORD)
    return email


def random_client() -> str:
    """An address of its own from the OS's entropy (uuid4), not from `random`, whose state
    another plugin may have seeded alike in two pytest-xdist workers: two tests then shared a
    client and each saw the other's failures."""
    a, b, c = uuid.uuid4().bytes[:3]
    return f"10.{a}.{b}.{c % 254 + 1}"


@pytest.fixture
def from_client(client):
    """The test client, coming from an address of its own (again so Redis counters never mix)."""
    client.environ_base["REMOTE_ADDR"] = random_client()
    return client


class Gunicorn:
    """`gunicorn -w 2 app:server` against the test database, logging which worker served what.
    It binds a free port itself (port 0) and logs which; the URL is read from that line."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "APP_ENV", "EMBEDDED")}
        env.update(
            DATABASE_URL=settings.database_url.render_as_string(hide_password=False),
            CACHE_DIR=str(tmp_path / "gunicorn-cache"),
            UPLOAD_DIR=str(tmp_path / "gunicorn-uploads"),
            LOG_LEVEL="WARNING",
            TRUSTED_PROXY_HOPS="1",  # X-Forwarded-For names the client, as behind Render's proxy
            **({"REDIS_URL": settings.redis_url} if settings.redis_url else {}),
        )
        # --timeout: a worker held busy by hold_a_worker() must outlive a slow machine's attempts
        command = [str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-b", "127.0.0.1:0", "--timeout", "300"]
        command += ["app:server"]
        command += ["--access-logfile", "-", "--access-logformat", "worker=%(p)s %(m)s %(U)s %(s)s"]
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.output = ProcessOutput(process)
        self.url = self.output.wait_for(r"Listening at: (http://127\.0\.0\.1:\d+)", 60).group(1)

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return True
            except OSError:
                assert process.poll() is None, f"gunicorn exited early:\n{self.output.text()}"
                return False

        wait_for(healthy, 120, "gunicorn's workers to answer /health", interval=0.3)

    def hold_a_worker(self) -> tuple[socket.socket, int]:
        """A connection whose request never ends (headers cut short), and the pid of the worker
        that took it: a sync worker blocks reading it, so until it is closed the kernel can hand
        new connections only to the other worker. Returns once a worker really holds it."""
        address = urlsplit(self.url)
        held = socket.create_connection((address.hostname, address.port), timeout=30)
        held.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        ours = held.getsockname()

        def holder() -> int | None:
            for worker in psutil.Process(self.output.pid).children():
                if any(c.raddr and tuple(c.raddr) == ours for c in worker.net_connections("tcp")):
                    return worker.pid
            return None

        return held, wait_for(holder, 60, "a gunicorn worker to take the held connection")

    def stop(self) -> str:
        """Stop it; returns what it logged."""
        return self.output.stop(timeout=30)


@pytest.fixture
def gunicorn(settings, tmp_path) -> Iterator[Gunicorn]:
    server = Gunicorn(settings, tmp_path)
    yield server
    server.stop()


def attempt(url: str, email: str, password: str, client: str) -> int:
    """One login as a browser does it (the form, then its post) on fresh connections."""
    with requests.Session() as http:
        http.headers.update({"X-Forwarded-For": client, "Connection": "close"})
        token = CSRF.search(http.get(url + "/login", timeout=30).text).group(1)
        form = {"email": email, "password": password, "csrf_token": token}
        return http.post(url + "/login", data=form, allow_redirects=False, timeout=30).status_code


def test_failures_per_email_are_counted_across_gunicorn_workers(gunicorn, user_email, settings, engine):
    client = random_client()

    def failed_logins(count: int) -> list[int]:
        return [attempt(gunicorn.url, user_email, "wrong password", client) for _ in range(count)]

    # Left alone the kernel may give every login to one worker; holding each in turn spreads them.
    first, first_pid = gunicorn.hold_a_worker()
    statuses = failed_logins(PER_EMAIL.amount // 2)  # all to the other worker
    second, second_pid = gunicorn.hold_a_worker()  # the other one takes it: the first is busy
    first.close()
    statuses += failed_logins(20 - PER_EMAIL.amount // 2)  # all to the first worker
    second.close()
    assert statuses == [200] * PER_EMAIL.amount + [429] * (20 - PER_EMAIL.amount)
    assert attempt(gunicorn.url, user_email, TEST_PASSWORD, random_client()) == 429  # from any client
    key = PER_EMAIL.key_for(email_key(user_email))
    if settings.redis_url:  # counted in the configured store, and only there
        assert int(redis.Redis.from_url(REDIS_URL).get(f"cp-login:{key}")) == PER_EMAIL.amount
        assert SqlStorage(engine).get(key) == 0
    else:
        assert SqlStorage(engine).get(key) == PER_EMAIL.amount
    log = gunicorn.stop()
    served = [int(pid) for pid in re.findall(r"worker=<(\d+)> POST /login", log)]
    half = PER_EMAIL.amount // 2
    assert served[:20] == [second_pid] * half + [first_pid] * (20 - half), log
    assert first_pid != second_pid


@pytest.mark.usefixtures("company")
def test_one_client_is_capped_over_all_emails(from_client):
    auth, run = AuthActions(from_client), uuid.uuid4().hex[:8]
    statuses = [auth.login(f"{run}-{n}@example.com", "guess").status_code for n in range(30)]
    assert statuses == [200] * PER_CLIENT.amount + [429] * (30 - PER_CLIENT.amount)
    blocked = auth.login("admin@example.com", TEST_PASSWORD)
    assert blocked.status_code == 429 and b"Too many failed attempts" in blocked.data


def test_a_success_clears_the_email_count_but_not_the_client_count(from_client, user_email):
    auth, run = AuthActions(from_client), uuid.uuid4().hex[:8]
    for _ in range(PER_EMAIL.amount - 1):
        assert auth.login(user_email, "wrong").status_code == 200
    assert auth.login(user_email).status_code == 302
    auth.logout()
    for _ in range(PER_EMAIL.amount):  # the email starts over...
        assert auth.login(user_email, "wrong").status_code == 200
    # ...but the client keeps its failures: a login of its own does not buy more guesses.
    remaining = PER_CLIENT.amount - (2 * PER_EMAIL.amount - 1)
    for n in range(remaining):
        assert auth.login(f"{run}-{n}@example.com", "wrong").status_code == 200
    assert auth.login(f"{run}-last@example.com", "wrong").status_code == 429


ONE_BACKEND = pytest.mark.parametrize("settings", ["database"], indirect=True)  # the backend does not matter here


@ONE_BACKEND
@pytest.mark.usefixtures("company")
def test_a_forged_forwarded_for_does_not_escape_the_client_cap(from_client):
    """Without a trusted proxy (TRUSTED_PROXY_HOPS=0) X-Forwarded-For is the client's own word."""
    auth, run = AuthActions(from_client), uuid.uuid4().hex[:8]
    for n in range(PER_CLIENT.amount):
        from_client.environ_base["HTTP_X_FORWARDED_FOR"] = random_client()
        assert auth.login(f"{run}-{n}@example.com", "wrong").status_code == 200
    from_client.environ_base["HTTP_X_FORWARDED_FOR"] = random_client()
    assert auth.login(f"{run}-x@example.com", "wrong").status_code == 429


@ONE_BACKEND
def test_a_trusted_proxy_names_the_client(settings):
    from app import create_app

    proxied = create_app(replace(settings, trusted_proxy_hops=1)).test_client()
    proxied.environ_base.update(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=random_client())
    auth, run = AuthActions(proxied), uuid.uuid4().hex[:8]
    for n in range(PER_CLIENT.amount):
        assert auth.login(f"{run}-{n}@example.com", "wrong").status_code == 200
    assert auth.login(f"{run}-x@example.com", "wrong").status_code == 429
    proxied.environ_base["HTTP_X_FORWARDED_FOR"] = random_client()  # another client behind the same proxy
    assert auth.login(f"{run}-y@example.com", "wrong").status_code == 200


def test_sql_storage_counts_every_concurrent_increment(engine):
    storage, key = SqlStorage(engine), f"test/{uuid.uuid4().hex}"
    threads = [threading.Thread(target=lambda: [storage.incr(key, 60) for _ in range(25)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get(key) == 200
    storage.clear(key)
    assert storage.get(key) == 0


@pytest.mark.calendar
def test_sql_storage_starts_a_new_window_when_the_old_one_ended(engine):
    storage, key = SqlStorage(engine), f"test/{uuid.uuid4().hex}"
    assert storage.incr(key, 1, amount=5) == 5
    time.sleep(1.1)
    assert storage.get(key) == 0
    assert storage.incr(key, 60) == 1
    assert storage.get_expiry(key) > time.time() + 50


def test_ipv6_clients_are_counted_per_64():
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("203.0.113.7") == "203.0.113.7"


@pytest.mark.parametrize("value", ["-1", "6", "one", "1.5", "²"])
def test_trusted_proxy_hops_must_be_a_small_whole_number(value):
    with pytest.raises(SettingsError, match="TRUSTED_PROXY_HOPS"):
        Settings.from_env({"TRUSTED_PROXY_HOPS": value})
    assert Settings.from_env({"TRUSTED_PROXY_HOPS": "1"}).trusted_proxy_hops == 1
    assert Settings.from_env({}).trusted_proxy_hops == 0


DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every Redis call is refused


@pytest.fixture
def dead_redis_client(settings):
    """The app with REDIS_URL set but Redis down, from a client address of its own."""
    from app import create_app

    client = create_app(replace(settings, redis_url=DEAD_REDIS)).test_client()
    client.environ_base["REMOTE_ADDR"] = random_client()
    return client


@ONE_BACKEND
@pytest.mark.usefixtures("company")
def test_with_redis_down_logins_work_and_are_counted_in_the_database(dead_redis_client, engine, caplog):
    auth = AuthActions(dead_redis_client)
    for _ in range(PER_EMAIL.amount):
        assert auth.login("admin@example.com", "wrong").status_code == 200
    assert SqlStorage(engine).get(PER_EMAIL.key_for(email_key("admin@example.com"))) == PER_EMAIL.amount
    assert auth.login("admin@example.com").status_code == 429  # still throttled
    assert auth.login("viewer@example.com").status_code == 302  # and still open to the right password
    messages = [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"]
    assert messages == ["login throttle: Redis failed (ConnectionError), counting in the database"]  # once


@ONE_BACKEND
@pytest.mark.usefixtures("company")
def test_with_redis_down_the_password_can_be_changed(dead_redis_client):
    assert AuthActions(dead_redis_client).login().status_code == 302
    assert change_password(dead_redis_client, current="not my password").status_code == 400
    assert change_password(dead_redis_client).status_code == 302


@pytest.mark.calendar
def test_the_throttle_counts_in_redis_again_once_it_is_back(engine, caplog, tmp_path):
    """A Redis of its own on a Unix socket: down when the throttle starts, then started."""
    if not shutil.which("redis-server"):
        require("REQUIRE_REDIS", "redis-server is not installed")
    caplog.set_level(logging.INFO, logger="dashboard.auth")
    # A Unix socket in the test's own directory: no one else can take it between now and the start.
    socket_path = tmp_path / "redis.sock"
    storage = FailoverStorage(RedisStorage(f"redis+unix://{socket_path}"), SqlStorage(engine), retry_after=0)
    key = f"test/{uuid.uuid4().hex}"
    assert [storage.incr(key, 60) for _ in range(3)] == [1, 2, 3]  # in the database, Redis retried each time
    assert SqlStorage(engine).get(key) == 3
    # Redis keeps the real clock, as the shared one does when CI fakes ours (libfaketime hangs redis-server).
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(socket_path), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        env=real_clock_env(),
    )
    try:
        wait_for(storage.primary.check, 30, "the new redis-server to answer", interval=0.1)
        assert storage.incr(key, 60) == 1  # a fresh count, in Redis
        assert storage.get(key) == 1 and SqlStorage(engine).get(key) == 3
    finally:
        server.terminate()
        server.wait(timeout=30)
    messages = [r.getMessage() for r in caplog.records if r.name == "dashboard.auth"]
    assert messages == [
        "login throttle: Redis failed (ConnectionError), counting in the database",
        "login throttle: Redis is back, counting there again",
    ]
