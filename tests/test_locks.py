"""Named locks: one holder at a time, across processes, and a killed holder leaves none behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from db.locks import named_lock
from settings import PROJECT_ROOT
from tests.conftest import ProcessOutput, wait_for

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
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    output = ProcessOutput(holder)
    try:
        assert output.wait_for(r"^(held|busy)$", 30).group(1) == "held"
        with named_lock(engine, "test-lock") as held:
            assert not held  # another process has it
        holder.send_signal(signal.SIGKILL)
        holder.wait()

        def free() -> bool:
            with named_lock(engine, "test-lock") as held:
                return held

        wait_for(free, 10, "the dead holder's lock to be released", interval=0.1)  # by the server or the kernel
    finally:
        if holder.poll() is None:
            holder.kill()
        output.stop()
