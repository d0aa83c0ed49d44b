"""Tables of ``tradebot serve``: API tokens, login sessions, the audit log, bots and
background jobs (migration 0006).

Secrets are never stored: a token or session id is kept only as its SHA-256 (the value
itself is 32 random bytes, so a plain hash cannot be brute-forced), and the CSRF token of
a session is derived from the session id with HMAC (nothing to store)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data.base import Base, UTCDateTime, utcnow


class ApiToken(Base):
    """A bearer token: scope ``read`` < ``trade`` < ``admin``, optional expiry, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    token_sha256: Mapped[str] = mapped_column(String, unique=True)
    prefix: Mapped[str] = mapped_column(String)  # first characters, to recognise a token in a list
    scope: Mapped[str] = mapped_column(String)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiSession(Base):
    """A browser session opened by POST /api/login with a token; ends with the token."""

    __tablename__ = "api_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_sha256: Mapped[str] = mapped_column(String, unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    client: Mapped[str] = mapped_column(String)


class AuditEntry(Base):
    """One state-changing request: who (token id and name), what, when, outcome."""

    __tablename__ = "api_audit"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_name: Mapped[str | None] = mapped_column(String, nullable=True)
    client: Mapped[str] = mapped_column(String)
    method: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String)  # ok | refused | failed
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class Bot(Base):
    """A paper-trading bot the server runs at each candle close of its timeframe, through the
    same service and per-account lock as ``tradebot paper``.

    ``status``: ``stopped`` | ``running`` | ``paused`` | ``killed`` (the kill switch: it
    stays stopped until it is started again explicitly)."""

    __tablename__ = "api_bots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    account: Mapped[str] = mapped_column(String, unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # strategy, exchange, symbol, timeframe, params, source
    status: Mapped[str] = mapped_column(String)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_bar_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    kill_switch: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    """A background backtest or optimization run by the server's worker pool."""

    __tablename__ = "api_jobs"
    __table_args__ = (Index(None, "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String)  # backtest | optimize
    status: Mapped[str] = mapped_column(String)  # queued | running | done | failed
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
