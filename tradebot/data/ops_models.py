"""Operations tables: recorded errors, incidents (one alert each) and heartbeats.

``ops_errors``: every failure a command records, with its context (command, account,
message, exception type) — listed by ``tradebot errors``.
``ops_incidents``: one row per incident (``key`` names what is wrong, e.g.
``paper:acct:failing``); open while ``resolved_at`` is null. An incident sends exactly one
alert when it opens and one recovery message when it resolves.
``ops_heartbeats``: the last successful and failed run of each scheduled job.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Double, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data.base import Base, UTCDateTime, utcnow

__all__ = ["OpsError", "OpsHeartbeat", "OpsIncident"]


class OpsError(Base):
    __tablename__ = "ops_errors"
    __table_args__ = (Index(None, "occurred_at"), Index(None, "account"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    command: Mapped[str] = mapped_column(String)
    account: Mapped[str | None] = mapped_column(String, nullable=True)
    error_type: Mapped[str] = mapped_column(String)
    message: Mapped[str] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OpsIncident(Base):
    __tablename__ = "ops_incidents"
    __table_args__ = (Index(None, "key", "resolved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    detail: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)


class OpsHeartbeat(Base):
    __tablename__ = "ops_heartbeats"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    last_ok_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive, since the last success
    runs_ok: Mapped[int] = mapped_column(Integer, default=0)  # successful runs, ever
    #: how long the last successful run took (seconds)
    last_duration_s: Mapped[float | None] = mapped_column(Double, nullable=True)
