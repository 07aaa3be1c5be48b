"""The training half of a forecast run, in its own process (`python -m jobs.training RUN_ID`,
started by jobs.forecasts, or the `retrain` CLI): it loads pandas and the forecasting engine
(pmdarima; TensorFlow for the LSTM) that web processes must never import.

Each series (a channel's daily net sales, orders or units, and the all-channels total) is fit
and stored in its own transaction, so a crash leaves every series not yet refit with its
previous predictions; a series whose fit fails is recorded as failed and the run goes on.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: auto_arima crawls with 2 BLAS threads

import logging
import sys
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, transaction
from db.models import AnalyticsDaily, Company, ForecastRun, ModelRun, Prediction, utcnow
from forecasting import make_model
from forecasting.series import SEASON, daily
from forecasting.train import TrainResult, fit_series
from jobs.forecasts import HORIZON, METRICS, MIN_DAYS, local_today, series_runs
from jobs.progress import Progress

log = logging.getLogger(__name__)

SeriesKey = tuple[int | None, str]  # (platform id, or None for all channels; metric)
ORDER_SEARCH_EVERY = timedelta(days=7)  # between searches, refit the ARIMA order found last


def company_series(session: Session, company: Company, today: date) -> dict[SeriesKey, pd.Series]:
    """Every daily series of the company up to yesterday, from the rollups (in the reporting
    currency): each channel's and the all-channels total's, for each metric. A day with no
    row had no sales."""
    rows = session.execute(
        select(AnalyticsDaily.platform_id, AnalyticsDaily.day, *(getattr(AnalyticsDaily, m) for m in METRICS)).where(
            AnalyticsDaily.company_id == company.id, AnalyticsDaily.day < today
        )
    ).all()
    if not rows:
        return {}
    frame = pd.DataFrame(rows, columns=["platform_id", "day", *METRICS])
    frame["day"] = pd.to_datetime(frame["day"])
    frame[list(METRICS)] = frame[list(METRICS)].astype(float)
    series: dict[SeriesKey, pd.Series] = {}
    groups = [(None, frame), *frame.groupby("platform_id")]
    for platform_id, part in groups:
        by_day = part.groupby("day")[list(METRICS)].sum()
        for metric in METRICS:
            y = by_day[metric]
            if (y.index.max() - y.index.min()).days + 1 >= MIN_DAYS:
                series[(None if platform_id is None else int(platform_id), metric)] = y
    return series


def train_run(sessions: sessionmaker[Session], run_id: int, progress: Progress | None = None) -> str:
    """Fit every series of the run's company and store each fit; returns the run's status."""
    with transaction(sessions) as session:
        run = session.get(ForecastRun, run_id)
        company = session.get(Company, run.company_id)
        series = company_series(session, company, local_today(company, utcnow()))
        run.status, run.series_total, run.series_done = "running", len(series), 0
        run.started_at = run.started_at or utcnow()
        reason = run.reason
    failed = 0
    for done, (key, y) in enumerate(series.items(), start=1):
        failed += not _fit_and_store(sessions, run_id, company.id, key, y, reason)
        with transaction(sessions) as session:
            session.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(series_done=done))
        if progress:
            progress(done, len(series))
    status = "failed" if series and failed == len(series) else "succeeded"
    error = f"{failed} of {len(series)} series failed to fit; their previous forecasts kept" if failed else None
    with transaction(sessions) as session:
        session.execute(
            update(ForecastRun).where(ForecastRun.id == run_id).values(status=status, finished_at=utcnow(), error=error)
        )
    return status


def _fit_and_store(
    sessions: sessionmaker[Session], run_id: int, company_id: int, key: SeriesKey, y: pd.Series, reason: str
) -> bool:
    platform_id, metric = key
    with sessions() as session:
        order = arima_order_to_reuse(session, company_id, key, reason)
    started = utcnow()
    try:
        result = fit_series(y, horizon=HORIZON, members=configured_members(), arima_order=order)
    except Exception as exc:  # one series' failure must not lose the others' fits
        log.exception("forecast fit failed run_id=%d platform_id=%s metric=%s", run_id, platform_id, metric)
        with transaction(sessions) as session:
            session.add(
                ModelRun(
                    forecast_run_id=run_id,
                    company_id=company_id,
                    platform_id=platform_id,
                    metric=metric,
                    model="none",
                    status="failed",
                    started_at=started,
                    finished_at=utcnow(),
                    train_end=y.index.max().date(),
                    horizon=HORIZON,
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
            )
        return False
    with transaction(sessions) as session:
        model_run = _model_run(result, run_id, company_id, key, started, naive_scale(y))
        session.add(model_run)
        session.flush()
        session.add_all(_predictions(model_run.id, result))
    return True


def naive_scale(y: pd.Series) -> float:
    """MASE's denominator: the training series' mean absolute weekly change (seasonal-naive's
    in-sample error), so realized errors are scaled as the backtest's were."""
    filled = daily(y).to_numpy()
    return float(abs(filled[SEASON:] - filled[:-SEASON]).mean()) if len(filled) > SEASON else 0.0


def _model_run(
    result: TrainResult, run_id: int, company_id: int, key: SeriesKey, started: datetime, scale: float
) -> ModelRun:
    platform_id, metric = key
    return ModelRun(
        forecast_run_id=run_id,
        company_id=company_id,
        platform_id=platform_id,
        metric=metric,
        model=result.model,
        fallback_reason=result.fallback_reason,
        status="succeeded",
        started_at=started,
        finished_at=utcnow(),
        train_start=date.fromisoformat(result.train_start),
        train_end=date.fromisoformat(result.train_end),
        horizon=HORIZON,
        fit_s=result.fit_s,
        params={"members": [vars(m) for m in result.members], "arima": result.arima},
        accuracy={
            "scale": scale,
            "backtest": result.backtest,
            "baseline_backtest": result.baseline_backtest,
            "coverage": result.coverage,
        },
    )


def _predictions(model_run_id: int, result: TrainResult) -> list[Prediction]:
    """The chosen model's days and each other fitted member's (a fallback's chosen member is
    stored once)."""

    def money(value: float) -> Decimal:
        return Decimal(repr(value)).quantize(Decimal("0.01"))

    by_model = {**result.member_forecasts, result.model: result.forecast}
    return [
        Prediction(
            model_run_id=model_run_id,
            model=model,
            day=date.fromisoformat(day["date"]),
            mean=money(day["mean"]),
            lo_80=money(day["lo-80"]),
            hi_80=money(day["hi-80"]),
            lo_95=money(day["lo-95"]),
            hi_95=money(day["hi-95"]),
        )
        for model, days in by_model.items()
        for day in days
    ]


def configured_members() -> list | None:
    """The ensemble's members named by FORECAST_MEMBERS (comma-separated aliases, e.g.
    "seasonal_naive,ets,auto_arima" to leave the LSTM out on a small instance); None: all."""
    aliases = [a.strip() for a in os.environ.get("FORECAST_MEMBERS", "").split(",") if a.strip()]
    return [make_model(alias) for alias in aliases] or None


def arima_order_to_reuse(session: Session, company_id: int, key: SeriesKey, reason: str) -> tuple | None:
    """The ARIMA order a search found for this series within ORDER_SEARCH_EVERY, to refit
    instead of searching again (the search is the expensive part); None: search, as a retrain
    for drift always does (that order's forecasts went wrong)."""
    if reason == "drift":
        return None
    platform_id, metric = key
    recent = series_runs(company_id, platform_id, metric).where(ModelRun.started_at >= utcnow() - ORDER_SEARCH_EVERY)
    runs = session.scalars(recent.order_by(ModelRun.started_at.desc()))
    for run in runs:
        arima = (run.params or {}).get("arima")
        if arima and arima.get("searched"):
            return tuple(arima["order"]), tuple(arima["seasonal_order"])
    return None


def _exit_with_parent() -> None:
    """Stop when the process that started this one (TRAINING_PARENT_PID, set by
    jobs.forecasts.run_in_child) is gone, a worker or web process stopped or killed: an
    orphaned training would hold a core and memory for nothing."""
    parent = int(os.environ.get("TRAINING_PARENT_PID") or 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.warning("forecast training stopped: its parent process %d is gone", parent)
        os._exit(3)

    if parent:
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """`python -m jobs.training RUN_ID`: train one forecast run against DATABASE_URL."""
    from logs import configure_logging
    from settings import Settings

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m jobs.training RUN_ID", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    _exit_with_parent()
    engine = make_engine(settings.database_url)
    try:
        status = train_run(make_session_factory(engine), int(args[0]))
    finally:
        engine.dispose()
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
