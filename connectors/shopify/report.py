"""Shopify's own sales report as ReportDay records, from either of the two places a seller gets
it: a ShopifyQL query (`FROM sales ... GROUP BY day`, what ShopifyConnector.fetch_daily_report
asks) or the "Sales over time" report exported as CSV from the Shopify admin (an upload). Pure:
no database, no HTTP.

Shopify shows discounts and returns as negative amounts (net sales = gross sales + discounts +
returns); a ReportDay holds them positive, as our metrics do. Duties and additional fees are
not read: our total sales has neither, so a shop that charges them shows the difference.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connectors.csv_files import CsvImportError, RowError, Source, read_text
from records import CENT, ZERO, ReportDay

SHOPIFYQL = (
    "FROM sales SHOW orders, gross_sales, discounts, returns, net_sales, shipping_charges, taxes, total_sales "
    "GROUP BY day SINCE {start} UNTIL {end} ORDER BY day"
)
# ReportDay field -> (its ShopifyQL column, its column in the "Sales over time" CSV export and
# any older name of that column).
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "orders": ("orders", ("Orders",)),
    "gross_sales": ("gross_sales", ("Gross sales",)),
    "discounts": ("discounts", ("Discounts",)),
    "returns": ("returns", ("Returns",)),
    "net_sales": ("net_sales", ("Net sales",)),
    "shipping": ("shipping_charges", ("Shipping charges", "Shipping")),
    "taxes": ("taxes", ("Taxes",)),
    "total_sales": ("total_sales", ("Total sales",)),
}
DAY_COLUMN = "Day"
NEGATIVE = ("discounts", "returns")  # shown negative by Shopify, held positive in a ReportDay


def report_day(day: date, values: Mapping[str, Decimal], timezone: str, currency: str) -> ReportDay:
    """One report row (ReportDay field -> amount as Shopify shows it) as a ReportDay."""
    amounts = {
        field: (ZERO - value if field in NEGATIVE else value).quantize(CENT, ROUND_HALF_UP)
        for field, value in values.items()
        if field != "orders"
    }
    return ReportDay(day, timezone, currency, orders=int(values["orders"]), **amounts)


def from_shopifyql(table: Mapping[str, Any], timezone: str, currency: str) -> list[ReportDay]:
    """The rows of a ShopifyqlTableData answering SHOPIFYQL (one object per day)."""
    return [
        report_day(
            date.fromisoformat(str(row["day"])[:10]),
            {field: Decimal(str(row[column])) for field, (column, _) in FIELDS.items()},
            timezone,
            currency,
        )
        for row in table["rows"]
    ]


def parse_csv(source: Source, timezone: str, currency: str) -> list[ReportDay]:
    """A "Sales over time" export grouped by day (columns Day, Orders, Gross sales, Discounts,
    Returns, Net sales, Shipping charges, Taxes, Total sales; others, such as Duties or the
    previous-period columns, are ignored), oldest day first. Every bad row is reported:
    CsvImportError lists them all."""
    reader = csv.reader(io.StringIO(read_text(source)))
    header = [name.strip() for name in next(reader, [])]
    positions = {name.casefold(): i for i, name in enumerate(header)}
    wanted = {"day": (DAY_COLUMN,)} | {field: names for field, (_, names) in FIELDS.items()}
    columns, errors = {}, []
    for field, names in wanted.items():
        found = [positions[name.casefold()] for name in names if name.casefold() in positions]
        if found:
            columns[field] = found[0]
        else:
            errors.append(RowError(1, names[0], "", "missing column"))
    if errors:
        raise CsvImportError(errors)

    days: dict[date, ReportDay] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {field: (row[i].strip() if i < len(row) else "") for field, i in columns.items()}
        problems = _row_problems(cells)
        if not problems and date.fromisoformat(cells["day"]) in days:
            problems["day"] = "this day is listed twice"
        if problems:
            errors += [RowError(line, header[columns[f]], cells[f], reason) for f, reason in problems.items()]
            continue
        values = {field: Decimal(cells[field]) for field in FIELDS}
        day = date.fromisoformat(cells["day"])
        days[day] = report_day(day, values, timezone, currency)
    if not days and not errors:
        errors.append(RowError(2, DAY_COLUMN, "", "the file lists no days"))
    if errors:
        raise CsvImportError(errors)
    return sorted(days.values(), key=lambda d: d.day)


def _row_problems(cells: Mapping[str, str]) -> dict[str, str]:
    """What is wrong with one row, by field: dates, numbers, and Shopify's net sales identity."""
    problems = {}
    try:
        date.fromisoformat(cells["day"])
    except ValueError:
        problems["day"] = "not a date like 2026-01-31"
    numbers = {}
    for field in FIELDS:
        try:
            number = Decimal(cells[field])
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            problems[field] = "not a number"
        else:
            numbers[field] = number
    if "orders" in numbers and numbers["orders"] != numbers["orders"].to_integral_value():
        problems["orders"] = "not a whole number"
    if not problems and numbers["net_sales"] != numbers["gross_sales"] + numbers["discounts"] + numbers["returns"]:
        problems["net_sales"] = (
            "is not Gross sales + Discounts + Returns (Shopify exports discounts and returns as negative amounts)"
        )
    return problems
