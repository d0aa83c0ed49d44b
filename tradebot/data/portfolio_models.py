"""Runs and paper accounts over several markets (a pair list sharing one wallet).

A portfolio backtest is a ``backtest_runs`` row like any other (``symbol`` holds the pairs
joined by commas, ``config["portfolio"]`` the portfolio rules and the pair list that was
used, ``metrics`` the whole portfolio's); these tables add what a single market run does
not have: one row per market (its data, range, checksum and per-pair results) and the
trades with the market each was made in. A one-market run stores none of them, so runs
stored before migration 0007 read and re-run as they always did.

A portfolio paper account is its own row (its engine state is the portfolio state vector),
with its trades and its equity per processed bar.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data.base import Base, TradeColumns, UTCDateTime, utcnow


class PortfolioAccount(Base):
    """A paper account trading a pair list from one wallet: the markets, the strategy, the
    resolved engine and portfolio rules, and the portfolio engine state after the last
    processed bar of the aligned (union) timeline."""

    __tablename__ = "portfolio_accounts"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    exchange: Mapped[str] = mapped_column(String)
    timeframe: Mapped[str] = mapped_column(String)
    symbols: Mapped[list[str]] = mapped_column(JSON)
    strategy: Mapped[str] = mapped_column(String)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    initial_capital: Mapped[float] = mapped_column(Double)
    history_start_ms: Mapped[int] = mapped_column(BigInteger)
    last_bar_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state: Mapped[list[float]] = mapped_column(JSON)
    trades_count: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str] = mapped_column(String, default="paper", server_default="paper")  # paper, live, dry-run
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PortfolioAccountTrade(TradeColumns, Base):
    """A round trip closed on a portfolio paper account (``seq`` numbers them from 0)."""

    __tablename__ = "portfolio_account_trades"
    __table_args__ = (UniqueConstraint("account_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String)


class PortfolioAccountEquity(Base):
    """Equity, cash and, per market (pair-list order), the units held and their mark (its last
    real close; None before its first candle) of a portfolio
    paper account at the close of each processed bar."""

    __tablename__ = "portfolio_account_equity"
    __table_args__ = (UniqueConstraint("account_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    equity: Mapped[float] = mapped_column(Double)
    cash: Mapped[float] = mapped_column(Double)
    positions: Mapped[list[list[float | None]]] = mapped_column(JSON)  # [units, mark] per market
