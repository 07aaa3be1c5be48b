"""A full retrain of the demo company: two channels and the all-channels total, three metrics each
(nine series, two years of daily data), as the worker runs it: one child process
(`python -m jobs.training`), every default member including the LSTM.

    python -m benchmarks.forecast --json [--database-url URL] [--repeat 3]

The demo company is loaded straight into the database (a temporary SQLite file unless
--database-url is given) once; each repeat is a new run. `total_s` is the median run's wall
time, `per_model_s` the median over runs of each member's fit seconds summed over the series
(backtest folds included), `peak_rss_mb` the training process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from benchmarks import report
from db import migrate
from db.engine import make_engine, make_session_factory, transaction
from db.models import Company, ModelRun
from jobs import forecasts
from jobs.demo import DEMO_COMPANY, seed_demo


def one_run(sessions, database_url: str, company_id: int) -> tuple[float, dict[str, float], int]:
    """One retrain: its wall seconds, each member's fit seconds, its series."""
    with transaction(sessions) as session:
        run_id = forecasts.request_retrain(session, company_id, reason="requested")
    forecasts.claim(sessions, run_id)
    started = time.perf_counter()
    code = forecasts.run_in_child(sessions, run_id, database_url)
    took = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the training process failed (exit {code})")
    per_model: dict[str, float] = defaultdict(float)
    with sessions() as session:
        runs = session.scalars(select(ModelRun).where(ModelRun.forecast_run_id == run_id)).all()
    for run in runs:
        for member in run.params.get("members", []):
            per_model[member["alias"]] += member["fit_s"]
    return took, dict(per_model), len(runs)


def run(database_url: str, repeat: int) -> dict:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    seed_demo(sessions)
    with sessions() as session:
        company_id = session.scalar(select(Company.id).where(Company.name == DEMO_COMPANY))
    results = [one_run(sessions, database_url, company_id) for _ in range(repeat)]
    engine.dispose()
    aliases = sorted({alias for _, per_model, _ in results for alias in per_model})
    return {
        "total_s": round(statistics.median(took for took, _, _ in results), 1),
        "runs_s": [round(took, 1) for took, _, _ in results],
        "per_model_s": {a: round(statistics.median(r[1].get(a, 0.0) for r in results), 1) for a in aliases},
        "series": results[0][2],
        # ru_maxrss of waited-for children, in KiB on Linux: the largest training process
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: one figure a line)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'benchmark.db'}"
        result = run(url, args.repeat)
    report(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
