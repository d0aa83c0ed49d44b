"""The declarative base of the store's tables and the column types and helpers they share.

Each ``*_models`` module declares its tables on :class:`Base`; importing one registers
its tables (and, through its imports, the tables its foreign keys name), so a command
declares only the tables it uses (:mod:`tradebot.data.schema` has them all).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Double, MetaData, SmallInteger, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

UTC = dt.UTC

#: Constraint names are fixed so that migrations (and SQLite batch mode) can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, tz-aware UTC."""
    return dt.datetime.now(UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back tz-aware (UTC).

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text. Naive datetimes are
    refused on write: their time zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (a time zone is required)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TradeColumns:
    """The columns of one round trip, shared by backtest and paper trades."""

    entry_ts_ms: Mapped[int] = mapped_column(BigInteger)
    exit_ts_ms: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[int] = mapped_column(SmallInteger)
    units: Mapped[float] = mapped_column(Double)
    entry_price: Mapped[float] = mapped_column(Double)
    exit_price: Mapped[float] = mapped_column(Double)
    entry_fee: Mapped[float] = mapped_column(Double)
    exit_fee: Mapped[float] = mapped_column(Double)
    pnl: Mapped[float] = mapped_column(Double)
    return_pct: Mapped[float] = mapped_column(Double)
    exit_reason: Mapped[str] = mapped_column(String)
