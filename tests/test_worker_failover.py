"""`python -m worker` failover: two real worker processes on one database (SQLite and Postgres);
when the leader is killed with SIGKILL, the standby takes the leader lock and runs the schedule,
which here syncs a Best Buy simulator over real HTTP."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import func, select

from db.engine import transaction
from db.models import Platform, SyncRun, utcnow
from settings import Settings, SettingsError
from tests.conftest import ProcessOutput, wait_for
from tests.sims import Channel
from tests.test_worker import start_worker

DEADLINE_SECONDS = 60
# From the leader's death to the new leader's sync: its standby retry (0.2 s here, 30 s by
# default) plus start-up and one small sync.
TAKEOVER_SECONDS = 15


def start_fast_worker(db_url: str) -> ProcessOutput:
    """A worker that retries the leader lock every 0.2 s (30 s by default)."""
    return start_worker(
        db_url,
        WORKER_STANDBY_RETRY_SECONDS="0.2",
        SYNC_INTERVAL_SECONDS="3600",  # a platform syncs when first seen or asked to, not again
    )


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
    leader = start_fast_worker(db_url)
    standby = None
    try:
        leader.wait_for("worker leading", DEADLINE_SECONDS)
        wait_for(
            lambda: succeeded_runs(sessions, channel.platform_id) == 1, DEADLINE_SECONDS, "the leader's first sync"
        )
        standby = start_fast_worker(db_url)
        # It keeps asking for the lock while the leader lives.
        wait_for(lambda: standby.text().count("worker on standby") >= 2, DEADLINE_SECONDS, "the standby's retries")

        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        with transaction(sessions) as session:  # "Sync now": only a leading worker acts on it
            session.get(Platform, channel.platform_id).sync_requested_at = utcnow()

        standby.wait_for("worker leading", TAKEOVER_SECONDS)
        wait_for(lambda: succeeded_runs(sessions, channel.platform_id) == 2, TAKEOVER_SECONDS, "the new leader's sync")
        with sessions() as session:
            assert session.get(Platform, channel.platform_id).sync_requested_at is None
        assert standby.poll() is None
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
