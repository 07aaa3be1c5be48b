"""Overview: KPI cards against the comparison period, the sales trend by channel, the channel
comparison, the top products and the forecast, for the filters in the URL (dashboard.filters).

Refreshed by the shell's timer without losing the reader's place: a tick whose data version (and,
for a range that includes today, comparison minute) is the one on screen changes nothing; one
with new data updates the numbers in place, and the chart keeps its zoom and hidden series
(uirevision) and the table its sort, search and scroll (rows keyed by SKU).
"""

from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard import data, figures, inputs, panels
from dashboard.filters import Filters, company_filters
from dashboard.shell import REFRESH
from db import metrics, queries
from db.models import Company
from web.context import db_session, state

FILTERS = "overview-filters"  # the page's parsed filters (from the URL)
RENDERED = "overview-rendered"  # the data version (and comparison minute) on screen
ZOOM = "overview-trend-zoom"  # the trend chart's zoom, from its relayout events
BANNER = "overview-sync-banner"
PERIOD = "overview-period"
KPIS = "overview-kpis"
TREND = "overview-trend"
TREND_METRIC = "overview-trend-metric"
CHANNELS = "overview-channels"
PRODUCT_SEARCH = "overview-product-search"
FORECAST = "overview-forecast"
FRESHNESS = "overview-freshness"
EXPORT = "overview-export"  # pattern id: {"type": EXPORT, "index": panel}
DOWNLOAD = "overview-download"
RETRY = "overview-retry"
TREND_NOTE = "overview-trend-note"
PRODUCT_GRID = "overview-products-grid"
PRODUCT_NOTE = "overview-products-note"
PANELS = ("kpis", "channels", "products")
HIDDEN = {"display": "none"}

log = logging.getLogger(__name__)


def skeleton(lines: int = 3) -> html.Div:
    return html.Div(
        [html.Span(className="placeholder col-12 mb-2") for _ in range(lines)], className="placeholder-glow"
    )


def card(title: str, body, export: str | None = None, tools=None) -> dbc.Card:
    header = [html.Span(title, className="fw-semibold me-auto"), *(tools or [])]
    if export:
        header.append(
            dbc.Button("Export CSV", id={"type": EXPORT, "index": export}, size="sm", color="secondary", outline=True)
        )
    return dbc.Card(
        [dbc.CardHeader(header, className="d-flex flex-wrap gap-2 align-items-center"), dbc.CardBody(body)],
        className="chart-card shadow-sm h-100",
    )


def layout(**query) -> html.Div:
    filters = company_filters(query)
    metric_options = [{"label": metrics.METRICS[m].label, "value": m} for m in panels.TREND_METRICS]
    trend_tools = [
        dcc.Dropdown(
            id=TREND_METRIC,
            options=metric_options,
            value="net_sales",
            clearable=False,
            searchable=False,
            style={"minWidth": "170px"},
        ),
    ]
    search = dbc.Input(
        id=PRODUCT_SEARCH,
        placeholder="Search products",
        size="sm",
        type="search",
        debounce=True,
        style={"maxWidth": "220px"},
    )
    return html.Div(
        [
            dcc.Store(id=FILTERS, data=filters.as_json()),
            dcc.Store(id=RENDERED),
            dcc.Store(id=ZOOM),
            html.Div(id=BANNER),
            html.Div(
                [
                    html.H1("Overview", className="h3 mb-0"),
                    html.Span(id=PERIOD, className="text-secondary me-auto"),
                    dbc.Button(
                        "Export key figures (CSV)",
                        id={"type": EXPORT, "index": "kpis"},
                        size="sm",
                        color="secondary",
                        outline=True,
                    ),
                ],
                className="d-flex flex-wrap align-items-baseline gap-3 mb-3",
            ),
            dbc.Row(
                id=KPIS,
                children=[dbc.Col(dbc.Card(dbc.CardBody(skeleton(2))), className="mb-3")] * 4,
                className="row-cols-2 row-cols-md-4 row-cols-xl-7 g-2 mb-1",
            ),
            dbc.Row(
                [
                    dbc.Col(card("Sales trend by channel", trend_body(), "trend", trend_tools), lg=8, className="mb-3"),
                    dbc.Col(
                        card("Channels", html.Div(id=CHANNELS, children=skeleton(4)), "channels"),
                        lg=4,
                        className="mb-3",
                    ),
                ]
            ),
            dbc.Row(
                [
                    dbc.Col(
                        card(f"Top products ({filters_currency()})", products_body(), "products", [search]),
                        lg=8,
                        className="mb-3",
                    ),
                    dbc.Col(
                        card("Forecast: next 30 days", html.Div(id=FORECAST, children=skeleton(6))),
                        lg=4,
                        className="mb-3",
                    ),
                ]
            ),
            html.Div(id=FRESHNESS, className="freshness mt-1"),
            dcc.Download(id=DOWNLOAD),
        ]
    )


def trend_body() -> html.Div:
    """One graph for the page's life: a refresh gives it a new figure, so Plotly keeps its zoom."""
    graph = dcc.Graph(id=TREND, config={"displaylogo": False, "responsive": True}, style=HIDDEN)
    return html.Div([html.Div(skeleton(6), id=TREND_NOTE), graph])


def filters_currency() -> str:
    return db_session().get(Company, current_user.company_id).currency


def products_body() -> html.Div:
    """One grid for the page's life: a refresh replaces its rows, which keeps sort and scroll."""
    return html.Div([html.Div(id=PRODUCT_NOTE), panels.product_grid(PRODUCT_GRID, [])])


def load(filters_data: object) -> data.Overview:
    session = db_session()
    company = session.get(Company, current_user.company_id)
    own = [p.id for p in queries.platforms(session, company.id)]
    filters = Filters.from_json(filters_data, company, own)
    return data.overview(session, company.id, filters, cache=state().cache)


def panel_error(panel: str) -> dbc.Alert:
    """One panel could not be read: say so there, with a retry, and leave the others alone."""
    return dbc.Alert(
        [
            "Could not load this panel. ",
            dbc.Button("Retry", id={"type": RETRY, "index": panel}, size="sm", color="warning", outline=True),
        ],
        color="warning",
        className="py-2 mb-0",
    )


def update(_tick, filters_data, _retry, metric, rendered, zoom):
    """Every panel for the filters, from one cached read; nothing at all when a tick finds the
    data on screen unchanged. A panel that fails says so in place; the others still show."""
    try:
        view = load(filters_data)
    except SQLAlchemyError:  # the database is down: each panel says so, the page stays up
        log.exception("overview read failed")
        return (
            dash.no_update,
            [dbc.Col(panel_error("kpis"))],
            panel_error("channels"),
            dash.no_update,
            panel_error("products"),
            dash.no_update,
            HIDDEN,
            panel_error("trend"),
            dash.no_update,
            dash.no_update,
        )
    key = [view.data_version, view.numbers.comparison.until.isoformat() if view.includes_today else None]
    if ctx.triggered_id == REFRESH and rendered == key:
        raise dash.exceptions.PreventUpdate
    rows = panels.product_rows(view.numbers.products)
    note = None if rows else html.Div("No product sold in this range.", className="text-secondary")
    return (
        period_text(view),
        kpis(view),
        panels.channel_table(view.numbers.channels, view.currency),
        rows,
        note,
        *trend(view, metric, zoom),
        forecast(view),
        key,
    )


def redraw_trend(metric, filters_data):
    """The metric switch: the same numbers, another line."""
    return trend(load(filters_data), metric)


def period_text(view: data.Overview) -> str:
    f = view.filters
    label = panels.span(f.start, f.end) + (" (today so far)" if view.includes_today else "")
    return f"{label} · {view.timezone} · {view.currency}"


def importing(view: data.Overview) -> list[queries.PlatformStatus]:
    """Channels whose first import is running: until it ends their numbers are not yet true."""
    return [s for s in view.syncs if s.running and s.last_sync_at is None and s.id in {p.id for p in view.platforms}]


def kpis(view: data.Overview) -> list:
    if not view.platforms:
        return [dbc.Col(inputs.alert("No channel connected yet: add one on the Channels page.", color="info"))]
    first = importing(view)
    if first and not view.numbers.totals.orders:
        return [dbc.Col(figures.backfill_banner(first))]
    return panels.kpi_cards(view.numbers.totals, view.numbers.comparison, view.timezone, view.as_of)


def trend(view: data.Overview, metric: object, zoom: object = None) -> tuple:
    """The chart's figure, its style and the note above it. While a first import has no orders
    yet, a note instead of empty axes."""
    if metric not in panels.TREND_METRICS:
        return dash.no_update, HIDDEN, inputs.alert("Pick one of the listed metrics.", color="secondary")
    if not view.platforms or (importing(view) and not view.numbers.totals.orders):
        note = "The chart appears once the first orders are imported." if view.platforms else None
        return dash.no_update, HIDDEN, html.Div(note, className="text-secondary")
    kinds = {p.id: p.kind for p in view.platforms}
    today = view.filters.end if view.includes_today else None
    revision = f"{view.filters.query() or '?'}|{metric}"  # never empty: Plotly ignores a falsy uirevision
    figure = panels.trend_figure(view.numbers.trend, metric, kinds, view.currency, today, revision)
    return panels.keep_zoom(figure, zoom), {}, None


def forecast(view: data.Overview) -> list | html.Div:
    """The stored forecast of net sales for the filtered channel (all channels unless exactly
    one is chosen), its bands and how it does against the naive guess."""
    channels = view.filters.channels
    platform = next((p for p in view.platforms if p.id == channels[0]), None) if len(channels) == 1 else None
    session = db_session()
    company = session.get(Company, current_user.company_id)
    series = data.forecast_view(session, company, platform.id if platform else None, "net_sales")
    if series.run is None:
        note = "No forecast yet: the first is made once a channel has four weeks of sales (retrains run nightly)."
        return html.Div(note, className="text-secondary")
    figure = figures.forecast_figure(series.history[-30:], series.days, f"Net sales ({view.currency})")
    figure.update_layout(height=260, showlegend=False, margin={"l": 40, "r": 10, "t": 10, "b": 30})
    return [
        html.Div(f"Net sales, {platform.display_name if platform else 'all channels'}", className="small mb-1"),
        dcc.Graph(figure=figure, config={"displaylogo": False, "displayModeBar": False}, id=f"{FORECAST}-graph"),
        html.Div(
            [html.P(line, className="small mb-1") for line in figures.forecast_summary(series.run, series.realized)]
        ),
        dcc.Link("All forecasts and models", href="/forecasts", className="small"),
    ]


def live_status(_tick, filters_data):
    """What changes on its own clock: first imports, channels needing attention, freshness."""
    view = load(filters_data)
    banner = [*figures.attention_alerts(view.syncs), figures.backfill_banner(view.syncs)]
    notes = [f"Data as of {panels.local_time(view.as_of, view.timezone)}"]
    foreign = sorted({p.currency for p in view.platforms} - {view.currency})
    if foreign:
        notes.append(metrics.conversion_note(foreign, view.currency))
    if stale := metrics.stale_rate_note(view.numbers.totals.fx_rate_age_days):
        notes.append(f"⚠ {stale}")
    return banner, [html.Span(" · ".join(notes)), figures.freshness_badges(view.syncs)]


def export(clicks, filters_data):
    """The clicked panel's numbers, exactly as shown, as CSV with a header naming the filters."""
    if not any(clicks or ()) or not isinstance(ctx.triggered_id, dict):
        raise dash.exceptions.PreventUpdate
    panel = ctx.triggered_id.get("index")
    view = load(filters_data)
    f = view.filters
    names = [p.display_name for p in view.platforms] if f.channels else []
    described = panels.describe_filters(f.preset, names, f.compare, f.granularity)

    def header(what: str) -> list[str]:
        return panels.export_header(what, f.start, f.end, view.timezone, view.currency, described)

    if panel == "trend":
        text = panels.trend_csv(view.numbers.trend, header(f"sales by {f.granularity} and channel"))
    elif panel == "channels":
        text = panels.channels_csv(view.numbers.channels, header("channel comparison"))
    elif panel == "products":
        text = panels.products_csv(view.numbers.products, header(f"top {len(view.numbers.products)} products"))
    elif panel == "kpis":
        text = panels.kpis_csv(view.numbers.totals, view.numbers.comparison, header("key figures"))
    else:
        raise dash.exceptions.PreventUpdate
    return dcc.send_string(text, f"channelpulse-{panel}-{f.start}-{f.end}.csv")


def search_products(text: object) -> dict:
    return {"animateRows": False, "suppressCellFocus": True, "quickFilterText": inputs.text(text)[:200]}


def register(app: Dash) -> None:
    dash.register_page(__name__, path="/", name="Overview", title="Overview · ChannelPulse", layout=layout, order=0)
    app.callback(
        Output(PERIOD, "children"),
        Output(KPIS, "children"),
        Output(CHANNELS, "children"),
        Output(PRODUCT_GRID, "rowData"),
        Output(PRODUCT_NOTE, "children"),
        Output(TREND, "figure"),
        Output(TREND, "style"),
        Output(TREND_NOTE, "children"),
        Output(FORECAST, "children"),
        Output(RENDERED, "data"),
        Input(REFRESH, "n_intervals"),
        Input(FILTERS, "data"),
        Input({"type": RETRY, "index": ALL}, "n_clicks"),
        State(TREND_METRIC, "value"),
        State(RENDERED, "data"),
        State(ZOOM, "data"),
    )(update)
    app.clientside_callback(  # each zoom and "autoscale" as it happens; other relayouts leave it
        """function (relayout, zoom) {
            if (!relayout) { return dash_clientside.no_update; }
            const kept = Object.assign({}, zoom || {});
            let changed = false;
            for (const axis of ["xaxis", "yaxis"]) {
                const low = relayout[axis + ".range[0]"], high = relayout[axis + ".range[1]"];
                const range = relayout[axis + ".range"] || (low !== undefined ? [low, high] : null);
                if (relayout[axis + ".autorange"]) { delete kept[axis]; changed = true; }
                if (range) { kept[axis] = range; changed = true; }
            }
            return changed ? kept : dash_clientside.no_update;
        }""",
        Output(ZOOM, "data"),
        Input(TREND, "relayoutData"),
        State(ZOOM, "data"),
    )
    app.callback(
        Output(TREND, "figure", allow_duplicate=True),
        Output(TREND, "style", allow_duplicate=True),
        Output(TREND_NOTE, "children", allow_duplicate=True),
        Input(TREND_METRIC, "value"),
        State(FILTERS, "data"),
        prevent_initial_call=True,
    )(redraw_trend)
    app.callback(
        Output(BANNER, "children"), Output(FRESHNESS, "children"), Input(REFRESH, "n_intervals"), Input(FILTERS, "data")
    )(live_status)
    app.callback(
        Output(DOWNLOAD, "data"),
        Input({"type": EXPORT, "index": ALL}, "n_clicks"),
        State(FILTERS, "data"),
        prevent_initial_call=True,
    )(export)
    app.callback(Output(PRODUCT_GRID, "dashGridOptions"), Input(PRODUCT_SEARCH, "value"), prevent_initial_call=True)(
        search_products
    )
