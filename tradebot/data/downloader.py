"""Incremental, resumable candle download over the exchange port.

For one (exchange, symbol, timeframe) the downloader:

1. asks the exchange for its clock and works out the last *closed* candle (the candle
   containing "now" is still open and is never stored);
2. compares the requested range with what the cache holds and downloads only what is
   missing: older history before the cached range (prepend) and newer candles after it;
3. paginates forward from each missing range's start, ``max_candles_per_request`` at a
   time, checking every page (aligned, increasing, in range, sane prices) and asking
   again when a page is bad;
4. writes into the cache at checkpoints (every few seconds or rows): the file is
   rewritten atomically, streamed one row group at a time (memory stays flat in the
   size of the dataset), and the dataset is registered in the store through a callback.

A run killed at any moment loses at most the pages since the last checkpoint (an
interrupt, Ctrl-C, or an exchange error after the retries first writes the pages it
holds); run again, it starts from what the cache holds and ends with the same file as an
uninterrupted run (the file's content is the sorted union of closed candles, written
deterministically). Gaps the exchange really has are reported, never filled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tradebot.core.errors import DataValidationError, ExchangeBadResponse, TradebotError, UsageError
from tradebot.core.timeframes import timeframe_ms
from tradebot.data.cache import CachedFile, CandleCache
from tradebot.data.validation import format_ts
from tradebot.exchanges.port import Exchange

DEFAULT_DAYS = 30
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class FetchResult:
    exchange: str
    symbol: str
    timeframe: str
    requests: int
    downloaded: int  # new candles written
    rows: int  # candles in the cache afterwards
    start_ms: int | None
    end_ms: int | None
    gaps: int
    missing: int
    gap_summary: str
    path: str
    up_to_date: bool  # nothing was missing


#: progress(done_candles, expected_candles) — called after every page.
Progress = Callable[[int, int], None]
#: on_checkpoint(cached_file) — called after every write of the cache file.
OnCheckpoint = Callable[[CachedFile], None]


def _ranges_to_fetch(have: tuple[int, int] | None, since: int, end: int, tf: int) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` ranges of open times missing from ``have``."""
    if since >= end:
        return []
    if have is None:
        return [(since, end)]
    first, last = have
    out = []
    if since < first:
        out.append((since, min(first, end)))
    if last + tf < end:
        out.append((max(last + tf, since), end))
    return [(a, b) for a, b in out if a < b]


def _check_page(page: np.ndarray, cursor: int, stop: int, tf: int, what: str) -> np.ndarray:
    """Rows of ``page`` inside ``[cursor, stop)``; a malformed page raises ExchangeBadResponse."""
    if page.size == 0:
        return page.reshape(0, 6)
    if page.ndim != 2 or page.shape[1] != 6:
        raise ExchangeBadResponse(f"{what}: candle page has shape {page.shape}, expected (n, 6)")
    ts = page[:, 0]
    if not np.isfinite(page).all():
        raise ExchangeBadResponse(f"{what}: candle page contains NaN or infinite values")
    if np.any(ts % tf != 0):
        raise ExchangeBadResponse(f"{what}: candle open times not aligned to the timeframe")
    if page.shape[0] > 1 and np.any(np.diff(ts) <= 0):
        raise ExchangeBadResponse(f"{what}: candle page is not strictly increasing in time")
    o, h, lo, c = page[:, 1], page[:, 2], page[:, 3], page[:, 4]
    if np.any(np.minimum(np.minimum(o, h), np.minimum(lo, c)) <= 0) or np.any(page[:, 5] < 0) \
            or np.any(h < np.maximum(o, c)) or np.any(lo > np.minimum(o, c)):
        raise ExchangeBadResponse(f"{what}: candle page has impossible prices (high/low/open/close)")
    keep = (ts >= cursor) & (ts < stop)
    return page[keep]


class Downloader:
    """Downloads candles from one exchange into the cache."""

    def __init__(self, exchange: Exchange, cache: CandleCache, exchange_id: str | None = None,
                 checkpoint_seconds: float = 5.0, checkpoint_rows: int = 250_000,
                 bad_page_retries: int = 5, clock: Callable[[], float] = time.monotonic,
                 default_days: int = DEFAULT_DAYS) -> None:
        self.exchange = exchange
        self.cache = cache
        self.exchange_id = (exchange_id or exchange.id).lower()
        self.checkpoint_seconds = checkpoint_seconds
        self.checkpoint_rows = checkpoint_rows
        self.bad_page_retries = bad_page_retries
        self.clock = clock
        self.default_days = default_days

    def fetch(self, symbol: str, timeframe: str, since_ms: int | None = None,
              until_ms: int | None = None, progress: Progress | None = None,
              on_checkpoint: OnCheckpoint | None = None) -> FetchResult:
        """Bring the cache for ``symbol``/``timeframe`` up to ``[since_ms, until_ms)``.

        Without ``since_ms``: continue after the cached range, or the last
        ``default_days`` days when nothing is cached. Without ``until_ms``: up to the last closed candle.
        """
        tf = timeframe_ms(timeframe)
        ex_id = self.exchange_id
        what = f"{ex_id} {symbol} {timeframe}"
        now = self.exchange.server_time_ms()
        last_closed_open = (now // tf) * tf - tf  # the candle containing `now` is still open
        end = last_closed_open + tf
        if until_ms is not None:
            end = min(end, -(-until_ms // tf) * tf)
        if since_ms is not None and since_ms > now:
            raise UsageError(f"--since {format_ts(since_ms)} is in the future "
                             f"(exchange time is {format_ts(now)})")
        have = None
        if self.cache.exists(ex_id, symbol, timeframe):
            info = self.cache.info(ex_id, symbol, timeframe)  # the file's footer only
            if info.error:
                raise DataValidationError(f"{info.path}: {info.error}")
            if info.start_ms is not None and info.end_ms is not None:
                have = (info.start_ms, info.end_ms)
        if since_ms is None:
            since = have[0] if have else ((end - self.default_days * _DAY_MS) // tf) * tf
        else:
            since = -(-since_ms // tf) * tf
        ranges = _ranges_to_fetch(have, since, end, tf)
        expected = sum((b - a) // tf for a, b in ranges)
        limit = self.exchange.max_candles_per_request(timeframe)
        pages: list[np.ndarray] = []
        buffered = 0
        downloaded = 0
        requests = 0
        last_checkpoint = self.clock()
        saved: CachedFile | None = None
        writing = False

        def checkpoint() -> None:
            nonlocal have, pages, buffered, last_checkpoint, saved, writing
            writing = True
            if buffered:
                rows = np.concatenate(pages)
                if have is None:
                    saved = self.cache.extend(ex_id, symbol, timeframe, after=rows)
                else:
                    # pages never overlap the cached range: they go before or after it
                    saved = self.cache.extend(ex_id, symbol, timeframe,
                                              before=rows[rows[:, 0] < have[0]],
                                              after=rows[rows[:, 0] > have[1]])
                have = (int(saved.start_ms), int(saved.end_ms))  # type: ignore[arg-type]
                if on_checkpoint is not None:
                    on_checkpoint(saved)
            pages, buffered = [], 0
            last_checkpoint = self.clock()
            writing = False

        try:
            for start, stop in ranges:
                cursor = start
                while cursor < stop:
                    page = self._page(symbol, timeframe, cursor, stop, limit, tf, what)
                    requests += 1
                    if page.shape[0] == 0:
                        cursor += limit * tf  # nothing here: a gap longer than a page, or the end
                    else:
                        pages.append(page)
                        buffered += page.shape[0]
                        downloaded += page.shape[0]
                        cursor = int(page[-1, 0]) + tf
                    if progress is not None:
                        progress(min(downloaded, expected), expected)
                    if buffered >= self.checkpoint_rows or (
                            buffered and self.clock() - last_checkpoint >= self.checkpoint_seconds):
                        checkpoint()
        except (KeyboardInterrupt, TradebotError):
            # Ctrl-C or an exchange that stopped answering: keep the whole, checked pages
            # downloaded so far (not when the interrupted step was the write itself)
            if not writing and pages:
                buffered = sum(p.shape[0] for p in pages)
                checkpoint()
            raise
        checkpoint()
        if saved is not None:
            report = saved.gap_report
        elif have is not None:
            report = self.cache.gap_report(ex_id, symbol, timeframe)  # streamed, flat memory
        else:
            raise ExchangeBadResponse(
                f"{what}: the exchange returned no candles between {format_ts(since)} and "
                f"{format_ts(end)}"
            )
        path = self.cache.path_for(ex_id, symbol, timeframe)
        return FetchResult(ex_id, symbol, timeframe, requests, downloaded, report.rows,
                           report.start_ms, report.end_ms, report.gap_count, report.missing,
                           report.summary(), str(path), up_to_date=not ranges)

    def _page(self, symbol: str, timeframe: str, cursor: int, stop: int, limit: int, tf: int,
              what: str) -> np.ndarray:
        """One checked page starting at ``cursor``; bad pages are asked for again."""
        attempt = 0
        while True:
            raw = self.exchange.fetch_ohlcv(symbol, timeframe, since_ms=cursor, limit=limit)
            try:
                return _check_page(np.asarray(raw, dtype=np.float64), cursor, stop, tf, what)
            except ExchangeBadResponse:
                attempt += 1
                if attempt >= self.bad_page_retries:
                    raise
