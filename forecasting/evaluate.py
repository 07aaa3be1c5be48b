"""Evaluation CLI: a rolling-origin backtest of the ensemble and every member on any daily
series file.

    python -m forecasting.evaluate --csv PATH --date-col COL --value-col COL [--id-col COL]
        --horizon 14 --folds 8 [--json]

Each fold refits the whole ensemble on the days before its origin (the ensemble's own inner
backtest included) and scores the ensemble and each member on the next `horizon` days: MASE
(scaled by the training part's weekly seasonal-naive MAE), sMAPE, 80/95% coverage, fit seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting import MODELS, make_model
from forecasting.backtest import Score, fold_origins, mean_score, score, split
from forecasting.ensemble import BASELINE, Ensemble
from forecasting.series import read_series


def evaluate_series(
    y: pd.Series, horizon: int, folds: int, members: Sequence[str] | None, progress: Callable[[int], None]
) -> dict[str, Any]:
    """Per model, the fold-mean Score and fit seconds; and what the ensemble chose or dropped."""
    scores: dict[str, list[Score]] = defaultdict(list)
    fit_s: dict[str, list[float]] = defaultdict(list)
    chosen, dropped = [], defaultdict(int)
    for fold, origin in enumerate(fold_origins(len(y), horizon, folds)):
        train, actual = split(y, origin, horizon)
        started = time.perf_counter()
        specs = [make_model(alias) for alias in members] if members else None
        ensemble = Ensemble(specs, horizon=horizon).fit(train)
        fit_s["ensemble"].append(time.perf_counter() - started)
        scores["ensemble"].append(score(actual, ensemble.predict(horizon), train.to_numpy()))
        for alias, member in ensemble.members_.items():
            scores[alias].append(score(actual, member.predict(horizon), train.to_numpy()))
            fit_s[alias].append(ensemble.fit_s_[alias])
        chosen.append(ensemble.chosen_)
        for alias in ensemble.dropped_:
            dropped[alias] += 1
        progress(fold + 1)
    return {
        "scores": {model: mean_score(s) for model, s in scores.items()},
        "fit_s": {model: float(np.mean(s)) for model, s in fit_s.items()},
        "chosen": chosen,
        "dropped": dict(dropped),
    }


def run(series: dict[str, pd.Series], horizon: int, folds: int, members: Sequence[str] | None = None) -> dict[str, Any]:
    """The report: rows per series and model, the ensemble's MASE relative to seasonal-naive."""
    rows, relative, chosen, dropped = [], {}, {}, {}
    for number, (name, y) in enumerate(series.items(), start=1):

        def progress(fold: int, name: str = name, number: int = number) -> None:
            print(f"\rseries {number}/{len(series)} {name}: fold {fold}/{folds}", end="", file=sys.stderr, flush=True)

        result = evaluate_series(y, horizon, folds, members, progress)
        for model, s in result["scores"].items():
            rows.append(
                {
                    "series": name,
                    "model": model,
                    "mase": s.mase,
                    "smape": s.smape,
                    "coverage80": s.coverage80,
                    "coverage95": s.coverage95,
                    "fit_s": result["fit_s"][model],
                }
            )
        relative[name] = result["scores"]["ensemble"].mase / result["scores"][BASELINE].mase
        chosen[name], dropped[name] = result["chosen"], result["dropped"]
    print(file=sys.stderr)
    return {
        "rows": rows,
        "ensemble_relative_mase": math.exp(np.mean(np.log(list(relative.values())))),
        "ensemble_relative_mase_max": max(relative.values()),
        "relative_mase": relative,
        "chosen": chosen,
        "dropped": dropped,
    }


def table(report: dict[str, Any]) -> str:
    """The report as a fixed-width table with the summary lines under it."""
    lines = [f"{'series':<28} {'model':<15} {'MASE':>7} {'sMAPE':>7} {'cov80':>6} {'cov95':>6} {'fit s':>7}"]
    for r in report["rows"]:
        lines.append(
            f"{r['series']:<28} {r['model']:<15} {r['mase']:>7.3f} {r['smape']:>7.1f} "
            f"{r['coverage80']:>6.1%} {r['coverage95']:>6.1%} {r['fit_s']:>7.2f}"
        )
    lines.append("")
    for name, value in report["relative_mase"].items():
        lines.append(f"ensemble / seasonal-naive MASE  {name}: {value:.3f}  chosen per fold: {report['chosen'][name]}")
    geometric, worst = report["ensemble_relative_mase"], report["ensemble_relative_mase_max"]
    lines.append(f"geometric mean: {geometric:.3f}  worst: {worst:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forecasting.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--date-col", required=True)
    parser.add_argument("--value-col", required=True)
    parser.add_argument("--id-col")
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument("--folds", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--members", help="comma-separated ensemble members (default: all but the ensemble)")
    args = parser.parse_args(argv)
    try:
        series = read_series(args.csv, args.date_col, args.value_col, args.id_col)
    except ValueError as exc:
        parser.error(str(exc))
    members = args.members.split(",") if args.members else None
    known = set(MODELS) - {Ensemble.alias}
    if members and (unknown := set(members) - known):
        parser.error(f"unknown members: {', '.join(sorted(unknown))}; choose from {', '.join(sorted(known))}")
    report = run(series, args.horizon, args.folds, members)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
