"""A company's exchange rates: storing them, and converting amounts to its reporting currency at
an order day's rate. Rates are per company, so one company's upload never changes another's
numbers; a day without its own rate takes the last known one before it (and says how old it
is), never a silent 1:1. docs/fx.md has the rules.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import metrics
from db.bulk import chunks, dialect_insert
from db.models import Company, FxRate, Platform


class MissingFxRate(Exception):
    """No rate at all on or before a day: amounts cannot be converted and are not mixed."""


def upsert_fx_rates(
    session: Session, company_id: int, rates: Iterable[tuple[date, str, str, Decimal]], source: str
) -> int:
    """Insert or replace a company's (day, base, quote, rate) rows; returns how many were written."""
    rows = [
        {"company_id": company_id, "day": d, "base": b.upper(), "quote": q.upper(), "rate": r, "source": source}
        for d, b, q, r in rates
    ]
    for part in chunks(rows, 2000):
        stmt = dialect_insert(session, FxRate.__table__)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["company_id", "base", "quote", "day"],
                set_={"rate": stmt.excluded.rate, "source": stmt.excluded.source},
            ),
            list(part),
        )
    return len(rows)


@dataclass
class FxConverter:
    """Converts amounts to a company's reporting currency at a given day's rate from the
    company's rates, falling back to the last known rate before that day (and saying so), never
    to a silent 1:1."""

    session: Session
    company_id: int
    target: str

    def __post_init__(self) -> None:
        self._tables: dict[str, tuple[list[date], list[Decimal]]] = {}

    def rate(self, currency: str, day: date) -> tuple[Decimal, int]:
        """(rate, age in days of that rate: 0 when the day has its own rate)."""
        if currency == self.target:
            return Decimal(1), 0
        days, rates = self._table(currency)
        i = bisect.bisect_right(days, day) - 1
        if i < 0:
            raise MissingFxRate(f"no {currency}->{self.target} exchange rate on or before {day.isoformat()}")
        return rates[i], (day - days[i]).days

    def _table(self, currency: str) -> tuple[list[date], list[Decimal]]:
        if currency not in self._tables:
            direct = self.session.execute(
                select(FxRate.day, FxRate.rate).where(
                    FxRate.company_id == self.company_id, FxRate.base == currency, FxRate.quote == self.target
                )
            ).all()
            inverse = self.session.execute(
                select(FxRate.day, FxRate.rate).where(
                    FxRate.company_id == self.company_id, FxRate.base == self.target, FxRate.quote == currency
                )
            ).all()
            merged = {d: Decimal(1) / Decimal(r) for d, r in inverse}
            merged.update({d: Decimal(r) for d, r in direct})  # a published direct rate wins
            ordered = sorted(merged.items())
            self._tables[currency] = ([d for d, _ in ordered], [r for _, r in ordered])
        return self._tables[currency]


class DayConverter:
    """Converts a platform's amounts to the company's currency at their order day's rate,
    rounded to the cent, for rollups: remembers each (currency, order day) rate it used, and per
    booked day the age of the oldest one (a return is booked on its own day at its order's rate)."""

    def __init__(self, session: Session, company_id: int, target: str) -> None:
        self.fx = FxConverter(session, company_id, target)
        self.rates: dict[tuple[str, date], Decimal] = {}
        self.rate_age: dict[date, int] = defaultdict(int)

    def __call__(self, amount: Decimal | None, currency: str, order_day: date, day: date) -> Decimal:
        rate, age = self.fx.rate(currency, order_day)
        self.rates[currency, order_day] = rate
        self.rate_age[day] = max(self.rate_age[day], age)
        return metrics.cents(Decimal(amount or 0) * rate)


def needed_pairs(session: Session, company: Company) -> list[tuple[str, str]]:
    """(store currency, reporting currency) for each currency the company's platforms sell in,
    other than its reporting currency: the pairs its rollups convert with."""
    currencies = session.scalars(select(Platform.currency).where(Platform.company_id == company.id).distinct())
    return sorted((c, company.currency) for c in currencies if c != company.currency)


def days_without_rate(converter: FxConverter, currency: str, start: date, end: date) -> list[dict]:
    """The days of start..end with no rate of their own, each with the day whose rate the
    rollups use instead (None: there is no earlier rate, and those days cannot be converted)."""
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        try:
            age = converter.rate(currency, day)[1]
        except MissingFxRate:
            days.append({"day": day.isoformat(), "uses_rate_of": None})
            continue
        if age:
            days.append({"day": day.isoformat(), "uses_rate_of": (day - timedelta(days=age)).isoformat()})
    return days
