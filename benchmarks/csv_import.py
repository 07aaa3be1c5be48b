"""How fast a real export imports: parse alone, and parse + write + rollup into a database.

    python -m benchmarks.csv_import --json [--database-url URL] [--file PATH] [--repeat 3]

Each run imports the file into a fresh throwaway platform of a throwaway company (deleted at
the end) in a migrated database: a temporary SQLite file unless --database-url is given.
Figures are medians over the runs; `lines` counts data rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import delete

from benchmarks import report
from connectors.csv_import import PRESETS
from db import migrate
from db.engine import make_engine, make_session_factory, transaction
from db.models import Company, Platform
from jobs.csv_import import import_csv
from settings import PROJECT_ROOT

UCI_FILE = PROJECT_ROOT.parent / "shared" / "datasets" / "forecasting" / "uci_online_retail_transactions.csv.gz"


def run(database_url: str, path: Path, preset: str, currency: str, timezone: str, repeat: int) -> dict:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        company = Company(name=f"csv benchmark {uuid.uuid4().hex[:8]}", timezone=timezone, currency=currency)
        session.add(company)
    results = []
    try:
        for i in range(repeat):
            with transaction(sessions) as session:
                platform = Platform(company_id=company.id, kind="csv", display_name=f"run {i}", currency=currency)
                session.add(platform)
            result = import_csv(sessions, platform.id, path, PRESETS[preset], currency=currency, timezone=timezone)
            if result.errors:
                raise SystemExit(f"{len(result.errors)} errors, first: {result.errors[0]}")
            results.append(result)
    finally:
        with transaction(sessions) as session:  # the database cascades to everything imported
            session.execute(delete(Company).where(Company.id == company.id))
        engine.dispose()
    lines = results[0].rows
    parse_s = statistics.median(r.parse_s for r in results)
    write_s = statistics.median(r.write_s for r in results)
    total_s = statistics.median(r.parse_s + r.write_s for r in results)
    return {
        "database": engine.dialect.name,
        "lines": lines,
        "orders": results[0].orders,
        "repeat": repeat,
        "parse_s": round(parse_s, 3),
        "parse_lines_per_s": round(lines / parse_s),
        "write_s": round(write_s, 3),
        "total_lines_per_s": round(lines / total_s),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: one figure a line)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--file", type=Path, default=UCI_FILE, help="default: the UCI Online Retail transactions")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="uci_online_retail")
    parser.add_argument("--currency", default="GBP")
    parser.add_argument("--timezone", default="Europe/London")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'benchmark.db'}"
        figures = run(url, args.file, args.preset, args.currency, args.timezone, args.repeat)
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
