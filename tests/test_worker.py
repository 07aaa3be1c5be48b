"""`python -m worker`: of two workers on one database, exactly one runs the schedule."""

from __future__ import annotations

import os
import subprocess
import sys

from settings import PROJECT_ROOT
from tests.conftest import ProcessOutput


def start_worker(db_url: str, **env: str) -> ProcessOutput:
    """A `python -m worker` process on `db_url` (plus `env`) whose log lines a test can wait for."""
    process = subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO", **env},
    )
    return ProcessOutput(process)


def first_role(worker: ProcessOutput, timeout: float = 30) -> str:
    """What the worker says it is, read with a deadline (a silent worker fails, never hangs)."""
    said = worker.wait_for(r"worker (leading|on standby)", timeout).group(1)
    return "leader" if said == "leading" else "standby"


def test_two_workers_elect_one_leader(db_url):
    first = start_worker(db_url)
    try:
        assert first_role(first) == "leader"
        second = start_worker(db_url)
        try:
            assert first_role(second) == "standby"
        finally:
            second.stop()
    finally:
        first.stop()
