"""Forecasts over the API: /api/v1/ml/*. The web only reads what the worker's training stored
(jobs.training); a retrain is requested here and the worker runs it."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from api import bp, params
from api.analytics import company
from db.models import Company, ForecastRun, ModelRun, Platform
from jobs import forecasts
from web import exports
from web.context import db_session
from web.errors import ApiError
from web.guard import admin_required

PREDICT_FIELDS = {"platform", "metric", "horizon", "model"}
ALL_CHANNELS = "all"


def series_platform(owner: Company, raw: object) -> int | None:
    """A series' channel: "all" (or nothing) for the all-channels total, else a platform id."""
    text = str(raw).strip() if raw is not None else ALL_CHANNELS
    if text in ("", ALL_CHANNELS):
        return None
    if not text.isdigit():
        raise params.bad("platform", f'platform must be a platform id or "all", not {text!r}')
    return params.company_platform(db_session(), owner.id, text).id


def run_json(run: ForecastRun | None) -> dict | None:
    """A retrain and its progress (series done of the total)."""
    if run is None:
        return None
    return {
        "id": run.id,
        "reason": run.reason,
        "status": run.status,
        "requested_at": run.requested_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "series_done": run.series_done,
        "series_total": run.series_total,
        "error": run.error,
    }


def model_json(run: ModelRun, names: dict[int, str], realized: dict) -> dict:
    accuracy = run.accuracy or {}
    return {
        "platform": run.platform_id if run.platform_id is not None else ALL_CHANNELS,
        "platform_name": names.get(run.platform_id, "All channels"),
        "metric": run.metric,
        "model": run.model,
        "fallback_reason": run.fallback_reason,
        "trained_at": run.finished_at.isoformat() if run.finished_at else None,
        "train_start": run.train_start.isoformat() if run.train_start else None,
        "train_end": run.train_end.isoformat() if run.train_end else None,
        "members": (run.params or {}).get("members", []),
        "arima": (run.params or {}).get("arima"),
        "backtest": accuracy.get("backtest", {}),
        "baseline_backtest": accuracy.get("baseline_backtest", {}),
        "coverage": accuracy.get("coverage", {}),
        "realized": realized,
    }


def current_models(owner: Company) -> list[dict]:
    """Each series' current fit as JSON, with `realized_by_model`: how every stored model's
    forecast (the chosen one's and each member's) has done so far."""
    session = db_session()
    names = {p.id: p.display_name for p in session.scalars(select(Platform).where(Platform.company_id == owner.id))}
    today = forecasts.local_today(owner, forecasts.utcnow())
    models = []
    for run in forecasts.current_model_runs(session, owner.id):
        realized = forecasts.realized_by_model(session, run, today)
        models.append(
            {
                **model_json(run, names, realized.get(run.model, forecasts.nothing_realized())),
                "realized_by_model": realized,
            }
        )
    return models


def csv_answer(filename: str, what: str, columns: list[str], rows: list[list]) -> Response:
    body = exports.csv_text([f"ChannelPulse {what}"], columns, rows)
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/ml/models")
def ml_models() -> Response:
    """Each series' current model, its members and accuracy (backtest and realized so far),
    and the company's latest retrain."""
    owner = company()
    models = current_models(owner)
    if params.wants_csv(request.args):
        columns = ["platform", "metric", "model", "trained_at", "backtest_mase_14", "baseline_mase_14"]
        columns += ["coverage_80", "coverage_95", "realized_days", "realized_mase_7"]
        rows = [
            [
                m["platform_name"],
                m["metric"],
                m["model"],
                m["trained_at"],
                m["backtest"].get("14", {}).get("mase"),
                m["baseline_backtest"].get("14", {}).get("mase"),
                m["coverage"].get("80"),
                m["coverage"].get("95"),
                m["realized"]["days"],
                m["realized"]["mase"].get("7"),
            ]
            for m in models
        ]
        return csv_answer("forecast-models.csv", "forecast models", columns, rows)
    return jsonify(models=models, retrain=run_json(forecasts.latest_run(db_session(), owner.id)))


PERFORMANCE_COLUMNS = [
    "platform", "metric", "model", "chosen", "weight", "backtest_mase", "backtest_smape", "dropped",
    "realized_days", "realized_mase_7", "realized_mase_14", "realized_mase_30",
    "realized_coverage_80", "realized_coverage_95",
]  # fmt: skip


@bp.get("/ml/performance")
def ml_performance() -> Response:
    """Backtest and realized accuracy per series and model, seasonal-naive included: each
    member's backtest MASE and sMAPE over 14 days and how its stored forecast has done since,
    and the same for the ensemble's forecast (the chosen model's)."""
    rows = []
    for m in current_models(company()):
        by_model = m.pop("realized_by_model")
        for member in m["members"]:
            figures = member.get("backtest", {}).get("14") or {}
            rows.append(
                _performance_row(
                    m, member["alias"], member["alias"] == m["model"], member["weight"],
                    figures.get("mase", member["mase"]), figures.get("smape", member["smape"]),
                    member["dropped"], by_model.get(member["alias"]),
                )
            )  # fmt: skip
        figures = m["backtest"].get("14", {})
        rows.append(
            _performance_row(
                m, "ensemble", m["model"] == "ensemble", None, figures.get("mase"), figures.get("smape"), None,
                by_model.get(m["model"]),
            )
        )  # fmt: skip
    if params.wants_csv(request.args):
        return csv_answer(
            "forecast-performance.csv",
            "forecast accuracy",
            PERFORMANCE_COLUMNS,
            [[r[c] for c in PERFORMANCE_COLUMNS] for r in rows],
        )
    return jsonify(rows=rows)


def _performance_row(
    series: dict,
    model: str,
    chosen: bool,
    weight: float | None,
    mase: float | None,
    smape: float | None,
    dropped: str | None,
    realized: dict | None,
) -> dict:
    realized = realized or forecasts.nothing_realized()
    return {
        "platform": series["platform"],
        "metric": series["metric"],
        "model": model,
        "chosen": chosen,
        "weight": weight,
        "backtest_mase": mase,
        "backtest_smape": smape,
        "dropped": dropped,
        "realized_days": realized["days"],
        **{f"realized_mase_{h}": realized["mase"].get(str(h)) for h in forecasts.REALIZED_HORIZONS},
        **{f"realized_coverage_{lv}": realized["coverage"].get(str(lv)) for lv in (80, 95)},
    }


@bp.post("/ml/predict")
def ml_predict() -> Response:
    """The stored forecast of one series: `horizon` days from today with 80/95% bands, the
    model and its backtest accuracy."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - PREDICT_FIELDS:
        raise ApiError(400, "invalid_body", "Send a JSON object with platform, metric, horizon and model.")
    owner, session = company(), db_session()
    platform_id = series_platform(owner, body.get("platform"))
    metric = body.get("metric")
    if metric not in forecasts.METRICS:
        raise params.bad("metric", f"metric must be one of {', '.join(forecasts.METRICS)}")
    horizon = body.get("horizon", forecasts.HORIZON)
    if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= forecasts.HORIZON:
        raise params.bad("horizon", f"horizon must be a whole number of days from 1 to {forecasts.HORIZON}")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise params.bad("model", "model must be a model name, such as ensemble, auto_arima or lstm")
    run = forecasts.current_model_run(session, owner.id, platform_id, metric)
    if run is None:
        raise ApiError(404, "not_found", "No stored forecast for this series yet: see /api/v1/ml/models.")
    stored = forecasts.stored_models(session, run)
    wanted = run.model if model in (None, "ensemble") else model  # the ensemble's forecast is the chosen one
    if wanted not in stored:
        raise ApiError(
            404, "not_found", f"No stored forecast by {model!r} for this series; there are: {', '.join(stored)}."
        )
    today = forecasts.local_today(owner, forecasts.utcnow())
    days = forecasts.predictions_from(session, run, today, limit=horizon, model=wanted)
    names = (
        {platform_id: params.company_platform(session, owner.id, str(platform_id)).display_name} if platform_id else {}
    )
    answer = model_json(run, names, forecasts.realized_accuracy(session, run, today, wanted))
    if wanted != run.model:  # a member's own forecast: its figures, the fit's chosen model beside
        member = next((m for m in answer["members"] if m["alias"] == wanted), {})
        answer.update(model=wanted, chosen_model=run.model, backtest=member.get("backtest", {}))
    else:
        answer["chosen_model"] = run.model
    answer["days"] = [
        {
            "date": d.day.isoformat(),
            **{k: float(getattr(d, k)) for k in ("mean", "lo_80", "hi_80", "lo_95", "hi_95")},
        }
        for d in days
    ]
    return jsonify(answer)


@bp.post("/ml/retrain")
@admin_required("retrain forecasts")
def ml_retrain() -> Response:
    """Request a retrain of the company's forecasts; the worker runs it. Asking while one is
    requested or running answers that one."""
    session = db_session()
    run_id = forecasts.request_retrain(session, current_user.company_id)
    session.commit()
    return jsonify(run_json(session.get(ForecastRun, run_id))), 202
