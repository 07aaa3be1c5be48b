"""Forecast retrains as jobs: which companies are due (nightly, new days, an admin's request),
and running a requested retrain in a child process (jobs.training), so that no web or scheduler
process imports pmdarima or TensorFlow and a crash or out-of-memory in training takes down only
the child. The previous predictions stay in place until a series' new fit is stored.

This module stays light (no pandas, no forecasting): the API and the pages import it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.engine import transaction
from db.models import AnalyticsDaily, Company, ForecastRun, ModelRun, Prediction, utcnow
from jobs.progress import Progress

log = logging.getLogger(__name__)

METRICS = ("net_sales", "orders", "units")
HORIZON = 30  # days forecast
NIGHTLY = timedelta(hours=24)  # a company's forecasts are refit at least this often
NEW_DAYS = 3  # or as soon as this many days of new data arrived (a backfill, an import)
MIN_DAYS = 28  # a series needs four weeks before any model beats guessing
DRIFT_FACTOR = 1.5  # retrain early when a week's realized MASE exceeds the backtest's this much
DRIFT_DAYS = 7  # the week that drift is judged on
STALE_RUN = timedelta(hours=2)  # a run "running" this long lost its process
TRAINING_TIMEOUT_S = 3600
POLL_SECONDS = 0.5
OPEN = ("requested", "running")


def request_retrain(session: Session, company_id: int, reason: str = "requested") -> int:
    """Ask for a retrain of the company's forecasts; returns its run id (the one already asked
    for or running, if any: asking twice never trains twice)."""
    open_run = session.scalar(
        select(ForecastRun.id).where(ForecastRun.company_id == company_id, ForecastRun.status.in_(OPEN))
    )
    if open_run is not None:
        return open_run
    run = ForecastRun(company_id=company_id, reason=reason, status="requested")
    session.add(run)
    session.flush()
    return run.id


def latest_run(session: Session, company_id: int) -> ForecastRun | None:
    """The company's newest retrain: what a progress bar shows."""
    return session.scalar(
        select(ForecastRun)
        .where(ForecastRun.company_id == company_id)
        .order_by(ForecastRun.requested_at.desc(), ForecastRun.id.desc())
        .limit(1)
    )


def local_today(company: Company, now: datetime) -> date:
    return now.astimezone(ZoneInfo(company.timezone)).date()


def why_due(session: Session, company: Company, now: datetime) -> str | None:
    """Why the company's forecasts should be refit now (None: they are current). Days before
    today count: today is not over."""
    today = local_today(company, now)
    first, last = session.execute(
        select(func.min(AnalyticsDaily.day), func.max(AnalyticsDaily.day)).where(
            AnalyticsDaily.company_id == company.id, AnalyticsDaily.day < today
        )
    ).one()
    if first is None or (last - first).days + 1 < MIN_DAYS:
        return None
    previous = latest_run(session, company.id)
    if previous is None:
        return "new_days"
    if previous.status in OPEN:
        return None
    if now - previous.requested_at >= NIGHTLY:
        return "nightly"
    if previous.status == "failed":
        return None  # tried again nightly, or when an admin asks: never in a loop
    trained_to = session.scalar(select(func.max(ModelRun.train_end)).where(ModelRun.forecast_run_id == previous.id))
    if trained_to is None or (last - trained_to).days >= NEW_DAYS:
        return "new_days"
    if trained_to < last and drifting_series(session, company.id, today):
        return "drift"
    return None


def series_runs(company_id: int, platform_id: int | None, metric: str) -> Select:
    """One series' succeeded model runs."""
    return select(ModelRun).where(
        ModelRun.company_id == company_id,
        ModelRun.platform_id.is_(None) if platform_id is None else ModelRun.platform_id == platform_id,
        ModelRun.metric == metric,
        ModelRun.status == "succeeded",
    )


def current_model_runs(session: Session, company_id: int) -> list[ModelRun]:
    """Each series' current fit: its latest succeeded model run (one query, however many past
    retrains there are)."""
    latest = (
        select(func.max(ModelRun.id))
        .where(ModelRun.company_id == company_id, ModelRun.status == "succeeded")
        .group_by(ModelRun.platform_id, ModelRun.metric)
    )
    return list(session.scalars(select(ModelRun).where(ModelRun.id.in_(latest)).order_by(ModelRun.id)))


def current_model_run(session: Session, company_id: int, platform_id: int | None, metric: str) -> ModelRun | None:
    """One series' current fit (None: never trained)."""
    return session.scalar(series_runs(company_id, platform_id, metric).order_by(ModelRun.id.desc()).limit(1))


def predictions_from(
    session: Session, run: ModelRun, first: date, limit: int | None = None, model: str | None = None
) -> list[Prediction]:
    """A model run's predicted days from `first` on, oldest first: the chosen model's, or the
    member `model`'s."""
    query = select(Prediction).where(
        Prediction.model_run_id == run.id, Prediction.model == (model or run.model), Prediction.day >= first
    )
    return list(session.scalars(query.order_by(Prediction.day).limit(limit)))


def stored_models(session: Session, run: ModelRun) -> list[str]:
    """The models whose forecasts a model run stored: the chosen one and each fitted member."""
    query = select(Prediction.model).where(Prediction.model_run_id == run.id).distinct()
    return sorted(session.scalars(query))


def drifting_series(session: Session, company_id: int, today: date) -> list[tuple[int | None, str]]:
    """The series whose forecasts ran well past their promise over the last DRIFT_DAYS days
    that ended: each day as it was forecast when it began (by the newest fit trained before it,
    what the page showed), its error scaled as the backtest's was, the mean against
    DRIFT_FACTOR times the fits' backtest MASE over 7 days. Two queries for all the series."""
    first, last = today - timedelta(days=DRIFT_DAYS), today - timedelta(days=1)
    rows = session.execute(
        select(ModelRun.platform_id, ModelRun.metric, ModelRun.accuracy, Prediction.day, Prediction.mean)
        .join(Prediction, Prediction.model_run_id == ModelRun.id)
        .where(
            ModelRun.company_id == company_id,
            ModelRun.status == "succeeded",
            ModelRun.train_end >= first - timedelta(days=HORIZON),  # older fits forecast no day of the week
            Prediction.model == ModelRun.model,
            Prediction.day.between(first, last),
            ModelRun.train_end < Prediction.day,
        )
        .order_by(ModelRun.id)
    ).all()
    shown = {(r.platform_id, r.metric, r.day): r for r in rows}  # the newest fit's wins
    actuals = _actuals_by_series(session, company_id, first, last)
    drifting = []
    for key in sorted({(r.platform_id, r.metric) for r in rows}, key=str):
        days = [shown.get((*key, first + timedelta(days=n))) for n in range(DRIFT_DAYS)]
        if any(d is None for d in days):
            continue  # not a whole week forecast yet
        scales = [(d.accuracy or {}).get("scale") for d in days]
        promised = [((d.accuracy or {}).get("backtest") or {}).get("7", {}).get("mase") for d in days]
        if not all(scales) or None in promised:
            continue  # a flat training series has no scale; a short one no backtest
        errors = [
            abs(float(actuals.get((*key, d.day), 0)) - float(d.mean)) / sc for d, sc in zip(days, scales, strict=True)
        ]
        if sum(errors) > DRIFT_FACTOR * sum(promised):
            drifting.append(key)
    return drifting


def _actuals_by_series(session: Session, company_id: int, first: date, last: date) -> dict[tuple, Decimal]:
    """(platform id or None for all channels, metric, day) -> the day's actual value."""
    rows = session.execute(
        select(AnalyticsDaily.platform_id, AnalyticsDaily.day, *(getattr(AnalyticsDaily, m) for m in METRICS)).where(
            AnalyticsDaily.company_id == company_id, AnalyticsDaily.day.between(first, last)
        )
    ).all()
    actuals: dict[tuple, Decimal] = {}
    for row in rows:
        for metric, value in zip(METRICS, row[2:], strict=True):
            actuals[(row.platform_id, metric, row.day)] = Decimal(value)
            total = (None, metric, row.day)
            actuals[total] = actuals.get(total, Decimal(0)) + Decimal(value)
    return actuals


def request_due(sessions: sessionmaker[Session], now: datetime | None = None) -> list[int]:
    """Request a retrain for every company that is due; returns the run ids requested."""
    now = now or utcnow()
    requested = []
    with transaction(sessions) as session:
        _fail_stale_runs(session, now)
        for company in session.scalars(select(Company).order_by(Company.id)):
            reason = why_due(session, company, now)
            if reason:
                requested.append(request_retrain(session, company.id, reason))
    return requested


def _fail_stale_runs(session: Session, now: datetime) -> None:
    session.execute(
        update(ForecastRun)
        .where(ForecastRun.status == "running", ForecastRun.started_at < now - STALE_RUN)
        .values(status="failed", finished_at=now, error="the training process was lost (worker restarted?)")
    )


def claim(sessions: sessionmaker[Session], run_id: int | None = None) -> int | None:
    """Mark a requested run (`run_id`, or the oldest) as running and return its id; None when
    there is none. The conditional update makes two workers never claim the same run."""
    with transaction(sessions) as session:
        candidates = (
            [run_id]
            if run_id is not None
            else session.scalars(
                select(ForecastRun.id).where(ForecastRun.status == "requested").order_by(ForecastRun.requested_at)
            )
        )
        for candidate in candidates:
            claimed = session.execute(
                update(ForecastRun)
                .where(ForecastRun.id == candidate, ForecastRun.status == "requested")
                .values(status="running", started_at=utcnow())
            )
            if claimed.rowcount:
                return candidate
    return None


def run_in_child(
    sessions: sessionmaker[Session], run_id: int, database_url: str, progress: Progress | None = None
) -> int:
    """Train the claimed run `run_id` in a child process and wait for it, reporting the series
    it has done; returns its exit code. A child that dies (a crash, the out-of-memory killer,
    the timeout) fails the run, which the child would otherwise have ended itself."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "OPENBLAS_NUM_THREADS": "1",
        "TRAINING_PARENT_PID": str(os.getpid()),
    }
    child = subprocess.Popen([sys.executable, "-m", "jobs.training", str(run_id)], env=env)
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    while True:
        code = child.poll()
        if progress:  # once the child has counted the series, and once more when it ends
            with sessions() as session:
                run = session.get(ForecastRun, run_id)
                if run.series_total:
                    progress(run.series_done, run.series_total)
        if code is not None:
            break
        if time.monotonic() > deadline:
            child.kill()
        time.sleep(POLL_SECONDS)
    if code != 0:
        log.error("forecast training process failed run_id=%d exit=%d", run_id, code)
        with transaction(sessions) as session:
            session.execute(
                update(ForecastRun)
                .where(ForecastRun.id == run_id, ForecastRun.status.in_(OPEN))
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    error=f"the training process ended abnormally (exit code {code}); previous forecasts kept",
                )
            )
    return code


def retrain_due(sessions: sessionmaker[Session], database_url: str) -> list[int]:
    """The scheduler's job: request what is due, then run the requested retrains one at a
    time, each in its own child process. Returns the run ids it ran."""
    request_due(sessions)
    ran = []
    while (run_id := claim(sessions)) is not None:
        run_in_child(sessions, run_id, database_url)
        ran.append(run_id)
    return ran


REALIZED_HORIZONS = (7, 14, 30)


def realized_accuracy(session: Session, model_run: ModelRun, today: date, model: str | None = None) -> dict:
    """How the chosen model's stored forecast (or member `model`'s) has done so far: see
    realized_by_model."""
    model = model or model_run.model
    return realized_by_model(session, model_run, today, [model]).get(model, nothing_realized())


def nothing_realized() -> dict:
    return {"days": 0, "mase": {}, "coverage": {}}


def realized_by_model(
    session: Session, model_run: ModelRun, today: date, models: list[str] | None = None
) -> dict[str, dict]:
    """How each stored forecast of a model run (every model's, or only `models`) has done
    against the days that have since ended (before `today`): MASE over the first 7, 14 and 30
    forecast days once all of them are in (scaled by the training series' seasonal-naive
    error, as the backtest was), and the share of actual days inside the 80% and 95% bands.
    The actuals are the series' rollups (summed over channels for the all-channels total); a
    day without a row had no sales. A model with no ended day yet is left out."""
    query = select(Prediction).where(Prediction.model_run_id == model_run.id, Prediction.day < today)
    if models is not None:
        query = query.where(Prediction.model.in_(models))
    predictions = session.scalars(query.order_by(Prediction.model, Prediction.day)).all()
    if not predictions:
        return {}
    value = getattr(AnalyticsDaily, model_run.metric)
    actuals = dict(
        session.execute(
            select(AnalyticsDaily.day, func.sum(value))
            .where(
                AnalyticsDaily.company_id == model_run.company_id,
                AnalyticsDaily.day.between(min(p.day for p in predictions), max(p.day for p in predictions)),
                *([AnalyticsDaily.platform_id == model_run.platform_id] if model_run.platform_id else []),
            )
            .group_by(AnalyticsDaily.day)
        ).all()
    )
    scale = (model_run.accuracy or {}).get("scale") or 0.0
    by_model: dict[str, list[Prediction]] = {}
    for p in predictions:
        by_model.setdefault(p.model, []).append(p)
    return {model: _scored(days, actuals, scale) for model, days in by_model.items()}


def _scored(predictions: list[Prediction], actuals: dict[date, Decimal], scale: float) -> dict:
    errors, inside = [], {"80": 0, "95": 0}
    for p in predictions:
        actual = Decimal(actuals.get(p.day, 0))
        errors.append(abs(actual - p.mean))
        inside["80"] += p.lo_80 <= actual <= p.hi_80
        inside["95"] += p.lo_95 <= actual <= p.hi_95
    mase = {str(h): float(sum(errors[:h])) / h / scale for h in REALIZED_HORIZONS if len(errors) >= h and scale > 0}
    return {
        "days": len(errors),
        "mase": mase,
        "coverage": {level: count / len(errors) for level, count in inside.items()},
    }
