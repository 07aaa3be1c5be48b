"""Pure builders: data in, Dash components, Plotly figures and CSV text out. No I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from connectors import FILE_KINDS
from db.queries import PlatformStatus
from web import exports

SYMBOLS = {"USD": "$", "CAD": "CA$", "EUR": "€", "GBP": "£"}
CHANNEL_COLOURS = {"shopify": "#5e8e3e", "bestbuy": "#0046be", "csv": "#8a5cf6"}


def format_money(amount: Decimal, currency: str) -> str:
    symbol = SYMBOLS.get(currency)
    sign = "−" if amount < 0 else ""
    text = f"{abs(amount):,.2f}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


STATUS_COLOURS = {"active": "success", "needs_attention": "danger", "disabled": "secondary"}
KIND_LABELS = {"shopify": "Shopify", "bestbuy": "Best Buy Marketplace (Mirakl)", "csv": "CSV import"}


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


STALE_AFTER = timedelta(hours=2)  # a scheduled channel syncs every few minutes: two hours without one is news


def freshness_badges(statuses: Sequence[PlatformStatus], now: datetime | None = None) -> html.Div:
    """Per channel, how fresh its numbers are ("updated 12 s ago"), in amber when they are stale
    and red when its sync is failing."""
    now = now or datetime.now(UTC)
    badges = []
    for s in statuses:
        failing = s.status == "needs_attention" or (s.run is not None and s.run.status == "failed")
        stale = s.kind not in FILE_KINDS and (s.last_sync_at is None or now - s.last_sync_at > STALE_AFTER)
        colour = "danger" if failing else "warning" if stale and not s.running else "light"
        text = "sync failing" if failing else f"updated {ago_short(s.last_sync_at, now)}"
        badges.append(
            dbc.Badge(
                f"{s.name}: {text}",
                color=colour,
                text_color="dark" if colour in ("light", "warning") else None,
                className="me-1 border",
                id=f"fresh-{s.id}",
            )
        )
    return html.Div(badges, className="mt-1")


def ago_short(moment: datetime | None, now: datetime) -> str:
    """'12 s ago', '4 min ago', '3 h ago', '2 days ago'; 'never'."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def sync_progress(status: PlatformStatus) -> dbc.Progress | None:
    """A bar while a sync runs: measured when the platform said how many orders, animated otherwise."""
    if not status.running:
        return None
    run = status.run
    if status.progress is not None:
        pct = round(status.progress * 100)
        return dbc.Progress(
            value=pct,
            label=f"{run.rows:,} of {run.expected_rows:,} {'rows' if run.stream == 'import' else 'orders'}",
            striped=True,
            animated=True,
            className="mb-2",
            id=f"progress-{status.id}",
        )
    return dbc.Progress(
        value=100,
        label=run.activity if run.activity and not run.rows else f"{run.rows:,} orders so far",
        striped=True,
        animated=True,
        className="mb-2",
        id=f"progress-{status.id}",
    )


RECONNECT = (
    "It stays out of date until an admin connects it again with new credentials "
    "(same kind and display name: docs/connectors.md)."
)


def refused_credentials(status: PlatformStatus) -> str:
    """What stopped a channel whose platform refused its credentials, and what fixes it."""
    label = KIND_LABELS.get(status.kind, status.kind)
    return f"{status.name} stopped syncing: {label} refused its credentials ({status.status_message}). {RECONNECT}"


def channel_card(status: PlatformStatus, actions: html.Div | None = None) -> dbc.Card:
    """A channel's state, with `actions` (its buttons, dashboard/channel_forms.py) at the bottom. A
    CSV channel also says what its last import brought in."""
    if status.running:
        state = "Syncing now"
    elif status.queued:
        state = "Sync queued"
    else:
        state = f"Last synced {ago(status.last_sync_at)}"
    last_run = status.run
    problem = status.status_message or (last_run.error if last_run and last_run.status == "failed" else None)
    if status.status == "needs_attention":
        problem = refused_credentials(status)
    imported = None
    if status.kind in FILE_KINDS and last_run is not None and last_run.status == "succeeded":
        orders = "1 order" if last_run.rows == 1 else f"{last_run.rows:,} orders"
        imported = html.Div(f"Last import: {orders} imported", className="small mb-2", id=f"channel-import-{status.id}")
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.H2(status.name, className="h5 mb-0", id=f"channel-name-{status.id}"),
                        dbc.Badge(
                            "paused" if status.status == "disabled" else status.status.replace("_", " "),
                            color=STATUS_COLOURS.get(status.status, "secondary"),
                            id=f"channel-status-{status.id}",
                        ),
                    ],
                    className="d-flex justify-content-between align-items-center mb-1",
                ),
                html.Div(
                    f"{KIND_LABELS.get(status.kind, status.kind)} · {status.currency}", className="text-secondary mb-2"
                ),
                sync_progress(status),
                html.Div(state, className="mb-2", id=f"channel-state-{status.id}"),
                imported,
                dbc.Alert(problem, color="warning", className="py-2 small") if problem else None,
                actions,
            ]
        ),
        className="shadow-sm h-100",
        id=f"channel-{status.id}",
    )


def attention_alerts(statuses: Sequence[PlatformStatus]) -> list[dbc.Alert]:
    """A warning above the numbers for each channel whose credentials stopped working: its numbers
    stop at its last sync, which the totals would otherwise hide."""
    return [
        dbc.Alert(
            [refused_credentials(s), " ", html.A("See Channels", href="/channels", className="alert-link")],
            color="danger",
            id=f"attention-{s.id}",
        )
        for s in statuses
        if s.status == "needs_attention"
    ]


def backfill_banner(statuses: Sequence[PlatformStatus]) -> dbc.Alert | None:
    """While a channel's first import runs, say so above the numbers (they are still filling in)."""
    first = [s for s in statuses if s.running and s.last_sync_at is None]
    if not first:
        return None
    return dbc.Alert(
        [
            html.Div("Importing order history. The numbers below fill in as it arrives.", className="mb-2"),
            *[html.Div([html.Div(s.name, className="small"), sync_progress(s)]) for s in first],
        ],
        color="info",
        id="backfill-banner",
    )


REASON_LABELS = {
    "currency": "Currency",
    "refund_dating": "Refund dating",
    "time_zone": "Time zone",
    "inclusion": "Orders counted",
    "sync_lag": "Not synced yet",
}


def days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def reconciliation_summary(body: dict) -> html.Div:
    """How many days match, are fully explained, or are not; where the platform's figures came from."""
    summary, report = body["summary"], body["report"]
    badges = [
        dbc.Badge(f"{days(summary['days_matching'])} match exactly", color="success", className="me-2"),
        dbc.Badge(
            f"{days(summary['days_explained'])} differ, every difference explained", color="info", className="me-2"
        ),
        dbc.Badge(
            f"{days(summary['days_unexplained'])} with an unexplained difference",
            color="danger" if summary["days_unexplained"] else "secondary",
            id="recon-unexplained",
        ),
    ]
    source = (
        f"Platform figures: its own report ({body['currency']}, {report['timezone']} days), "
        f"fetched {report['fetched_at'][:16].replace('T', ' ')} UTC"
        if report["fetched_at"]
        else "No report from the platform for this range yet."
    )
    ours = f"Ours: what the dashboard shows ({body['reporting_currency']}, {body['timezone']} days)."
    parts = [html.Div(badges, className="mb-2"), html.Div(f"{ours} {source}", className="small text-secondary")]
    if report["error"]:
        parts.append(dbc.Alert(report["error"], color="warning", className="py-2 small mt-2"))
    if summary["days_unexplained"] and not report["sync_lag_known"]:
        lag = (
            "The orders changed on the platform since our last sync are not known for this report (an upload, "
            "or no sync yet): a recent difference may only be that, and is shown as unexplained."
        )
        parts.append(html.Div(lag, className="small text-secondary mt-1", id="recon-lag-unknown"))
    return html.Div(parts, className="mb-3", id="recon-summary-body")


def reconciliation_table(body: dict) -> dbc.Table:
    """One row per day: total sales and orders, ours and the platform's, and why they differ."""
    header = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "Day",
                    f"Our total sales ({body['reporting_currency']})",
                    f"Platform total sales ({body['currency']})",
                    "Orders (ours / platform)",
                    "Why they differ",
                    "Unexplained",
                )
            ]
        )
    )
    rows = []
    for day in body["days"]:
        chips = [
            html.Span(
                f"{REASON_LABELS.get(e['reason'], e['reason'])}: {e['effect'].get('total_sales', '0.00')}",
                title=e["detail"],
                className="badge text-bg-light border me-1",
            )
            for e in day["explained"]
        ] or [html.Span("identical", className="text-success")]
        unexplained = day["unexplained"]
        left = [f"{k} {v}" for k, v in unexplained.items() if v not in (0, "0.00")]
        rows.append(
            html.Tr(
                [
                    html.Td(day["day"]),
                    html.Td(day["ours"]["total_sales"], className="text-end"),
                    html.Td(day["platform"]["total_sales"], className="text-end"),
                    html.Td(f"{day['ours']['orders']} / {day['platform']['orders']}", className="text-end"),
                    html.Td(chips),
                    html.Td(", ".join(left) or "—", className="text-danger" if left else "text-secondary"),
                ],
                className="table-danger" if left else None,
            )
        )
    return dbc.Table([header, html.Tbody(rows)], size="sm", hover=True, responsive=True, id="recon-days")


# --- forecasts -----------------------------------------------------------------------------

MODEL_NAMES = {
    "ensemble": "Ensemble",
    "seasonal_naive": "Seasonal naive (same weekday last week)",
    "window_average": "Weekday average",
    "ets": "Exponential smoothing (ETS)",
    "auto_arima": "ARIMA",
    "lstm": "LSTM neural network",
}


def model_name(alias: str) -> str:
    return MODEL_NAMES.get(alias, alias)


def forecast_figure(history: Sequence[tuple[date, float]], days: Sequence, label: str) -> go.Figure:
    """Recent actual days, then the forecast's mean with its 95% and 80% bands."""
    figure = go.Figure()
    ahead = [d.day for d in days]
    for level, colour in (("95", "rgba(13,110,253,0.12)"), ("80", "rgba(13,110,253,0.25)")):
        lows, highs = [float(getattr(d, f"lo_{level}")) for d in days], [float(getattr(d, f"hi_{level}")) for d in days]
        figure.add_trace(
            go.Scatter(x=ahead, y=highs, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        )
        figure.add_trace(
            go.Scatter(
                x=ahead,
                y=lows,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=colour,
                name=f"{level}% band",
            )
        )
    figure.add_trace(go.Scatter(x=[d for d, _ in history], y=[v for _, v in history], name="Actual", mode="lines"))
    figure.add_trace(
        go.Scatter(x=ahead, y=[float(d.mean) for d in days], name="Forecast", mode="lines", line={"dash": "dash"})
    )
    figure.update_layout(
        margin={"l": 40, "r": 10, "t": 10, "b": 30}, height=360, yaxis_title=label, legend={"orientation": "h"}
    )
    return figure


def forecast_summary(run, realized: dict) -> list[str]:
    """The chosen model and its accuracy in a seller's words: how far off a day typically is,
    against the naive guess (the same weekday last week), and how it has done since."""
    backtest = (run.accuracy or {}).get("backtest", {}).get("14") or {}
    naive = (run.accuracy or {}).get("baseline_backtest", {}).get("14") or {}
    lines = [f"Model: {model_name(run.model)}, trained on {run.train_start} to {run.train_end}."]
    if run.fallback_reason:
        lines.append(f"Why this model: {run.fallback_reason}")
    if backtest.get("smape") is not None:
        lines.append(f"In backtests it was typically within {backtest['smape']:.0f}% per day over 14 days.")
    if backtest.get("mase") and naive.get("mase"):
        gain = 1 - backtest["mase"] / naive["mase"]
        lines.append(
            f"It beats the naive guess by {gain:.0%}." if gain > 0.005 else "It does no better than the naive guess."
        )
    if realized["days"]:
        inside = realized["coverage"].get("80", 0.0)
        lines.append(f"Since then: {realized['days']} days in, {inside:.0%} of them inside the 80% band.")
    return lines


def model_table(run, realized_by_model: dict[str, dict]) -> dbc.Table:
    """Every member of the fit: its weight, backtest accuracy over 14 days, how its own forecast
    has done since (once a week of it is in), or why it was left out."""
    rows = []
    for member in (run.params or {}).get("members", []):
        figures = (member.get("backtest") or {}).get("14") or {"mase": member.get("mase"), "smape": member.get("smape")}
        mase, smape = figures.get("mase"), figures.get("smape")
        realized = realized_by_model.get(member["alias"], {}).get("mase", {}).get("7")
        rows.append(
            html.Tr(
                [
                    html.Td(model_name(member["alias"])),
                    html.Td(f"{member['weight']:.0%}"),
                    html.Td("—" if mase is None else f"{mase:.2f}"),
                    html.Td("—" if smape is None else f"{smape:.1f}%"),
                    html.Td("—" if realized is None else f"{realized:.2f}"),
                    html.Td(member.get("dropped") or ""),
                ]
            )
        )
    columns = ("Model", "Weight", "Backtest MASE", "Backtest sMAPE", "MASE since (7 days)", "Left out because")
    head = html.Thead(html.Tr([html.Th(h) for h in columns]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, id="forecast-models")


def forecast_csv(history: Sequence[tuple[date, float]], days: Sequence, what: str) -> str:
    header = [f"ChannelPulse forecast: {what}", "kind: actual (a day that ended) or forecast (mean and bands)"]
    rows = [[day.isoformat(), "actual", value, "", "", "", ""] for day, value in history]
    rows += [[d.day.isoformat(), "forecast", d.mean, d.lo_80, d.hi_80, d.lo_95, d.hi_95] for d in days]
    return exports.csv_text(header, ["date", "kind", "value", "lo_80", "hi_80", "lo_95", "hi_95"], rows)
