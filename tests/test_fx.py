"""Exchange rates: the parsers on good and bad files (recorded ECB samples in tests/fixtures/fx,
illustrative values), cross rates to 8 places, and POST/GET /api/v1/fx-rates over HTTP on SQLite
and Postgres, down to the converted numbers in analytics_daily."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import records
from connectors import fx
from connectors.fx import FxError, FxParseError, RateRow
from db import accounts, ingest, rollups
from db.engine import transaction
from db.fx import FxConverter, MissingFxRate, upsert_fx_rates
from db.models import AnalyticsDaily, Company, FxRate, Platform

FIXTURES = Path(__file__).parent / "fixtures" / "fx"
ECB_XML = (FIXTURES / "eurofxref-sample.xml").read_bytes()
ECB_CSV = (FIXTURES / "eurofxref-hist-sample.csv").read_bytes()
NEW_YORK = ZoneInfo("America/New_York")
FEB29, MAR1, MAR2, MAR4 = date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 4)
# CAD->USD from the XML sample: EUR->USD / EUR->CAD, half-up to 8 places.
CAD_USD = {
    FEB29: Decimal("0.73554618"),  # 1.0814 / 1.4702 = 0.735546184…
    MAR1: Decimal("0.73723622"),  # 1.0830 / 1.4690 = 0.737236215…
    MAR4: Decimal("0.73988400"),  # 1.0843 / 1.4655 = 0.739883998…
}


def errors_of(parse, data: bytes) -> list[FxError]:
    with pytest.raises(FxParseError) as raised:
        parse(data)
    return raised.value.errors


# --- our CSV ---------------------------------------------------------------------------------


def test_csv_reads_every_row():
    data = b"\xef\xbb\xbfDay,Base,Quote,Rate\n2024-03-01,CAD,USD,0.7372\n\n 2024-03-04 , USD , CAD , 1.35160001 \n"
    assert fx.parse_csv(data) == [
        RateRow(MAR1, "CAD", "USD", Decimal("0.7372")),
        RateRow(MAR4, "USD", "CAD", Decimal("1.35160001")),
    ]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("2024-02-30,CAD,USD,0.73", FxError(2, "day", "2024-02-30", "not a date like 2024-01-31")),
        ("2024-03-01,cad,USD,0.73", FxError(2, "base", "cad", "not a 3-letter upper-case currency code")),
        ("2024-03-01,CAD,US,0.73", FxError(2, "quote", "US", "not a 3-letter upper-case currency code")),
        ("2024-03-01,CAD,USD,0", FxError(2, "rate", "0", "a rate must be greater than 0")),
        ("2024-03-01,CAD,USD,-0.73", FxError(2, "rate", "-0.73", "a rate must be greater than 0")),
        ("2024-03-01,CAD,USD,0,73", FxError(2, "line", "2024-03-01,CAD,USD,0,73", "expected 4 values, found 5")),
        ("2024-03-01,CAD,USD,NaN", FxError(2, "rate", "NaN", "not a decimal number")),
        ("2024-03-01,CAD,USD,abc", FxError(2, "rate", "abc", "not a decimal number")),
        (
            "2024-03-01,CAD,USD,0.123456789",
            FxError(2, "rate", "0.123456789", "more than 8 decimal places (rates are stored with 8)"),
        ),
        ("2024-03-01,CAD,USD,10000000000", FxError(2, "rate", "10000000000", "a rate must be below 10,000,000,000")),
        ("2024-03-01,CAD,CAD,1", FxError(2, "quote", "CAD", "the same currency as base")),
    ],
)
def test_csv_refuses_a_bad_value_precisely(line, error):
    assert errors_of(fx.parse_csv, f"day,base,quote,rate\n{line}\n".encode()) == [error]


def test_csv_reports_every_problem_and_returns_nothing():
    data = b"day,base,quote,rate\n2024-03-01,CAD,USD,0.73\nyesterday,CAD,USD,0.73\n2024-03-01,CAD,USD,0.74\n"
    assert errors_of(fx.parse_csv, data) == [
        FxError(3, "day", "yesterday", "not a date like 2024-01-31"),
        FxError(4, "day", "2024-03-01", "duplicate of line 2"),
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            b"2024-03-01,CAD,USD,0.73\n",
            FxError(1, "header", "2024-03-01,CAD,USD,0.73", "the first line must be day,base,quote,rate"),
        ),
        (b"day,base,quote,rate\n", FxError(None, "file", "", "no exchange rates found")),
        (b"", FxError(1, "header", "", "the first line must be day,base,quote,rate")),
        (
            b"day,base,quote,rate\n2024-03-01,CAD,USD,0.73\xff\n",
            FxError(2, "file", "", "not UTF-8 text (invalid start byte)"),
        ),
    ],
)
def test_csv_needs_its_header_and_some_rates(data, error):
    assert errors_of(fx.parse_csv, data) == [error]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_csv_reads_any_line_ending(ending):
    """Old Mac exports end lines with a lone CR: read like any other, line numbers included."""
    lines = [b"day,base,quote,rate", b"2024-03-01,CAD,USD,0.7372", b"2024-03-04,USD,CAD,1.3516"]
    assert fx.parse_csv(ending.join(lines) + ending) == [
        RateRow(MAR1, "CAD", "USD", Decimal("0.7372")),
        RateRow(MAR4, "USD", "CAD", Decimal("1.3516")),
    ]
    assert errors_of(fx.parse_csv, ending.join([*lines, b"2024-03-05,CAD,USD,x"])) == [
        FxError(4, "rate", "x", "not a decimal number")
    ]
    ecb = ending.join([b"Date,USD,CAD,", b"2024-03-01,1.0830,1.4690,", b"2024-03-04,1.0843,abc,"])
    assert errors_of(fx.parse_ecb_csv, ecb) == [FxError(3, "CAD", "abc", "not a decimal number")]
    assert errors_of(fx.parse_csv, ending.join([*lines, b"\xff"])) == [
        FxError(4, "file", "", "not UTF-8 text (invalid start byte)")
    ]


def test_csv_the_csv_module_cannot_read_is_an_error_naming_the_line():
    data = b"day,base,quote,rate\n2024-03-01,CAD,USD,0.73\n2024-03-02,CAD,USD," + b"9" * 200_000 + b"\n"
    (error,) = errors_of(fx.parse_csv, data)
    assert (error.line, error.field) == (3, "line") and "field larger than field limit" in error.reason


# --- ECB XML -------------------------------------------------------------------------------


def test_ecb_xml_sample_reads_every_day_and_currency():
    rows = fx.parse_ecb_xml(ECB_XML)
    assert len(rows) == 3 * 30
    assert {r.base for r in rows} == {"EUR"}
    assert sorted({r.day for r in rows}) == [FEB29, MAR1, MAR4]
    by_key = {(r.day, r.quote): r.rate for r in rows}
    assert by_key[MAR1, "USD"] == Decimal("1.0830") and by_key[MAR1, "CAD"] == Decimal("1.4690")
    assert by_key[MAR4, "IDR"] == Decimal("17060.60") and by_key[FEB29, "GBP"] == Decimal("0.85472")


def ecb_xml(days: str) -> bytes:
    """An ECB envelope around some <Cube time> elements; the first of `days` is on line 4."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
        f"<Cube>\n{days}\n</Cube>\n</gesmes:Envelope>\n"
    ).encode()


@pytest.mark.parametrize(
    ("days", "errors"),
    [
        (
            "<Cube time='2024-03-01'>\n<Cube currency='USD' rate='1,0830'/>\n"
            "<Cube currency='usd' rate='1.08'/>\n</Cube>",
            [
                FxError(5, "Cube rate", "1,0830", "not a decimal number"),
                FxError(6, "Cube currency", "usd", "not a 3-letter upper-case currency code"),
            ],
        ),
        (
            "<Cube time='2024-13-01'>\n<Cube currency='USD' rate='1.08'/>\n</Cube>",
            [FxError(4, "Cube time", "2024-13-01", "not a date like 2024-01-31")],
        ),
        (
            "<Cube time='2024-03-01'><Cube currency='USD' rate='1.08'/></Cube>\n"
            "<Cube time='2024-03-01'><Cube currency='CAD' rate='1.46'/></Cube>",
            [FxError(5, "Cube time", "2024-03-01", "duplicate of line 4")],
        ),
        (
            "<Cube time='2024-03-01'>\n<Cube currency='USD' rate='1.08'/>\n<Cube currency='USD' rate='1.09'/>\n</Cube>",
            [FxError(6, "Cube currency", "USD", "duplicate of line 5")],
        ),
        (
            "<Cube currency='USD' rate='1.08'/>",
            [FxError(4, "Cube currency", "USD", "before any <Cube time=…>")],
        ),
        (
            "<Cube time='2024-03-01'>\n<Cube currency='EUR' rate='1'/>\n<Cube currency='USD'/>\n</Cube>",
            [
                FxError(5, "Cube currency", "EUR", "the euro is the base of every ECB rate"),
                FxError(6, "Cube rate", "", "not a decimal number"),
            ],
        ),
        ("", [FxError(None, "file", "", "no exchange rates found")]),
        (
            "<Cube time='2024-03-01'>\n<Cube currency='USD' rate='1.08'>\n</Cube>",
            [FxError(8, "XML", "", "mismatched tag")],  # </gesmes:Envelope> closing <Cube>,
        ),
    ],
)
def test_ecb_xml_refuses_bad_content_precisely(days, errors):
    assert errors_of(fx.parse_ecb_xml, ecb_xml(days)) == errors


def test_ecb_xml_refuses_a_dtd():
    bomb = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">]>\n<lolz>&lol;</lolz>'
    assert errors_of(fx.parse_ecb_xml, bomb) == [FxError(2, "DOCTYPE", "lolz", "DTDs are not accepted")]


# --- ECB historic CSV ----------------------------------------------------------------------


def test_ecb_csv_sample_skips_missing_quotes_and_the_trailing_column():
    rows = fx.parse_ecb_csv(ECB_CSV)
    assert len(rows) == 3 * 30  # 41 columns, 11 of them N/A (CYP, EEK, … currencies no longer quoted)
    assert not {"CYP", "HRK", "RUB", ""} & {r.quote for r in rows}
    by_key = {(r.day, r.quote): r.rate for r in rows}
    assert by_key[date(2024, 3, 5), "CAD"] == Decimal("1.4670") and by_key[MAR1, "JPY"] == Decimal("162.50")
    xml_rows = {(r.day, r.quote): r.rate for r in fx.parse_ecb_xml(ECB_XML)}
    assert all(xml_rows[key] == rate for key, rate in by_key.items() if key in xml_rows)  # one recording


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            b"Date,USD,CAD,\n2024-03-01,1.0830,abc,\n01/03/2024,1.08,1.46,\n",
            [
                FxError(2, "CAD", "abc", "not a decimal number"),
                FxError(3, "Date", "01/03/2024", "not a date like 2024-01-31"),
            ],
        ),
        (
            b"Date,USD,CAD,\n2024-03-01,1.0830,1.4690,\n2024-03-01,1.0830,1.4690,\n",
            [FxError(3, "Date", "2024-03-01", "duplicate of line 2")],
        ),
        (
            b"Date,USD,CAD,\n2024-03-01,1.0830,\n",
            [FxError(2, "line", "2024-03-01", "expected 4 values like the header, found 3")],
        ),
        (
            b"Date,USD,usd,EUR,\n2024-03-01,1.08,1.08,1,\n",
            [
                FxError(1, "header", "usd", "not a 3-letter upper-case currency code"),
                FxError(1, "header", "EUR", "the euro is the base of every ECB rate"),
            ],
        ),
        (b"Date,USD,CAD,\n2024-03-01,N/A,N/A,\n", [FxError(None, "file", "", "no exchange rates found")]),
    ],
)
def test_ecb_csv_refuses_bad_content_precisely(data, errors):
    assert errors_of(fx.parse_ecb_csv, data) == errors


def zipped(*files: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files:
            archive.writestr(name, content)
    return buffer.getvalue()


def test_format_detection_and_zipped_files():
    assert fx.detect_format(ECB_XML) == "ecb-xml"
    assert fx.detect_format(ECB_CSV) == "ecb-csv"
    assert fx.detect_format(b"\xef\xbb\xbfday,base,quote,rate\n") == "csv"
    assert fx.unpack(zipped(("eurofxref-hist.csv", ECB_CSV))) == ECB_CSV
    assert fx.unpack(ECB_CSV) == ECB_CSV
    with pytest.raises(FxParseError, match="a zip must hold one file, it has 2"):
        fx.unpack(zipped(("a.csv", ECB_CSV), ("b.csv", ECB_CSV)))


# --- cross rates ---------------------------------------------------------------------------


def test_cross_rates_are_exact_to_8_places():
    rows = fx.parse_ecb_xml(ECB_XML)
    crosses = fx.cross_rates(rows, [("CAD", "USD")])
    assert crosses == [RateRow(day, "CAD", "USD", rate) for day, rate in sorted(CAD_USD.items())]


def test_cross_rates_round_half_up_and_skip_what_they_cannot_derive():
    legs = [
        RateRow(MAR1, "EUR", "AAA", Decimal("2")),
        RateRow(MAR1, "EUR", "BBB", Decimal("2.46913577")),  # BBB per AAA = 1.234567885: a tie
        RateRow(MAR4, "EUR", "AAA", Decimal("3")),  # no BBB that day: no AAA->BBB either
        RateRow(MAR4, "USD", "BBB", Decimal("9")),  # not euro-based: not a leg
    ]
    pairs = [("AAA", "BBB"), ("AAA", "BBB"), ("EUR", "AAA"), ("BBB", "EUR"), ("AAA", "AAA"), ("AAA", "CCC")]
    assert fx.cross_rates(legs, pairs) == [RateRow(MAR1, "AAA", "BBB", Decimal("1.23456789"))]


# --- over HTTP, into the rollups -----------------------------------------------------------


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 17, tzinfo=UTC)  # noon in New York


def cad_order(external_id: str, day: date, gross: str, refunds: tuple[records.Refund, ...] = ()) -> records.Order:
    line = records.LineItem("1", "SPK-1", "Bookshelf speaker", 1, Decimal(gross), discount=Decimal("10.00"))
    return records.Order(
        external_id=external_id,
        name=f"#{external_id}",
        currency="CAD",
        created_at=at(day),
        processed_at=at(day),
        updated_at=at(day),
        status="shipped",
        shipping=Decimal("5.00"),
        tax=Decimal("13.00"),
        line_items=(line,),
        refunds=refunds,
    )


ORDERS = [
    cad_order("1", MAR1, "100.00", (records.Refund("r1", at(MAR4), "refund", Decimal("20.00")),)),
    cad_order("2", MAR2, "200.00"),  # a Saturday: the ECB publishes no rate
    cad_order("3", MAR4, "50.00"),
]


def add_channel(sessions, company_id: int, currency: str = "CAD", rollup: bool = True) -> int:
    """A platform selling ORDERS in `currency`, rolled up while CAD->USD has one old rate: 0.70 on Feb 29."""
    with transaction(sessions) as session:
        platform = Platform(company_id=company_id, kind="bestbuy", display_name=f"BB {currency}", currency=currency)
        session.add(platform)
        session.flush()
        upsert_fx_rates(session, company_id, [(FEB29, "CAD", "USD", Decimal("0.70000000"))], "test")
        orders = [dataclasses.replace(o, currency=currency) for o in ORDERS]
        days = ingest.upsert_orders(session, platform, orders, NEW_YORK)
        if rollup:
            rollups.rollup_daily(session, platform, days)
        return platform.id


def daily(sessions, platform_id: int) -> dict[date, tuple]:
    with sessions() as session:
        rows = session.scalars(select(AnalyticsDaily).where(AnalyticsDaily.platform_id == platform_id))
        return {
            r.day: (r.gross_sales, r.discounts, r.shipping, r.taxes, r.returns, r.net_sales, r.fx_rate_age_days)
            for r in rows
        }


def money(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def upload(client, data: bytes, filename: str, **form: str):
    return client.post(
        "/api/v1/fx-rates", data={"file": (io.BytesIO(data), filename), **form}, content_type="multipart/form-data"
    )


def stored(sessions) -> tuple[int, int]:
    with sessions() as session:
        rates = session.scalar(select(func.count()).select_from(FxRate))
        return rates, session.scalar(select(func.sum(Company.data_version)))


def test_ecb_upload_converts_the_rollups_at_the_new_rates(client, auth, sessions, company):
    platform_id = add_channel(sessions, company.id)
    #                    gross     discounts shipping taxes   returns  net
    assert daily(sessions, platform_id) == {
        MAR1: (*money("70.00", "7.00", "3.50", "9.10", "0.00", "63.00"), 1),  # the Feb 29 rate, a day old
        MAR2: (*money("140.00", "7.00", "3.50", "9.10", "0.00", "133.00"), 2),
        MAR4: (*money("35.00", "7.00", "3.50", "9.10", "14.00", "14.00"), 4),
    }
    auth.login()
    response = upload(client, ECB_XML, "eurofxref-hist-90d.xml")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["rows"] == 90 + 3 and body["source"] == "ecb" and body["format"] == "ecb-xml"
    assert {"base": "CAD", "quote": "USD", "rows": 3} in body["pairs"]
    assert {"base": "EUR", "quote": "USD", "rows": 3} in body["pairs"] and len(body["pairs"]) == 31
    assert (body["first_day"], body["last_day"]) == ("2024-02-29", "2024-03-04")
    assert body["rollups_recomputed"] == 3 and body["rollups_failed"] == []

    # Each amount at its order day's CAD->USD cross rate (CAD_USD), to the cent, half up:
    # Mar 1 at 0.73723622, Saturday Mar 2 at Friday's rate (a day old), Mar 4 at 0.73988400
    # (its return of Mar 1's goods, 20.00 CAD, at Mar 1's rate: 14.74).
    assert daily(sessions, platform_id) == {
        MAR1: (*money("73.72", "7.37", "3.69", "9.58", "0.00", "66.35"), 0),
        MAR2: (*money("147.45", "7.37", "3.69", "9.58", "0.00", "140.08"), 1),
        MAR4: (*money("36.99", "7.40", "3.70", "9.62", "14.74", "14.85"), 0),
    }
    with sessions() as session:
        sources = dict(session.execute(select(FxRate.day, FxRate.source).where(FxRate.base == "CAD")).all())
    assert sources == {FEB29: "ecb", MAR1: "ecb", MAR4: "ecb"}  # the old test rate is replaced


def test_zipped_ecb_history_and_our_csv_are_uploaded_too(client, auth, sessions, company):
    platform_id = add_channel(sessions, company.id)
    auth.login()
    body = upload(client, zipped(("eurofxref-hist.csv", ECB_CSV)), "eurofxref-hist.zip").json
    assert (body["format"], body["rows"], body["first_day"], body["last_day"]) == (
        "ecb-csv",
        90 + 3,
        "2024-03-01",
        "2024-03-05",
    )
    body = upload(client, b"day,base,quote,rate\n2024-03-04,CAD,USD,0.75\n", "rates.txt", format="csv").json
    assert (body["source"], body["rows"], body["rollups_recomputed"]) == ("upload", 1, 1)  # only Mar 4 is affected
    assert daily(sessions, platform_id)[MAR4][0] == Decimal("37.50")


def test_a_bad_file_writes_nothing(client, auth, sessions, company):
    platform_id = add_channel(sessions, company.id)
    before, rollups = stored(sessions), daily(sessions, platform_id)
    auth.login()
    bad_lines = "".join(f"2024-03-{d:02d},CAD,USD,{'x' if d % 2 else '0.75'}\n" for d in range(1, 31))
    response = upload(client, f"day,base,quote,rate\n{bad_lines}2024-04-01,CAD,USD,-1\n".encode(), "rates.csv")
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_file" and error["field"] == "file" and error["error_count"] == 16
    assert error["errors"][0] == {"line": 2, "field": "rate", "value": "x", "reason": "not a decimal number"}
    assert error["errors"][-1] == {
        "line": 32,
        "field": "rate",
        "value": "-1",
        "reason": "a rate must be greater than 0",
    }
    assert stored(sessions) == before and daily(sessions, platform_id) == rollups

    many = "".join(f"2024-03-01,CAD,USD,{i}x\n" for i in range(60)).encode()
    error = upload(client, b"day,base,quote,rate\n" + many, "rates.csv").json["error"]
    assert (len(error["errors"]), error["error_count"]) == (50, 60)
    assert upload(client, ECB_XML, "x.xml", format="ecb").json["error"]["field"] == "format"
    assert client.post("/api/v1/fx-rates", data={}, content_type="multipart/form-data").json["error"]["field"] == "file"
    assert stored(sessions) == before


def test_old_mac_line_endings_upload_and_unreadable_csv_is_a_400(client, auth, sessions, company):
    platform_id = add_channel(sessions, company.id)
    auth.login()
    response = upload(client, b"day,base,quote,rate\r2024-03-01,CAD,USD,0.75\r2024-03-04,CAD,USD,0.75\r", "mac.csv")
    assert response.status_code == 200, response.json
    assert (response.json["rows"], response.json["rollups_recomputed"]) == (2, 3)
    assert daily(sessions, platform_id)[MAR4][0] == Decimal("37.50")

    before = stored(sessions)
    huge = upload(client, b"day,base,quote,rate\r2024-03-02,CAD,USD," + b"9" * 200_000 + b"\r", "huge.csv")
    assert huge.status_code == 400 and huge.json["error"]["errors"][0]["line"] == 2
    assert stored(sessions) == before


def test_viewers_cannot_upload(client, auth, sessions, company):
    add_channel(sessions, company.id)
    before = stored(sessions)
    assert upload(client, ECB_XML, "eurofxref-daily.xml").status_code == 401
    auth.login("viewer@example.com")
    response = upload(client, ECB_XML, "eurofxref-daily.xml")
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert stored(sessions) == before
    assert client.get("/api/v1/fx-rates?start_date=2024-02-29&end_date=2024-03-04").status_code == 200


def test_another_companys_rollups_are_left_alone(client, auth, sessions, company):
    with transaction(sessions) as session:
        other = Company(name="Other Co", timezone="America/New_York", currency="USD")
        session.add(other)
        session.flush()
        accounts.create_user(session, other, "other@example.com", "another long password", role="admin")
    theirs = add_channel(sessions, other.id)
    ours = add_channel(sessions, company.id)
    with sessions() as session:
        their_version = session.get(Company, other.id).data_version
    before = daily(sessions, theirs)
    auth.login()
    assert upload(client, ECB_XML, "eurofxref-sample.xml").json["rollups_recomputed"] == 3
    assert daily(sessions, ours) != before  # the same orders as theirs, converted anew
    assert daily(sessions, theirs) == before
    with sessions() as session:
        assert session.get(Company, other.id).data_version == their_version
        # Rates are per company: a later rollup of theirs still converts at their own rates.
        rollups.rollup_daily(session, session.get(Platform, theirs), [MAR1])
        assert FxConverter(session, other.id, "USD").rate("CAD", MAR1) != FxConverter(session, company.id, "USD").rate(
            "CAD", MAR1
        )
    assert daily(sessions, theirs) == before


def test_no_rate_at_all_is_an_error_not_a_mix(client, auth, sessions, company):
    gbp = add_channel(sessions, company.id, currency="GBP", rollup=False)  # orders in, no GBP rate anywhere
    with sessions() as session, pytest.raises(MissingFxRate, match="no GBP->USD exchange rate on or before"):
        rollups.rollup_daily(session, session.get(Platform, gbp), [MAR1])
    auth.login()
    # A rate from Mar 2 on: Mar 4 books a return of Mar 1's goods, which still has no rate.
    body = upload(client, b"day,base,quote,rate\n2024-03-02,GBP,USD,1.27\n", "rates.csv").json
    assert body["rows"] == 1 and body["rollups_recomputed"] == 0
    assert body["rollups_failed"] == [
        {"platform_id": gbp, "message": "no GBP->USD exchange rate on or before 2024-03-01"}
    ]
    assert daily(sessions, gbp) == {}


def test_listing_shows_rates_and_the_days_that_borrow_one(client, auth, sessions, company):
    add_channel(sessions, company.id)
    auth.login()
    upload(client, ECB_XML, "eurofxref-sample.xml")
    body = client.get("/api/v1/fx-rates?start_date=2024-02-28&end_date=2024-03-04&base=cad").json
    assert body["rates"] == [
        {"day": day.isoformat(), "base": "CAD", "quote": "USD", "rate": f"{rate:.8f}", "source": "ecb"}
        for day, rate in sorted(CAD_USD.items())
    ]
    assert body["needed_pairs"] == [
        {
            "base": "CAD",
            "quote": "USD",
            "days_without_rate": [
                {"day": "2024-02-28", "uses_rate_of": None},  # nothing earlier: not convertible
                {"day": "2024-03-02", "uses_rate_of": "2024-03-01"},
                {"day": "2024-03-03", "uses_rate_of": "2024-03-01"},
            ],
        }
    ]
    eur = client.get("/api/v1/fx-rates?start_date=2024-03-01&end_date=2024-03-01&base=EUR&quote=JPY").json
    assert eur["rates"] == [
        {"day": "2024-03-01", "base": "EUR", "quote": "JPY", "rate": "162.50000000", "source": "ecb"}
    ]
    refused = client.get("/api/v1/fx-rates?quote=dollars")
    assert refused.status_code == 400 and refused.json["error"]["field"] == "quote"
