"""When the demo business sells: daily volume by channel (trend, weekday, season, promotions
such as Black Friday), the hour of an order, and the tax and commission rates on a sale."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from simulators.catalog import BESTBUY, CATEGORY_CODES, SHOPIFY

# Trend is measured from a fixed epoch so a day's volume never depends on the range asked for.
EPOCH = date(2024, 1, 1)


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


@dataclass(frozen=True, slots=True)
class Promotion:
    name: str
    percent: Decimal
    categories: frozenset[str]  # empty = everything


def promotions_on(day: date) -> tuple[Promotion, ...]:
    """The sales running on `day` (the same for both channels)."""
    promos = []
    bf = black_friday(day.year)
    if bf - timedelta(days=3) <= day <= bf + timedelta(days=3):
        promos.append(Promotion("Black Friday", Decimal("0.20"), frozenset()))
    if day.month == 12 and 26 <= day.day <= 31:
        promos.append(Promotion("Boxing Week", Decimal("0.15"), frozenset({"Headphones", "Speakers"})))
    if day.month == 7 and 8 <= day.day <= 14:
        promos.append(Promotion("Summer Sound Sale", Decimal("0.15"), frozenset({"Headphones"})))
    if day.month == 4 and 15 <= day.day <= 21:
        promos.append(Promotion("Spring Speakers", Decimal("0.10"), frozenset({"Speakers", "Smart Home"})))
    # A two-day flash sale on one category each month, placed by a per-month seed.
    rng = random.Random(f"flash:{day.year}:{day.month}")
    start = rng.randint(3, 24)
    category = rng.choice(sorted(CATEGORY_CODES.keys() - {"Gift Cards"}))
    if start <= day.day <= start + 1:
        promos.append(Promotion(f"Flash {category}", Decimal("0.25"), frozenset({category})))
    return tuple(promos)


_WEEKLY = {
    SHOPIFY: (0.92, 0.95, 0.98, 1.0, 1.04, 1.16, 1.12),
    BESTBUY: (0.96, 0.97, 0.98, 1.0, 1.06, 1.12, 1.05),
}
_BASE_VOLUME = {SHOPIFY: 46.0, BESTBUY: 14.0}


def expected_orders(channel: str, day: date, scale: float = 1.0) -> float:
    """Mean orders per day: base x trend x weekly x yearly x holidays x promotions."""
    years = (day - EPOCH).days / 365.25
    trend = 1.0 + 0.22 * years
    weekly = _WEEKLY[channel][day.weekday()]
    # Electronics peak in December and dip in late summer.
    yearly = 1.0 + 0.13 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 350) / 365.25)
    bf = black_friday(day.year)
    holiday = 1.0
    if day == bf:
        holiday = 2.8
    elif day == bf + timedelta(days=3):  # Cyber Monday
        holiday = 2.3
    elif bf - timedelta(days=3) <= day <= bf + timedelta(days=3):
        holiday = 1.6
    elif day.month == 12 and day.day <= 21:
        holiday = 1.35
    elif day.month == 12 and day.day == 25:
        holiday = 0.35
    elif day.month == 12 and day.day == 26:
        holiday = 2.0 if channel == BESTBUY else 1.4
    elif day.month == 1 and day.day <= 20:
        holiday = 0.82
    promo = 1.0 + 0.25 * len(promotions_on(day))
    return _BASE_VOLUME[channel] * scale * max(trend, 0.3) * weekly * yearly * holiday * promo


def poisson(rng: random.Random, mean: float) -> int:
    if mean < 30:
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


# Local hour of day: evening peak and a real share of late-night orders around midnight.
HOUR_WEIGHTS = (
    2.2,
    1.2,
    0.6,
    0.3,
    0.2,
    0.3,
    0.6,
    1.2,
    2.0,
    2.8,
    3.3,
    3.6,
    3.8,
    3.7,
    3.6,
    3.6,
    3.8,
    4.2,
    4.8,
    5.4,
    5.8,
    5.4,
    4.4,
    3.4,
)
US_TAX = (
    (Decimal("0.0725"), "CA"),
    (Decimal("0.08875"), "NY"),
    (Decimal("0.0625"), "TX"),
    (Decimal("0.06"), "PA"),
    (Decimal("0"), "OR"),
    (Decimal("0.06625"), "NJ"),
    (Decimal("0.0625"), "MA"),
    (Decimal("0.06"), "FL"),
)
CA_TAX = (
    (Decimal("0.13"), "ON", "HST-ON"),
    (Decimal("0.14975"), "QC", "GST-QST"),
    (Decimal("0.12"), "BC", "GST-PST"),
    (Decimal("0.05"), "AB", "GST"),
    (Decimal("0.15"), "NS", "HST-NS"),
)
COMMISSION = {
    "Headphones": "0.10",
    "Speakers": "0.10",
    "Turntables": "0.12",
    "Amplifiers": "0.08",
    "Microphones": "0.10",
    "Cables": "0.15",
    "Accessories": "0.15",
    "Smart Home": "0.10",
}
