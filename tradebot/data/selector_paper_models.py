"""Selector paper accounts: which agent feeds a paper account, and its choice per window
(migration 0014).

:class:`SelectorAccount` (table ``selector_paper_accounts``): a paper account whose trading is
the candidate chosen per window by a stored agent (``kind="agent"``) — the agent (one account
per agent: its state versions are this account's), the window length in bars, the candidate
specs and context features as the agent declares them, and the candidates' shadow runs
carried from run to run (``shadow_state``: engine states, so a window end advances them over
the new bars instead of rerunning the whole history).

:class:`SelectorWindow` (table ``selector_paper_windows``): one window of such an account —
its bars (``start_ms`` inclusive, ``end_ms`` exclusive), the arm chosen at its start, the
context it was chosen from, the candidates as they resolved then (a study's best trial may
change between runs), the agent state version saved with the choice; once the window has
closed, the realised return of the played arm (``reward``, from the account's own equity), the
shadow return of every arm (the engine on the same candles) and the version saved with the
update. Arm statistics (plays, mean reward, shadow mean) are read from these rows.

Both are written in the paper run's own transaction with the ledger and the agent state.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data import agent_models as _agent_models  # noqa: F401  (the table the foreign keys name)
from tradebot.data.models import Base, UTCDateTime, utcnow


class SelectorAccount(Base):
    __tablename__ = "selector_paper_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String)  # agent
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="RESTRICT"), unique=True)
    window_bars: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[list[str]] = mapped_column(JSON)  # the specs, re-resolved at every run
    features: Mapped[list[str]] = mapped_column(JSON)
    # per candidate: its continuous engine run's state after the account's last bar, the
    # equity there and at the close before the open window (services/selector_shadow.py)
    shadow_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SelectorWindow(Base):
    __tablename__ = "selector_paper_windows"
    __table_args__ = (UniqueConstraint("account_id", "window"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"), index=True)
    window: Mapped[int] = mapped_column(Integer)  # 0, 1, 2... from the account's first bar
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)  # exclusive
    arm: Mapped[int] = mapped_column(Integer)
    candidate: Mapped[str] = mapped_column(String)
    previous_arm: Mapped[int | None] = mapped_column(Integer)  # None for the first window
    context: Mapped[list[float]] = mapped_column(JSON)
    start_equity: Mapped[float] = mapped_column(Double)  # at the close before the window (the choice)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # as resolved at the choice
    chosen_version: Mapped[int] = mapped_column(Integer)  # agent state saved with the choice
    reward: Mapped[float | None] = mapped_column(Double)  # realised return of the played arm
    shadow: Mapped[list[float] | None] = mapped_column(JSON)  # every arm's return on the same candles
    updated_version: Mapped[int | None] = mapped_column(Integer)  # agent state saved with the update
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
