"""`python -m worker`: of two workers on one database, exactly one runs the schedule."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from settings import PROJECT_ROOT


def start_worker(db_url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO"},
    )


def first_role(worker: subprocess.Popen, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = worker.stdout.readline()
        if "worker leading" in line:
            return "leader"
        if "worker on standby" in line:
            return "standby"
    raise AssertionError("the worker said neither leading nor standby")


def test_two_workers_elect_one_leader(db_url):
    first = start_worker(db_url)
    try:
        assert first_role(first) == "leader"
        second = start_worker(db_url)
        try:
            assert first_role(second) == "standby"
        finally:
            second.terminate()
            second.wait(timeout=20)
    finally:
        first.terminate()
        first.wait(timeout=20)
