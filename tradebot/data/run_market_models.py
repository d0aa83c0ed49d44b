"""The per-market rows of a portfolio backtest run (a ``backtest_runs`` row like any other):
one row per market (its data, range, checksum and per-pair results) and the trades with
the market each was made in. A one-market run stores none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data.models import Base, TradeColumns


class RunMarket(Base):
    """One market of a portfolio run, in pair-list order (``seq`` from 0)."""

    __tablename__ = "run_markets"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String)
    data_source: Mapped[str] = mapped_column(Text)
    data_start_ms: Mapped[int] = mapped_column(BigInteger)
    data_end_ms: Mapped[int] = mapped_column(BigInteger)
    data_rows: Mapped[int] = mapped_column(Integer)
    data_sha256: Mapped[str] = mapped_column(String)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)  # the per-pair table's row


class RunMarketTrade(TradeColumns, Base):
    """One round trip of a portfolio run, in the market ``symbol``."""

    __tablename__ = "run_market_trades"
    __table_args__ = (Index(None, "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String)
