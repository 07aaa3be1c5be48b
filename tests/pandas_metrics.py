"""The metric definitions of docs/metrics.md, computed independently with pandas from raw events.

The events (`Events`) are what a platform says happened: orders with their lines, refunds with
the lines they return. tests/wire_oracle.py reads them from the payloads the simulators serve
(Shopify GraphQL, Mirakl OR11); tests/sims.py from the simulated business itself, for data
seeded straight into the database. Nothing here reads a stored order column or a connector
record: gross sales, discounts, units and local days are derived here, from prices, quantities,
discount allocations and UTC timestamps. Only the company's settings and exchange rates come
from the database.

Conventions (docs/metrics.md): gross sales = price x quantity of the lines that are not gift
cards, on the local day the order was placed; discounts = the lines' discount allocations; a
refund's goods, shipping and tax on the refund's local day (or the order's, when the company
books returns by order date); orders that do not count (test, never accepted) bring neither
sales nor returns; amounts converted at the order day's rate (the last one published on or
before it), summed per (platform, day, order day) in the store currency and rounded half-up to
the cent per group.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from sqlalchemy import Engine

CENT = Decimal("0.01")
ZERO = Decimal(0)

ORDER_COLUMNS = ("platform_id", "order", "currency", "placed_at", "counted", "shipping", "taxes")
LINE_COLUMNS = ("order", "line", "sku", "quantity", "unit_price", "discount", "gift_card")
REFUND_COLUMNS = ("order", "refund", "processed_at", "shipping", "taxes")
REFUND_LINE_COLUMNS = ("order", "refund", "line", "quantity", "amount")
SALE_MONEY = ["gross_sales", "discounts", "shipping", "taxes"]
RETURN_MONEY = ["returns", "shipping", "taxes"]


@dataclass(frozen=True)
class Events:
    """Raw events, one frame each, with the columns named above. Money is Decimal in the store
    currency, times are aware. `counted`: the order is a sale (not a test, accepted); `shipping`
    and `taxes` are charged (order) or refunded (refund), shipping's tax included in taxes."""

    orders: pd.DataFrame
    lines: pd.DataFrame
    refunds: pd.DataFrame
    refund_lines: pd.DataFrame

    @classmethod
    def of(cls, orders: list, lines: list, refunds: list, refund_lines: list) -> Events:
        """Events from lists of row tuples in the column order above."""
        return cls(
            pd.DataFrame(orders, columns=list(ORDER_COLUMNS)),
            pd.DataFrame(lines, columns=list(LINE_COLUMNS)),
            pd.DataFrame(refunds, columns=list(REFUND_COLUMNS)),
            pd.DataFrame(refund_lines, columns=list(REFUND_LINE_COLUMNS)),
        )


@dataclass(frozen=True)
class CompanyView:
    """What the database says about the company: its calendar, currency, refund dating, and its
    rates to that currency (currency -> days and rates, by day)."""

    timezone: str
    currency: str
    refund_dating: str
    rates: dict[str, tuple[list, list[Decimal]]]

    @classmethod
    def read(cls, engine: Engine, company_id: int) -> CompanyView:
        with engine.connect() as conn:
            company = pd.read_sql(
                f"SELECT timezone, currency, refund_dating FROM companies WHERE id = {company_id}", conn
            ).iloc[0]
            rates = pd.read_sql(
                f"SELECT base, day, rate FROM fx_rates WHERE company_id = {company_id} "
                f"AND quote = '{company['currency']}' ORDER BY base, day",
                conn,
            )
        rates["day"] = pd.to_datetime(rates["day"]).dt.date
        table = {
            base: (list(pair["day"]), [Decimal(str(r)) for r in pair["rate"]]) for base, pair in rates.groupby("base")
        }
        return cls(company["timezone"], company["currency"], company["refund_dating"], table)

    def local_day(self, moments: pd.Series) -> pd.Series:
        return pd.to_datetime(moments, utc=True).dt.tz_convert(self.timezone).dt.date

    def rate(self, base: str, day) -> Decimal:
        """The last rate published on or before `day`."""
        if base == self.currency:
            return Decimal(1)
        days, rates = self.rates.get(base, ([], []))
        i = bisect_right(days, day)
        if not i:
            raise LookupError(f"no {base}->{self.currency} rate on or before {day}")
        return rates[i - 1]


def _sum(series: pd.Series) -> Decimal:
    return sum(series, ZERO)


def _convert(
    frame: pd.DataFrame, company: CompanyView, columns: list[str], extra_keys: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Sum per (platform, day, order_day, currency, *extra_keys), convert at the order day's rate, round."""
    keys = ["platform_id", "day", "order_day", "currency", *extra_keys]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *columns])
    grouped = frame.groupby(keys)[columns].agg(_sum).reset_index()
    rates = [company.rate(cur, day) for cur, day in zip(grouped["currency"], grouped["order_day"], strict=True)]
    for column in columns:
        grouped[column] = [(v * r).quantize(CENT, ROUND_HALF_UP) for v, r in zip(grouped[column], rates, strict=True)]
    return grouped


def _counted(events: Events, company: CompanyView) -> pd.DataFrame:
    """The orders that count, with their local day."""
    orders = events.orders[events.orders["counted"].astype(bool)].copy()
    orders["order_day"] = company.local_day(orders["placed_at"])
    return orders[["platform_id", "order", "currency", "order_day", "shipping", "taxes"]]


def _goods(events: Events, orders: pd.DataFrame) -> pd.DataFrame:
    """The counted orders' lines that are sales (gift cards are not), with their gross value."""
    lines = events.lines[~events.lines["gift_card"].astype(bool)]
    lines = lines.merge(orders[["platform_id", "order", "currency", "order_day"]], on="order")
    lines["gross_sales"] = [p * q for p, q in zip(lines["unit_price"], lines["quantity"], strict=True)]
    lines["day"] = lines["order_day"]
    return lines


def _returned(events: Events, orders: pd.DataFrame, company: CompanyView) -> pd.DataFrame:
    """The counted orders' refund lines of goods, with their SKU and the day they count on."""
    goods = events.lines[~events.lines["gift_card"].astype(bool)][["order", "line", "sku"]]
    back = events.refund_lines.merge(goods, on=["order", "line"])
    back = back.merge(events.refunds[["order", "refund", "processed_at"]], on=["order", "refund"])
    back = back.merge(orders[["platform_id", "order", "currency", "order_day"]], on="order")
    back["day"] = _returns_day(back, company)
    return back


def _returns_day(frame: pd.DataFrame, company: CompanyView) -> pd.Series:
    """The refund's own local day, or its order's when the company books returns by order date."""
    if company.refund_dating == "order":
        return frame["order_day"]
    return company.local_day(frame["processed_at"])


def expected_daily(engine: Engine, company_id: int, events: Events) -> pd.DataFrame:
    """One row per (platform_id, day) with every metric, in the company's currency."""
    company = CompanyView.read(engine, company_id)
    orders = _counted(events, company)
    goods = _goods(events, orders)
    per_order = goods.groupby("order").agg(
        gross_sales=("gross_sales", _sum), discounts=("discount", _sum), units=("quantity", "sum")
    )
    orders = orders.merge(per_order, left_on="order", right_index=True, how="left")
    orders[["gross_sales", "discounts"]] = orders[["gross_sales", "discounts"]].map(
        lambda v: v if isinstance(v, Decimal) else ZERO
    )
    orders["units"] = orders["units"].fillna(0).astype(int)
    orders["day"] = orders["order_day"]
    sales = _convert(orders, company, SALE_MONEY)
    counts = orders.groupby(["platform_id", "day"]).agg(orders=("order", "count"), units=("units", "sum"))

    returned = _returned(events, orders, company)
    refunds = events.refunds.merge(orders[["platform_id", "order", "currency", "order_day"]], on="order")
    refunds["day"] = _returns_day(refunds, company)
    refund_goods = returned.groupby(["order", "refund"])["amount"].agg(_sum).rename("returns")
    refunds = refunds.merge(refund_goods, left_on=["order", "refund"], right_index=True, how="left")
    refunds["returns"] = refunds["returns"].map(lambda v: v if isinstance(v, Decimal) else ZERO)
    returns = _convert(refunds, company, RETURN_MONEY)
    returns = returns.rename(columns={"shipping": "shipping_refunded", "taxes": "taxes_refunded"})
    units_returned = returned.groupby(["platform_id", "day"])["quantity"].sum().rename("units_returned")

    money = [*SALE_MONEY, "returns", "shipping_refunded", "taxes_refunded"]
    daily = pd.concat([sales, returns], ignore_index=True)
    daily[money] = daily[money].map(lambda v: v if isinstance(v, Decimal) else ZERO)
    daily = daily.groupby(["platform_id", "day"])[money].agg(_sum)
    daily = daily.join(counts).join(units_returned).reset_index()
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
        c: _sum(window[c])
        for c in ("gross_sales", "discounts", "returns", "net_sales", "taxes", "shipping", "total_sales")
    }
    totals.update({c: int(window[c].sum()) for c in ("orders", "units", "units_returned")})
    totals["aov"] = ((totals["gross_sales"] - totals["discounts"]) / totals["orders"]).quantize(CENT, ROUND_HALF_UP)
    return totals


def expected_products(engine: Engine, company_id: int, events: Events, start, end) -> dict[str, dict]:
    """Per SKU over start..end: gross sales, discounts, returns, net sales, units, units returned,
    converted per (platform, day, order day, SKU) like the product rollup."""
    company = CompanyView.read(engine, company_id)
    orders = _counted(events, company)
    goods = _goods(events, orders).rename(columns={"discount": "discounts"})
    goods["sku"] = goods["sku"].fillna("")
    returned = _returned(events, orders, company).rename(columns={"amount": "returns"})
    returned["sku"] = returned["sku"].fillna("")
    products: dict[str, dict] = {}
    for frame, fields in (
        (_convert(goods, company, ["gross_sales", "discounts"], ("sku",)), ("gross_sales", "discounts")),
        (_convert(returned, company, ["returns"], ("sku",)), ("returns",)),
        (goods.groupby(["platform_id", "day", "sku"])["quantity"].sum().rename("units").reset_index(), ("units",)),
        (
            returned.groupby(["platform_id", "day", "sku"])["quantity"].sum().rename("units_returned").reset_index(),
            ("units_returned",),
        ),
    ):
        window = frame[(frame["day"] >= start) & (frame["day"] <= end)]
        for row in window.itertuples():
            p = products.setdefault(
                row.sku,
                {"gross_sales": ZERO, "discounts": ZERO, "returns": ZERO, "units": 0, "units_returned": 0},
            )
            for field in fields:
                p[field] += getattr(row, field)
    for p in products.values():
        p["net_sales"] = p["gross_sales"] - p["discounts"] - p["returns"]
    return products
