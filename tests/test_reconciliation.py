"""Reconciliation over real HTTP, on SQLite and Postgres: after a sync, our daily totals beside
each simulator's own sales report, every difference explained; uploads of Shopify's CSV export;
and the explanation engine on orders made by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from db import fx, ingest, reconciliation, rollups
from db.engine import transaction
from db.models import AnalyticsDaily, Company, Platform, SyncState
from jobs.sync import sync_platform
from records import ZERO, LineItem, Order, Refund, ReportDay
from simulators.business import Business
from simulators.sales_report import daily_totals
from simulators.shopify import DEV_ACCESS_TOKEN, build_shopify
from simulators.store import ManualClock
from tests.sims import BOX, DEV_NETWORK, START
from tests.test_dash_inputs import callbacks, reconciliation_text

METRICS = reconciliation.METRICS
URL = "/api/v1/analytics/reconciliation"
ZONE = ZoneInfo("America/New_York")
TOKEN = {"X-Shopify-Access-Token": DEV_ACCESS_TOKEN}
SHOPIFYQL_QUERY = (
    "query Q($q: String!) { shopifyqlQuery(query: $q) { parseErrors tableData { columns { name dataType } rows } } }"
)


def history(channel) -> tuple[date, date]:
    """The simulator's days of history (company days, America/New_York)."""
    store = channel.server.simulator.store
    return store.first_day, channel.clock().astimezone(store.business.tz).date()


def get(client, platform_id: int, start: date, end: date) -> dict:
    query = {"platform": platform_id, "start_date": start.isoformat(), "end_date": end.isoformat()}
    response = client.get(URL, query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def value(metric: str, raw) -> Decimal | int:
    return raw if metric == "orders" else Decimal(raw)


def assert_adds_up(day: dict) -> None:
    """ours + every reason's effect + unexplained = the platform's figure, metric by metric. This
    holds by construction (unexplained is what is left): it checks only that the answer's
    numbers are consistent as serialised. The effects themselves are checked against amounts
    known independently (the simulator's own figures, hand-made orders)."""
    for metric in METRICS:
        effects = sum(value(metric, e["effect"].get(metric, 0)) for e in day["explained"])
        total = value(metric, day["ours"][metric]) + effects + value(metric, day["unexplained"][metric])
        assert total == value(metric, day["platform"][metric]), (day["day"], metric)


def reasons(body: dict) -> set[str]:
    return {e["reason"] for day in body["days"] for e in day["explained"]}


def unexplained(body: dict) -> list[tuple[str, str]]:
    return [(d["day"], m) for d in body["days"] for m, v in d["unexplained"].items() if value(m, v) != 0]


def test_after_a_sync_every_difference_is_explained(sessions, client, auth, channel):
    store, clock = channel.server.simulator.store, channel.clock
    for order in store.by_created(clock() - timedelta(days=4))[-3:]:  # returned days after they were placed
        store.refund(order.order_id)
    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    start, end = history(channel)
    auth.login()
    body = get(client, channel.platform_id, start, end)

    assert body["report"]["source"] == "platform" and body["report"]["error"] is None
    assert body["report"]["sync_lag_known"] is True
    assert body["summary"]["days"] == (end - start).days + 1 == len(body["days"])
    assert unexplained(body) == [] and body["summary"]["days_unexplained"] == 0
    for day in body["days"]:
        assert_adds_up(day)
    if channel.kind == "shopify":  # the shop's days, currency and rules are the company's
        assert body["report"]["timezone"] == "America/New_York" and body["currency"] == "USD"
        assert body["summary"]["days_matching"] == len(body["days"]) and reasons(body) == set()
    else:  # CAD on UTC days against USD on New York days
        assert body["report"]["timezone"] == "UTC" and body["currency"] == "CAD"
        assert reasons(body) == {"currency", "time_zone"}
        assert body["summary"]["days_explained"] == len(body["days"])
        shift = next(e for d in body["days"] for e in d["explained"] if e["reason"] == "time_zone")
        assert "to midnight America/New_York time is on the next day there" in shift["detail"]
        assert any(e["effect"].get("orders") for d in body["days"] for e in d["explained"])  # orders change days
    # Currency from its cause: the dashboard's figures plus the currency effect are the store's own
    # figures on the company's days, as the simulator computes them from its orders, to the cent.
    truth = daily_totals(store.by_created(clock()), clock(), store.business.tz, start, end)
    for day in body["days"]:
        currency = next((e["effect"] for e in day["explained"] if e["reason"] == "currency"), {})
        in_store_currency = {m: value(m, day["ours"][m]) + value(m, currency.get(m, 0)) for m in METRICS}
        assert in_store_currency == {m: getattr(truth[date.fromisoformat(day["day"])], m) for m in METRICS}

    query = {"platform": channel.platform_id, "start_date": start, "end_date": end, "format": "csv"}
    download = client.get(URL, query_string=query)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.DictReader(line for line in download.get_data(as_text=True).splitlines() if line[:1] != "#"))
    assert len(rows) == len(METRICS) * len(body["days"]) and {r["unexplained"] for r in rows} <= {"0", "0.00"}

    with transaction(sessions) as session:  # the company books returns on the order's day instead
        session.scalar(select(Company)).refund_dating = "order"
        rollups.rollup_all(session, session.get(Platform, channel.platform_id))
    by_order_date = get(client, channel.platform_id, start, end)
    assert "refund_dating" in reasons(by_order_date) and unexplained(by_order_date) == []
    for day in by_order_date["days"]:
        assert_adds_up(day)


def test_a_refund_after_our_sync_is_sync_lag_by_its_amount_until_the_next_sync(sessions, client, auth, channel):
    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    store, clock = channel.server.simulator.store, channel.clock  # the clock stays put: nothing else changes
    report_zone = UTC if channel.kind == "bestbuy" else store.business.tz
    # The newest order of three days ago that can still be refunded (which one is depends on the date).
    now = clock()
    order = next(
        o
        for o in reversed(store.by_created(now - timedelta(days=3)))
        if o.excluded_reason(now) is None and not o.refunds_as_of(now) and not o.happened(o.cancelled_at, now)
    )
    start, end = history(channel)
    end += timedelta(days=1)
    before = daily_totals(store.by_created(now), now, report_zone, start, end)  # the platform's own truth
    store.refund(order.order_id)
    after = daily_totals(store.by_created(clock()), clock(), report_zone, start, end)
    refund_day = clock().astimezone(report_zone).date()
    refunded = {m: getattr(after[refund_day], m) - getattr(before[refund_day], m) for m in METRICS}
    assert refunded["returns"] > 0
    corrupted = refund_day - timedelta(days=1)  # a recent day the old "lag reaches it" rule swallowed
    with transaction(sessions) as session:
        company_id = session.get(Platform, channel.platform_id).company_id
        key = {"company_id": company_id, "platform_id": channel.platform_id, "day": corrupted}
        session.get(AnalyticsDaily, key).net_sales += Decimal("12.34")

    auth.login()
    lagging = get(client, channel.platform_id, start, end)
    assert unexplained(lagging) == [(corrupted.isoformat(), "net_sales")]
    (wrong,) = [d for d in lagging["days"] if d["day"] == corrupted.isoformat()]
    assert value("net_sales", wrong["unexplained"]["net_sales"]) == Decimal("-12.34")
    (day,) = [d for d in lagging["days"] if any(e["reason"] == "sync_lag" for e in d["explained"])]
    assert day["day"] == refund_day.isoformat()
    lag = next(e for e in day["explained"] if e["reason"] == "sync_lag")
    assert {m: value(m, v) for m, v in lag["effect"].items()} == {m: v for m, v in refunded.items() if v}
    assert "1 order had changed on the platform" in lag["detail"]

    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    caught_up = get(client, channel.platform_id, start, end)
    assert caught_up["report"]["fetched_at"] > lagging["report"]["fetched_at"]  # older than our sync: fetched again
    assert "sync_lag" not in reasons(caught_up)
    # The sync rolls up the days the refund touched: on New York days that can be the corrupted one.
    assert [u for u in unexplained(caught_up) if u[0] != corrupted.isoformat()] == []
    if channel.kind == "shopify":
        assert unexplained(caught_up) == [(corrupted.isoformat(), "net_sales")]
        assert caught_up["summary"]["days_matching"] == caught_up["summary"]["days"] - 1


EXPORT_COLUMNS = (
    "Day",
    "Orders",
    "Gross sales",
    "Discounts",
    "Returns",
    "Net sales",
    "Shipping charges",
    "Duties",
    "Additional fees",
    "Taxes",
    "Total sales",
    "Day (previous_period)",
)


def shopify_export(rows: list[list]) -> bytes:
    """A "Sales over time" export as Shopify writes it: discounts and returns negative, and
    columns reconciliation does not read (duties, fees, the previous period)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize("channel", ["shopify"], indirect=True)
def test_an_uploaded_shopify_export_is_reconciled(sessions, client, auth, channel):
    assert sync_platform(sessions, channel.platform_id, BOX, network=DEV_NETWORK).status == "succeeded"
    store, start, end = channel.server.simulator.store, *history(channel)
    totals = daily_totals(store.by_created(channel.clock()), channel.clock(), store.business.tz, start, end)
    rows = [
        (day, t.orders, t.gross_sales, -t.discounts, -t.returns, t.net_sales, t.shipping, 0, 0, t.taxes, t.total_sales)
        for day, t in totals.items()
    ]
    auth.login()
    upload = f"/api/v1/platforms/{channel.platform_id}/sales-report"
    response = client.post(upload, data={"file": (io.BytesIO(shopify_export(rows)), "sales_over_time.csv")})
    assert response.status_code == 201, response.json
    assert response.json["days"] == len(rows) and response.json["timezone"] == "America/New_York"

    body = get(client, channel.platform_id, start, end)
    assert body["report"]["source"] == "upload" and body["report"]["sync_lag_known"] is False
    assert body["summary"]["days_matching"] == body["summary"]["days"] == len(rows)

    broken = [
        ["2026-13-01", 1, "10.00", "0.00", "0.00", "10.00", "0", "0", "0", "0", "10.00", ""],
        [start, "two", "10.00", "0.00", "0.00", "10.00", "0", "0", "0", "0", "10.00", ""],
        [start, 1, "10.00", "2.00", "0.00", "8.00", "0", "0", "0", "0", "8.00", ""],  # discounts not negative
    ]
    refused = client.post(upload, data={"file": (io.BytesIO(shopify_export(broken)), "bad.csv")})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "invalid_file"
    assert [(r["line"], r["column"]) for r in refused.json["error"]["rows"]] == [
        (2, "Day"),
        (3, "Orders"),
        (4, "Net sales"),
    ]
    headless = client.post(upload, data={"file": (io.BytesIO(b"Day,Orders\n2026-01-01,3\n"), "x.csv")})
    assert headless.status_code == 400 and {r["line"] for r in headless.json["error"]["rows"]} == {1}
    assert get(client, channel.platform_id, start, end)["report"]["source"] == "upload"  # nothing half stored


def test_bad_requests_answer_json(sessions, client, auth, company):
    with transaction(sessions) as session:
        ours = Platform(company_id=company.id, kind="bestbuy", display_name="Best Buy", currency="CAD")
        other = Company(name="Other Co", timezone="UTC", currency="EUR")
        session.add_all([ours, other])
        session.flush()
        theirs = Platform(company_id=other.id, kind="shopify", display_name="Theirs", currency="EUR")
        session.add(theirs)
        session.flush()
        ours_id, theirs_id = ours.id, theirs.id

    auth.login()
    missing = client.get(URL)
    assert missing.status_code == 400 and missing.json["error"]["field"] == "platform"
    assert client.get(URL, query_string={"platform": theirs_id}).status_code == 404
    assert client.get(URL, query_string={"platform": ours_id, "end_date": "soon"}).json["error"]["field"] == "end_date"
    nothing_yet = client.get(URL, query_string={"platform": ours_id})  # no credentials: no report to fetch
    assert nothing_yet.status_code == 200 and nothing_yet.json["days"] == [] and nothing_yet.json["report"]["error"]
    wrong_kind = client.post(f"/api/v1/platforms/{ours_id}/sales-report", data={})
    assert wrong_kind.status_code == 400 and wrong_kind.is_json
    assert client.post(f"/api/v1/platforms/{theirs_id}/sales-report", data={}).status_code == 404

    auth.logout()
    auth.login("viewer@example.com")
    forbidden = client.post(f"/api/v1/platforms/{ours_id}/sales-report", data={})
    assert forbidden.status_code == 403 and forbidden.json["error"]["code"] == "forbidden"


def test_the_shopify_simulator_answers_shopifyql_as_shopify_does():
    clock = ManualClock(START)
    server = build_shopify(Business(scale=0.3), history_days=4, clock=clock).start()
    try:
        store, day = server.simulator.store, START.astimezone(ZONE).date()

        def ask(shopifyql: str) -> dict:
            body = {"query": SHOPIFYQL_QUERY, "variables": {"q": shopifyql}}
            answer = requests.post(f"{server.url}/admin/api/2025-10/graphql.json", json=body, headers=TOKEN, timeout=10)
            return answer.json()["data"]["shopifyqlQuery"]

        since = day - timedelta(days=2)
        table = ask(f"FROM sales SHOW orders, discounts, shipping_charges GROUP BY day SINCE {since} UNTIL {day}")
        assert table["parseErrors"] == []
        columns = [(c["name"], c["dataType"]) for c in table["tableData"]["columns"]]
        assert columns == [
            ("day", "DAY_TIMESTAMP"),
            ("orders", "INTEGER"),
            ("discounts", "MONEY"),
            ("shipping_charges", "MONEY"),
        ]
        rows = table["tableData"]["rows"]
        assert [r["day"] for r in rows] == [(since + timedelta(days=n)).isoformat() for n in range(3)]
        counted = [r for r in store.records(clock()) if r.excluded_reason is None]  # test orders left out
        assert sum(r["orders"] for r in rows) == sum(since <= r.processed_at.astimezone(ZONE).date() for r in counted)
        assert all(Decimal(r["discounts"]) <= 0 for r in rows)  # negative, as Shopify shows them

        refused = ask(f"FROM sales SHOW shipping GROUP BY day SINCE {day} UNTIL {since}")
        assert refused["tableData"] is None and len(refused["parseErrors"]) == 2
    finally:
        server.stop()


def test_voided_orders_the_report_counts_are_inclusion(sessions, company):
    """Shopify's report counts a voided order (a sale, then a return when it is cancelled); we
    leave it out. The engine puts that down to inclusion, and to nothing else."""
    day, placed = date(2026, 3, 10), datetime(2026, 3, 10, 15, tzinfo=UTC)
    cancelled = placed + timedelta(days=1)

    def order(n: int, voided: bool) -> Order:
        line = LineItem(f"line-{n}", "SKU-1", "Speaker", 2, Decimal("50.00"), Decimal("10.00"), Decimal("7.20"))
        cancellation = Refund(f"refund-{n}", cancelled, "cancellation", Decimal("90.00"), tax=Decimal("7.20"))
        return Order(
            external_id=f"order-{n}",
            name=f"#{n}",
            currency="USD",
            created_at=placed,
            processed_at=placed,
            updated_at=cancelled,
            status="VOIDED" if voided else "PAID",
            shipping=ZERO,
            tax=Decimal("7.20"),
            line_items=(line,),
            refunds=(cancellation,) if voided else (),
            cancelled_at=cancelled if voided else None,
            excluded_reason="voided" if voided else None,
        )

    def report_day(on: date, orders: int, gross: str, discounts: str, returns: str, taxes: str) -> ReportDay:
        money = {"gross_sales": Decimal(gross), "discounts": Decimal(discounts), "returns": Decimal(returns)}
        net = money["gross_sales"] - money["discounts"] - money["returns"]
        total = net + Decimal(taxes)
        return ReportDay(
            on, "America/New_York", "USD", orders, **money, net_sales=net, taxes=Decimal(taxes), total_sales=total
        )

    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="shopify", display_name="Shop", currency="USD")
        session.add(platform)
        session.flush()
        touched = ingest.upsert_orders(session, platform, [order(1, False), order(2, True)], ZoneInfo(company.timezone))
        rollups.rollup_daily(session, platform, touched)
        session.add(SyncState(platform_id=platform.id, stream="orders", cursor=cancelled))
        report = [
            report_day(day, 2, "200.00", "20.00", "0.00", "14.40"),
            report_day(day + timedelta(days=1), 0, "0.00", "0.00", "90.00", "-7.20"),
        ]
        reconciliation.store_report(session, platform.id, report, source="upload")
        platform_id = platform.id

    with sessions() as session:
        result = reconciliation.reconcile(session, session.get(Platform, platform_id), day, day + timedelta(days=1))
    assert [[e.reason for e in d.explained] for d in result.days] == [["inclusion"], ["inclusion"]]
    sale, cancel = (d.explained[0] for d in result.days)
    money = {k: Decimal(v) for k, v in (("gross_sales", "100"), ("discounts", "10"), ("net_sales", "90"))}
    assert sale.effect == {"orders": 1, **money, "taxes": Decimal("7.20"), "total_sales": Decimal("97.20")}
    assert cancel.effect == {
        "returns": Decimal("90"),
        "net_sales": Decimal("-90"),
        "taxes": Decimal("-7.20"),
        "total_sales": Decimal("-97.20"),
    }
    assert sale.detail == "the report counts what we leave out: 1 voided order"
    assert cancel.detail == "the report counts what we leave out: 1 return of voided orders"
    assert all(d.fully_explained for d in result.days) and result.summary["days_explained"] == 2


# --- a CAD store reported on the company's days, built by hand: each reason from its cause ---

MARCH_10, MARCH_11 = date(2026, 3, 10), date(2026, 3, 11)
RATES = {MARCH_10: Decimal("0.7300"), MARCH_11: Decimal("0.7400")}  # CAD -> USD
CLEAN_CURRENCY = {  # 100.00 - 10.00 + 5.00 shipping + 7.20 tax CAD, at 0.73: 73.00 - 7.30 + 3.65 + 5.26 USD
    "gross_sales": Decimal("27.00"),
    "discounts": Decimal("2.70"),
    "net_sales": Decimal("24.30"),
    "shipping": Decimal("1.35"),
    "taxes": Decimal("1.94"),
    "total_sales": Decimal("27.59"),
}


def cad_order(
    n: int,
    day: date,
    quantity: int,
    price: str,
    discount: str = "0",
    shipping: str = "0",
    tax: str = "0",
    refunds: tuple[Refund, ...] = (),
    updated: datetime | None = None,
) -> Order:
    placed = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=15)  # 11:00 in New York
    line = LineItem(f"line-{n}", "SKU-1", "Speaker", quantity, Decimal(price), Decimal(discount), Decimal(tax))
    return Order(
        external_id=f"order-{n}",
        name=f"#{n}",
        currency="CAD",
        created_at=placed,
        processed_at=placed,
        updated_at=updated or placed,
        status="PAID",
        shipping=Decimal(shipping),
        tax=Decimal(tax),
        line_items=(line,),
        refunds=refunds,
    )


FIRST = cad_order(1, MARCH_10, 1, "100.00", discount="10.00", shipping="5.00", tax="7.20")
SECOND = cad_order(2, MARCH_11, 2, "25.00")


def cad_report(
    day: date, orders: int, gross: str, discounts: str = "0", returns: str = "0", shipping: str = "0", taxes: str = "0"
) -> ReportDay:
    """A report day in CAD on New York days (the company's): only currency and what we inject differ."""
    money = {k: Decimal(v) for k, v in (("gross_sales", gross), ("discounts", discounts), ("returns", returns))}
    net = money["gross_sales"] - money["discounts"] - money["returns"]
    extra = {"shipping": Decimal(shipping), "taxes": Decimal(taxes)}
    return ReportDay(
        day,
        "America/New_York",
        "CAD",
        orders,
        **money,
        net_sales=net,
        **extra,
        total_sales=net + extra["shipping"] + extra["taxes"],
    )


CLEAN_REPORT = [
    cad_report(MARCH_10, 1, "100.00", "10.00", shipping="5.00", taxes="7.20"),
    cad_report(MARCH_11, 1, "50.00"),
]


def cad_store(sessions, company, rates=RATES, report=CLEAN_REPORT, pending=()) -> int:
    """A synced CAD platform with FIRST and SECOND rolled up, and a report fetched with the
    `pending` orders changed on the platform since the sync (None: not known, as for an upload)."""
    with transaction(sessions) as session:
        name = "CAD store" if pending is not None else "CAD store (uploaded report)"
        platform = Platform(company_id=company.id, kind="bestbuy", display_name=name, currency="CAD")
        session.add(platform)
        session.flush()
        fx.upsert_fx_rates(session, company.id, [(d, "CAD", "USD", r) for d, r in rates.items()], "test")
        touched = ingest.upsert_orders(session, platform, [FIRST, SECOND], ZONE)
        rollups.rollup_daily(session, platform, touched)
        synced = datetime(2026, 3, 12, tzinfo=UTC)
        session.add(SyncState(platform_id=platform.id, stream="orders", cursor=SECOND.updated_at))
        ingest.mark_synced(session, platform, synced)
        changes = None if pending is None else reconciliation.PendingChanges.of(session, platform, pending)
        reconciliation.store_report(session, platform.id, report, source="platform", pending=changes)
        return platform.id


def reconciled(sessions, platform_id: int) -> dict[date, reconciliation.ReconciledDay]:
    with sessions() as session:
        result = reconciliation.reconcile(session, session.get(Platform, platform_id), MARCH_10, MARCH_11)
    return {d.day: d for d in result.days}


def effects(day: reconciliation.ReconciledDay) -> dict[str, dict]:
    return {e.reason: e.effect for e in day.explained}


def unexplained_amounts(day: reconciliation.ReconciledDay) -> dict:
    return {metric: v for metric, v in day.unexplained.items() if v}


def test_clean_cad_days_differ_by_currency_alone_at_each_days_rate(sessions, company):
    days = reconciled(sessions, cad_store(sessions, company))
    assert effects(days[MARCH_10]) == {"currency": CLEAN_CURRENCY}
    assert days[MARCH_10].ours["total_sales"] == Decimal("74.61")  # 102.20 CAD at 0.73
    assert effects(days[MARCH_11]) == {
        "currency": {k: Decimal("13.00") for k in ("gross_sales", "net_sales", "total_sales")}
    }
    assert all(not unexplained_amounts(d) for d in days.values())


def test_a_rollup_error_on_a_cad_day_is_unexplained_by_its_amount_not_currency(sessions, company):
    platform_id = cad_store(sessions, company)
    with transaction(sessions) as session:  # the dashboard's row of March 10 is 12.34 too high
        row = session.get(AnalyticsDaily, {"company_id": company.id, "platform_id": platform_id, "day": MARCH_10})
        row.net_sales += Decimal("12.34")
    days = reconciled(sessions, platform_id)
    assert effects(days[MARCH_10]) == {"currency": CLEAN_CURRENCY}
    assert unexplained_amounts(days[MARCH_10]) == {"net_sales": Decimal("-12.34")}
    assert not days[MARCH_10].fully_explained and not unexplained_amounts(days[MARCH_11])


def test_a_day_with_no_rate_is_currency_at_the_last_rate_before_it(sessions, company):
    days = reconciled(sessions, cad_store(sessions, company, rates={MARCH_10: RATES[MARCH_10]}))
    (currency,) = days[MARCH_11].explained
    assert currency.effect == {k: Decimal("13.50") for k in ("gross_sales", "net_sales", "total_sales")}  # 50 at 0.73
    assert "2026-03-11 at the rate of 2026-03-10" in currency.detail
    assert not unexplained_amounts(days[MARCH_11])


def test_a_rate_changed_after_the_rollup_is_unexplained_until_rolled_up_again(sessions, company):
    platform_id = cad_store(sessions, company)
    with transaction(sessions) as session:  # a corrected rate, the dashboard not recomputed
        fx.upsert_fx_rates(session, company.id, [(MARCH_11, "CAD", "USD", Decimal("0.7500"))], "test")
    stale = reconciled(sessions, platform_id)[MARCH_11]
    money = ("gross_sales", "net_sales", "total_sales")
    assert effects(stale) == {"currency": {k: Decimal("12.50") for k in money}}  # 50 CAD is 37.50 USD now
    assert unexplained_amounts(stale) == {k: Decimal("0.50") for k in money}  # shown at 0.74: 37.00

    with transaction(sessions) as session:
        rollups.rollup_daily(session, session.get(Platform, platform_id), [MARCH_11])
    fresh = reconciled(sessions, platform_id)[MARCH_11]
    assert effects(fresh) == {"currency": {k: Decimal("12.50") for k in money}} and not unexplained_amounts(fresh)


def test_orders_changed_on_the_platform_after_our_sync_are_sync_lag_by_their_amounts(sessions, company):
    later = datetime(2026, 3, 12, 1, tzinfo=UTC)
    refund = Refund("refund-2", datetime(2026, 3, 11, 20, tzinfo=UTC), "refund", Decimal("20.00"))
    changed = [
        FIRST,  # the version we hold: no change
        cad_order(2, MARCH_11, 2, "25.00", refunds=(refund,), updated=later),  # refunded since
        cad_order(3, MARCH_11, 1, "30.00", updated=later),  # placed, not synced yet
    ]
    report = [CLEAN_REPORT[0], cad_report(MARCH_11, 2, "80.00", returns="20.00")]
    known_id = cad_store(sessions, company, report=report, pending=changed)
    days = reconciled(sessions, known_id)
    lag = {"orders": 1, "gross_sales": Decimal("30.00"), "returns": Decimal("20.00")}
    lag |= {"net_sales": Decimal("10.00"), "total_sales": Decimal("10.00")}
    assert effects(days[MARCH_11])["sync_lag"] == lag
    assert "2 orders had changed on the platform" in days[MARCH_11].explained[-1].detail
    assert all(not unexplained_amounts(d) for d in days.values()) and "sync_lag" not in effects(days[MARCH_10])

    # The same report uploaded, with no changes fetched alongside: the difference is not put down to lag.
    unknown_id = cad_store(sessions, company, report=report, pending=None)
    unknown = reconciled(sessions, unknown_id)[MARCH_11]
    assert "sync_lag" not in effects(unknown) and unexplained_amounts(unknown) == lag
    with sessions() as session:
        flags = [
            reconciliation.reconcile(session, session.get(Platform, i), MARCH_10, MARCH_11).sync_lag_known
            for i in (known_id, unknown_id)
        ]
    assert flags == [True, False]


def test_the_page_says_when_sync_lag_cannot_be_told(sessions, client, auth, company):
    """The reconciliation page over /_dash-update-component: with the changes since our sync not
    known (an upload), an unexplained day comes with the note that it may be sync lag."""
    refund = Refund("refund-2", datetime(2026, 3, 11, 20, tzinfo=UTC), "refund", Decimal("20.00"))
    report = [CLEAN_REPORT[0], cad_report(MARCH_11, 1, "50.00", returns="20.00")]
    later = datetime(2026, 3, 12, 1, tzinfo=UTC)
    changed = [cad_order(2, MARCH_11, 2, "25.00", refunds=(refund,), updated=later)]
    known, unknown = (cad_store(sessions, company, report=report, pending=p) for p in (changed, None))
    auth.login()
    client.get("/")
    page = callbacks(known)["reconciliation"]
    dates = {("recon-dates", "start_date"): MARCH_10.isoformat(), ("recon-dates", "end_date"): MARCH_11.isoformat()}
    shown = {
        platform_id: reconciliation_text(client, page, {**dates, ("recon-platform", "value"): platform_id})
        for platform_id in (known, unknown)
    }
    assert "1 day with an unexplained difference" in shown[unknown] and "recon-lag-unknown" in shown[unknown]
    assert "0 days with an unexplained difference" in shown[known] and "recon-lag-unknown" not in shown[known]
    assert "Not synced yet: -20.00" in shown[known]
