"""Forecast retrains as jobs: when a company is due, a real retrain in a child process storing
every series' fit and predictions, and a crashed retrain leaving the previous predictions."""

from __future__ import annotations

import functools
import io
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psutil
import pytest
from sqlalchemy import func, select

import cli
from db.engine import transaction
from db.models import AnalyticsDaily, Company, ForecastRun, ModelRun, Platform, Prediction
from jobs import forecasts
from jobs.progress import ProgressLine
from tests.conftest import wait_for

NOW = datetime.now(UTC)
DAYS = 120  # enough for backtests at a 30-day horizon


def add_days(sessions, company: Company, platform_id: int, first: date, count: int) -> None:
    """`count` days of rollups with a weekly pattern (quiet weekends) from `first`."""
    with transaction(sessions) as session:
        for n in range(count):
            day = first + timedelta(days=n)
            orders = 3 if day.weekday() >= 5 else 10 + n % 4
            net = Decimal(orders * 25)
            session.add(
                AnalyticsDaily(
                    company_id=company.id,
                    platform_id=platform_id,
                    day=day,
                    currency=company.currency,
                    gross_sales=net,
                    discounts=Decimal(0),
                    returns=Decimal(0),
                    net_sales=net,
                    taxes=Decimal(0),
                    shipping=Decimal(0),
                    total_sales=net,
                    orders=orders,
                    units=orders * 2,
                )
            )


@pytest.fixture
def shop(sessions, company) -> int:
    """A CSV channel of the company with DAYS days of sales up to yesterday."""
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="Shop", currency=company.currency)
        session.add(platform)
    today = forecasts.local_today(company, NOW)
    add_days(sessions, company, platform.id, today - timedelta(days=DAYS), DAYS)
    return platform.id


def current_runs(sessions, company_id: int) -> dict[tuple, int]:
    """Each series' current fit: its latest succeeded model run."""
    with sessions() as session:
        runs = session.scalars(
            select(ModelRun)
            .where(ModelRun.company_id == company_id, ModelRun.status == "succeeded")
            .order_by(ModelRun.id)
        )
        return {(run.platform_id, run.metric): run.id for run in runs}


def retrain(sessions, db_url: str, company_id: int) -> ForecastRun:
    with transaction(sessions) as session:
        run_id = forecasts.request_retrain(session, company_id)
    assert forecasts.claim(sessions, run_id) == run_id
    forecasts.run_in_child(sessions, run_id, db_url)
    with sessions() as session:
        return session.get(ForecastRun, run_id)


def test_a_company_is_due_with_four_weeks_of_data_then_nightly_and_on_new_days(sessions, company):
    def due(at: datetime) -> str | None:
        with sessions() as session:
            return forecasts.why_due(session, session.get(Company, company.id), at)

    assert due(NOW) is None  # no data yet
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="Shop", currency=company.currency)
        session.add(platform)
    today = forecasts.local_today(company, NOW)
    add_days(sessions, company, platform.id, today - timedelta(days=20), 20)
    assert due(NOW) is None  # 20 days: too short to forecast
    add_days(sessions, company, platform.id, today - timedelta(days=40), 20)
    (run_id,) = forecasts.request_due(sessions, NOW)
    assert forecasts.request_due(sessions, NOW) == []  # requested already
    with transaction(sessions) as session:  # and asking for it gives the open run
        assert forecasts.request_retrain(session, company.id) == run_id
        run = session.get(ForecastRun, run_id)
        assert run.reason == "new_days"
        run.status, run.requested_at, run.finished_at = "succeeded", NOW, NOW
        trained = ModelRun(forecast_run_id=run_id, company_id=company.id, metric="orders", model="ets")
        trained.train_end = today - timedelta(days=1)
        session.add(trained)
    assert due(NOW + timedelta(hours=23)) is None
    assert due(NOW + timedelta(hours=24)) == "nightly"
    with transaction(sessions) as session:  # trained up to 3 days before the data's last day
        session.scalar(select(ModelRun).where(ModelRun.forecast_run_id == run_id)).train_end = today - timedelta(4)
    assert due(NOW) == "new_days"
    with transaction(sessions) as session:  # a failed run is retried nightly, never in a loop
        session.get(ForecastRun, run_id).status = "failed"
    assert due(NOW) is None


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_retrain_fits_every_series_in_a_child_and_a_crash_keeps_the_previous_forecasts(
    sessions, db_url, company, shop, monkeypatch
):
    monkeypatch.setenv("FORECAST_MEMBERS", "seasonal_naive,window_average,ets")  # quick real models
    first = retrain(sessions, db_url, company.id)
    assert (first.status, first.series_done, first.series_total, first.error) == ("succeeded", 6, 6, None)
    fitted = current_runs(sessions, company.id)
    assert set(fitted) == {(p, m) for p in (None, shop) for m in forecasts.METRICS}
    today = forecasts.local_today(company, NOW)
    with sessions() as session:
        run = session.get(ModelRun, fitted[(shop, "orders")])
        assert run.train_end == today - timedelta(days=1) and run.params["members"]
        assert run.accuracy["backtest"]["7"]["mase"] > 0 and set(run.accuracy["coverage"]) == {"80", "95"}
        assert run.accuracy["scale"] > 0
        stored = session.scalars(select(Prediction).where(Prediction.model_run_id == run.id)).all()
        fitted_members = {m["alias"] for m in run.params["members"] if not m["dropped"]}
        assert {d.model for d in stored} == fitted_members | {run.model}  # each member's forecast beside the chosen
        for model in fitted_members | {run.model}:
            days = sorted((d for d in stored if d.model == model), key=lambda d: d.day)
            assert [d.day for d in days] == [today + timedelta(days=n) for n in range(forecasts.HORIZON)]
            assert all(d.lo_95 <= d.lo_80 <= d.mean <= d.hi_80 <= d.hi_95 for d in days)

    # A second retrain whose process is killed once it has stored one series' fit.
    with transaction(sessions) as session:
        run_id = forecasts.request_retrain(session, company.id)
    forecasts.claim(sessions, run_id)
    codes = []
    thread = threading.Thread(target=lambda: codes.append(forecasts.run_in_child(sessions, run_id, db_url)))
    thread.start()

    def one_series_done() -> bool:
        with sessions() as session:
            return session.get(ForecastRun, run_id).series_done >= 1

    wait_for(one_series_done, 120, "the second retrain to store a series")
    (child,) = [p for p in psutil.Process(os.getpid()).children() if "jobs.training" in p.cmdline()]
    child.send_signal(signal.SIGKILL)
    thread.join(60)
    assert codes == [-signal.SIGKILL]
    with sessions() as session:
        crashed = session.get(ForecastRun, run_id)
        assert crashed.status == "failed" and "previous forecasts kept" in crashed.error
        refit = session.scalar(select(func.count()).where(ModelRun.forecast_run_id == run_id))
    after = current_runs(sessions, company.id)
    assert set(after) == set(fitted)  # every series still has a forecast
    kept = {key for key in fitted if after[key] == fitted[key]}
    assert 1 <= refit < 6 and len(kept) == 6 - refit  # the ones not refit kept their previous fit
    with sessions() as session:
        for key in kept:
            counts = session.execute(
                select(Prediction.model, func.count())
                .where(Prediction.model_run_id == after[key])
                .group_by(Prediction.model)
            ).all()
            assert counts and all(count == forecasts.HORIZON for _, count in counts)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_the_retrain_command_shows_progress_and_says_when_it_is_done(app, client, auth, company, shop, monkeypatch):
    monkeypatch.setenv("FORECAST_MEMBERS", "seasonal_naive,window_average")
    progress = io.StringIO()
    monkeypatch.setattr(cli, "ProgressLine", functools.partial(ProgressLine, stream=progress))
    result = app.test_cli_runner().invoke(args=["retrain", "--company-id", str(company.id)])
    assert result.exit_code == 0, result.output
    lines = progress.getvalue().splitlines()
    assert lines[-2] == f"retraining company {company.id}: 100% (6/6)"
    assert lines[-1].startswith(f"retraining company {company.id}: done, 6 series in ")
    # What the API then serves: the stored forecasts, read as a seller's script would.
    auth.login("viewer@example.com")
    models = client.get("/api/v1/ml/models").json
    assert {(m["platform"], m["metric"]) for m in models["models"]} == {
        (p, m) for p in ("all", shop) for m in forecasts.METRICS
    }
    assert models["retrain"]["status"] == "succeeded" and models["retrain"]["series_done"] == 6
    answer = client.post("/api/v1/ml/predict", json={"platform": shop, "metric": "units", "horizon": 7}).json
    today = forecasts.local_today(company, forecasts.utcnow())
    assert [d["date"] for d in answer["days"]] == [(today + timedelta(days=n)).isoformat() for n in range(7)]
    with transaction(app.extensions["channelpulse"].sessions) as session:
        run = forecasts.current_model_run(session, company.id, shop, "units")
        stored = {
            p.model: p
            for p in session.scalars(
                select(Prediction).where(Prediction.model_run_id == run.id, Prediction.day == today)
            )
        }
    assert answer["days"][0]["mean"] == float(stored[run.model].mean)
    assert answer["model"] == answer["chosen_model"] == run.model
    # A member's own forecast, asked for by name; a member not in the fit, or not a name, is refused.
    member = client.post("/api/v1/ml/predict", json={"platform": shop, "metric": "units", "model": "window_average"})
    assert member.status_code == 200
    assert (member.json["model"], member.json["chosen_model"]) == ("window_average", run.model)
    assert member.json["days"][0]["mean"] == float(stored["window_average"].mean) and len(member.json["days"]) == 30
    assert set(member.json["backtest"]) == {"7", "14", "30"}
    missing = client.post("/api/v1/ml/predict", json={"platform": shop, "metric": "units", "model": "lstm"})
    assert missing.status_code == 404 and "seasonal_naive" in missing.json["error"]["message"]
    crafted = client.post("/api/v1/ml/predict", json={"platform": shop, "metric": "units", "model": ["lstm"]})
    assert crafted.status_code == 400
    performance = client.get("/api/v1/ml/performance").json["rows"]
    units = {r["model"]: r for r in performance if r["platform"] == shop and r["metric"] == "units"}
    assert set(units) == {"seasonal_naive", "window_average", "ensemble"}
    assert all(r["realized_days"] == 0 and r["realized_mase_7"] is None for r in units.values())  # nothing ended yet
    assert client.post("/api/v1/ml/retrain").status_code == 403  # viewers may not
    missing = app.test_cli_runner().invoke(args=["retrain", "--company-id", "999"])
    assert missing.exit_code == 1 and "no company with id 999" in missing.output


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_training_whose_parent_is_gone_stops(sessions, db_url, company, shop):
    """A worker killed mid-retrain must not leave its training running on, orphaned."""
    with transaction(sessions) as session:
        run_id = forecasts.request_retrain(session, company.id)
    forecasts.claim(sessions, run_id)
    # A parent that starts the training as run_in_child does and exits at once, as a killed
    # worker would leave it. All members: a training that would take a while.
    start = f"""import os, subprocess, sys
env = {{**os.environ, "DATABASE_URL": {db_url!r}, "TRAINING_PARENT_PID": str(os.getpid())}}
subprocess.Popen([sys.executable, "-m", "jobs.training", "{run_id}"], env=env)"""
    subprocess.run([sys.executable, "-c", start], check=True)

    def training() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if (p.info["cmdline"] or [])[-2:] == ["jobs.training", str(run_id)]
        ]

    wait_for(lambda: not training(), 30, "the orphaned training to stop")
    with sessions() as session:
        assert session.get(ForecastRun, run_id).status == "running"  # it stopped before finishing


def test_realized_accuracy_of_a_stored_forecast_on_a_hand_made_series(sessions, company):
    """Forecast 100 a day (80%: 95-105, 95%: 85-115) against actuals of 110 for a week, then
    100 for six days, then a day with no sales; today's prediction is not over yet."""
    today = forecasts.local_today(company, NOW)
    first = today - timedelta(days=14)
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="Shop", currency=company.currency)
        session.add(platform)
        other = Platform(company_id=company.id, kind="csv", display_name="Other", currency=company.currency)
        session.add(other)
    add_days(sessions, company, platform.id, first, 13)  # rows for 13 of the 14 days
    add_days(sessions, company, other.id, first - timedelta(days=30), 44)  # not this series' sales
    with transaction(sessions) as session:
        rows = session.scalars(select(AnalyticsDaily).where(AnalyticsDaily.platform_id == platform.id))
        for n, row in enumerate(sorted(rows, key=lambda row: row.day)):
            row.net_sales = Decimal(110 if n < 7 else 100)
        run = ModelRun(company_id=company.id, platform_id=platform.id, metric="net_sales", model="ets")
        run.status, run.accuracy = "succeeded", {"scale": 10.0}
        session.add(run)
        session.flush()
        for n in range(15):  # the 14 days that ended, and today
            mean = Decimal(100 if n < 14 else 9999)
            session.add(
                Prediction(
                    model_run_id=run.id, model="ets", day=first + timedelta(days=n), mean=mean,
                    lo_80=mean - 5, hi_80=mean + 5, lo_95=mean - 15, hi_95=mean + 15,
                )
            )  # fmt: skip
            member = Decimal(110)  # a member's own forecast: right the first week
            session.add(
                Prediction(
                    model_run_id=run.id, model="lstm", day=first + timedelta(days=n), mean=member,
                    lo_80=member - 5, hi_80=member + 5, lo_95=member - 15, hi_95=member + 15,
                )
            )  # fmt: skip
    with sessions() as session:
        realized = forecasts.realized_accuracy(session, session.get(ModelRun, run.id), today)
        by_model = forecasts.realized_by_model(session, session.get(ModelRun, run.id), today)
    assert by_model["ets"] == realized and by_model["lstm"]["mase"]["7"] == 0.0 and by_model["lstm"]["days"] == 14
    assert realized["days"] == 14
    assert realized["mase"] == {"7": pytest.approx(1.0), "14": pytest.approx(170 / 14 / 10)}  # no 30 days yet
    assert realized["coverage"] == {"80": pytest.approx(6 / 14), "95": pytest.approx(13 / 14)}


def test_a_week_forecast_well_past_its_promise_retrains_early_once(sessions, company):
    """Drift is judged on the last seven days that ended, each as it was forecast when it began
    (by the newest fit trained before it): here an older fit shows five of the days and a newer
    one, trained two days ago, the last two. Forecast 100, actual 110, scale 10: 1.0 a day."""
    today = forecasts.local_today(company, NOW)
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="Shop", currency=company.currency)
        session.add(platform)
    add_days(sessions, company, platform.id, today - timedelta(days=60), 60)
    with transaction(sessions) as session:
        week = session.scalars(select(AnalyticsDaily).where(AnalyticsDaily.day >= today - timedelta(days=7)))
        for row in week:
            row.net_sales = Decimal(110)
        fits = []
        for trained_to, requested in (
            (today - timedelta(days=9), NOW - timedelta(days=6)),
            (today - timedelta(3), NOW),
        ):
            forecast_run = ForecastRun(
                company_id=company.id, reason="nightly", status="succeeded", requested_at=requested
            )
            session.add(forecast_run)
            session.flush()
            fit = ModelRun(
                forecast_run_id=forecast_run.id, company_id=company.id, platform_id=platform.id, metric="net_sales",
                model="ets", status="succeeded", train_end=trained_to, accuracy={"scale": 10.0},
            )  # fmt: skip
            session.add(fit)
            session.flush()
            for n in range(1, 31):
                day = trained_to + timedelta(days=n)
                session.add(Prediction(model_run_id=fit.id, model="ets", day=day, mean=Decimal(100)))
                session.add(Prediction(model_run_id=fit.id, model="lstm", day=day, mean=Decimal(110)))  # not shown
            fits.append(fit.id)

    def due_with_promise(mase: float) -> str | None:
        with transaction(sessions) as session:
            for fit_id in fits:
                fit = session.get(ModelRun, fit_id)
                fit.accuracy = {**fit.accuracy, "backtest": {"7": {"mase": mase}}}
        with sessions() as session:
            return forecasts.why_due(session, session.get(Company, company.id), NOW)

    assert due_with_promise(0.7) is None  # 1.0 a day is within 1.5 x 0.7
    assert due_with_promise(0.6) == "drift"  # and past 1.5 x 0.6
    with sessions() as session:
        assert forecasts.drifting_series(session, company.id, today) == [(platform.id, "net_sales")]
    with transaction(sessions) as session:  # a fit that has seen the whole week is not retrained again
        session.get(ModelRun, fits[1]).train_end = today - timedelta(days=1)
    assert due_with_promise(0.6) is None


def test_a_drift_retrain_searches_the_arima_order_again(sessions, company, shop):
    """Between weekly searches a retrain refits the ARIMA order found last; a retrain for drift
    (that order's forecasts went wrong) searches again."""
    from jobs import training

    found = {"order": [1, 0, 1], "seasonal_order": [0, 1, 1, 7], "searched": True}
    with transaction(sessions) as session:
        for days_ago, arima in ((8, {**found, "order": [2, 0, 0]}), (2, found), (1, {**found, "searched": False})):
            session.add(
                ModelRun(
                    company_id=company.id, platform_id=shop, metric="units", model="ensemble", status="succeeded",
                    started_at=datetime.now(UTC) - timedelta(days=days_ago), params={"arima": arima},
                )
            )  # fmt: skip
    with sessions() as session:
        reuse = functools.partial(training.arima_order_to_reuse, session, company.id, (shop, "units"))
        assert reuse("nightly") == ((1, 0, 1), (0, 1, 1, 7))  # the last search's, not a refit's or a stale one
        assert reuse("new_days") == ((1, 0, 1), (0, 1, 1, 7))
        assert reuse("drift") is None
        assert training.arima_order_to_reuse(session, company.id, (None, "units"), "nightly") is None  # never searched
