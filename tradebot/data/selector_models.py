"""Selector evaluations (`tradebot select evaluate`): what was compared, on which data, and
the result, so `tradebot select report ID` shows it again and a re-run can be checked.

One row per evaluation: the candidates (with their resolved parameters), window, method and
seed, the engine configuration, the data range and its checksum, the code version, every
window's bounds and each candidate's return in it (the out-of-sample record), the selector's
choice per window, and the report (metrics per baseline, verdict). Written in one transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tradebot.core.errors import RunNotFoundError
from tradebot.data.base import Base, UTCDateTime, utcnow


class SelectorEvaluation(Base):
    __tablename__ = "selector_evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String)
    seed: Mapped[int] = mapped_column(BigInteger)
    window: Mapped[str] = mapped_column(String)  # as given: 7d or N bars
    window_bars: Mapped[int] = mapped_column(Integer)
    min_train_windows: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # engine config, switch cost, regime settings
    exchange: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    timeframe: Mapped[str] = mapped_column(String)
    data_source: Mapped[str] = mapped_column(Text)
    data_start_ms: Mapped[int] = mapped_column(BigInteger)
    data_end_ms: Mapped[int] = mapped_column(BigInteger)
    data_rows: Mapped[int] = mapped_column(Integer)
    data_sha256: Mapped[str] = mapped_column(String)
    code_version: Mapped[str] = mapped_column(String)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)  # bounds, starts_ms, returns per window
    choices: Mapped[list[int]] = mapped_column(JSON)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class SelectorRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> int:
        row = SelectorEvaluation(**fields)
        self.s.add(row)
        self.s.flush()
        return row.id

    def get(self, evaluation_id: int) -> SelectorEvaluation:
        row = self.s.get(SelectorEvaluation, evaluation_id)
        if row is None:
            raise RunNotFoundError(f"no selector evaluation {evaluation_id} in the store (see tradebot select list)")
        return row

    def latest(self, limit: int = 50) -> list[SelectorEvaluation]:
        return list(self.s.scalars(select(SelectorEvaluation).order_by(SelectorEvaluation.id.desc()).limit(limit)))
