"""The data model (SQLAlchemy 2, typed).

Money is NUMERIC with its currency beside it; timestamps are UTC (`UtcDateTime` stores naive UTC
and hands back aware datetimes, the same on SQLite and Postgres). Local days (`order_day`,
`refund_day`) are the company's calendar days, fixed at ingest so rollups can group by them.
Natural unique keys (platform + external id) make every upsert idempotent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Money = Numeric(14, 2)
Rate = Numeric(18, 8)

# Stable constraint names so Alembic migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC everywhere."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


ROLES = ("admin", "viewer")
PLATFORM_KINDS = ("shopify", "bestbuy", "csv")  # connectors.CONNECTORS (tests/test_layers.py holds them equal)
MAX_ID = 2**31 - 1  # ids are INTEGER columns
PLATFORM_STATUSES = ("active", "needs_attention", "disabled")
REFUND_DATING = ("processed", "order")
# Users' preferences (db/preferences.py): the presets pages open on, refresh seconds (0: paused), themes.
DATE_RANGES = ("today", "yesterday", "7d", "30d", "90d", "mtd", "ytd")
REFRESH_SECONDS = (0, 15, 30, 60, 300)
THEMES = ("light", "dark")


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD")  # reporting currency
    # Book returns on the day they are processed (Shopify's way) or on the order's day.
    refund_dating: Mapped[str] = mapped_column(String(16), default="processed")
    # Bumped whenever the company's rollups change; part of every cache key.
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="company")
    platforms: Mapped[list[Platform]] = relationship(back_populates="company")

    __table_args__ = (CheckConstraint("refund_dating IN ('processed', 'order')", name="refund_dating"),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(200))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set when an admin invites the user with a one-time password: every page sends them to
    # /account/password until they choose their own.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Preferences (db/preferences.py): the date range pages open on, the refresh interval, the theme.
    default_range: Mapped[str] = mapped_column(String(16), default="30d", server_default="30d")
    refresh_seconds: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    theme: Mapped[str] = mapped_column(String(8), default="light", server_default="light")

    company: Mapped[Company] = relationship(back_populates="users")

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'viewer')", name="role"),
        CheckConstraint(f"default_range IN {DATE_RANGES!r}", name="default_range"),
        CheckConstraint(f"refresh_seconds IN {REFRESH_SECONDS!r}", name="refresh_seconds"),
        CheckConstraint(f"theme IN {THEMES!r}", name="theme"),
    )


class Platform(Base):
    """A connected sales channel of one company. Secrets live only in `credentials`,
    Fernet-encrypted; `config` holds what is safe to show (shop domain, base URL, shop id)."""

    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))  # the store's own currency
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(32), default="active")
    status_message: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set by "Sync now" (web process); the scheduler picks it up and clears it.
    sync_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    company: Mapped[Company] = relationship(back_populates="platforms")

    __table_args__ = (
        UniqueConstraint("company_id", "kind", "display_name", name="uq_platforms_company_kind_name"),
        # What the rollups' foreign key names: a rollup row's company is its platform's.
        UniqueConstraint("id", "company_id", name="uq_platforms_id_company"),
        CheckConstraint("kind IN ('shopify', 'bestbuy', 'csv')", name="kind"),
        CheckConstraint("status IN ('active', 'needs_attention', 'disabled')", name="status"),
    )


class SyncState(Base):
    """Where the incremental sync of one stream of one platform has got to."""

    __tablename__ = "sync_state"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[datetime | None] = mapped_column(UtcDateTime)  # max updated_at committed
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. a running bulk job id
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(32), default="orders")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|succeeded|failed
    pages: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    expected_rows: Mapped[int | None] = mapped_column(Integer)  # when the platform says how many
    error: Mapped[str | None] = mapped_column(Text)
    # What a running sync is doing before it has orders to count (Shopify building its export).
    activity: Mapped[str | None] = mapped_column(String(200))

    # "Latest runs of a platform" for the status page and the API.
    __table_args__ = (Index("ix_sync_runs_platform_started", "platform_id", "started_at"),)


class WebhookEvent(Base):
    """Webhook deliveries already processed: platforms retry and duplicate, we apply each once."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("platform_id", "delivery_id", name="uq_webhook_events_platform_delivery"),)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    sku: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500))
    product_type: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default="ACTIVE")
    price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("platform_id", "external_id", name="uq_products_platform_external"),)


class Order(Base):
    """An order as the platform last reported it, with its money pre-summed from its lines so
    rollups never have to touch line items."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    order_day: Mapped[date] = mapped_column(Date)  # company-local day of processed_at
    status: Mapped[str] = mapped_column(String(32))
    excluded_reason: Mapped[str | None] = mapped_column(String(32))  # test, voided, not_accepted
    gross_sales: Mapped[Decimal] = mapped_column(Money)
    discounts: Mapped[Decimal] = mapped_column(Money)
    shipping: Mapped[Decimal] = mapped_column(Money)
    taxes: Mapped[Decimal] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    units: Mapped[int] = mapped_column(Integer)

    line_items: Mapped[list[OrderLineItem]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    refunds: Mapped[list[Refund]] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        UniqueConstraint("platform_id", "external_id", name="uq_orders_platform_external"),
        # Rollups recompute one platform's touched days: (platform, day) finds them directly.
        Index("ix_orders_platform_day", "platform_id", "order_day"),
        # The sync's own checks ("newest updated_at we hold") and reconciliation walk by time.
        Index("ix_orders_platform_updated", "platform_id", "updated_at"),
    )


class OrderLineItem(Base):
    """One line of an order. Its key is the platform's line id within the order: no surrogate id
    (nothing refers to a line by one), so an import's half a million lines feed one index, not two."""

    __tablename__ = "order_line_items"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sku: Mapped[str | None] = mapped_column(String(128))
    product_external_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    is_gift_card: Mapped[bool] = mapped_column(Boolean, default=False)


class Refund(Base):
    """A refund or cancellation: its own row, on its own day, never folded into the order."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # refund | cancellation
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    refund_day: Mapped[date] = mapped_column(Date)  # company-local day of processed_at
    returns: Mapped[Decimal] = mapped_column(Money)
    shipping: Mapped[Decimal] = mapped_column(Money)
    taxes: Mapped[Decimal] = mapped_column(Money)
    units: Mapped[int] = mapped_column(Integer, default=0)

    lines: Mapped[list[RefundLine]] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        UniqueConstraint("platform_id", "external_id", name="uq_refunds_platform_external"),
        # Returns are booked on their own day: rollups look refunds up by (platform, day).
        Index("ix_refunds_platform_day", "platform_id", "refund_day"),
        Index("ix_refunds_order", "order_id"),
    )


class RefundLine(Base):
    """Goods returned from one line. `sku` and `title` name the product when the refund knows it
    (a CSV cancellation invoice's lines point to no stored line item); otherwise the product is
    the line item's."""

    __tablename__ = "refund_lines"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"), index=True)
    line_item_external_id: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    sku: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(500))


class FxRate(Base):
    """`rate` units of `quote` for one unit of `base` on `day` (e.g. CAD->USD 0.7312), as one
    company's reports use it: rates are per company, so one company's upload never changes
    another's numbers."""

    __tablename__ = "fx_rates"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Rate)
    source: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        UniqueConstraint("company_id", "base", "quote", "day", name="uq_fx_rates_company_pair_day"),
        CheckConstraint("rate > 0", name="positive"),
    )


def rollup_keys(*primary_key: str) -> tuple:
    """A rollup table's keys. Every dashboard query is "one company, a date range", so the
    primary key leads with the company and the period and serves those reads alone: one index to
    maintain as an import writes its hundreds of thousands of product-days. One foreign key to
    the (platform, company) pair both cascades deletions and makes the company the platform's."""
    return (
        PrimaryKeyConstraint(*primary_key),
        ForeignKeyConstraint(
            ["platform_id", "company_id"], ["platforms.id", "platforms.company_id"], ondelete="CASCADE"
        ),
    )


class AnalyticsDaily(Base):
    """One company-local day of one platform, in the company's reporting currency.
    Dashboard reads come from here (a few hundred rows a year), never from raw orders."""

    __tablename__ = "analytics_daily"

    company_id: Mapped[int] = mapped_column()
    platform_id: Mapped[int] = mapped_column()
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    gross_sales: Mapped[Decimal] = mapped_column(Money)
    discounts: Mapped[Decimal] = mapped_column(Money)
    returns: Mapped[Decimal] = mapped_column(Money)
    net_sales: Mapped[Decimal] = mapped_column(Money)
    taxes: Mapped[Decimal] = mapped_column(Money)
    shipping: Mapped[Decimal] = mapped_column(Money)
    total_sales: Mapped[Decimal] = mapped_column(Money)
    orders: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    units_returned: Mapped[int] = mapped_column(Integer, default=0)
    # Age in days of the oldest exchange rate used (0 = every order day had its own rate;
    # 1-3 = weekends and holidays, when no reference rate is published; more = stale rates).
    fx_rate_age_days: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = rollup_keys("company_id", "day", "platform_id")


class DirtyDay(Base):
    """A local day whose rollups are out of date. A sync marks the days each page touches in the
    page's own transaction and rolls them up every few seconds, not once per page; a crash leaves
    the marks behind, so the next sync still rolls those days up."""

    __tablename__ = "dirty_days"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class ProductSums:
    """The columns both product rollups share: one product (by SKU) of one platform over a period,
    in the company's reporting currency."""

    company_id: Mapped[int] = mapped_column()
    platform_id: Mapped[int] = mapped_column()
    sku: Mapped[str] = mapped_column(String(128))  # "" for lines without a SKU
    title: Mapped[str] = mapped_column(String(500))
    gross_sales: Mapped[Decimal] = mapped_column(Money)
    discounts: Mapped[Decimal] = mapped_column(Money)
    returns: Mapped[Decimal] = mapped_column(Money)
    net_sales: Mapped[Decimal] = mapped_column(Money)
    units: Mapped[int] = mapped_column(Integer)
    units_returned: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsProductDaily(ProductSums, Base):
    """One company-local day of one product (by SKU) on one platform, in the reporting currency:
    what top-products reads. Returns are booked like analytics_daily's."""

    __tablename__ = "analytics_product_daily"

    day: Mapped[date] = mapped_column(Date)

    __table_args__ = rollup_keys("company_id", "day", "platform_id", "sku")


class AnalyticsProductMonthly(ProductSums, Base):
    """analytics_product_daily summed per calendar month: a two-year top-products query reads
    24 months and at most two partial months of days instead of 730 days of every product."""

    __tablename__ = "analytics_product_monthly"

    month: Mapped[date] = mapped_column(Date)  # the month's first day

    __table_args__ = rollup_keys("company_id", "month", "platform_id", "sku")


class PlatformReportDay(Base):
    """A platform's own daily totals (its sales report), to reconcile ours against. In the
    platform's currency and on its own calendar days."""

    __tablename__ = "platform_report_days"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # "platform" (fetched from it) | "upload"
    currency: Mapped[str] = mapped_column(String(3))
    orders: Mapped[int] = mapped_column(Integer)
    gross_sales: Mapped[Decimal] = mapped_column(Money)
    discounts: Mapped[Decimal] = mapped_column(Money)
    returns: Mapped[Decimal] = mapped_column(Money)
    net_sales: Mapped[Decimal] = mapped_column(Money)
    shipping: Mapped[Decimal] = mapped_column(Money)
    taxes: Mapped[Decimal] = mapped_column(Money)
    total_sales: Mapped[Decimal] = mapped_column(Money)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiToken(Base):
    """A per-company API token. Only its SHA-256 is stored; the token is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a token in lists
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ForecastRun(Base):
    """One retrain of a company's forecasts: requested (by an admin, the nightly schedule, new
    days or drifting accuracy), then run by the worker in a child process, which counts the
    series done so the Forecasts page and the CLI can show progress."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(16))  # requested | nightly | new_days | drift
    status: Mapped[str] = mapped_column(String(16), default="requested")  # requested|running|succeeded|failed
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    series_total: Mapped[int] = mapped_column(Integer, default=0)
    series_done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_forecast_runs_company_requested", "company_id", "requested_at"),)


class ModelRun(Base):
    """One series' fit within a forecast run: a channel's (or, with no platform, all channels')
    daily metric. `params` holds the members (weights, fit seconds, why one was dropped) and the
    ARIMA order; `accuracy` the backtest MASE and sMAPE per horizon of the chosen model and of
    seasonal-naive, and the bands' backtest coverage. A series' current forecast is its latest
    succeeded run: a failed or crashed one leaves the previous predictions in place."""

    __tablename__ = "model_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    forecast_run_id: Mapped[int | None] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(32))
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    train_start: Mapped[date | None] = mapped_column(Date)
    train_end: Mapped[date | None] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer, default=30)
    fit_s: Mapped[float | None] = mapped_column(Float)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    accuracy: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_model_runs_company_metric", "company_id", "metric", "started_at"),)


class Prediction(Base):
    """One forecast day of a model run by one model (the chosen one, or a member fitted beside
    it), with its 80% and 95% bands."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    model_run_id: Mapped[int] = mapped_column(ForeignKey("model_runs.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    mean: Mapped[Decimal] = mapped_column(Money)
    lo_80: Mapped[Decimal | None] = mapped_column(Money)
    hi_80: Mapped[Decimal | None] = mapped_column(Money)
    lo_95: Mapped[Decimal | None] = mapped_column(Money)
    hi_95: Mapped[Decimal | None] = mapped_column(Money)

    __table_args__ = (UniqueConstraint("model_run_id", "model", "day", name="uq_predictions_run_model_day"),)


class LoginSession(Base):
    """One login of a user in one browser. Its random id is what the session and remember-me
    cookies carry, so revoking this row (logout, password change) logs that browser out even if
    the cookies are replayed. Only the id's SHA-256 is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()


class LoginThrottleCounter(Base):
    """A failed-login counter of the login throttle when no Redis is configured: `count` failures
    in the window that ends at `expires_at` (see db/logins.py)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
