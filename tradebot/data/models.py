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
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data.base import NAMING_CONVENTION, UTC, Base, TradeColumns, UTCDateTime, utcnow

__all__ = ["NAMING_CONVENTION", "UTC", "Base", "TradeColumns", "UTCDateTime", "utcnow"]  # from data.base

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


class PaperBalance(Base):
    """What a paper account holds of one asset after its last processed candle: the quote
    currency (cash) and the base asset (units; negative while short)."""

    __tablename__ = "paper_balances"
    __table_args__ = (UniqueConstraint("account_id", "asset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    asset: Mapped[str] = mapped_column(String)
    amount: Mapped[float] = mapped_column(Double)
    as_of_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # candle, None: opening
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperOrder(Base):
    """One engine order of a paper account: the fills of one side and intent (entry/exit)
    of one position (``trade_entry_ms``, the time of its first entry fill), in a row.

    ``qty`` is what filled, ``cost`` its quote amount (the sum of qty × price; kept so
    that ``avg_price`` = cost / qty is the same however the fills were split over runs),
    ``fee`` the fees paid.
    ``status``: ``filled``, ``partially_filled`` (still working), ``cancelled`` (an exit
    replaced by another order before the position closed; ``qty`` is the part that filled).
    The rules are in :func:`tradebot.services.paper_events.orders_and_fills`."""

    __tablename__ = "paper_orders"
    __table_args__ = (UniqueConstraint("account_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    trade_entry_ms: Mapped[int] = mapped_column(BigInteger)
    first_fill_ms: Mapped[int] = mapped_column(BigInteger)
    last_fill_ms: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String)  # buy | sell
    order_type: Mapped[str] = mapped_column(String)  # market | limit | stop | stop_limit
    intent: Mapped[str] = mapped_column(String)  # entry | exit
    qty: Mapped[float] = mapped_column(Double)
    cost: Mapped[float] = mapped_column(Double)  # sum of qty * price over the fills
    avg_price: Mapped[float] = mapped_column(Double)
    fee: Mapped[float] = mapped_column(Double)
    fills: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String)
    exit_reason: Mapped[str | None] = mapped_column(String, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperFill(Base):
    """One execution on a paper account, at the candle (``ts_ms``) that filled it."""

    __tablename__ = "paper_fills"
    __table_args__ = (UniqueConstraint("account_id", "seq"), Index(None, "order_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("paper_orders.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String)
    qty: Mapped[float] = mapped_column(Double)
    price: Mapped[float] = mapped_column(Double)
    fee: Mapped[float] = mapped_column(Double)
    maker: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperPosition(Base):
    """The open position of a paper account in one symbol (no row while flat), marked at
    the close of the last processed candle. ``qty`` is signed (negative: short)."""

    __tablename__ = "paper_positions"
    __table_args__ = (UniqueConstraint("account_id", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String)
    qty: Mapped[float] = mapped_column(Double)
    avg_entry_price: Mapped[float] = mapped_column(Double)
    entry_fee: Mapped[float] = mapped_column(Double)
    entry_ms: Mapped[int] = mapped_column(BigInteger)
    mark_price: Mapped[float] = mapped_column(Double)
    mark_ms: Mapped[int] = mapped_column(BigInteger)
    unrealized_pnl: Mapped[float] = mapped_column(Double)  # at the mark, both fees counted
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperRiskEvent(Base):
    """Something the risk rules did on a paper account, at a candle (``ts_ms``).

    ``kind``: ``entry_blocked`` (one per refused entry signal; ``rule`` is the reason),
    ``limit_reached`` (first entry a daily limit blocked that UTC day), ``breaker_tripped``,
    ``breaker_resumed``, ``cooldown_started``, ``alert`` / ``alert_cleared`` (the
    ``[notify.rules]`` thresholds). Trips, limits and alerts are sent as ``risk_tripped``."""

    __tablename__ = "paper_risk_events"
    __table_args__ = (UniqueConstraint("account_id", "seq"), Index(None, "account_id", "kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String)
    rule: Mapped[str] = mapped_column(String)
    detail: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
