"""An independent computation of the daily metrics with pandas, straight from the raw tables.

It shares no code with db/ingest.py or db/queries.py: local days come from the UTC timestamps
and the company's time zone here, exchange rates are looked up with merge_asof, and money is
summed as Decimal. Tests compare the app's numbers with these to the cent.

Conventions it encodes (docs/metrics.md): sales on the order's local day; returns, refunded
shipping and refunded tax on the refund's local day; test and never-accepted orders excluded;
amounts converted at the order day's rate (the last one published on or before it), summed per
(platform, day, order day) in the store currency and rounded half-up to the cent per group.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from sqlalchemy import Engine

CENT = Decimal("0.01")


def _decimal(series: pd.Series) -> pd.Series:
    return series.map(lambda v: Decimal(str(v)) if v is not None else Decimal(0))


def _local_day(series: pd.Series, timezone: str) -> pd.Series:
    return pd.to_datetime(series, utc=True).dt.tz_convert(timezone).dt.date


def _convert(
    frame: pd.DataFrame, rates: pd.DataFrame, target: str, columns: list[str], extra_keys: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Sum per (platform, day, order_day, currency, *extra_keys), convert at the order day's rate, round."""
    keys = ["platform_id", "day", "order_day", "currency", *extra_keys]
    grouped = frame.groupby(keys)[columns].agg(lambda s: sum(s, Decimal(0))).reset_index()
    grouped["rate"] = [
        Decimal(1) if cur == target else _rate(rates, cur, target, day)
        for cur, day in zip(grouped["currency"], grouped["order_day"], strict=True)
    ]
    for column in columns:
        grouped[column] = [
            (v * r).quantize(CENT, ROUND_HALF_UP) for v, r in zip(grouped[column], grouped["rate"], strict=True)
        ]
    return grouped


def _rate(rates: pd.DataFrame, base: str, quote: str, day) -> Decimal:
    pair = rates[(rates["base"] == base) & (rates["quote"] == quote) & (rates["day"] <= day)]
    if pair.empty:
        raise LookupError(f"no {base}->{quote} rate on or before {day}")
    return Decimal(str(pair.sort_values("day")["rate"].iloc[-1]))


def _company(conn, company_id: int) -> pd.Series:
    return pd.read_sql(f"SELECT timezone, currency, refund_dating FROM companies WHERE id = {company_id}", conn).iloc[0]


def _returns_day(refunds: pd.DataFrame, company: pd.Series) -> pd.Series:
    """The refund's own local day, or its order's when the company books returns by order date."""
    if company["refund_dating"] == "order":
        return refunds["order_day"]
    return _local_day(refunds["processed_at"], company["timezone"])


def expected_daily(engine: Engine, company_id: int) -> pd.DataFrame:
    """One row per (platform_id, day) with every metric, in the company's currency."""
    with engine.connect() as conn:
        company = _company(conn, company_id)
        orders = pd.read_sql(
            "SELECT id, platform_id, currency, processed_at, excluded_reason, gross_sales, discounts, shipping, "
            f"taxes, units FROM orders WHERE company_id = {company_id}",
            conn,
        )
        refunds = pd.read_sql(
            "SELECT r.order_id, r.processed_at, r.returns, r.shipping, r.taxes, r.units FROM refunds r "
            f"JOIN orders o ON o.id = r.order_id WHERE o.company_id = {company_id}",
            conn,
        )
        rates = pd.read_sql(f"SELECT day, base, quote, rate FROM fx_rates WHERE company_id = {company_id}", conn)
    rates["day"] = pd.to_datetime(rates["day"]).dt.date
    tz, target = company["timezone"], company["currency"]

    orders["order_day"] = _local_day(orders["processed_at"], tz)
    returns_only = orders[orders["excluded_reason"] == "returns_only"]
    orders = orders[orders["excluded_reason"].isna()].copy()
    orders["day"] = orders["order_day"]
    for column in ("gross_sales", "discounts", "shipping", "taxes"):
        orders[column] = _decimal(orders[column])
    sales = _convert(orders, rates, target, ["gross_sales", "discounts", "shipping", "taxes"])
    sales = sales.merge(
        orders.groupby(["platform_id", "day"]).agg(orders=("id", "count"), units=("units", "sum")).reset_index(),
        on=["platform_id", "day"],
    )

    carriers = pd.concat([orders, returns_only])[["id", "platform_id", "currency", "order_day"]]
    refunds = refunds.merge(carriers, left_on="order_id", right_on="id")
    refunds["day"] = _returns_day(refunds, company)
    for column in ("returns", "shipping", "taxes"):
        refunds[column] = _decimal(refunds[column])
    returns = _convert(refunds, rates, target, ["returns", "shipping", "taxes"])
    returns = returns.rename(columns={"shipping": "shipping_refunded", "taxes": "taxes_refunded"})
    returns_units = refunds.groupby(["platform_id", "day"])["units"].sum().rename("units_returned").reset_index()

    money = ["gross_sales", "discounts", "shipping", "taxes", "returns", "shipping_refunded", "taxes_refunded"]
    daily = pd.concat([sales, returns], ignore_index=True)
    for column in money:
        daily[column] = daily[column].map(lambda v: v if isinstance(v, Decimal) else Decimal(0))
    daily = daily.groupby(["platform_id", "day"])[money].agg(lambda s: sum(s, Decimal(0))).reset_index()
    counts = sales.groupby(["platform_id", "day"])[["orders", "units"]].sum().reset_index()
    daily = daily.merge(counts, on=["platform_id", "day"], how="left").merge(
        returns_units, on=["platform_id", "day"], how="left"
    )
    daily[["orders", "units", "units_returned"]] = daily[["orders", "units", "units_returned"]].fillna(0).astype(int)
    daily["shipping"] = daily["shipping"] - daily["shipping_refunded"]
    daily["taxes"] = daily["taxes"] - daily["taxes_refunded"]
    daily["net_sales"] = daily["gross_sales"] - daily["discounts"] - daily["returns"]
    daily["total_sales"] = daily["net_sales"] + daily["taxes"] + daily["shipping"]
    return daily.drop(columns=["shipping_refunded", "taxes_refunded"]).sort_values(["day", "platform_id"])


def expected_totals(daily: pd.DataFrame, start, end) -> dict:
    """Sum the daily frame over start..end; AOV as Shopify defines it."""
    window = daily[(daily["day"] >= start) & (daily["day"] <= end)]
    totals = {
        c: sum(window[c], Decimal(0))
        for c in ("gross_sales", "discounts", "returns", "net_sales", "taxes", "shipping", "total_sales")
    }
    totals.update({c: int(window[c].sum()) for c in ("orders", "units", "units_returned")})
    totals["aov"] = ((totals["gross_sales"] - totals["discounts"]) / totals["orders"]).quantize(CENT, ROUND_HALF_UP)
    return totals


def expected_products(engine: Engine, company_id: int, start, end) -> dict[str, dict]:
    """Per SKU over start..end: gross sales, discounts, returns, net sales, units, units returned,
    converted per (platform, day, order day, SKU) like the product rollup."""
    with engine.connect() as conn:
        company = _company(conn, company_id)
        lines = pd.read_sql(
            "SELECT o.id AS order_id, o.platform_id, o.currency, o.processed_at, o.excluded_reason, li.external_id, "
            "li.sku, li.quantity, li.unit_price, li.discount, li.is_gift_card FROM order_line_items li "
            f"JOIN orders o ON o.id = li.order_id WHERE o.company_id = {company_id}",
            conn,
        )
        returned = pd.read_sql(
            "SELECT r.order_id, r.processed_at, rl.line_item_external_id, rl.quantity, rl.amount "
            "FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id JOIN orders o ON o.id = r.order_id "
            f"WHERE o.company_id = {company_id}",
            conn,
        )
        rates = pd.read_sql(f"SELECT day, base, quote, rate FROM fx_rates WHERE company_id = {company_id}", conn)
    rates["day"] = pd.to_datetime(rates["day"]).dt.date
    tz, target = company["timezone"], company["currency"]
    lines["order_day"] = _local_day(lines["processed_at"], tz)
    lines["sku"] = lines["sku"].fillna("")
    counted = lines[lines["excluded_reason"].isna()]

    sold = counted[~counted["is_gift_card"].astype(bool)].copy()
    sold["day"] = sold["order_day"]
    sold["gross_sales"] = [Decimal(str(p)) * q for p, q in zip(sold["unit_price"], sold["quantity"], strict=True)]
    sold["discounts"] = _decimal(sold["discount"])
    sales = _convert(sold, rates, target, ["gross_sales", "discounts"], ("sku",))
    sales_units = sold.groupby(["platform_id", "day", "sku"])["quantity"].sum().rename("units").reset_index()

    carriers = lines[lines["excluded_reason"].isna() | (lines["excluded_reason"] == "returns_only")]
    back = returned.merge(
        carriers.drop(columns=["processed_at", "quantity"]),
        left_on=["order_id", "line_item_external_id"],
        right_on=["order_id", "external_id"],
    )
    back["day"] = _returns_day(back, company)
    back["returns"] = _decimal(back["amount"])
    returns = _convert(back, rates, target, ["returns"], ("sku",))
    returns_units = back.groupby(["platform_id", "day", "sku"])["quantity"].sum().rename("units_returned").reset_index()

    products: dict[str, dict] = {}
    for frame, fields in (
        (sales, ("gross_sales", "discounts")),
        (returns, ("returns",)),
        (sales_units, ("units",)),
        (returns_units, ("units_returned",)),
    ):
        window = frame[(frame["day"] >= start) & (frame["day"] <= end)]
        for row in window.itertuples():
            p = products.setdefault(
                row.sku,
                {
                    "gross_sales": Decimal(0),
                    "discounts": Decimal(0),
                    "returns": Decimal(0),
                    "units": 0,
                    "units_returned": 0,
                },
            )
            for field in fields:
                p[field] += getattr(row, field)
    for p in products.values():
        p["net_sales"] = p["gross_sales"] - p["discounts"] - p["returns"]
    return products
