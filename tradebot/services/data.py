"""Market data use cases: import candle files, list and check the cache."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError, DataValidationError, TradebotError, UsageError
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
    notes: tuple[str, ...] = ()  # one line each: what the import did beyond the obvious


def check_home(home: Path) -> Path:
    """Read-only twin of :func:`~tradebot.services.context.ensure_home`: the same error for a
    home that cannot be a directory, and nothing created (a missing home is fine)."""
    p = home
    while not p.exists() and p != p.parent:
        p = p.parent
    if p.exists() and not p.is_dir():
        where = "" if p == home else f" ({p} is a file)"
        raise ConfigError(f"TRADEBOT_HOME {home}: not a directory{where}")
    return home


def check_store_target(ctx: Context) -> None:
    """Where a command will write can be written: the database URL parses (and names a known
    back end), and the home can be a directory. Read-only: run before the work and writes."""
    if ctx.settings.database_url is not None:
        from tradebot.data.db import check_url

        check_url(ctx.settings.database_url)
    check_home(ctx.home)


def read_store_if_missing(ctx: Context) -> None:
    """Let a read-only command read an empty in-memory store instead of creating the default
    SQLite file (and the home) just to find nothing in it."""
    check_home(ctx.home)
    if ctx.settings.database_url is None and not (ctx.home / "tradebot.db").is_file():
        from tradebot.data.db import open_store

        ctx.__dict__["store"] = store = open_store("sqlite://")
        ctx._opened.append(store)


def import_csv(ctx: Context, file: Path, exchange: str, symbol: str, timeframe: str,
               allow_implausible: bool = False) -> ImportOutcome:
    """Validate a CSV of candles and write it to the cache; register the dataset.

    Nothing is written unless the whole file is valid and every option is. Prices above
    ``MAX_PRICE`` are refused unless ``allow_implausible``. ``notes`` says when timestamps
    were epoch seconds and when an existing (or corrupted) cache file was replaced.
    """
    from tradebot.data.csv_io import read_candles_csv
    from tradebot.data.repositories import DatasetInfo, DatasetRepository

    tf_ms = timeframe_ms(timeframe)
    base, _, quote = symbol.partition("/")
    if not base or not quote:
        raise UsageError(f"invalid symbol {symbol!r}: expected BASE/QUOTE, e.g. BTC/USDT")
    target = ctx.cache.path_for(exchange, symbol, timeframe)  # refuses unsafe names
    check_store_target(ctx)
    candles = read_candles_csv(file, exchange=exchange, symbol=symbol, timeframe=timeframe,
                               allow_implausible=allow_implausible)
    if len(candles) > 1:
        step = int(np.min(np.diff(candles.timestamp)))
        if step != tf_ms:
            raise DataValidationError(
                f"{file}: candles are {step // 1000}s apart at the closest but --timeframe "
                f"{timeframe} is {tf_ms // 1000}s"
            )
    notes = _import_notes(ctx, candles, target, exchange, symbol, timeframe, allow_implausible)
    ensure_home(ctx.home)
    store = ctx.store  # opened (and migrated) before anything is written
    with _restore_on_error(target):
        saved = ctx.cache.save(candles, allow_implausible=allow_implausible)
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
                         report.gap_count, report.missing, report.summary(), saved.sha256,
                         tuple(notes))


def _import_notes(ctx: Context, candles: Candles, target: Path, exchange: str, symbol: str,
                  timeframe: str, allow_implausible: bool) -> list[str]:
    """What an import does that the user may not expect, one line each (read-only)."""
    from tradebot.data.validation import MAX_PRICE

    notes = []
    if candles.meta.get("timestamp_unit") == "s":
        notes.append("timestamps are epoch seconds: converted to milliseconds")
    if allow_implausible:
        high = int(np.count_nonzero(candles.high > MAX_PRICE))
        if high:
            notes.append(f"--allow-implausible: kept {high} candle(s) with prices above {MAX_PRICE:g}")
    if target.exists():
        try:
            old = ctx.cache.load(exchange, symbol, timeframe)
        except TradebotError as e:
            reason = str(e).removeprefix(f"{target}: ")
            notes.append(f"replaced a corrupted cache file {target} ({reason})")
        else:
            notes.append(f"replaced the {len(old):,} candles cached before")
    return notes


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

    check_home(ctx.home)
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
    check_home(ctx.home)
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
