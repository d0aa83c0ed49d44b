"""``tradebot fetch`` and ``tradebot markets``: exchange data into the cache and the store."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradebot.core.errors import UsageError
from tradebot.services.context import Context, ensure_home

if TYPE_CHECKING:
    from tradebot.data.cache import CachedFile
    from tradebot.data.db import Store
    from tradebot.data.downloader import FetchResult
    from tradebot.exchanges.port import Exchange, MarketInfo
    from tradebot.exchanges.retry import RetryNotice


@dataclass(frozen=True)
class FetchJob:
    exchange: str
    symbol: str
    timeframe: str


#: progress_for(job) -> a callback (done, expected) for that job's progress bar.
ProgressFactory = Callable[[FetchJob], Callable[[int, int], None]]
#: on_saved(job, new_candles, rows): after each checkpoint, the job's new candles written to
#: the cache so far by this call and the rows the cache file now holds.
SavedFn = Callable[[FetchJob, int, int], None]
#: on_retry(notice): before each wait of a retried exchange call.
RetryFn = Callable[["RetryNotice"], None]


def plan_jobs(ctx: Context, exchange: str | None, symbols: list[str],
              timeframes: list[str] | None) -> list[FetchJob]:
    """The (exchange, symbol, timeframe) triples a fetch call covers.

    Markets on the command line win; otherwise ``fetch.markets`` from the config.
    """
    tfs = timeframes or list(ctx.settings.fetch.timeframes)
    if exchange is not None:
        if not symbols:
            raise UsageError(f"give at least one SYMBOL to fetch from {exchange}, e.g. BTC/USDT")
        pairs = [(exchange, s) for s in symbols]
    else:
        pairs = [tuple(m.split(":", 1)) for m in ctx.settings.fetch.markets]  # type: ignore[misc]
        if not pairs:
            raise UsageError("nothing to fetch: give EXCHANGE SYMBOL... or set fetch.markets "
                             "in the config (e.g. markets = [\"binance:BTC/USDT\"])")
    return [FetchJob(ex.lower(), sym, tf) for ex, sym in pairs for tf in tfs]


@contextmanager
def _opened(ctx: Context, exchange_id: str, market_type: str | None = None) -> Iterator[Exchange]:
    from tradebot.exchanges.factory import exchange_from_settings

    ex = exchange_from_settings(ctx.settings, exchange_id, market_type=market_type)
    try:
        yield ex
    finally:
        ex.close()


def _market_type(symbol: str) -> str:
    return "futures" if ":" in symbol else "spot"


def run_fetch(ctx: Context, jobs: list[FetchJob], since_ms: int | None, until_ms: int | None,
              progress_for: ProgressFactory | None = None, on_saved: SavedFn | None = None,
              on_retry: RetryFn | None = None) -> list[FetchResult]:
    """Download every job's missing candles; each checkpoint is registered in the store.

    An interrupt (Ctrl-C) or an exchange failure first writes the pages already downloaded,
    so running the same fetch again resumes after them."""
    from tradebot.exchanges.retry import reporting_retries

    _check_offline(ctx, jobs)
    ensure_home(ctx.home)
    with reporting_retries(on_retry):
        return _run_fetch(ctx, jobs, since_ms, until_ms, progress_for, on_saved)


def _run_fetch(ctx: Context, jobs: list[FetchJob], since_ms: int | None, until_ms: int | None,
               progress_for: ProgressFactory | None, on_saved: SavedFn | None) -> list[FetchResult]:
    from tradebot.data.downloader import Downloader

    store = ctx.store  # open (and migrate) before downloading anything
    results = []
    by_exchange: dict[tuple[str, str], list[FetchJob]] = {}
    for job in jobs:
        by_exchange.setdefault((job.exchange, _market_type(job.symbol)), []).append(job)
    for (exchange_id, market_type), group in by_exchange.items():
        with _opened(ctx, exchange_id, market_type) as ex:
            markets = ex.load_markets()
            for job in group:
                _check_market(ex, markets, job)
                downloader = Downloader(ex, ctx.cache, exchange_id,
                                        checkpoint_seconds=ctx.settings.fetch.checkpoint_seconds,
                                        default_days=ctx.settings.fetch.days)
                results.append(downloader.fetch(
                    job.symbol, job.timeframe, since_ms, until_ms,
                    progress=progress_for(job) if progress_for else None,
                    on_checkpoint=functools.partial(_register, store, job, _rows_cached(ctx, job), on_saved),
                ))
    return results


def _check_offline(ctx: Context, jobs: list[FetchJob]) -> None:
    """Everything that can be checked without the network or a write: the database URL and
    the home, every timeframe's syntax and every exchange id (ccxt knows it, it is not ``sim``).
    A refused fetch creates nothing and sends no request."""
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.services.data import check_store_target

    check_store_target(ctx)
    for job in jobs:
        timeframe_ms(job.timeframe)
    for exchange_id, market_type in dict.fromkeys((j.exchange, _market_type(j.symbol)) for j in jobs):
        with _opened(ctx, exchange_id, market_type):
            pass  # building the adapter checks the id; markets are loaded later, online


def _check_market(ex: Exchange, markets: dict[str, MarketInfo], job: FetchJob) -> None:
    import difflib

    if job.symbol not in markets:
        close = difflib.get_close_matches(job.symbol, list(markets), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"{job.exchange} has no market {job.symbol!r}{hint}")
    if job.timeframe not in ex.timeframes:
        close = difflib.get_close_matches(job.timeframe, ex.timeframes, n=3, cutoff=0.3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"{job.exchange} has no timeframe {job.timeframe!r}{hint} "
                         f"(available: {', '.join(ex.timeframes)})")


def _rows_cached(ctx: Context, job: FetchJob) -> int:
    """Rows the job's cache file holds before this call (its footer only)."""
    if not ctx.cache.exists(job.exchange, job.symbol, job.timeframe):
        return 0
    info = ctx.cache.info(job.exchange, job.symbol, job.timeframe)
    return int(info.rows or 0) if not info.error else 0


def _register(store: Store, job: FetchJob, rows_before: int, on_saved: SavedFn | None,
              saved: CachedFile) -> None:
    from tradebot.data.repositories import DatasetInfo, DatasetRepository

    report = saved.gap_report
    with store.session() as session:
        DatasetRepository(session).upsert(DatasetInfo(
            exchange=saved.exchange, symbol=saved.symbol, timeframe=saved.timeframe,
            start_ms=int(saved.start_ms or 0), end_ms=int(saved.end_ms or 0), rows=saved.rows,
            gaps=report.gap_count, missing=report.missing, path=str(saved.path),
            sha256=saved.sha256, source=f"fetch:{job.exchange}",
        ))
    if on_saved is not None:
        on_saved(job, saved.rows - rows_before, saved.rows)


def list_markets(ctx: Context, exchange_id: str, market_type: str = "spot",
                 quote: str | None = None, on_retry: RetryFn | None = None) -> list[MarketInfo]:
    """Markets of an exchange with precision and limits, optionally one quote currency."""
    from tradebot.exchanges.retry import reporting_retries

    with reporting_retries(on_retry), _opened(ctx, exchange_id, market_type) as ex:
        markets = ex.load_markets()
    rows = sorted(markets.values(), key=lambda m: m.symbol)
    if quote:
        rows = [m for m in rows if m.quote.upper() == quote.upper()]
    return rows
