"""The downloader over an in-memory exchange that follows the port (pages, clock, faults).

End-to-end runs through ccxt and the replay HTTP server are in tests/services/test_fetch_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradebot.core.errors import ExchangeBadResponse, ExchangeUnavailable, UsageError
from tradebot.data.cache import CandleCache
from tradebot.data.downloader import Downloader, _ranges_to_fetch

TF = 60_000
T0 = 1_700_000_040_000 - (1_700_000_040_000 % TF)


def make_rows(n: int, start: int = T0, seed: int = 1, drop: slice | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    ts = start + TF * np.arange(n)
    rows = np.column_stack([ts, open_, high, low, close, rng.random(n) * 10])
    if drop is not None:
        rows = np.delete(rows, np.arange(n)[drop], axis=0)
    return rows


class ArrayExchange:
    """Serves candles from an array like Binance's klines: open time >= since, ascending."""

    def __init__(self, rows: np.ndarray, now_ms: int, page: int = 100) -> None:
        self.rows = rows
        self.now_ms = now_ms
        self.page = page
        self.requests = 0
        self.fail_after: int | None = None  # raise ExchangeUnavailable after this many pages
        self.bad_pages: set[int] = set()  # request numbers answered with a broken page

    id = "arrayex"
    timeframes = ["1m", "5m", "1h"]

    def max_candles_per_request(self, timeframe: str) -> int:
        return self.page

    def server_time_ms(self) -> int:
        return self.now_ms

    def fetch_ohlcv(self, symbol, timeframe, since_ms=None, limit=None, until_ms=None):  # type: ignore[no-untyped-def]
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            raise ExchangeUnavailable("arrayex: connection lost")
        if self.requests in self.bad_pages:
            page = self.rows[:3].copy()
            page[1, 0] = page[0, 0]  # duplicate timestamp
            return page
        visible = self.rows[self.rows[:, 0] <= self.now_ms]
        sel = visible[visible[:, 0] >= (since_ms or 0)][: limit or self.page].copy()
        if sel.size and sel[-1, 0] + TF > self.now_ms:  # the open candle, still moving
            sel[-1, 4] = sel[-1, 1]
        return sel


@pytest.fixture
def cache(tmp_path: Path) -> CandleCache:
    return CandleCache(tmp_path / "data")


def fetched(cache: CandleCache) -> np.ndarray:
    c = cache.load("arrayex", "BTC/USDT", "1m")
    return np.column_stack([c.timestamp, c.open, c.high, c.low, c.close, c.volume])


def test_ranges_to_fetch() -> None:
    assert _ranges_to_fetch(None, 0, 10 * TF, TF) == [(0, 10 * TF)]
    assert _ranges_to_fetch((3 * TF, 5 * TF), 0, 10 * TF, TF) == [(0, 3 * TF), (6 * TF, 10 * TF)]
    assert _ranges_to_fetch((0, 9 * TF), 0, 10 * TF, TF) == []
    assert _ranges_to_fetch((0, 5 * TF), 8 * TF, 10 * TF, TF) == [(8 * TF, 10 * TF)]


def test_fresh_fetch_equals_source_without_the_open_candle(cache: CandleCache) -> None:
    rows = make_rows(1000)
    now = int(rows[-1, 0]) + TF // 2  # the last candle is still open
    ex = ArrayExchange(rows, now, page=100)
    res = Downloader(ex, cache).fetch("BTC/USDT", "1m", since_ms=T0)
    np.testing.assert_array_equal(fetched(cache), rows[:-1])
    assert res.downloaded == 999 and res.rows == 999 and res.gaps == 0
    assert ex.requests == 10
    again = Downloader(ex, cache).fetch("BTC/USDT", "1m", since_ms=T0)
    assert again.up_to_date and again.downloaded == 0 and ex.requests == 10  # nothing asked


def test_forward_and_backward_extension(cache: CandleCache) -> None:
    rows = make_rows(1000)
    ex = ArrayExchange(rows, int(rows[600, 0]) + 1, page=64)
    Downloader(ex, cache).fetch("BTC/USDT", "1m", since_ms=int(rows[300, 0]))
    np.testing.assert_array_equal(fetched(cache), rows[300:600])
    ex.now_ms = int(rows[-1, 0]) + TF  # time passes: everything is closed
    before = ex.requests
    res = Downloader(ex, cache).fetch("BTC/USDT", "1m", since_ms=int(rows[100, 0]))
    np.testing.assert_array_equal(fetched(cache), rows[100:])
    assert res.downloaded == 200 + 400
    assert ex.requests - before == -(-200 // 64) + -(-400 // 64)  # only the missing pages


def test_killed_run_resumes_to_an_identical_file(cache: CandleCache, tmp_path: Path) -> None:
    rows = make_rows(5000, drop=slice(2000, 2100))  # a real gap of 100 candles
    now = int(rows[-1, 0]) + TF
    reference = CandleCache(tmp_path / "ref")
    Downloader(ArrayExchange(rows, now, page=100), reference).fetch("BTC/USDT", "1m", since_ms=T0)
    ref_file = reference.path_for("arrayex", "BTC/USDT", "1m")

    ex = ArrayExchange(rows, now, page=100)
    ex.fail_after = 23
    dl = Downloader(ex, cache, checkpoint_rows=500)
    with pytest.raises(ExchangeUnavailable):
        dl.fetch("BTC/USDT", "1m", since_ms=T0)
    kept = fetched(cache)
    # an exchange failure writes every page held (23 of 100 rows; the gap is 100 rows later);
    # a kill -9 keeps only checkpoints, which tests/services/test_fetch_e2e.py covers
    assert len(kept) == 2300
    np.testing.assert_array_equal(kept, rows[:2300])
    ex.fail_after = None
    asked = ex.requests
    res = Downloader(ex, cache).fetch("BTC/USDT", "1m", since_ms=T0)
    assert ex.requests - asked <= 30  # resumed after what was stored (4900 rows, 100 a page)
    out = cache.path_for("arrayex", "BTC/USDT", "1m")
    assert out.read_bytes() == ref_file.read_bytes()
    assert res.gaps == 1 and res.missing == 100  # reported, not filled


def test_bad_pages_are_asked_again_then_fail(cache: CandleCache) -> None:
    rows = make_rows(300)
    ex = ArrayExchange(rows, int(rows[-1, 0]) + TF, page=100)
    ex.bad_pages = {2}
    Downloader(ex, cache).fetch("BTC/USDT", "1m", since_ms=T0)
    np.testing.assert_array_equal(fetched(cache), rows)
    ex2 = ArrayExchange(rows, int(rows[-1, 0]) + TF, page=100)
    ex2.bad_pages = set(range(1, 100))
    with pytest.raises(ExchangeBadResponse, match="not strictly increasing"):
        Downloader(ex2, CandleCache(cache.root / "other")).fetch("BTC/USDT", "1m", since_ms=T0)


def test_since_in_the_future_is_refused(cache: CandleCache) -> None:
    rows = make_rows(10)
    ex = ArrayExchange(rows, int(rows[-1, 0]))
    with pytest.raises(UsageError, match="in the future"):
        Downloader(ex, cache).fetch("BTC/USDT", "1m", since_ms=int(rows[-1, 0]) + 10 * TF)


def test_default_range_is_the_last_30_days(cache: CandleCache) -> None:
    hourly = make_rows(50 * 24)  # 50 days of hourly candles
    hourly[:, 0] = T0 - T0 % 3_600_000 + 3_600_000 * np.arange(len(hourly))
    ex = ArrayExchange(hourly, int(hourly[-1, 0]) + 3_600_000, page=500)
    res = Downloader(ex, cache).fetch("BTC/USDT", "1h")
    assert res.rows == 30 * 24
