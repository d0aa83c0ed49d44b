"""Live guards (issue 15): the kill switch of each live account, the exchange baseline the
reconciliation compares against, and the stored reconciliation reports.

* ``live_switches``: one row per account that was ever stopped: ``stopped``, why, whether
  it flattens, since when and by whom (``command``, ``file``, ``reconcile``). A row with
  ``stopped`` false is a resumed account (the last stop is kept for the record).
* ``live_baselines``: per account and asset, what the exchange held beyond the ledger when
  the account first reconciled (or when the exchange's view was adopted): the exchange is
  expected to hold ``baseline + ledger``; other money of the user on the same exchange
  account is the baseline, not a difference.
* ``live_reconciliations``: every reconciliation's report (differences and both views).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Double, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data import portfolio_models as _portfolio_models  # noqa: F401  (the table the foreign keys name)
from tradebot.data.base import Base

__all__ = ["LiveBaseline", "LiveReconciliation", "LiveSwitch"]


class LiveSwitch(Base):
    """The kill switch of one live account."""

    __tablename__ = "live_switches"

    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"),
                                            primary_key=True)
    account: Mapped[str] = mapped_column(String)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    flatten: Mapped[bool] = mapped_column(Boolean, default=False)
    since_ms: Mapped[int] = mapped_column(BigInteger)
    by: Mapped[str] = mapped_column(String)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class LiveBaseline(Base):
    """What the exchange holds of ``asset`` beyond the account's ledger."""

    __tablename__ = "live_baselines"
    __table_args__ = (UniqueConstraint("account_id", "asset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"))
    asset: Mapped[str] = mapped_column(String)
    amount: Mapped[float] = mapped_column(Double)
    set_ms: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String)


class LiveReconciliation(Base):
    """One reconciliation of a live account: ``ok``, the differences, both views."""

    __tablename__ = "live_reconciliations"
    __table_args__ = (Index(None, "account_id", "ts_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("portfolio_accounts.id", ondelete="CASCADE"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    adopted: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
