"""A few orders written by hand, so a test can state its expected numbers as literals worked out
from the metric definitions (docs/metrics.md) rather than computed by any code under test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

import records
from db import ingest, rollups
from db.models import Platform


@dataclass(frozen=True)
class Line:
    sku: str
    title: str
    quantity: int
    unit_price: str
    discount: str = "0"


NOON = time(12)


def noon(day: date, timezone: str, at: time = NOON) -> datetime:
    """Midday (or `at`) on the company's calendar: by default far from any day boundary."""
    return datetime.combine(day, at, ZoneInfo(timezone)).astimezone(UTC)


def sale(
    external_id: str,
    day: date,
    lines: Sequence[Line],
    *,
    timezone: str = "America/New_York",
    currency: str = "USD",
    tax: str = "0",
    shipping: str = "0",
    returned: tuple[date, int] | None = None,
    at: time = NOON,
    returned_at: time = NOON,
) -> records.Order:
    """An order placed at noon (or `at`) on `day`; `returned=(day, n)` refunds n units of its
    first line that day (at noon, or `returned_at`) at their discounted price (no tax or shipping
    refunded)."""
    items = tuple(
        records.LineItem(
            f"{external_id}-{n}", li.sku, li.title, li.quantity, Decimal(li.unit_price), Decimal(li.discount)
        )
        for n, li in enumerate(lines)
    )
    refunds: tuple[records.Refund, ...] = ()
    if returned:
        first = items[0]
        amount = (first.unit_price * first.quantity - first.discount) / first.quantity * returned[1]
        refund_line = records.RefundLine(first.external_id, returned[1], amount)
        refunds = (
            records.Refund(
                f"R{external_id}", noon(returned[0], timezone, returned_at), "refund", amount, lines=(refund_line,)
            ),
        )
    placed = noon(day, timezone, at)
    return records.Order(
        external_id=external_id,
        name=f"#{external_id}",
        currency=currency,
        created_at=placed,
        processed_at=placed,
        updated_at=placed,
        status="paid",
        shipping=Decimal(shipping),
        tax=Decimal(tax),
        line_items=items,
        refunds=refunds,
    )


def write(session: Session, platform: Platform, orders: Sequence[records.Order], timezone: str) -> None:
    """Through the same write path as a sync: upsert, then roll up the touched days."""
    rollups.rollup_daily(session, platform, ingest.upsert_orders(session, platform, list(orders), ZoneInfo(timezone)))
