"""The ShopifyQL the Shopify simulator answers (`shopifyqlQuery`): the daily totals of the
`sales` table, the one query reconciliation asks:

    FROM sales SHOW orders, gross_sales, discounts, returns, net_sales, shipping_charges, taxes,
      total_sales GROUP BY day SINCE 2026-01-01 UNTIL 2026-01-31 ORDER BY day

(any of those columns, in any order; `TIMESERIES day` for `GROUP BY day`; `ORDER BY day` with
ASC or DESC is optional). The answer has the Admin API's ShopifyqlQueryResponse shape:
`parseErrors` (strings) and `tableData` with `columns` (name, dataType, displayName) and
`rows`, one object per day keyed by column name, money as decimal strings. Days are the shop's
days and every day of the range is listed. As in Shopify's reports, discounts and returns are
negative amounts. Any other query is answered with a parse error, not guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from records import CENT, ZERO
from simulators.business import SimOrder
from simulators.sales_report import DayTotals, daily_totals

# ShopifyQL column -> (dataType, displayName, DayTotals attribute, sign as Shopify shows it).
COLUMNS: dict[str, tuple[str, str, str, int]] = {
    "orders": ("INTEGER", "Orders", "orders", 1),
    "gross_sales": ("MONEY", "Gross sales", "gross_sales", 1),
    "discounts": ("MONEY", "Discounts", "discounts", -1),
    "returns": ("MONEY", "Returns", "returns", -1),
    "net_sales": ("MONEY", "Net sales", "net_sales", 1),
    "shipping_charges": ("MONEY", "Shipping charges", "shipping", 1),
    "taxes": ("MONEY", "Taxes", "taxes", 1),
    "total_sales": ("MONEY", "Total sales", "total_sales", 1),
}
_QUERY = re.compile(
    r"""^\s*FROM\s+sales\s+SHOW\s+(?P<show>.+?)\s+(?:GROUP\s+BY|TIMESERIES)\s+day
        \s+SINCE\s+(?P<since>\S+)\s+UNTIL\s+(?P<until>\S+)
        (?:\s+ORDER\s+BY\s+day(?:\s+(?P<direction>ASC|DESC))?)?\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_SUPPORTED = (
    "The simulator answers FROM sales SHOW <columns> GROUP BY day SINCE <YYYY-MM-DD> UNTIL <YYYY-MM-DD> "
    "[ORDER BY day [ASC|DESC]]"
)


@dataclass(frozen=True)
class SalesQuery:
    columns: tuple[str, ...]
    since: date
    until: date
    descending: bool = False


def parse(text: str) -> SalesQuery:
    """The query, or ValueError whose args are the parse errors."""
    match = _QUERY.match(text)
    if match is None:
        raise ValueError(_SUPPORTED)
    columns = tuple(name.strip().lower() for name in match["show"].split(","))
    errors = [f"Column not found: {name!r} is not in the sales table." for name in columns if name not in COLUMNS]
    bounds = []
    for keyword in ("since", "until"):
        try:
            bounds.append(date.fromisoformat(match[keyword]))
        except ValueError:
            errors.append(f"{keyword.upper()} takes a date like 2026-01-31, not {match[keyword]!r}.")
    if len(bounds) == 2 and bounds[1] < bounds[0]:
        errors.append("UNTIL is before SINCE.")
    if errors:
        raise ValueError(*errors)
    return SalesQuery(columns, *bounds, descending=(match["direction"] or "").upper() == "DESC")


def run(text: str, orders: Iterable[SimOrder], as_of: datetime, tz: ZoneInfo) -> dict:
    """A ShopifyqlQueryResponse for the query over the shop's orders as of `as_of`."""
    try:
        query = parse(text)
    except ValueError as exc:
        return {"parseErrors": list(exc.args), "tableData": None}
    days = sorted(daily_totals(orders, as_of, tz, query.since, query.until).items(), reverse=query.descending)
    columns = [{"name": "day", "dataType": "DAY_TIMESTAMP", "displayName": "Day", "subType": None}]
    columns += [
        {"name": name, "dataType": COLUMNS[name][0], "displayName": COLUMNS[name][1], "subType": None}
        for name in query.columns
    ]
    rows = [{"day": day.isoformat(), **{name: _value(totals, name) for name in query.columns}} for day, totals in days]
    return {"parseErrors": [], "tableData": {"columns": columns, "rows": rows}}


def _value(totals: DayTotals, column: str) -> int | str:
    data_type, _, attribute, sign = COLUMNS[column]
    value = getattr(totals, attribute)
    if data_type == "INTEGER":
        return value
    amount: Decimal = sign * value
    return str((amount or ZERO).quantize(CENT))
