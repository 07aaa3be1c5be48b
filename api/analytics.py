"""Analytics endpoints, /api/v1/analytics/...: read from the rollups, answered from the cache
when the company's data has not changed since, JSON or CSV (`?format=csv`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Response, current_app, request
from flask_login import current_user
from sqlalchemy.orm import Session

from api import bp, params
from api.platforms import sync_status_json
from db import metrics, periods, queries
from db.models import Company
from web import exports
from web.context import db_session, state
from web.errors import ApiError


def company() -> Company:
    found = db_session().get(Company, current_user.company_id)
    if found is None:  # the company was deleted under a live session or token
        raise ApiError(404, "not_found", "Your company no longer exists.")
    return found


def cached(session_company: Company, name: str, key: Mapping[str, Any], compute: Callable[[], dict]) -> dict:
    """`compute()`, or its stored result for the same company, parameters and data version."""
    return state().cache.read(session_company, name, key, compute)


def period(start: date, end: date, owner: Company) -> dict:
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "timezone": owner.timezone,
        "currency": owner.currency,
    }


def metrics_block(current: queries.Totals, previous: queries.Totals) -> dict:
    block = {}
    for key in metrics.METRICS:
        now, before = current.value(key), previous.value(key)
        block[key] = {
            "value": metrics.number(key, now),
            "previous": metrics.number(key, before),
            "change": metrics.number(key, now - before),
            "change_pct": metrics.change_pct(now, before),
        }
    return block


def conversion_notes(session: Session, owner: Company, totals: queries.Totals, platform_ids: list[int] | None) -> list:
    """What a reader needs to know about currencies and refund dating to trust the numbers."""
    notes = []
    foreign = sorted(
        {p.currency for p in queries.platforms(session, owner.id) if platform_ids is None or p.id in platform_ids}
        - {owner.currency}
    )
    if foreign:
        notes.append(
            f"{metrics.conversion_note(foreign, owner.currency)} (the last published rate on days without one)"
        )
    if stale := metrics.stale_rate_note(totals.fx_rate_age_days):
        notes.append(stale.capitalize())
    if owner.refund_dating == "order":
        notes.append("Returns are booked on the day of the original order (company setting), not the refund day")
    return notes


def build_metrics(
    session: Session,
    owner: Company,
    start: date,
    end: date,
    platform_ids: list[int] | None,
    compare: str = periods.DEFAULT_COMPARISON,
) -> dict:
    current = queries.totals(session, owner, start, end, platform_ids)
    before = queries.compared_totals(session, owner, start, end, compare, platform_ids)
    return {
        "period": period(start, end, owner),
        "previous_period": {
            "compare": compare,
            "start_date": before.start.isoformat(),
            "end_date": before.end.isoformat(),
            # a range that includes today is compared up to the same time of day
            "end_time": before.until.isoformat().replace("+00:00", "Z") if before.until else None,
        },
        "formula_version": metrics.FORMULA_VERSION,
        "refund_dating": owner.refund_dating,
        "metrics": metrics_block(current, before.totals),
        "notes": conversion_notes(session, owner, current, platform_ids),
    }


def comparison_cut(owner: Company, end: date) -> dict:
    """The part of a cache key that moves with the clock: a range that includes today is
    compared up to the current minute (queries.compared_totals)."""
    return {"cut": queries.time_of_today(owner, end)}


def header_lines(body: dict, what: str) -> list[str]:
    p = body["period"]
    return [
        f"ChannelPulse {what}, {p['start_date']} to {p['end_date']}",
        f"days: company-local ({p['timezone']}); money: {p['currency']}; formulas: version {metrics.FORMULA_VERSION} "
        "(docs/metrics.md)",
        *body.get("notes", []),
    ]


def answer(
    owner: Company,
    name: str,
    key: Mapping[str, Any],
    build: Callable[[], dict],
    table: Callable[[dict], tuple[str, Sequence[str], Iterable[Sequence]]],
    filename: str,
) -> Response:
    """The endpoint's answer, rendered once per company, data version, parameters and format
    (JSON, or CSV when asked) and then served from the cache as it is."""
    as_csv = params.wants_csv(request.args)

    def render() -> tuple[bytes, str]:
        body = build()
        if as_csv:
            what, columns, rows = table(body)
            return exports.csv_text(header_lines(body, what), columns, rows).encode(), "text/csv"
        return current_app.json.dumps(body).encode(), "application/json"

    content, mimetype = cached(owner, name, {**key, "csv": as_csv}, render)
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if as_csv else {}
    return Response(content, mimetype=mimetype, headers=headers)


@bp.get("/analytics/metrics")
def analytics_metrics() -> Response:
    session, owner = db_session(), company()
    start, end = params.date_range(request.args, owner)
    platform_ids = params.platform_filter(request.args, session, owner.id)
    compare = params.choice(request.args, "compare", tuple(periods.COMPARISONS), periods.DEFAULT_COMPARISON)
    params.wants_csv(request.args)
    return answer(
        owner,
        "metrics",
        {"start": start, "end": end, "platforms": platform_ids, "compare": compare, **comparison_cut(owner, end)},
        lambda: build_metrics(session, owner, start, end, platform_ids, compare),
        lambda body: (
            "metrics",
            ("metric", "value", "previous", "change", "change_pct"),
            [(k, v["value"], v["previous"], v["change"], v["change_pct"]) for k, v in body["metrics"].items()],
        ),
        f"channelpulse-metrics-{start}-{end}.csv",
    )


def trend_rows(rows: list[queries.TrendRow]) -> list[dict]:
    return [
        {
            "period_start": r.period_start.isoformat(),
            "period_end": r.period_end.isoformat(),
            "partial": r.partial,
            "platform_id": r.platform_id,
            "platform": r.platform,
            "gross_sales": metrics.money(r.gross_sales),
            "discounts": metrics.money(r.discounts),
            "returns": metrics.money(r.returns),
            "net_sales": metrics.money(r.net_sales),
            "total_sales": metrics.money(r.total_sales),
            "orders": r.orders,
            "units": r.units,
        }
        for r in rows
    ]


TREND_COLUMNS = (
    "period_start",
    "period_end",
    "partial",
    "platform_id",
    "platform",
    "gross_sales",
    "discounts",
    "returns",
    "net_sales",
    "total_sales",
    "orders",
    "units",
)


@bp.get("/analytics/sales-trend")
def sales_trend() -> Response:
    session, owner = db_session(), company()
    start, end = params.date_range(request.args, owner)
    platform_ids = params.platform_filter(request.args, session, owner.id)
    granularity = params.choice(request.args, "granularity", queries.GRANULARITIES, "day")
    params.wants_csv(request.args)

    def build() -> dict:
        rows = queries.trend(session, owner, start, end, platform_ids, granularity)
        return {
            "period": period(start, end, owner),
            "granularity": granularity,
            "currency": owner.currency,
            "series": trend_rows(rows),
        }

    return answer(
        owner,
        "sales-trend",
        {"start": start, "end": end, "platforms": platform_ids, "g": granularity},
        build,
        lambda body: (
            f"sales by {granularity} and channel",
            TREND_COLUMNS,
            ([row[c] for c in TREND_COLUMNS] for row in body["series"]),
        ),
        f"channelpulse-sales-trend-{granularity}-{start}-{end}.csv",
    )


COMPARISON_METRICS = (
    "gross_sales",
    "discounts",
    "returns",
    "net_sales",
    "taxes",
    "shipping",
    "total_sales",
    "orders",
    "units",
    "aov",
)


def build_comparison(session: Session, owner: Company, start: date, end: date) -> dict:
    by_platform = queries.totals_by_platform(session, owner, start, end)
    company_net = sum((t.net_sales for t in by_platform.values()), Decimal(0))
    platforms = []
    for p in queries.platforms(session, owner.id):
        t = by_platform.get(p.id) or queries.totals(session, owner, start, end, [p.id])
        share = round(float(t.net_sales / company_net * 100), 2) if company_net else None
        platforms.append(
            {
                "platform_id": p.id,
                "platform": p.display_name,
                "kind": p.kind,
                "store_currency": p.currency,
                **{k: metrics.number(k, t.value(k)) for k in COMPARISON_METRICS},
                "share_of_net_sales": share,
            }
        )
    return {"period": period(start, end, owner), "currency": owner.currency, "platforms": platforms}


@bp.get("/analytics/platform-comparison")
def platform_comparison() -> Response:
    session, owner = db_session(), company()
    start, end = params.date_range(request.args, owner)
    params.wants_csv(request.args)
    columns = ("platform_id", "platform", "kind", "store_currency", *COMPARISON_METRICS, "share_of_net_sales")
    return answer(
        owner,
        "platform-comparison",
        {"start": start, "end": end},
        lambda: build_comparison(session, owner, start, end),
        lambda body: ("channel comparison", columns, ([row[c] for c in columns] for row in body["platforms"])),
        f"channelpulse-platforms-{start}-{end}.csv",
    )


def build_top_products(
    session: Session, owner: Company, start: date, end: date, platform_ids: list[int] | None, limit: int, sort: str
) -> dict:
    rows = queries.top_products(session, owner, start, end, platform_ids, limit, sort)
    return {
        "period": period(start, end, owner),
        "sort": sort,
        "products": [
            {
                "rank": rank,
                "sku": r.sku,
                "title": r.title,
                "gross_sales": metrics.money(r.gross_sales),
                "discounts": metrics.money(r.discounts),
                "returns": metrics.money(r.returns),
                "net_sales": metrics.money(r.net_sales),
                "units": r.units,
                "units_returned": r.units_returned,
                "platforms": list(r.platforms),
            }
            for rank, r in enumerate(rows, start=1)
        ],
    }


PRODUCT_COLUMNS = (
    "rank",
    "sku",
    "title",
    "gross_sales",
    "discounts",
    "returns",
    "net_sales",
    "units",
    "units_returned",
    "platforms",
)


@bp.get("/analytics/top-products")
def top_products() -> Response:
    session, owner = db_session(), company()
    start, end = params.date_range(request.args, owner)
    platform_ids = params.platform_filter(request.args, session, owner.id)
    limit = params.integer(request.args, "limit", 10, 1, 500)
    sort = params.choice(request.args, "sort", queries.PRODUCT_SORTS, "net_sales")
    params.wants_csv(request.args)
    return answer(
        owner,
        "top-products",
        {"start": start, "end": end, "platforms": platform_ids, "limit": limit, "sort": sort},
        lambda: build_top_products(session, owner, start, end, platform_ids, limit, sort),
        lambda body: (
            f"top products by {sort}",
            PRODUCT_COLUMNS,
            ([*(row[c] for c in PRODUCT_COLUMNS[:-1]), "; ".join(row["platforms"])] for row in body["products"]),
        ),
        f"channelpulse-top-products-{start}-{end}.csv",
    )


@bp.get("/analytics/dashboard-summary")
def dashboard_summary() -> Response:
    """Everything the overview shows, in one call (by default the last 30 days)."""
    session, owner = db_session(), company()
    start, end = params.date_range(request.args, owner)

    def build() -> dict:
        return {
            **build_metrics(session, owner, start, end, None),
            "trend": trend_rows(queries.trend(session, owner, start, end)),
            "platforms": build_comparison(session, owner, start, end)["platforms"],
            "top_products": build_top_products(session, owner, start, end, None, 10, "net_sales")["products"],
        }

    # The rollup part is cached as rendered JSON; sync status changes on its own clock, so it is
    # read fresh and spliced into the cached object's closing brace.
    cached_json, _ = cached(
        owner,
        "dashboard-summary",
        {"start": start, "end": end, **comparison_cut(owner, end)},
        lambda: (current_app.json.dumps(build()).encode(), "application/json"),
    )
    live = current_app.json.dumps(
        {"sync": sync_status_json(queries.sync_status(session, owner.id)), "data_version": owner.data_version}
    ).encode()
    return Response(cached_json[:-1] + b"," + live[1:], mimetype="application/json")
