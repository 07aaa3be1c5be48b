"""`python -m worker` failover: two real worker processes on one database (SQLite and Postgres);
when the leader is killed with SIGKILL, the standby takes the leader lock and runs the schedule,
which here syncs a Best Buy simulator over real HTTP."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from db.engine import transaction
from db.models import Platform, SyncRun, utcnow
from settings import PROJECT_ROOT, Settings, SettingsError
from tests.sims import Channel

DEADLINE_SECONDS = 60
# From the leader's death to the new leader's sync: its standby retry (0.2 s here, 30 s by
# default) plus start-up and one small sync.
TAKEOVER_SECONDS = 15


class Worker:
    """A `python -m worker` process whose log lines are read by a thread into a queue, so
    waiting for one never blocks past a deadline."""

    def __init__(self, db_url: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "LOG_LEVEL": "INFO",
            "WORKER_STANDBY_RETRY_SECONDS": "0.2",
            "SYNC_INTERVAL_SECONDS": "3600",  # a platform syncs when first seen or asked to, not again
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)  # the process ended: nothing more will come

    def wait_for(self, text: str, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"the worker never logged {text!r}; it logged:\n{''.join(self.seen)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def succeeded_runs(sessions, platform_id: int) -> int:
    with sessions() as session:
        return session.scalar(
            select(func.count())
            .select_from(SyncRun)
            .where(SyncRun.platform_id == platform_id, SyncRun.status == "succeeded")
        )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("channel", ["bestbuy"], indirect=True)
def test_the_standby_takes_over_when_the_leader_is_killed(sessions, channel: Channel, db_url):
    """The standby keeps asking for the lock while the leader lives and runs nothing; once the
    leader is SIGKILLed (no clean-up of its own), it leads within seconds and acts on "Sync now"."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    leader = Worker(db_url)
    standby = None
    try:
        leader.wait_for("worker leading", deadline)
        wait_until(lambda: succeeded_runs(sessions, channel.platform_id) == 1, deadline, "the leader's first sync")
        standby = Worker(db_url)
        standby.wait_for("worker on standby", deadline)
        standby.wait_for("worker on standby", deadline)  # it keeps trying while the leader lives

        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait(timeout=10)
        with transaction(sessions) as session:  # "Sync now": only a leading worker acts on it
            session.get(Platform, channel.platform_id).sync_requested_at = utcnow()

        takeover = time.monotonic() + TAKEOVER_SECONDS
        standby.wait_for("worker leading", takeover)
        wait_until(lambda: succeeded_runs(sessions, channel.platform_id) == 2, takeover, "the new leader's sync")
        with sessions() as session:
            assert session.get(Platform, channel.platform_id).sync_requested_at is None
        assert standby.process.poll() is None
    finally:
        leader.stop()
        if standby is not None:
            standby.stop()


def test_the_standby_retry_is_a_checked_setting():
    assert Settings.from_env({}).standby_retry_seconds == 30.0
    assert Settings.from_env({"WORKER_STANDBY_RETRY_SECONDS": "0.2"}).standby_retry_seconds == 0.2
    for bad in ("0", "abc", "nan", "3601"):
        with pytest.raises(SettingsError, match="WORKER_STANDBY_RETRY_SECONDS"):
            Settings.from_env({"WORKER_STANDBY_RETRY_SECONDS": bad})
