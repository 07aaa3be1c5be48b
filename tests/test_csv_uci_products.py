"""Findings 10 and 11 on the real UCI Online Retail export: every product's sales and returns add
up to the day's, postage is shipping and fee codes are no products.

Expected numbers come from pandas over the raw rows (tests/test_csv_import.py's helpers, which
share no code with the parser or the rollups), rounded half-up to the cent per product and day.
"""

from __future__ import annotations

import gzip
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from connectors.csv_files import CLI_LIMITS
from db.engine import transaction
from db.models import AnalyticsProductDaily, Platform
from jobs.csv_import import import_csv
from tests.conftest import require
from tests.test_csv_import import (
    UCI,
    UCI_FILE,
    assert_daily_equal,
    expected_daily,
    read_uci,
    set_company,
    stored_daily,
    with_values,
)

TIMEZONE = "Europe/London"
CENT = Decimal("0.01")
PRODUCT_SUMS = ("gross_sales", "returns", "units", "units_returned")
# Codes whose first day goes into the subset: postage, fees and manual entries (finding 11),
# samples, a real product priced at 0.001 (PADS) and a gift voucher.
POSTAGE = {"POST", "DOT", "C2"}  # finding 11, as docs/csv_import.md lists them
NOT_GOODS = {"AMAZONFEE", "BANK CHARGES", "CRUK", "D", "M", "m", "S", "B"}
SPECIAL_CODES = ("POST", "DOT", "C2", "M", "AMAZONFEE", "BANK CHARGES", "CRUK", "D", "S", "PADS", "gift_0001_20")


@pytest.fixture
def uci_platform(sessions, company) -> int:
    """A GBP CSV channel of the conftest company, which the test moves to London and GBP."""
    set_company(sessions, company, timezone=TIMEZONE, currency="GBP")
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="csv", display_name="UCI", currency="GBP")
        session.add(platform)
    return platform.id


@pytest.fixture(scope="module")
def uci_subset(tmp_path_factory) -> Path:
    """Whole days of the real export, rows unchanged: the first day of each special code, the
    first day with a stock write-off (a negative row outside a "C" invoice) and the day of the
    skipped "A" invoices. Whole days keep every invoice and cancellation of those days entire."""
    if not UCI_FILE.exists():
        require("REQUIRE_DATASETS", f"{UCI_FILE} not found (the shared datasets)")
    raw = pd.read_csv(UCI_FILE, dtype=str, keep_default_na=False)
    day = raw["InvoiceDate"].str[:10]
    days = {day[raw["StockCode"] == code].min() for code in SPECIAL_CODES}
    write_off = (raw["Quantity"].astype(float) < 0) & ~raw["InvoiceNo"].str.startswith("C")
    days |= {day[write_off].min(), day[raw["InvoiceNo"].str.startswith("A")].min()}
    path = tmp_path_factory.mktemp("uci") / "uci_subset.csv.gz"
    path.write_bytes(gzip.compress(raw[day.isin(days)].to_csv(index=False).encode()))
    return path


def expected_products(rows: pd.DataFrame) -> dict[tuple, tuple]:
    """(day, sku) -> gross sales, returns, units, units returned of the goods (postage rows are
    not goods), summed per product and day and rounded to the cent."""
    rows = with_values(rows, TIMEZONE, UCI.shipping_skus)
    orders_day = rows[rows["quantity"] > 0].groupby("order_id")["day"].min()
    goods = rows[~rows["sku"].isin(UCI.shipping_skus)].copy()
    goods["day"] = goods["order_id"].map(orders_day).where(goods["quantity"] > 0, goods["day"])
    goods["gross_sales"] = goods["value"].where(goods["quantity"] > 0, Decimal(0))
    goods["returns"] = (goods["value"] - goods["discount"]).where(goods["quantity"] < 0, Decimal(0))
    goods["units_returned"] = goods["units"].where(goods["quantity"] < 0, 0)
    goods["units"] = goods["units"].where(goods["quantity"] > 0, 0)
    sums = goods.groupby(["day", "sku"])[list(PRODUCT_SUMS)].agg(lambda s: sum(s, Decimal(0)))
    return {
        key: tuple(Decimal(v).quantize(CENT, ROUND_HALF_UP) if i < 2 else int(v) for i, v in enumerate(values))
        for key, values in zip(sums.index, sums.itertuples(index=False), strict=True)
    }


def stored_products(sessions, platform_id: int) -> dict[tuple, tuple]:
    table = AnalyticsProductDaily
    with sessions() as session:
        rows = session.execute(
            select(table.day, table.sku, *(getattr(table, c) for c in PRODUCT_SUMS)).where(
                table.platform_id == platform_id
            )
        ).all()
    return {
        (day, sku): (Decimal(gross), Decimal(returns), units, back) for day, sku, gross, returns, units, back in rows
    }


def check_uci_import(sessions, platform_id: int, path: Path) -> None:
    result = import_csv(sessions, platform_id, path, UCI, currency="GBP", limits=CLI_LIMITS)
    assert result.errors == [] and result.ignored > 0
    assert (UCI.shipping_skus, UCI.ignored_skus) == (POSTAGE, NOT_GOODS)
    rows = read_uci(path)
    daily = stored_daily(sessions, platform_id)
    postage = rows[rows["sku"].isin(POSTAGE)]  # shipping charged less shipping refunded, and nothing else
    charged = sum(int(float(q)) * Decimal(p) for q, p in zip(postage["quantity"], postage["unit_price"], strict=True))
    assert sum(daily["shipping"]) == charged > 0
    assert_daily_equal(daily, expected_daily(rows, TIMEZONE, UCI.shipping_skus))

    products = stored_products(sessions, platform_id)
    assert products == expected_products(rows)
    skus = {sku for _, sku in products}
    assert not skus & (UCI.shipping_skus | UCI.ignored_skus)
    assert "PADS" in skus

    # Every product's numbers add up to its day's: units exactly, money up to the half cent
    # each product's own rounding can move it (a few lines are priced 0.001).
    for day, totals in daily.iterrows():
        of_day = [values for (d, _), values in products.items() if d == day]
        gross, returns, units, units_returned = (sum(v[i] for v in of_day) for i in range(4))
        assert (units, units_returned) == (totals["units"], totals["units_returned"]), day
        slack = Decimal("0.005") * len(of_day)
        assert abs(gross - totals["gross_sales"]) <= slack and abs(returns - totals["returns"]) <= slack, day

    top = max(products, key=lambda key: products[key][0])
    assert top[1] not in UCI.shipping_skus


def test_uci_products_add_up_to_the_days(sessions, uci_platform, uci_subset):
    check_uci_import(sessions, uci_platform, uci_subset)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_the_whole_uci_export_products_add_up_to_the_days(sessions, uci_platform):
    """The whole file once, on the production database (the subset above runs on both)."""
    if not UCI_FILE.exists():
        require("REQUIRE_DATASETS", f"{UCI_FILE} not found (the shared datasets)")
    check_uci_import(sessions, uci_platform, UCI_FILE)
