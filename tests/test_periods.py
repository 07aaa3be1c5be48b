"""Reporting periods: the presets a seller picks, the period a range is compared with, and a range
that includes today compared only up to the same time of day. Expected values are literals
worked out by hand from hand-written orders (tests/hand_orders.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from db import periods, queries
from db.engine import transaction
from db.models import Company, Platform
from tests.hand_orders import Line, sale, write

TODAY = date(2026, 3, 10)  # a Tuesday


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        ("today", TODAY, TODAY),
        ("yesterday", date(2026, 3, 9), date(2026, 3, 9)),
        ("7d", date(2026, 3, 4), TODAY),
        ("30d", date(2026, 2, 9), TODAY),
        ("90d", date(2025, 12, 11), TODAY),
        ("mtd", date(2026, 3, 1), TODAY),
        ("ytd", date(2026, 1, 1), TODAY),
    ],
)
def test_presets(preset, start, end):
    assert periods.preset_range(preset, TODAY) == (start, end)
    assert preset in periods.PRESETS


def test_custom_and_unknown_presets_have_no_days():
    for preset in ("custom", "14d", ""):
        with pytest.raises(KeyError):
            periods.preset_range(preset, TODAY)


@pytest.mark.parametrize(
    ("start", "end", "compare", "expected"),
    [
        (date(2026, 3, 4), TODAY, "previous_period", (date(2026, 2, 25), date(2026, 3, 3))),
        (TODAY, TODAY, "previous_period", (date(2026, 3, 9), date(2026, 3, 9))),
        (date(2026, 3, 1), TODAY, "previous_year", (date(2025, 3, 1), date(2025, 3, 10))),
        (date(2028, 2, 1), date(2028, 2, 29), "previous_year", (date(2027, 2, 1), date(2027, 2, 28))),
        (date(2028, 2, 29), date(2028, 2, 29), "previous_period", (date(2028, 2, 28), date(2028, 2, 28))),
    ],
)
def test_comparison_ranges(start, end, compare, expected):
    assert periods.comparison_range(start, end, compare) == expected


def test_an_unknown_comparison_is_refused():
    with pytest.raises(KeyError):
        periods.comparison_range(TODAY, TODAY, "last_week")


@pytest.fixture
def store(sessions, company) -> Platform:
    """Monday Mar 9: a 10.00 cable at 09:00 and a 40.00 lamp at 15:00, New York time; the cable is
    returned at 11:00 and a 30.00 kit bought on Mar 2 is returned at 16:00. Tuesday (today): a
    25.00 mug at 08:00."""
    cable, lamp = Line("SKU-C", "Cable", 1, "10.00"), Line("SKU-L", "Lamp", 1, "40.00")
    kit = Line("SKU-K", "Kit", 1, "30.00")
    monday = date(2026, 3, 9)
    with transaction(sessions) as session:
        shop = Platform(company_id=company.id, kind="shopify", display_name="Web store", currency="USD", config={})
        session.add(shop)
        session.flush()
        orders = [
            sale("C", monday, [cable], at=time(9), returned=(monday, 1), returned_at=time(11)),
            sale("L", monday, [lamp], at=time(15)),
            sale("K", date(2026, 3, 2), [kit], returned=(monday, 1), returned_at=time(16)),
            sale("M", TODAY, [Line("SKU-M", "Mug", 1, "25.00")], at=time(8)),
        ]
        write(session, shop, orders, "America/New_York")
    return shop


def at_new_york(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, ZoneInfo("America/New_York")).astimezone(UTC)


def test_a_range_that_includes_today_is_compared_up_to_the_same_time_of_day(sessions, company, store):
    """At 12:30 on Tuesday, "today" is compared with Monday until 12:30: the cable (09:00) and its
    return (11:00) count; the lamp (15:00) and the kit's return (16:00) do not yet."""
    with sessions() as session:
        owner = session.get(Company, company.id)
        now = at_new_york(TODAY, time(12, 30, 41))
        cut = queries.compared_totals(session, owner, TODAY, TODAY, "previous_period", now=now)
        assert (cut.start, cut.end, cut.until) == (
            date(2026, 3, 9),
            date(2026, 3, 9),
            at_new_york(date(2026, 3, 9), time(12, 30)),
        )
        t = cut.totals
        assert (t.orders, t.gross_sales, t.returns, t.net_sales, t.units, t.units_returned) == (1, 10, 10, 0, 1, 1)
        assert str(t.total_sales) == "0.00"

        # the same question the next day is about whole days: Monday counts in full
        whole = queries.compared_totals(
            session, owner, TODAY, TODAY, "previous_period", now=at_new_york(date(2026, 3, 11), time(9))
        )
        assert whole.until is None
        w = whole.totals
        assert (w.orders, w.gross_sales, w.returns, w.net_sales) == (2, 50, 40, 10)
        assert queries.totals(session, owner, date(2026, 3, 9), date(2026, 3, 9)) == w  # the rollup agrees

        # a range ending yesterday is not cut either
        assert (
            queries.compared_totals(
                session,
                owner,
                date(2026, 3, 10),
                date(2026, 3, 10),
                "previous_period",
                now=at_new_york(date(2026, 3, 12), time(1)),
            ).until
            is None
        )


def test_the_api_compares_with_the_same_dates_a_year_earlier(client, auth, sessions, company):
    with transaction(sessions) as session:
        shop = Platform(company_id=company.id, kind="shopify", display_name="Web store", currency="USD", config={})
        session.add(shop)
        session.flush()
        lamp = Line("SKU-L", "Lamp", 1, "40.00")
        write(
            session,
            shop,
            [sale("A", date(2025, 3, 4), [lamp]), sale("B", date(2026, 3, 4), [lamp, lamp])],
            "America/New_York",
        )
    assert auth.login().status_code == 302
    body = client.get("/api/v1/analytics/metrics?start_date=2026-03-01&end_date=2026-03-07&compare=previous_year").json
    assert body["previous_period"] == {
        "compare": "previous_year",
        "start_date": "2025-03-01",
        "end_date": "2025-03-07",
        "end_time": None,
    }
    assert body["metrics"]["gross_sales"] == {
        "value": "80.00",
        "previous": "40.00",
        "change": "40.00",
        "change_pct": 100.0,
    }
    bad = client.get("/api/v1/analytics/metrics?compare=last_week")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "compare"
