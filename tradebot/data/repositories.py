"""Repositories over the store: plain frozen dataclasses in and out, a Session injected.

Repositories never commit; the caller's unit of work does (``Store.session()``)::

    with store.session() as session:
        run_id = RunRepository(session).add(new_run)
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from sqlalchemy import CursorResult, Result, Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from tradebot.core.errors import RunNotFoundError, StoreError
from tradebot.data.models import (
    BacktestRun,
    Base,
    BotConfig,
    DailyPerformance,
    MarketDataset,
    StrategyRecord,
    Trade,
    utcnow,
)

_INT64 = 2**63


# -- JSON ------------------------------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data: numpy scalars and arrays become Python values, NaN and
    infinities become None, tuples/sets lists, dates ISO strings, keys strings.

    Anything else that is not JSON data raises TypeError rather than being stored broken.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if type(obj).__module__ == "numpy" and hasattr(obj, "tolist"):  # scalar or ndarray
        return jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {_json_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=repr) if isinstance(obj, set | frozenset) else obj
        return [jsonable(v) for v in items]
    if isinstance(obj, dt.date | dt.time):  # datetime included
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return jsonable(obj.value)
    if isinstance(obj, Decimal):
        return jsonable(float(obj))
    if isinstance(obj, PurePath):
        return str(obj)
    if hasattr(obj, "model_dump"):  # pydantic
        return jsonable(obj.model_dump(mode="json"))
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON: {obj!r:.80}")


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    value = jsonable(key)
    return value if isinstance(value, str) else str(value)


def _json_object(obj: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise StoreError(f"{what} must be a mapping, got {type(obj).__name__}")
    try:
        return jsonable(obj)  # type: ignore[no-any-return]
    except TypeError as e:
        raise StoreError(f"{what}: {e}") from e


# -- row validation --------------------------------------------------------------------


def _as_int(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    result = operator.index(value)  # int, numpy integers, bool; not floats or strings
    if not -_INT64 <= result < _INT64:
        raise ValueError("out of the 64-bit range")
    return result


def _as_float(value: Any) -> float:
    if isinstance(value, str | bytes) or value is None:
        raise TypeError("not a number")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError("not finite")
    return result


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool) or (not isinstance(value, str | bytes) and value in (0, 1)):
        return bool(value)
    raise TypeError("not a boolean")


def _as_direction(value: Any) -> int:
    if isinstance(value, str):
        value = {"long": 1, "short": -1}.get(value.lower(), value)
    result = _as_int(value)
    if result not in (1, -1):
        raise ValueError("must be 1 (long) or -1 (short)")
    return result


def _as_day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError("not a date")


_TRADE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "seq": _as_int,
    "entry_ts_ms": _as_int,
    "exit_ts_ms": _as_int,
    "direction": _as_direction,
    "units": _as_float,
    "entry_price": _as_float,
    "exit_price": _as_float,
    "entry_fee": _as_float,
    "exit_fee": _as_float,
    "pnl": _as_float,
    "return_pct": _as_float,
    "exit_reason": _as_str,
}
_DAILY_FIELDS: dict[str, Callable[[Any], Any]] = {
    "day": _as_day,
    "equity": _as_float,
    "pnl": _as_float,
    "return_pct": _as_float,
    "trades": _as_int,
    "target_met": _as_bool,
}


def _rows(
    items: Sequence[Mapping[str, Any]],
    fields: Mapping[str, Callable[[Any], Any]],
    run_id: int,
    what: str,
    defaults: Callable[[int], dict[str, Any]] | None = None,
) -> builtins.list[dict[str, Any]]:
    """Validated, typed rows for a bulk insert; StoreError names the row and field."""
    rows = []
    for i, item in enumerate(items):
        source = {**defaults(i), **item} if defaults else item
        unknown = set(source) - set(fields)
        if unknown:
            raise StoreError(f"{what} {i}: unknown field(s) {', '.join(sorted(unknown))}")
        row: dict[str, Any] = {"run_id": run_id}
        for name, convert in fields.items():
            if name not in source:
                raise StoreError(f"{what} {i}: missing field {name!r}")
            try:
                row[name] = convert(source[name])
            except (TypeError, ValueError) as e:
                raise StoreError(f"{what} {i}: {name}={source[name]!r} is invalid ({e})") from e
        rows.append(row)
    return rows


# -- upsert ----------------------------------------------------------------------------


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _upsert(
    session: Session,
    table: Table,
    values: dict[str, Any],
    keys: Sequence[str],
    updates: Sequence[str] | None = None,
) -> None:
    """INSERT, or UPDATE ``updates`` (default: all but ``keys``) of the row with the same
    ``keys``; a single atomic statement on SQLite and PostgreSQL."""
    names = updates if updates is not None else [k for k in values if k not in keys]
    changes = {k: values[k] for k in names}
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(table).values(**values)
        set_ = {k: lite.excluded[k] for k in changes}
        session.execute(lite.on_conflict_do_update(index_elements=list(keys), set_=set_))
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table).values(**values)
        set_ = {k: pg.excluded[k] for k in changes}
        session.execute(pg.on_conflict_do_update(index_elements=list(keys), set_=set_))
    else:
        where = [table.c[k] == values[k] for k in keys]
        result = session.execute(update(table).where(*where).values(**changes))
        if _rowcount(result) == 0:
            session.execute(insert(table).values(**values))


def _rowcount(result: Result[Any]) -> int:
    return result.rowcount if isinstance(result, CursorResult) else -1


# -- datasets --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """A cached OHLCV dataset: its range, quality and file."""

    exchange: str
    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int
    rows: int
    gaps: int
    missing: int
    path: str
    sha256: str
    source: str
    updated_at: dt.datetime | None = None


class DatasetRepository:
    """Datasets, one per (exchange, symbol, timeframe)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, info: DatasetInfo) -> DatasetInfo:
        """Insert or replace the dataset of ``info``'s market; returns it as stored."""
        values = {
            "exchange": info.exchange,
            "symbol": info.symbol,
            "timeframe": info.timeframe,
            "start_ms": int(info.start_ms),
            "end_ms": int(info.end_ms),
            "rows": int(info.rows),
            "gaps": int(info.gaps),
            "missing": int(info.missing),
            "path": str(info.path),
            "sha256": info.sha256,
            "source": info.source,
            "updated_at": info.updated_at or utcnow(),
        }
        _upsert(self.session, _table(MarketDataset), values, ("exchange", "symbol", "timeframe"))
        stored = self.get(info.exchange, info.symbol, info.timeframe)
        assert stored is not None
        return stored

    def get(self, exchange: str, symbol: str, timeframe: str) -> DatasetInfo | None:
        row = self.session.scalars(
            select(MarketDataset).where(
                MarketDataset.exchange == exchange,
                MarketDataset.symbol == symbol,
                MarketDataset.timeframe == timeframe,
            )
        ).one_or_none()
        return None if row is None else _dataset(row)

    def list(self) -> builtins.list[DatasetInfo]:
        """Every dataset, by exchange, symbol and timeframe."""
        rows = self.session.scalars(
            select(MarketDataset).order_by(
                MarketDataset.exchange, MarketDataset.symbol, MarketDataset.timeframe
            )
        )
        return [_dataset(r) for r in rows]


def _dataset(row: MarketDataset) -> DatasetInfo:
    return DatasetInfo(
        exchange=row.exchange,
        symbol=row.symbol,
        timeframe=row.timeframe,
        start_ms=row.start_ms,
        end_ms=row.end_ms,
        rows=row.rows,
        gaps=row.gaps,
        missing=row.missing,
        path=row.path,
        sha256=row.sha256,
        source=row.source,
        updated_at=row.updated_at,
    )


# -- strategies ------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategyInfo:
    id: int
    name: str
    version: str
    description: str
    parameter_schema: dict[str, Any]


class StrategyRepository:
    """Strategy versions and their parameter schemas."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(
        self, name: str, version: str, description: str, parameter_schema: dict[str, Any]
    ) -> int:
        """Insert or update strategy ``name`` at ``version``; returns its id."""
        values = {
            "name": name,
            "version": version,
            "description": description or "",
            "parameter_schema": _json_object(parameter_schema, f"strategy {name} schema"),
        }
        _upsert(self.session, _table(StrategyRecord), values, ("name", "version"))
        return self.session.scalars(
            select(StrategyRecord.id).where(
                StrategyRecord.name == name, StrategyRecord.version == version
            )
        ).one()

    def list(self) -> builtins.list[StrategyInfo]:
        """Every stored strategy version, by name and version."""
        rows = self.session.scalars(
            select(StrategyRecord).order_by(StrategyRecord.name, StrategyRecord.version)
        )
        return [
            StrategyInfo(r.id, r.name, r.version, r.description, r.parameter_schema) for r in rows
        ]


# -- runs ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NewRun:
    """A finished backtest to store, with what is needed to reproduce it.

    ``trades``: dicts with seq (optional, defaults to the position), entry_ts_ms,
    exit_ts_ms, direction (1/-1 or "long"/"short"), units, entry_price, exit_price,
    entry_fee, exit_fee, pnl, return_pct, exit_reason. ``daily``: dicts with day (a date),
    equity, pnl, return_pct, trades, target_met. Numbers must be finite.
    """

    strategy_name: str
    strategy_version: str
    params: dict[str, Any]
    config: dict[str, Any]
    exchange: str
    symbol: str
    timeframe: str
    data_source: str
    data_start_ms: int | None
    data_end_ms: int | None
    data_rows: int
    data_sha256: str | None
    code_version: str
    seed: int | None
    metrics: dict[str, Any]
    trades: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    daily: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    created_at: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StoredRun(NewRun):
    """A stored run: what was added, plus its id, creation time and status."""

    id: int
    created_at: dt.datetime  # type: ignore[assignment]
    status: str


@dataclass(frozen=True)
class RunSummary:
    """One line of the run list; ``metrics`` holds the scalar metrics."""

    id: int
    created_at: dt.datetime
    strategy: str
    strategy_version: str
    symbol: str
    timeframe: str
    exchange: str
    data_source: str
    status: str
    metrics: dict[str, Any]


_RUN_FIELDS = (
    "strategy_name",
    "strategy_version",
    "exchange",
    "symbol",
    "timeframe",
    "data_source",
    "data_start_ms",
    "data_end_ms",
    "data_rows",
    "data_sha256",
    "code_version",
    "seed",
)
_TRADE_COLUMNS = tuple(_TRADE_FIELDS)
_DAILY_COLUMNS = tuple(_DAILY_FIELDS)


class RunRepository:
    """Backtest runs with their trades and daily performance."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: NewRun) -> int:
        """Store ``run`` (trades and days in bulk); returns its id."""
        try:
            seed = None if run.seed is None else _as_int(run.seed)
            data_rows = _as_int(run.data_rows)
            start = None if run.data_start_ms is None else _as_int(run.data_start_ms)
            end = None if run.data_end_ms is None else _as_int(run.data_end_ms)
        except (TypeError, ValueError) as e:
            raise StoreError(f"run of {run.strategy_name}: invalid seed or data range ({e})") from e
        record = BacktestRun(
            created_at=run.created_at or utcnow(),
            strategy_name=run.strategy_name,
            strategy_version=run.strategy_version,
            params=_json_object(run.params, "run params"),
            config=_json_object(run.config, "run config"),
            exchange=run.exchange,
            symbol=run.symbol,
            timeframe=run.timeframe,
            data_source=run.data_source,
            data_start_ms=start,
            data_end_ms=end,
            data_rows=data_rows,
            data_sha256=run.data_sha256,
            code_version=run.code_version,
            seed=seed,
            metrics=_json_object(run.metrics, "run metrics"),
            status="completed",
        )
        self.session.add(record)
        self.session.flush()
        run_id = record.id
        trades = _rows(run.trades, _TRADE_FIELDS, run_id, "trade", lambda i: {"seq": i})
        if trades:
            self.session.execute(insert(_table(Trade)), trades)
        daily = _rows(run.daily, _DAILY_FIELDS, run_id, "daily row")
        if daily:
            self.session.execute(insert(_table(DailyPerformance)), daily)
        return run_id

    def get(self, run_id: int) -> StoredRun:
        """The run ``run_id`` with its trades and days; RunNotFoundError if absent."""
        row = self._row(run_id)
        return StoredRun(
            id=row.id,
            created_at=row.created_at,
            status=row.status,
            params=row.params,
            config=row.config,
            metrics=row.metrics,
            trades=self.trades(run_id),
            daily=self.daily(run_id),
            **{name: getattr(row, name) for name in _RUN_FIELDS},
        )

    def list(self, limit: int = 50) -> builtins.list[RunSummary]:
        """The ``limit`` newest runs, newest first."""
        rows = self.session.execute(
            select(
                BacktestRun.id,
                BacktestRun.created_at,
                BacktestRun.strategy_name,
                BacktestRun.strategy_version,
                BacktestRun.symbol,
                BacktestRun.timeframe,
                BacktestRun.exchange,
                BacktestRun.data_source,
                BacktestRun.status,
                BacktestRun.metrics,
            )
            .order_by(BacktestRun.created_at.desc(), BacktestRun.id.desc())
            .limit(limit)
        )
        return [
            RunSummary(
                id=r.id,
                created_at=r.created_at,
                strategy=r.strategy_name,
                strategy_version=r.strategy_version,
                symbol=r.symbol,
                timeframe=r.timeframe,
                exchange=r.exchange,
                data_source=r.data_source,
                status=r.status,
                metrics={
                    k: v
                    for k, v in (r.metrics or {}).items()
                    if v is None or isinstance(v, bool | int | float | str)
                },
            )
            for r in rows
        ]

    def count(self) -> int:
        """How many runs are stored."""
        return self.session.scalar(select(func.count()).select_from(BacktestRun)) or 0

    def trades(self, run_id: int) -> builtins.list[dict[str, Any]]:
        """The trades of run ``run_id`` in sequence order."""
        self._row(run_id)
        columns = [_table(Trade).c[name] for name in _TRADE_COLUMNS]
        rows = self.session.execute(
            select(*columns).where(Trade.run_id == run_id).order_by(Trade.seq, Trade.id)
        )
        return [dict(r._mapping) for r in rows]

    def daily(self, run_id: int) -> builtins.list[dict[str, Any]]:
        """The daily performance of run ``run_id`` by day."""
        self._row(run_id)
        columns = [_table(DailyPerformance).c[name] for name in _DAILY_COLUMNS]
        rows = self.session.execute(
            select(*columns).where(DailyPerformance.run_id == run_id).order_by(DailyPerformance.day)
        )
        return [dict(r._mapping) for r in rows]

    def delete(self, run_id: int) -> None:
        """Delete run ``run_id`` with its trades and days; RunNotFoundError if absent."""
        self._row(run_id)
        self.session.execute(delete(BacktestRun).where(BacktestRun.id == run_id))

    def _row(self, run_id: int) -> BacktestRun:
        row = self.session.get(BacktestRun, run_id)
        if row is None:
            raise RunNotFoundError(f"no stored run with id {run_id}")
        return row


# -- bot configs -----------------------------------------------------------------------


class BotConfigRepository:
    """Named bot configurations."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, name: str, config: dict[str, Any]) -> None:
        """Create or replace the configuration ``name``."""
        now = utcnow()
        values = {
            "name": name,
            "config": _json_object(config, f"bot config {name!r}"),
            "created_at": now,
            "updated_at": now,
        }
        _upsert(self.session, _table(BotConfig), values, ("name",), ("config", "updated_at"))

    def get(self, name: str) -> dict[str, Any] | None:
        return self.session.scalar(select(BotConfig.config).where(BotConfig.name == name))

    def list(self) -> builtins.list[str]:
        """The names of every configuration, sorted."""
        return builtins.list(self.session.scalars(select(BotConfig.name).order_by(BotConfig.name)))

    def delete(self, name: str) -> bool:
        """Delete configuration ``name``; False if there was none."""
        result = self.session.execute(delete(BotConfig).where(BotConfig.name == name))
        return _rowcount(result) > 0
