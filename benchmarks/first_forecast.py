"""How long `make run` takes to show the demo company's forecasts on a fresh machine: the embedded
app (`EMBEDDED=1 python app.py`) started on an empty database, the demo stores' two-year history
synced in the background, then the scheduler's first retrain (a child process, every member).

    python -m benchmarks.first_forecast --json [--repeat 3]

Each repeat starts the app on a new temporary SQLite database and reads that database every
second: `synced_s` is when both demo channels finished their first sync, `forecasts_s` when every
series of the demo company (9) had a stored forecast. Medians over the repeats, and each run's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from benchmarks import report
from db.engine import make_engine
from db.models import Company, ModelRun, Platform, SyncRun
from embedded import RUNNING_AT
from jobs.demo import DEMO_COMPANY

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERIES = 9  # two channels and their total, three metrics each
TIMEOUT_S = 900


def one_run() -> dict[str, float]:
    """Start the embedded app on a fresh database; the seconds until synced and until forecast."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'first.db'}"
        env = {**os.environ, "EMBEDDED": "1", "DATABASE_URL": url, "CACHE_DIR": f"{tmp}/cache"}
        env["UPLOAD_DIR"] = f"{tmp}/uploads"
        started = time.monotonic()
        app = subprocess.Popen(
            [sys.executable, "app.py", "--port", "0"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            for line in app.stdout:  # wait until it serves (and has migrated)
                if line.startswith(RUNNING_AT):
                    break
            return _wait(url, started)
        finally:
            app.terminate()
            app.wait(30)


def _wait(url: str, started: float) -> dict[str, float]:
    engine = make_engine(url)
    times: dict[str, float] = {}
    try:
        while time.monotonic() - started < TIMEOUT_S:
            with engine.connect() as db:
                company = db.scalar(select(Company.id).where(Company.name == DEMO_COMPANY))
                synced = db.scalar(
                    select(func.count(func.distinct(SyncRun.platform_id)))
                    .join(Platform, Platform.id == SyncRun.platform_id)
                    .where(Platform.company_id == company, SyncRun.status == "succeeded")
                )
                fitted = select(ModelRun.platform_id, ModelRun.metric).distinct()
                fitted = fitted.where(ModelRun.company_id == company, ModelRun.status == "succeeded")
                series = len(db.execute(fitted).all())
            if synced >= 2:
                times.setdefault("synced_s", time.monotonic() - started)
            if series >= SERIES:
                times["forecasts_s"] = time.monotonic() - started
                return times
            time.sleep(1.0)
    finally:
        engine.dispose()
    raise SystemExit(f"no forecasts within {TIMEOUT_S} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: one figure a line)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    runs = [one_run() for _ in range(args.repeat)]
    result = {
        "synced_s": round(statistics.median(r["synced_s"] for r in runs), 1),
        "forecasts_s": round(statistics.median(r["forecasts_s"] for r in runs), 1),
        "runs": [{k: round(v, 1) for k, v in r.items()} for r in runs],
    }
    report(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
