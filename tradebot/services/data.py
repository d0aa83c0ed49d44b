"""Market data use cases: import candle files, list and check the cache."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tradebot.core.errors import DataValidationError, TradebotError, UsageError
from tradebot.core.timeframes import timeframe_ms
from tradebot.services.context import Context, ensure_home


@dataclass(frozen=True)
class ImportOutcome:
    path: Path
    rows: int
    start_ms: int
    end_ms: int
    gaps: int
    missing: int
    gap_summary: str
    sha256: str


def import_csv(ctx: Context, file: Path, exchange: str, symbol: str, timeframe: str) -> ImportOutcome:
    """Validate a CSV of candles and write it to the cache; register the dataset.

    Nothing is written unless the whole file is valid.
    """
    from tradebot.data.csv_io import read_candles_csv
    from tradebot.data.repositories import DatasetInfo, DatasetRepository

    tf_ms = timeframe_ms(timeframe)
    base, _, quote = symbol.partition("/")
    if not base or not quote:
        raise UsageError(f"invalid symbol {symbol!r}: expected BASE/QUOTE, e.g. BTC/USDT")
    candles = read_candles_csv(file, exchange=exchange, symbol=symbol, timeframe=timeframe)
    if len(candles) > 1:
        step = int(np.min(np.diff(candles.timestamp)))
        if step != tf_ms:
            raise DataValidationError(
                f"{file}: candles are {step // 1000}s apart at the closest but --timeframe "
                f"{timeframe} is {tf_ms // 1000}s"
            )
    ensure_home(ctx.home)
    store = ctx.store  # opened (and migrated) before anything is written
    target = ctx.cache.path_for(exchange, symbol, timeframe)
    with _restore_on_error(target):
        saved = ctx.cache.save(candles)
        report = saved.gap_report
        with store.session() as session:
            DatasetRepository(session).upsert(DatasetInfo(
                exchange=saved.exchange, symbol=saved.symbol, timeframe=saved.timeframe,
                start_ms=int(saved.start_ms or 0), end_ms=int(saved.end_ms or 0),
                rows=saved.rows, gaps=report.gap_count, missing=report.missing,
                path=str(saved.path), sha256=saved.sha256,
                source=f"csv:{Path(file).resolve()}",
            ))
    return ImportOutcome(saved.path, saved.rows, int(saved.start_ms or 0), int(saved.end_ms or 0),
                         report.gap_count, report.missing, report.summary(), saved.sha256)


@contextmanager
def _restore_on_error(path: Path) -> Iterator[None]:
    """If the block fails, put ``path`` back as it was (or remove it if it was new)."""
    backup = None
    if path.exists():
        backup = path.with_name(f".{path.name}.bak-{os.getpid()}")
        shutil.copy2(path, backup)
    try:
        yield
    except BaseException:
        if backup is not None:
            os.replace(backup, path)
        elif path.exists():
            path.unlink()
        raise
    else:
        if backup is not None:
            backup.unlink()


@dataclass(frozen=True)
class DatasetRow:
    exchange: str
    symbol: str
    timeframe: str
    rows: int
    start_ms: int | None
    end_ms: int | None
    gaps: int | None
    missing: int | None
    path: str
    error: str | None = None


def list_datasets(ctx: Context) -> list[DatasetRow]:
    """Every cache file, with gap counts from the store where it registered them."""
    from tradebot.data.repositories import DatasetRepository

    registered = {}
    if ctx.settings.database_url is not None or (ctx.home / "tradebot.db").exists():
        with ctx.store.session() as session:
            registered = {(d.exchange, d.symbol, d.timeframe): d
                          for d in DatasetRepository(session).list()}
    rows = []
    for e in ctx.cache.scan():
        d = registered.get((e.exchange, e.symbol, e.timeframe))
        rows.append(DatasetRow(e.exchange, e.symbol, e.timeframe, e.rows, e.start_ms, e.end_ms,
                               d.gaps if d else None, d.missing if d else None, str(e.path),
                               e.error))
    return rows


@dataclass(frozen=True)
class CheckRow:
    exchange: str
    symbol: str
    timeframe: str
    path: str
    ok: bool
    message: str


def check_datasets(ctx: Context) -> list[CheckRow]:
    """Load and fully validate every cache file; gaps are reported, never filled."""
    out = []
    for e in ctx.cache.scan():
        if e.error:
            out.append(CheckRow(e.exchange, e.symbol, e.timeframe, str(e.path), False, e.error))
            continue
        try:
            candles = ctx.cache.load(e.exchange, e.symbol, e.timeframe)
        except TradebotError as err:
            out.append(CheckRow(e.exchange, e.symbol, e.timeframe, str(e.path), False, str(err)))
            continue
        report = candles.meta["gap_report"]
        out.append(CheckRow(e.exchange, e.symbol, e.timeframe, str(e.path), True,
                            report.summary()))  # type: ignore[attr-defined]
    return out
