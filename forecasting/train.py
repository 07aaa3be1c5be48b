"""What the training job calls: fit the ensemble on one series and return plain data (the chosen
model, members, weights, ARIMA order, backtest accuracy, coverage, timings, the forecast with
bands) that a job can store without knowing any model class."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from forecasting.arima import AutoArima, Order, SeasonalOrder
from forecasting.base import LEVELS, Forecaster
from forecasting.ensemble import BASELINE, Ensemble, default_members
from forecasting.series import daily, future_days, read_series

REPORTED_HORIZONS = (7, 14, 30)


@dataclass(frozen=True)
class MemberResult:
    """One member of a fit: its weight, fit seconds, backtest accuracy, or why it was dropped."""

    alias: str
    weight: float
    fit_s: float
    mase: float | None  # over the longest reported horizon, as `backtest` has it
    smape: float | None
    dropped: str | None = None
    backtest: dict[str, dict[str, float]] = field(default_factory=dict)  # horizon -> {"mase", "smape"}


@dataclass(frozen=True)
class TrainResult:
    """One series' fit, as plain data (`to_dict()` for JSON columns)."""

    model: str
    fallback_reason: str | None
    members: list[MemberResult]
    arima: dict[str, Any] | None
    backtest: dict[str, dict[str, float]]  # horizon -> {"mase", "smape"} of the chosen model
    baseline_backtest: dict[str, dict[str, float]]  # the same for seasonal-naive
    coverage: dict[str, float]  # level -> share of backtest actuals inside the band
    train_start: str
    train_end: str
    days: int
    fit_s: float
    forecast: list[dict[str, Any]] = field(default_factory=list)  # the chosen model's
    member_forecasts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # each fitted member's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_series(
    y: pd.Series,
    horizon: int = 30,
    members: Sequence[Forecaster] | None = None,
    arima_order: tuple[Order, SeasonalOrder] | None = None,
    level: Sequence[int] = LEVELS,
) -> TrainResult:
    """Fit the ensemble on the daily series `y` and forecast `horizon` days. `arima_order`
    (order, seasonal order) from an earlier result skips the ARIMA order search, which is how a
    job refits between scheduled searches."""
    y = daily(y)
    specs = list(members) if members is not None else default_members()
    if arima_order is not None:
        order, seasonal = arima_order
        specs = [AutoArima(order, seasonal) if m.alias == AutoArima.alias else m for m in specs]
    started = time.perf_counter()
    ensemble = Ensemble(specs, horizon=horizon).fit(y)
    fit_s = time.perf_counter() - started
    days = future_days(y, horizon)
    figures = {steps: ensemble.backtest_figures(steps) for steps in REPORTED_HORIZONS if steps <= horizon}
    return TrainResult(
        model=ensemble.chosen_,
        fallback_reason=ensemble.fallback_reason_,
        members=_members(ensemble, figures),
        arima=_arima(ensemble, searched=arima_order is None),
        backtest={str(k): f["ensemble"] for k, f in figures.items() if f},
        baseline_backtest={str(k): f[BASELINE] for k, f in figures.items() if f},
        coverage={str(lv): value for lv, value in ensemble.coverage_check(level).items()},
        train_start=y.index[0].date().isoformat(),
        train_end=y.index[-1].date().isoformat(),
        days=len(y),
        fit_s=fit_s,
        forecast=_by_day(ensemble.predict(horizon, level), days),
        member_forecasts={a: _by_day(f, days) for a, f in ensemble.member_forecasts(horizon, level).items()},
    )


def _by_day(prediction: dict[str, Any], days: pd.DatetimeIndex) -> list[dict[str, Any]]:
    """A forecast as one dict per day: date, mean and the bands."""
    return [
        {"date": day.date().isoformat(), **{key: float(values[i]) for key, values in prediction.items()}}
        for i, day in enumerate(days)
    ]


def _members(ensemble: Ensemble, figures: dict[int, dict[str, dict[str, float]]]) -> list[MemberResult]:
    longest = figures.get(max(figures, default=0), {})
    out = []
    for spec in ensemble.members:
        a = spec.alias
        out.append(
            MemberResult(
                alias=a,
                weight=ensemble.weights_.get(a, 0.0),
                fit_s=ensemble.fit_s_.get(a, 0.0),
                mase=longest.get(a, {}).get("mase"),
                smape=longest.get(a, {}).get("smape"),
                dropped=ensemble.dropped_.get(a),
                backtest={str(k): f[a] for k, f in figures.items() if a in f},
            )
        )
    return out


def _arima(ensemble: Ensemble, searched: bool) -> dict[str, Any] | None:
    """The order the ARIMA member used (`searched`: found by this fit's search, not passed in)."""
    model = ensemble.members_.get(AutoArima.alias)
    if not isinstance(model, AutoArima):
        return None
    return {"order": list(model.order_), "seasonal_order": list(model.seasonal_order_), "searched": searched}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m forecasting.train --csv PATH --date-col COL --value-col COL [--id-col COL --id ID]`:
    one fit_series on one series of a file, printed as JSON (what a training job would store)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m forecasting.train", description=main.__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--date-col", required=True)
    parser.add_argument("--value-col", required=True)
    parser.add_argument("--id-col")
    parser.add_argument("--id", help="the series to fit when the file has several (with --id-col)")
    parser.add_argument("--horizon", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        series = read_series(args.csv, args.date_col, args.value_col, args.id_col)
    except ValueError as exc:
        parser.error(str(exc))
    name = f"{args.id}/{args.value_col}" if args.id_col else args.value_col
    if name not in series:
        parser.error(f"no series {name!r} in {args.csv}; there are {', '.join(series)}")
    y = series[name]
    print(json.dumps(fit_series(y, horizon=args.horizon).to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
