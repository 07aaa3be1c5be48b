"""Named locks: one holder at a time, across processes, and a killed holder leaves none behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from db.locks import named_lock
from settings import PROJECT_ROOT

HOLD = """
import sys, time
from db.engine import make_engine
from db.locks import named_lock
with named_lock(make_engine(sys.argv[1]), "test-lock") as held:
    print("held" if held else "busy", flush=True)
    time.sleep(60)
"""


def test_one_holder_at_a_time(engine):
    with named_lock(engine, "test-lock") as first, named_lock(engine, "test-lock") as second:
        assert first and not second
    with named_lock(engine, "test-lock") as again, named_lock(engine, "other-lock") as other:
        assert again and other


def test_a_killed_holder_releases_the_lock(engine, db_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, db_url],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with named_lock(engine, "test-lock") as held:
            assert not held  # another process has it
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with named_lock(engine, "test-lock") as held:
                if held:
                    break
            time.sleep(0.1)
        assert held  # the server (or the kernel) released it with the dead process
    finally:
        if holder.poll() is None:
            holder.kill()
