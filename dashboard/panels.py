"""The Overview's panels as pure builders: numbers in, Dash components, Plotly figures and CSV
text out (no I/O). What a number means is said where it is shown: each KPI's tooltip quotes its
formula, the days' time zone, the currency and how fresh the data is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from dashboard.figures import CHANNEL_COLOURS, format_money
from db import periods
from db.metrics import FORMULA_VERSION, METRICS, change_pct
from db.queries import Comparison, ProductRow, Totals, TrendRow
from web import exports

KPIS = ("net_sales", "total_sales", "orders", "aov", "units", "returns", "discounts")
LOWER_IS_BETTER = {"returns", "discounts"}
TREND_METRICS = ("net_sales", "total_sales", "orders", "units", "aov")


def metric_text(key: str, value: Decimal | int, currency: str) -> str:
    """A value as the page shows it: money with its currency and thousands separators."""
    return format_money(Decimal(value), currency) if METRICS[key].kind == "money" else f"{int(value):,}"


def span(start: date, end: date) -> str:
    if start == end:
        return f"{start:%b %-d, %Y}"
    if start.year == end.year:
        return f"{start:%b %-d} – {end:%b %-d, %Y}"
    return f"{start:%b %-d, %Y} – {end:%b %-d, %Y}"


def comparison_label(comparison: Comparison, timezone: str) -> str:
    """What the change is measured against, in words: 'Nov 6 – Dec 5, 2026', cut to the time of
    day when the range includes today."""
    text = span(comparison.start, comparison.end)
    if comparison.until:
        text += f" until {comparison.until.astimezone(ZoneInfo(timezone)):%H:%M}"
    return text


def local_time(moment: datetime | None, timezone: str) -> str:
    """A moment in the company's time zone, as every time on the pages is shown."""
    return "never" if moment is None else f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} ({timezone})"


def change_line(key: str, now: Decimal | int, before: Decimal | int, against: str) -> html.Div:
    """'▲ 4.2% vs Nov 6 – Dec 5', green when the change is good for the business (more sales,
    fewer returns), red when it is bad."""
    pct = change_pct(now, before)
    if pct is None:
        return html.Div(f"nothing to compare with ({against})", className="kpi-note text-secondary")
    good = (pct > 0) != (key in LOWER_IS_BETTER)
    tone = "text-secondary" if pct == 0 else "text-success" if good else "text-danger"
    arrow = "■" if pct == 0 else "▲" if pct > 0 else "▼"
    return html.Div(
        [html.Span(f"{arrow} {abs(pct):.1f}%", className=f"fw-semibold {tone}"), f" vs {against}"],
        className="kpi-note",
    )


def kpi_cards(totals: Totals, comparison: Comparison, timezone: str, as_of: datetime | None) -> list[dbc.Col]:
    against = comparison_label(comparison, timezone)
    cards = []
    for key in KPIS:
        card_id = f"kpi-{key.replace('_', '-')}"
        metric = METRICS[key]
        tip = [
            html.Div(metric.formula),
            html.Div(f"Days: {timezone} · money: {totals.currency} · formulas v{FORMULA_VERSION}", className="mt-1"),
            html.Div(f"Data as of {local_time(as_of, timezone)}"),
        ]
        body = [
            html.Div(
                [metric.label, html.Span("i", className="info-dot ms-1")],
                className="kpi-label",
                id=f"{card_id}-label",
            ),
            html.Div(
                metric_text(key, totals.value(key), totals.currency), className="kpi-value", id=f"{card_id}-value"
            ),
            change_line(key, totals.value(key), comparison.totals.value(key), against),
            dbc.Tooltip(tip, target=f"{card_id}-label", placement="bottom"),
        ]
        cards.append(dbc.Col(dbc.Card(dbc.CardBody(body), className="kpi-card h-100", id=card_id), className="mb-3"))
    return cards


def trend_value(row: TrendRow, metric: str) -> float:
    if metric == "aov":
        return float(row.gross_sales - row.discounts) / row.orders if row.orders else 0.0
    return float(getattr(row, metric))


def trend_figure(
    rows: Sequence[TrendRow], metric: str, kinds: dict[int, str], currency: str, today: date | None, revision: str
) -> go.Figure:
    """One line per channel over the periods; a period still filling in (today's, or a week or
    month the range cuts) is drawn hollow and says so. `revision` keeps zoom and hidden series
    through refreshes until the filters change."""
    label = METRICS[metric].label
    money = METRICS[metric].kind == "money"
    figure = go.Figure()
    by_platform: dict[int, list[TrendRow]] = {}
    for row in rows:
        by_platform.setdefault(row.platform_id, []).append(row)
    for platform_id, series in by_platform.items():
        partial = [r.partial or (today is not None and r.period_start <= today <= r.period_end) for r in series]
        figure.add_trace(
            go.Scatter(
                x=[r.period_start for r in series],
                y=[trend_value(r, metric) for r in series],
                name=series[0].platform,
                mode="lines+markers" if len(series) <= 62 else "lines",
                line={"color": CHANNEL_COLOURS.get(kinds.get(platform_id, "")), "width": 2},
                marker={"symbol": ["circle-open" if p else "circle" for p in partial], "size": 7},
                customdata=[
                    f"{span(r.period_start, r.period_end)}{' (so far)' if p else ''}"
                    for r, p in zip(series, partial, strict=True)
                ],
                hovertemplate="%{customdata}<br>%{y:,.2f} " + currency + "<extra>%{fullData.name}</extra>"
                if money
                else "%{customdata}<br>%{y:,}<extra>%{fullData.name}</extra>",
            )
        )
    figure.update_layout(
        margin={"l": 50, "r": 10, "t": 10, "b": 30},
        height=340,
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.12},
        template="plotly_white",
        yaxis={"title": f"{label} ({currency})" if money else label, "rangemode": "tozero"},
        uirevision=revision,
    )
    return figure


def keep_zoom(figure: go.Figure, zoom: object) -> go.Figure:
    """The user's zoom ({"xaxis": [low, high], "yaxis": ...}, kept by the page from dcc.Graph's
    relayout events) applied to a redrawn figure. Plotly's uirevision keeps hidden series, but
    this Plotly.js (4.1) drops a zoomed date axis on Plotly.react."""
    if not isinstance(zoom, dict):
        return figure
    for axis in ("xaxis", "yaxis"):
        bounds = zoom.get(axis)
        if isinstance(bounds, list) and len(bounds) == 2 and all(_bound(b) for b in bounds):
            figure.layout[axis].range = bounds
    return figure


def _bound(value: object) -> bool:
    return (isinstance(value, str) and len(value) <= 40) or type(value) in (int, float)


def trend_csv(rows: Sequence[TrendRow], header: list[str]) -> str:
    columns = (
        "period_start",
        "period_end",
        "partial",
        "channel",
        "gross_sales",
        "discounts",
        "returns",
        "net_sales",
        "total_sales",
        "orders",
        "units",
    )
    return exports.csv_text(
        header,
        columns,
        (
            [
                r.period_start.isoformat(),
                r.period_end.isoformat(),
                r.partial,
                r.platform,
                r.gross_sales,
                r.discounts,
                r.returns,
                r.net_sales,
                r.total_sales,
                r.orders,
                r.units,
            ]
            for r in rows
        ),
    )


def channel_table(channels: Sequence, currency: str) -> dbc.Table | html.Div:
    """Each channel's share of net sales, its orders and AOV: the channel comparison."""
    if not channels:
        return html.Div("No channel is connected yet: add one on the Channels page.", className="text-secondary")
    head = html.Thead(
        html.Tr(
            [
                html.Th("Channel"),
                html.Th("Net sales", className="text-end"),
                html.Th("Orders", className="text-end"),
                html.Th("AOV", className="text-end"),
            ]
        )
    )
    rows = []
    for c in channels:
        share = "no sales" if c.share is None else f"{c.share:.1f}% of net sales"
        colour = CHANNEL_COLOURS.get(c.kind, "#6c757d")
        name = [
            html.Div([html.Span("●", style={"color": colour}, className="me-1"), c.name]),
            dbc.Progress(value=c.share or 0, style={"height": "4px"}, className="my-1"),
            html.Div(share, className="small text-secondary"),
        ]
        rows.append(
            html.Tr(
                [
                    html.Td(name),
                    html.Td(format_money(c.totals.net_sales, currency), className="text-end"),
                    html.Td(f"{c.totals.orders:,}", className="text-end"),
                    html.Td(format_money(c.totals.aov, currency), className="text-end"),
                ],
                id=f"channel-row-{c.platform_id}",
            )
        )
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")


def channels_csv(channels: Sequence, header: list[str]) -> str:
    columns = (
        "channel",
        "store_currency",
        "net_sales",
        "share_of_net_sales_pct",
        "orders",
        "aov",
        "total_sales",
        "gross_sales",
        "discounts",
        "returns",
        "units",
    )
    return exports.csv_text(
        header,
        columns,
        (
            [
                c.name,
                c.store_currency,
                c.totals.net_sales,
                "" if c.share is None else f"{c.share:.1f}",
                c.totals.orders,
                c.totals.aov,
                c.totals.total_sales,
                c.totals.gross_sales,
                c.totals.discounts,
                c.totals.returns,
                c.totals.units,
            ]
            for c in channels
        ),
    )


MONEY_FORMAT = {"function": "d3.format(',.2f')(params.value)"}
COUNT_FORMAT = {"function": "d3.format(',')(params.value)"}


def product_grid(grid_id: str, products: Sequence[ProductRow]) -> dag.AgGrid:
    """The products table: sortable by any column, searched by the box above it (quick filter).
    Rows keep their identity (the SKU) so a refresh keeps sort, search and scroll."""
    money = {"type": "rightAligned", "valueFormatter": MONEY_FORMAT, "filter": False}
    count = {"type": "rightAligned", "valueFormatter": COUNT_FORMAT, "filter": False}
    columns = [
        {"field": "title", "headerName": "Product", "flex": 2, "minWidth": 160},
        {"field": "sku", "headerName": "SKU", "minWidth": 110},
        {"field": "net_sales", "headerName": "Net sales", "sort": "desc", **money},
        {"field": "units", "headerName": "Units", **count},
        {"field": "returns", "headerName": "Returns", **money},
        {"field": "gross_sales", "headerName": "Gross sales", **money},
        {"field": "channels", "headerName": "Channels", "minWidth": 140},
    ]
    return dag.AgGrid(
        id=grid_id,
        columnDefs=columns,
        rowData=product_rows(products),
        getRowId="params.data.sku",
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 100, "flex": 1},
        dashGridOptions={"animateRows": False, "suppressCellFocus": True},
        className="ag-theme-alpine",
        style={"height": "420px", "width": "100%"},
    )


def product_rows(products: Sequence[ProductRow]) -> list[dict]:
    return [
        {
            "sku": p.sku,
            "title": p.title,
            "net_sales": float(p.net_sales),
            "units": p.units,
            "returns": float(p.returns),
            "gross_sales": float(p.gross_sales),
            "channels": ", ".join(p.platforms),
        }
        for p in products
    ]


def products_csv(products: Sequence[ProductRow], header: list[str]) -> str:
    columns = (
        "rank",
        "sku",
        "title",
        "net_sales",
        "units",
        "returns",
        "gross_sales",
        "discounts",
        "units_returned",
        "channels",
    )
    return exports.csv_text(
        header,
        columns,
        (
            [
                rank,
                p.sku,
                p.title,
                p.net_sales,
                p.units,
                p.returns,
                p.gross_sales,
                p.discounts,
                p.units_returned,
                "; ".join(p.platforms),
            ]
            for rank, p in enumerate(products, start=1)
        ),
    )


def kpis_csv(totals: Totals, comparison: Comparison, header: list[str]) -> str:
    """The KPI cards' numbers: each value, the comparison's and the change, as on the cards."""
    rows = []
    for key in KPIS:
        now, before = totals.value(key), comparison.totals.value(key)
        pct = change_pct(now, before)
        rows.append([METRICS[key].label, now, before, now - before, "" if pct is None else f"{pct:.1f}"])
    until = f" until {comparison.until.isoformat()}" if comparison.until else ""
    compared = f"compared with {comparison.start.isoformat()} to {comparison.end.isoformat()}{until}"
    return exports.csv_text([*header, compared], ("metric", "value", "compared_value", "change", "change_pct"), rows)


def export_header(what: str, start: date, end: date, timezone: str, currency: str, filters: str) -> list[str]:
    """The lines above every export's columns: what, which filters, the days' time zone, the
    currency, the formulas' version and when it was exported."""
    return [
        f"ChannelPulse {what}, {start.isoformat()} to {end.isoformat()}",
        f"filters: {filters}",
        f"days: company-local ({timezone}); money: {currency}; formulas: version {FORMULA_VERSION} (docs/metrics.md)",
        f"exported: {datetime.now(ZoneInfo(timezone)):%Y-%m-%d %H:%M:%S %Z}",
    ]


def describe_filters(preset: str, channels: Sequence[str], compare: str, granularity: str) -> str:
    chosen = ", ".join(channels) if channels else "all channels"
    return (
        f"{periods.PRESETS[preset]}; {chosen}; compared with {periods.COMPARISONS[compare].lower()}; by {granularity}"
    )
