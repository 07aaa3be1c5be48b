"""A reconciliation as the API answers it and as the Reconciliation page shows and exports it:
one JSON shape and one CSV layout, so the page's download and `?format=csv` never differ."""

from __future__ import annotations

from datetime import date

from db import reconciliation
from db.metrics import number
from db.models import Platform

CSV_COLUMNS = ("day", "metric", "ours", "platform", "difference", *reconciliation.REASONS, "unexplained")


def reconciliation_json(platform: Platform, result: reconciliation.Reconciliation, error: str | None) -> dict:
    return {
        "platform": {
            "id": platform.id,
            "kind": platform.kind,
            "display_name": platform.display_name,
            "last_sync_at": platform.last_sync_at.isoformat() if platform.last_sync_at else None,
        },
        "currency": result.currency,
        "reporting_currency": result.reporting_currency,
        "timezone": result.timezone,
        "report": {
            "source": "+".join(result.report_sources) or None,
            "fetched_at": result.report_fetched_at.isoformat() if result.report_fetched_at else None,
            "timezone": result.report_timezone,
            "error": error,
            "sync_lag_known": result.sync_lag_known,
        },
        "days": [
            {
                "day": d.day.isoformat(),
                "ours": _figures(d.ours),
                "platform": _figures(d.platform),
                "difference": _figures(d.difference),
                "explained": [
                    {"reason": e.reason, "detail": e.detail, "effect": _figures(e.effect)} for e in d.explained
                ],
                "unexplained": _figures(d.unexplained),
            }
            for d in result.days
        ],
        "summary": result.summary,
    }


def _figures(figures: reconciliation.Figures) -> dict:
    return {metric: number(metric, value) for metric, value in figures.items()}


def csv_header(body: dict, start: date, end: date) -> list[str]:
    report = body["report"]
    return [
        f"ChannelPulse reconciliation of {body['platform']['display_name']}, {start} to {end}",
        f"ours: what the dashboard shows ({body['reporting_currency']}, {body['timezone']} days)",
        f"platform: its own report ({body['currency']}, {report['timezone']} days, {report['source']}, "
        f"fetched {report['fetched_at']})",
        "difference = platform - ours = the effect of each reason + unexplained (docs/reconciliation.md)",
        *([report["error"]] if report["error"] else []),
    ]


def csv_rows(body: dict) -> list[list]:
    rows = []
    for day in body["days"]:
        effects = {e["reason"]: e["effect"] for e in day["explained"]}
        for metric in reconciliation.METRICS:
            rows.append(
                [
                    day["day"],
                    metric,
                    day["ours"][metric],
                    day["platform"][metric],
                    day["difference"][metric],
                    *(effects.get(reason, {}).get(metric, "") for reason in reconciliation.REASONS),
                    day["unexplained"][metric],
                ]
            )
    return rows
