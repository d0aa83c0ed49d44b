"""SQLAlchemy 2.0 models of the tradebot store.

Every change here needs a migration in ``tradebot/data/migrations/versions``; a test
checks that the migrated schema and these models agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

UTC = dt.UTC

#: Constraint names are fixed so that migrations (and SQLite batch mode) can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, tz-aware UTC."""
    return dt.datetime.now(UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back tz-aware (UTC).

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text. Naive datetimes are
    refused on write: their time zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (a time zone is required)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class MarketDataset(Base):
    """One cached OHLCV series (a Parquet file) per exchange, symbol and timeframe."""

    __tablename__ = "market_datasets"
    __table_args__ = (UniqueConstraint("exchange", "symbol", "timeframe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    timeframe: Mapped[str] = mapped_column(String)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(Integer)
    gaps: Mapped[int] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StrategyRecord(Base):
    """A strategy version known to the store, with its parameter schema."""

    __tablename__ = "strategies"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    version: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)
    parameter_schema: Mapped[dict[str, Any]] = mapped_column(JSON)


class BacktestRun(Base):
    """A backtest with everything needed to reproduce it, and its metrics."""

    __tablename__ = "backtest_runs"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    strategy_name: Mapped[str] = mapped_column(String)
    strategy_version: Mapped[str] = mapped_column(String)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    exchange: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    timeframe: Mapped[str] = mapped_column(String)
    data_source: Mapped[str] = mapped_column(Text)
    data_start_ms: Mapped[int | None] = mapped_column(BigInteger)
    data_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    data_rows: Mapped[int] = mapped_column(Integer)
    data_sha256: Mapped[str | None] = mapped_column(String)
    code_version: Mapped[str] = mapped_column(String)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String)


class TradeColumns:
    """The columns of one round trip, shared by backtest and paper trades."""

    entry_ts_ms: Mapped[int] = mapped_column(BigInteger)
    exit_ts_ms: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[int] = mapped_column(SmallInteger)
    units: Mapped[float] = mapped_column(Double)
    entry_price: Mapped[float] = mapped_column(Double)
    exit_price: Mapped[float] = mapped_column(Double)
    entry_fee: Mapped[float] = mapped_column(Double)
    exit_fee: Mapped[float] = mapped_column(Double)
    pnl: Mapped[float] = mapped_column(Double)
    return_pct: Mapped[float] = mapped_column(Double)
    exit_reason: Mapped[str] = mapped_column(String)


class Trade(TradeColumns, Base):
    """One round trip of a backtest run. ``direction``: 1 long, -1 short."""

    __tablename__ = "trades"
    __table_args__ = (Index(None, "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)


class DailyPerformance(Base):
    """Close-of-day equity and the day's result of a run."""

    __tablename__ = "daily_performance"
    __table_args__ = (UniqueConstraint("run_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    equity: Mapped[float] = mapped_column(Double)
    pnl: Mapped[float] = mapped_column(Double)
    return_pct: Mapped[float] = mapped_column(Double)
    trades: Mapped[int] = mapped_column(Integer)
    target_met: Mapped[bool] = mapped_column(Boolean)


class BotConfig(Base):
    """A named bot configuration (paper/live)."""

    __tablename__ = "bot_configs"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperAccount(Base):
    """A simulated account run by ``tradebot paper``: its market, strategy and the engine
    state after the last processed candle (``state`` is the engine's float vector)."""

    __tablename__ = "paper_accounts"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    exchange: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    timeframe: Mapped[str] = mapped_column(String)
    strategy: Mapped[str] = mapped_column(String)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    initial_capital: Mapped[float] = mapped_column(Double)
    history_start_ms: Mapped[int] = mapped_column(BigInteger)
    last_bar_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state: Mapped[list[float]] = mapped_column(JSON)
    trades_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperTrade(TradeColumns, Base):
    """A round trip closed on a paper account (``seq`` numbers them from 0)."""

    __tablename__ = "paper_trades"
    __table_args__ = (UniqueConstraint("account_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)


class PaperEquity(Base):
    """Equity of a paper account at the close of each processed candle."""

    __tablename__ = "paper_equity"
    __table_args__ = (UniqueConstraint("account_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    equity: Mapped[float] = mapped_column(Double)
    position: Mapped[float] = mapped_column(Double)
