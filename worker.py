"""The scheduler: syncs every due platform and retrains due forecasts on a schedule
kept as data. `python -m worker` runs it as its own process; `make run` embeds it in the web
process. With several worker processes, a leader lock lets exactly one run the schedule while
the others wait on standby.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import STRICT, NetworkPolicy
from db import locks
from db.credentials import CredentialBox
from jobs.forecasts import retrain_due
from jobs.sync import due_platforms, rescan_all, sync_platform
from settings import Settings, SettingsError
from state import AppState, build_state

log = logging.getLogger(__name__)

LEADER_LOCK = "scheduler-leader"


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    every: timedelta
    run: Callable[[], object]
    start_now: bool = False  # first run at start-up instead of one interval later


class SyncDispatcher:
    """Starts the sync of each due platform in a small thread pool and returns at once, so a
    long first backfill holds up neither the schedule nor another platform's syncs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: CredentialBox,
        interval: timedelta,
        workers: int = 4,
        network: NetworkPolicy = STRICT,
    ) -> None:
        self.sessions, self.box, self.interval, self.network = sessions, box, interval, network
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync")
        self.running: set[int] = set()
        self._lock = threading.Lock()

    def dispatch(self) -> list[int]:
        """Start syncs of due platforms not already syncing here; returns the ids started."""
        with self.sessions() as session:
            due = due_platforms(session, self.interval)
        started = []
        with self._lock:
            for platform_id in due:
                if platform_id not in self.running:
                    self.running.add(platform_id)
                    self.pool.submit(self._sync, platform_id)
                    started.append(platform_id)
        return started

    def _sync(self, platform_id: int) -> None:
        try:
            sync_platform(self.sessions, platform_id, self.box, network=self.network)
        finally:
            with self._lock:
                self.running.discard(platform_id)


def schedule(app_state: AppState) -> tuple[ScheduledJob, ...]:
    """What runs, and how often."""
    sessions, box, network = app_state.sessions, app_state.credentials, app_state.network
    interval = timedelta(seconds=app_state.settings.sync_interval_seconds)
    database_url = app_state.settings.database_url.render_as_string(hide_password=False)
    syncs = SyncDispatcher(sessions, box, interval, network=network)
    return (
        # Checks every few seconds so "Sync now" starts promptly; each platform syncs when due.
        ScheduledJob("sync-due", timedelta(seconds=5), syncs.dispatch, start_now=True),
        # A daily deep re-read catches anything an incremental window could have missed.
        ScheduledJob("rescan", timedelta(days=1), lambda: rescan_all(sessions, box, network)),
        # Nightly, on new days and on request; each retrain in a child process (jobs.training).
        ScheduledJob("forecasts", timedelta(seconds=30), lambda: retrain_due(sessions, database_url), start_now=True),
    )


def build_scheduler(app_state: AppState, *, background: bool) -> BaseScheduler:
    scheduler = BackgroundScheduler() if background else BlockingScheduler()
    for job in schedule(app_state):
        first_run = {"next_run_time": datetime.now(UTC)} if job.start_now else {}
        scheduler.add_job(
            job.run,
            "interval",
            seconds=job.every.total_seconds(),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            **first_run,
        )
    return scheduler


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"channelpulse worker: configuration error: {exc}", file=sys.stderr)
        return 2
    app_state = build_state(settings)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        with locks.named_lock(app_state.engine, LEADER_LOCK) as leader:
            if leader:
                log.info("worker leading; schedule=%s", ",".join(j.name for j in schedule(app_state)))
                build_scheduler(app_state, background=False).start()
                return 0
        log.info("worker on standby: another worker leads; retry_in_s=%g", settings.standby_retry_seconds)
        time.sleep(settings.standby_retry_seconds)


if __name__ == "__main__":
    sys.exit(main())
