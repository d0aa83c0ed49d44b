"""Live accounts (issue 15): the order ledger, the fills and the events of a live or
dry-run account.

A live account IS a portfolio account (``portfolio_accounts`` with ``mode`` ``live`` or
``dry-run``; paper accounts read ``paper``). These tables hold what the exchange did:

* ``live_orders``: one row per intent (:class:`tradebot.core.orders.OrderRecord`'s
  ``to_dict()`` shape plus the account); written *before* each request leaves
  (write-ahead, :class:`tradebot.services.live_journal.StoreOrderJournal`).
* ``live_fills``: one row per exchange trade (unique per account), with its fee in
  whatever currency the exchange charged it.
* ``live_events``: what happened, for humans and notifications: order sent, fill,
  reject, reconcile difference, adopt, kill switch, error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Double, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data import portfolio_models as _portfolio_models  # noqa: F401  (the table the foreign keys name)
from tradebot.data.base import Base

__all__ = ["LiveEvent", "LiveFill", "LiveOrder"]


class LiveOrder(Base):
    """One order intent of a live account and what became of it."""

    __tablename__ = "live_orders"
    __table_args__ = (UniqueConstraint("client_order_id"), Index(None, "account_id", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String)
    account: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    bar_ms: Mapped[int] = mapped_column(BigInteger)
    intent: Mapped[str] = mapped_column(String)
    side: Mapped[str] = mapped_column(String)
    type: Mapped[str] = mapped_column(String)
    amount: Mapped[float] = mapped_column(Double)
    price: Mapped[float | None] = mapped_column(Double, nullable=True)
    state: Mapped[str] = mapped_column(String)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    exchange_order_id: Mapped[str | None] = mapped_column(String, nullable=True)
    filled: Mapped[float] = mapped_column(Double, default=0.0)
    average: Mapped[float | None] = mapped_column(Double, nullable=True)
    fees: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)


class LiveFill(Base):
    """One trade of a live account as the exchange reports it (dry run: simulated)."""

    __tablename__ = "live_fills"
    __table_args__ = (UniqueConstraint("account_id", "trade_id"), Index(None, "account_id", "ts_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"))
    trade_id: Mapped[str] = mapped_column(String)
    client_order_id: Mapped[str | None] = mapped_column(String, nullable=True)
    symbol: Mapped[str] = mapped_column(String)
    side: Mapped[str] = mapped_column(String)
    price: Mapped[float] = mapped_column(Double)
    amount: Mapped[float] = mapped_column(Double)
    fee_cost: Mapped[float] = mapped_column(Double, default=0.0)
    fee_currency: Mapped[str | None] = mapped_column(String, nullable=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)


class LiveEvent(Base):
    """Something that happened on a live account (``kind``: order_sent, fill, reject,
    reconcile_difference, adopt, kill_switch, error, ...; ``detail``: JSON)."""

    __tablename__ = "live_events"
    __table_args__ = (Index(None, "account_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
