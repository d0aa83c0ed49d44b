"""Optimization studies: the request, every evaluated trial, and each walk-forward window.

A study stores everything needed to resume it (method, seed, space, objectives, data
range) and to recompute its honesty statistics independently (each trial's daily
returns). Trials of one batch are written in one transaction, so an interrupted study
holds whole batches only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data.base import Base, UTCDateTime, utcnow


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String)  # running | done
    strategy_name: Mapped[str] = mapped_column(String)
    method: Mapped[str] = mapped_column(String)
    seed: Mapped[int] = mapped_column(BigInteger)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # method options, objectives, windows
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # resolved settings
    exchange: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    timeframe: Mapped[str] = mapped_column(String)
    data_source: Mapped[str] = mapped_column(Text)
    data_start_ms: Mapped[int] = mapped_column(BigInteger)
    data_end_ms: Mapped[int] = mapped_column(BigInteger)
    data_rows: Mapped[int] = mapped_column(Integer)
    data_sha256: Mapped[str] = mapped_column(String)
    code_version: Mapped[str] = mapped_column(String)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)  # filled when done


class StudyTrial(Base):
    """One evaluated parameter set, in ask order within its window."""

    __tablename__ = "study_trials"
    __table_args__ = (UniqueConstraint("study_id", "window", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    window: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)  # ask order, from 0
    batch: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    scores: Mapped[list[float | None]] = mapped_column(JSON)  # None = infeasible (-inf)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    daily_returns: Mapped[bytes] = mapped_column(LargeBinary)  # float64 little-endian


class StudyWindow(Base):
    """A walk-forward window (or the single in-sample window): ranges, choice, scores."""

    __tablename__ = "study_windows"
    __table_args__ = (UniqueConstraint("study_id", "window"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    window: Mapped[int] = mapped_column(Integer)
    is_start_ms: Mapped[int] = mapped_column(BigInteger)
    is_end_ms: Mapped[int] = mapped_column(BigInteger)
    oos_start_ms: Mapped[int | None] = mapped_column(BigInteger)
    oos_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    best_number: Mapped[int] = mapped_column(Integer)
    best_params: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    oos_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    oos_daily_returns: Mapped[bytes | None] = mapped_column(LargeBinary)
    oos_daily_ms: Mapped[bytes | None] = mapped_column(LargeBinary)  # int64 day-end times
