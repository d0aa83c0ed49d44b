"""A replay exchange: a real HTTP server on 127.0.0.1 that serves candles from files.

ccxt runs against it unmodified (only its URLs are pointed here, see :func:`point_ccxt_at`),
speaking one of two dialects: ``binance`` (``/api/v3``, ``/fapi/v1``, ``/dapi/v1``) or
``okx`` (``/api/v5``). The server has a clock (``now_ms``): candles that open after it are
not served, and the candle that contains it is served still open, with partial values.

Fault injection (:class:`FaultConfig`) turns a deterministic pseudo-random share of the
requests into HTTP 429, 5xx, slow answers, truncated pages, malformed JSON, HTML error
pages or dropped connections; the same seed and request order give the same faults.

Example::

    with ReplayExchange([ReplayMarket("BTC/USDT", "btc-1m.csv.gz")]) as rx:
        ex = point_ccxt_at(ccxt.binance({"enableRateLimit": False}), rx.url)
        ex.fetch_ohlcv("BTC/USDT", "1m", since=rx.first_ms("BTC/USDT"), limit=1000)
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from tradebot.core.candles import Candles

__all__ = [
    "ALL_FAULT_KINDS",
    "LoggedRequest",
    "DEFAULT_FAULT_KINDS",
    "FaultConfig",
    "ReplayExchange",
    "ReplayMarket",
    "ReplayStats",
    "point_ccxt_at",
    "timeframe_to_ms",
    "ms_to_timeframe",
]

#: The fault kinds drawn by default (``FaultConfig(kinds=...)`` default).
DEFAULT_FAULT_KINDS: tuple[str, ...] = (
    "rate_limit",      # HTTP 429 + Retry-After
    "server_error",    # HTTP 500 / 502 / 503 / 504
    "slow",            # sleep slow_s before answering (past the client's timeout)
    "truncated",       # valid JSON, first half of the rows only (list endpoints)
    "malformed_json",  # 200, the JSON document cut in the middle
    "html",            # an HTML (cloudflare) error page with status 200 or 502
    "drop",            # close the connection without any response
)
#: Every fault kind; the extras must be asked for explicitly.
ALL_FAULT_KINDS: tuple[str, ...] = DEFAULT_FAULT_KINDS + (
    "ban",             # binance: HTTP 418 (IP banned) + Retry-After; okx: 429
    "empty_body",      # 200 with an empty body
    "reset",           # TCP reset (RST) without a response
    "lost_answer",     # the request is processed (an order is placed), then the connection is dropped
    "late_answer",     # the request is processed, the answer sent after slow_s (the client gave up)
)
_LIST_KINDS = frozenset({"truncated"})  # only for endpoints that return lists of rows

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_WEEK_OFFSET_MS = 4 * 86_400_000  # epoch is a Thursday; exchanges start weeks on Monday


def timeframe_to_ms(timeframe: str) -> int:
    """``"1m"`` -> 60000, ``"4h"`` -> 14400000 (units s, m, h, d, w; case of H/D/W ignored)."""
    tf = timeframe.strip()
    if len(tf) >= 2 and tf[:-1].isdigit() and int(tf[:-1]) > 0:
        unit = tf[-1] if tf[-1] in ("m", "s") else tf[-1].lower()
        if unit in _UNIT_MS:
            return int(tf[:-1]) * _UNIT_MS[unit]
    raise ValueError(f"invalid timeframe {timeframe!r}: expected e.g. 1m, 5m, 1h, 4h, 1d")


def ms_to_timeframe(ms: int) -> str:
    """60000 -> ``"1m"``: the largest unit that divides ``ms``."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    raise ValueError(f"{ms} ms is not a whole number of seconds")


def _num(x: float) -> str:
    """Shortest text that reads back as exactly ``x``, never in exponent notation."""
    r = repr(x)
    if "e" in r or "n" in r:
        if x != x or x in (float("inf"), float("-inf")):
            return "0"
        r = np.format_float_positional(x, trim="-")
    if r.endswith(".0"):
        r = r[:-2]
    return r


def _decimals(values: np.ndarray, cap: int = 8) -> int:
    """Decimal places needed to write the (sampled) values exactly, at most ``cap``."""
    sample = values[:: max(1, len(values) // 2000)][:2000].tolist()
    best = 0
    for v in sample:
        r = _num(float(v))
        if "." in r:
            best = max(best, len(r) - r.index(".") - 1)
            if best >= cap:
                return cap
    return best


def split_symbol(symbol: str) -> tuple[str, str, str | None]:
    """``"BTC/USDT:USDT"`` -> ("BTC", "USDT", "USDT"); ``"BTC/USDT"`` -> ("BTC", "USDT", None)."""
    pair, _, settle = symbol.partition(":")
    base, sep, quote = pair.partition("/")
    if not sep or not base or not quote:
        raise ValueError(f"invalid symbol {symbol!r}: expected BASE/QUOTE or BASE/QUOTE:SETTLE")
    return base.upper(), quote.upper(), (settle.upper() or None)


@dataclass
class ReplayMarket:
    """One market the server replays: a unified ccxt symbol and its candles.

    ``candles`` is a :class:`Candles` or a CSV path (read with
    :func:`tradebot.data.csv_io.read_candles_csv`). ``timeframe`` defaults to the data's
    own spacing (the smallest step between two open times). A spot symbol (``BTC/USDT``)
    is also listed as a USDT-margined perpetual (``BTC/USDT:USDT``) with the same data;
    a ``BASE/QUOTE:SETTLE`` symbol is listed as a perpetual only.
    """

    symbol: str = "BTC/USDT"
    candles: Candles | str | Path | None = None
    timeframe: str | None = None


@dataclass(frozen=True)
class FaultConfig:
    """Which faults to inject, and how often.

    ``rate`` is the share of requests (0..1) that get a fault; the kind is drawn
    uniformly from ``kinds`` (``truncated`` only where the answer is a list of rows:
    on other endpoints it is drawn from the remaining kinds). ``seed`` (default: the
    server's seed) makes the sequence reproducible for a given request order.
    ``endpoints``: only requests to these endpoint names (see ``ReplayStats.requests``)
    get faults (default: all). ``garbage``: every answer is 200 with non-JSON bytes.
    ``down``: every connection is closed before a request is read.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    retry_after_s: float = 0.2
    slow_s: float = 2.0
    seed: int | None = None
    endpoints: tuple[str, ...] | None = None
    garbage: bool = False
    down: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within 0..1, got {self.rate}")
        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        unknown = [k for k in kinds if k not in ALL_FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(ALL_FAULT_KINDS)}")
        if not kinds and self.rate > 0:
            raise ValueError("fault rate > 0 needs at least one fault kind")
        object.__setattr__(self, "kinds", kinds)
        if self.endpoints is not None:
            object.__setattr__(self, "endpoints", tuple(self.endpoints))


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it (the request log tests assert on).

    ``params``: query and form parameters without ``signature``; ``processed``: the
    endpoint's handler ran (for a new order: it may have been placed); ``answered``:
    an answer was sent (False for drops, resets and ``lost_answer``); ``status``: the
    HTTP status of the answer (0 when none was sent)."""

    seq: int
    method: str
    path: str
    endpoint: str
    params: dict[str, str]
    status: int
    fault: str | None
    processed: bool
    answered: bool
    api_key: bool = False


@dataclass
class ReplayStats:
    """What the server did: requests per endpoint, faults per kind, klines served."""

    requests: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    klines_served: int = 0
    total_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "faults": dict(self.faults),
                "klines_served": self.klines_served, "total_requests": self.total_requests,
                "faults_total": sum(self.faults.values())}


# --------------------------------------------------------------------------------------
# market data
# --------------------------------------------------------------------------------------

_BLOCK = 8192
MAX_CACHED_BLOCKS = 96  # rendered rows kept per market (about 0.8 M rows, ~120 MB at most)
TRADES_PER_CANDLE = 20


class Series:
    """Candles of one market at one timeframe, with per-dialect caches of rendered rows."""

    def __init__(self, ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
                 v: np.ndarray, tf_ms: int, price_decimals: int | None = None,
                 amount_decimals: int | None = None) -> None:
        self.ts = np.ascontiguousarray(ts, dtype=np.int64)
        self.o = np.ascontiguousarray(o, dtype=np.float64)
        self.h = np.ascontiguousarray(h, dtype=np.float64)
        self.l = np.ascontiguousarray(lo, dtype=np.float64)
        self.c = np.ascontiguousarray(c, dtype=np.float64)
        self.v = np.ascontiguousarray(v, dtype=np.float64)
        self.tf_ms = int(tf_ms)
        self.timeframe = ms_to_timeframe(self.tf_ms)
        self.price_decimals = (_decimals(np.concatenate([self.o[:1000], self.c[:1000]]))
                               if price_decimals is None else price_decimals)
        self.amount_decimals = _decimals(self.v) if amount_decimals is None else amount_decimals
        self._rows: dict[str, list[_RowBlock | None]] = {}
        self._rendered: deque[tuple[str, int]] = deque()
        self._lock = threading.Lock()
        self._resampled: dict[int, Series] = {}

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    # --- visibility -------------------------------------------------------------------
    def visible_count(self, now_ms: int) -> int:
        """Number of candles whose open time is <= now."""
        return int(np.searchsorted(self.ts, now_ms, "right"))

    def is_open(self, i: int, now_ms: int) -> bool:
        return 0 <= i < len(self) and int(self.ts[i]) <= now_ms < int(self.ts[i]) + self.tf_ms

    def partial(self, i: int, now_ms: int) -> tuple[int, float, float, float, float, float]:
        """Candle ``i`` as seen at ``now`` while still open: a proportional part of it."""
        t = int(self.ts[i])
        f = min(max((now_ms - t) / self.tf_ms, 0.0), 1.0)
        o, h, lo, c, v = (float(self.o[i]), float(self.h[i]), float(self.l[i]), float(self.c[i]),
                          float(self.v[i]))
        d = self.price_decimals
        close = round(o + (c - o) * f, d)
        high = round(max(o, close) + (h - max(o, c)) * f, d)
        low = round(min(o, close) - (min(o, c) - lo) * f, d)
        vol = round(v * f, self.amount_decimals)
        return t, o, max(high, o, close), min(low, o, close), close, vol

    # --- rendered rows ------------------------------------------------------------------
    def page(self, key: str, lo: int, hi: int, render: Callable[[Series, int, int], Any],
             descending: bool = False) -> bytes:
        """Rows ``[lo, hi)`` rendered by ``render``, joined by commas (no brackets).

        ``render(series, start, stop)`` returns the rows of a block as a pyarrow string
        array (see :func:`join_rows`); blocks are rendered once and kept as one bytes
        buffer with row offsets, so serving a page is a few slices whatever its size.
        ``descending`` gives the rows newest first.
        """
        if hi <= lo:
            return b""
        blocks = self._rows.get(key)
        if blocks is None:
            with self._lock:
                blocks = self._rows.setdefault(key, [None] * ((len(self) + _BLOCK - 1) // _BLOCK))
        pieces: list[bytes] = []
        b0, b1 = lo // _BLOCK, (hi - 1) // _BLOCK
        for b in range(b0, b1 + 1):
            block = blocks[b]
            start = b * _BLOCK
            stop = min(start + _BLOCK, len(self))
            if block is None:
                block = _RowBlock(render(self, start, stop), descending)
                blocks[b] = block  # a race renders the same block twice: harmless
                with self._lock:
                    self._rendered.append((key, b))
                    if len(self._rendered) > MAX_CACHED_BLOCKS:  # bound memory on huge files
                        old_key, old_b = self._rendered.popleft()
                        self._rows[old_key][old_b] = None
            pieces.append(block.slice(max(lo, start) - start, min(hi, stop) - start))
        if descending:
            pieces.reverse()
        body = b"".join(pieces)
        return body[:-1]  # every row ends with a comma

    # --- slicing by time ----------------------------------------------------------------
    def index_ge(self, t: int) -> int:
        return int(np.searchsorted(self.ts, t, "left"))

    def index_gt(self, t: int) -> int:
        return int(np.searchsorted(self.ts, t, "right"))

    # --- resampling ---------------------------------------------------------------------
    def resample(self, tf_ms: int) -> Series | None:
        """This series at a coarser timeframe (a whole multiple), or None if impossible."""
        if tf_ms == self.tf_ms:
            return self
        if tf_ms < self.tf_ms or tf_ms % self.tf_ms:
            return None
        with self._lock:
            cached = self._resampled.get(tf_ms)
            if cached is not None:
                return cached
            offset = _WEEK_OFFSET_MS if tf_ms % _UNIT_MS["w"] == 0 else 0
            bucket = (self.ts - offset) // tf_ms * tf_ms + offset
            starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]]) if len(self) else \
                np.zeros(0, dtype=np.int64)
            ends = np.r_[starts[1:], len(self)] - 1
            out = Series(bucket[starts], self.o[starts], np.maximum.reduceat(self.h, starts),
                         np.minimum.reduceat(self.l, starts), self.c[ends],
                         np.add.reduceat(self.v, starts), tf_ms, self.price_decimals,
                         self.amount_decimals) if len(self) else None
            if out is not None:
                out.v = np.round(out.v, self.amount_decimals)
                self._resampled[tf_ms] = out
            return out

    # --- synthetic trades ---------------------------------------------------------------
    def trades(self, first_id: int, last_id: int, now_ms: int) -> dict[str, np.ndarray]:
        """Synthetic trades with ids ``[first_id, last_id)`` that happened at or before now.

        Candle ``i`` holds trades ``i*20 .. i*20+19``, evenly spaced in time along the path
        open -> low -> high -> close (or open -> high -> low -> close for a down candle),
        each of a twentieth of the candle's volume.
        """
        k = TRADES_PER_CANDLE
        first_id = max(first_id, 0)
        last_id = min(last_id, len(self) * k)
        if last_id <= first_id:
            return _empty_trades()
        ids = np.arange(first_id, last_id, dtype=np.int64)
        ci, j = ids // k, ids % k
        frac = (j + 0.5) / k
        t = self.ts[ci] + (frac * self.tf_ms).astype(np.int64)
        o, h, lo, c = self.o[ci], self.h[ci], self.l[ci], self.c[ci]
        up = c >= o
        p1, p2 = np.where(up, lo, h), np.where(up, h, lo)
        seg = np.minimum((frac * 3).astype(np.int64), 2)
        w = frac * 3 - seg
        a = np.choose(seg, [o, p1, p2])
        b = np.choose(seg, [p1, p2, c])
        price = np.round(a + (b - a) * w, self.price_decimals)
        qty = np.round(self.v[ci] / k, self.amount_decimals)
        qty = np.where(qty > 0, qty, 10.0 ** -self.amount_decimals)
        prev = np.r_[price[:1], price[:-1]]
        buyer_maker = price < prev
        keep = t <= now_ms
        return {"id": ids[keep], "time": t[keep], "price": price[keep], "qty": qty[keep],
                "buyer_maker": buyer_maker[keep]}

    def trade_id_at(self, t: int) -> int:
        """The id of the first trade at or after time ``t``."""
        i = max(self.index_gt(t) - 1, 0)
        if i >= len(self):
            return len(self) * TRADES_PER_CANDLE
        k = TRADES_PER_CANDLE
        base = int(self.ts[i])
        if t < base:
            return i * k
        j = int(np.ceil(((t - base) / self.tf_ms) * k - 0.5))
        if j >= k:
            return (i + 1) * k
        return i * k + max(j, 0)

    # --- order book ---------------------------------------------------------------------
    def last_price(self, now_ms: int) -> float | None:
        n = self.visible_count(now_ms)
        if n == 0:
            return None
        if self.is_open(n - 1, now_ms):
            return self.partial(n - 1, now_ms)[4]
        return float(self.c[n - 1])

    def book(self, now_ms: int, depth: int, seed: int) -> tuple[list[tuple[float, float]],
                                                                 list[tuple[float, float]]]:
        """A deterministic order book around the last price: (bids, asks), best first."""
        mid = self.last_price(now_ms)
        if mid is None:
            return [], []
        tick = 10.0 ** -self.price_decimals
        rng = np.random.default_rng([seed & 0xFFFFFFFF, (now_ms // 1000) & 0xFFFFFFFF])
        depth = max(int(depth), 1)
        bid0 = np.floor(mid / tick + 1e-9) * tick  # best bid at or just below the last price
        ask0 = bid0 + tick
        bids = np.round(bid0 - np.r_[0, np.cumsum(rng.integers(1, 4, size=depth - 1))] * tick,
                        self.price_decimals)
        asks = np.round(ask0 + np.r_[0, np.cumsum(rng.integers(1, 4, size=depth - 1))] * tick,
                        self.price_decimals)
        avg = float(np.mean(self.v[max(0, len(self) - 100):])) or 1.0
        unit = 10.0 ** -self.amount_decimals
        size = lambda n: np.maximum(np.round(rng.exponential(avg / 50, n), self.amount_decimals),  # noqa: E731
                                    unit)
        bids = bids[bids > 0]
        return (list(zip(bids.tolist(), size(len(bids)).tolist(), strict=True)),
                list(zip(asks.tolist(), size(len(asks)).tolist(), strict=True)))

    # --- 24h statistics -----------------------------------------------------------------
    def window_stats(self, now_ms: int, window_ms: int = 86_400_000) -> dict[str, float] | None:
        """Open/high/low/last/volume/quote volume of the candles in (now - window, now]."""
        n = self.visible_count(now_ms)
        if n == 0:
            return None
        lo = self.index_gt(now_ms - window_ms)
        lo = min(lo, n - 1)
        o, h, low, c, v = self.o[lo:n].copy(), self.h[lo:n].copy(), self.l[lo:n].copy(), \
            self.c[lo:n].copy(), self.v[lo:n].copy()
        if self.is_open(n - 1, now_ms):
            _, po, ph, pl, pc, pv = self.partial(n - 1, now_ms)
            o[-1], h[-1], low[-1], c[-1], v[-1] = po, ph, pl, pc, pv
        quote = float(np.sum(v * (h + low + c) / 3.0))
        vol = float(np.sum(v))
        return {"open": float(o[0]), "high": float(np.max(h)), "low": float(np.min(low)),
                "last": float(c[-1]), "volume": round(vol, self.amount_decimals),
                "quote_volume": round(quote, 8), "vwap": round(quote / vol, self.price_decimals) if vol else
                float(c[-1]), "open_time": max(now_ms - window_ms, int(self.ts[lo])),
                "first": lo, "last_index": n - 1}


def _empty_trades() -> dict[str, np.ndarray]:
    z = np.zeros(0)
    return {"id": z.astype(np.int64), "time": z.astype(np.int64), "price": z, "qty": z,
            "buyer_maker": z.astype(bool)}


class _RowBlock:
    """Rendered rows of one block: a bytes buffer and the offset of every row in it."""

    __slots__ = ("data", "offsets", "n", "descending")

    def __init__(self, rows: Any, descending: bool) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.n = len(rows)
        self.descending = descending
        if descending and self.n:
            rows = rows.take(pa.array(np.arange(self.n - 1, -1, -1)))
        rows = pc.binary_join_element_wise(rows, pa.scalar(","), "")
        if not isinstance(rows, pa.LargeStringArray):
            rows = rows.cast(pa.large_string())
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset: rows.offset + self.n + 1]
        base = int(offsets[0]) if self.n else 0
        self.offsets = offsets - base
        self.data = rows.buffers()[2].to_pybytes()[base: base + int(self.offsets[-1])] if self.n else b""

    def slice(self, s: int, e: int) -> bytes:
        """Rows ``[s, e)`` in time order (stored reversed when descending)."""
        if self.descending:
            s, e = self.n - e, self.n - s
        return self.data[self.offsets[s]: self.offsets[e]]


def fmt_exact(values: np.ndarray) -> Any:
    """Floats as the shortest text that reads back exactly, never with an exponent."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = np.ascontiguousarray(values, dtype=np.float64)
    out = pc.cast(pa.array(arr), pa.string())
    has_e = pc.match_substring(out, "e")
    if pc.any(has_e).as_py():
        idx = np.flatnonzero(has_e.to_numpy(zero_copy_only=False))
        fixed = out.to_pylist()
        for i in idx.tolist():
            fixed[i] = _num(float(arr[i]))
        out = pa.array(fixed, pa.string())
    return out


def fmt_fixed(values: np.ndarray, decimals: int = 8) -> Any:
    """Floats with exactly ``decimals`` decimals (like ``"43519.34000000"``), vectorized."""
    import pyarrow as pa
    import pyarrow.compute as pc

    x = np.ascontiguousarray(values, dtype=np.float64)
    neg = x < 0
    x = np.abs(x)
    ip = np.floor(x)
    if decimals <= 0:
        text = pc.cast(pa.array(np.rint(x).astype(np.int64)), pa.string())
    else:
        scale = 10 ** decimals
        frac = np.rint((x - ip) * scale).astype(np.int64)
        carry = frac >= scale
        ip = ip + carry
        frac = frac - carry * scale
        text = pc.binary_join_element_wise(
            pc.cast(pa.array(ip.astype(np.int64)), pa.string()),
            pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), width=decimals, padding="0"), ".")
    if neg.any():
        text = pc.if_else(pa.array(neg), pc.binary_join_element_wise("-", text, ""), text)
    return text


def fmt_int(values: np.ndarray) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pa.array(np.ascontiguousarray(values, dtype=np.int64)), pa.string())


def join_rows(*parts: Any) -> Any:
    """Concatenate literal strings and string arrays element-wise into one row per element."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, "")


class MarketData:
    """A market as the server sees it: ids, its base series and derived facts."""

    def __init__(self, market: ReplayMarket) -> None:
        src = market.candles
        if src is None:
            raise ValueError(f"market {market.symbol}: no candles given")
        if not isinstance(src, Candles):
            from tradebot.data.csv_io import read_candles_csv

            src = read_candles_csv(src, symbol=market.symbol)
        self.symbol = market.symbol
        self.base, self.quote, self.settle = split_symbol(market.symbol)
        ts = np.asarray(src.timestamp, dtype=np.int64)
        if len(ts) == 0:
            raise ValueError(f"market {market.symbol}: no candles")
        tf = market.timeframe or src.timeframe or None
        if tf:
            tf_ms = timeframe_to_ms(tf)
            if len(ts) > 1 and np.any(np.diff(ts) % tf_ms):
                raise ValueError(f"market {market.symbol}: candles are not spaced by whole {tf} steps")
        else:
            steps = np.diff(ts)
            steps = steps[steps > 0]
            tf_ms = int(steps.min()) if len(steps) else 60_000
        self.series = Series(ts, src.open, src.high, src.low, src.close, src.volume, tf_ms)
        self.timeframe = self.series.timeframe

    @property
    def spot(self) -> bool:
        return self.settle is None

    def at(self, tf_ms: int) -> Series | None:
        return self.series.resample(tf_ms)


# --------------------------------------------------------------------------------------
# requests, responses and dialects
# --------------------------------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    truncate: bool = False
    raw_query: str = ""


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"
    rows: int = 0  # candles in the body (for stats)

    @classmethod
    def json(cls, obj: Any, status: int = 200, **headers: str) -> Response:
        return cls(status, json.dumps(obj, separators=(",", ":")).encode(), dict(headers))


Handler = Callable[[Request], Response]

CLOUDFLARE_HTML = (
    "<!DOCTYPE html>\n<html>\n<head><title>{status} Bad Gateway | cloudflare</title></head>\n"
    "<body>\n<center><h1>{status} Bad Gateway</h1></center>\n"
    "<hr><center>cloudflare</center>\n</body>\n</html>\n"
)


class Dialect:
    """One exchange's REST API: routes, error formats, and the answers to faults."""

    name = ""

    def __init__(self, server: ReplayExchange) -> None:
        self.server = server
        self.routes: dict[tuple[str, str], tuple[str, Handler]] = {}
        self.list_endpoints: set[str] = set()

    def add(self, method: str, path: str, endpoint: str, handler: Handler, is_list: bool = False) -> None:
        self.routes[(method, path)] = (endpoint, handler)
        if is_list:
            self.list_endpoints.add(endpoint)

    def route(self, method: str, path: str) -> tuple[str, Handler] | None:
        return self.routes.get((method, path.rstrip("/") or "/"))

    # answers every dialect must give
    def not_found(self, req: Request) -> Response:
        return Response(404, b"<html><body><h1>404 Not Found</h1></body></html>", {}, "text/html")

    def auth_check(self, req: Request) -> Response | None:
        return None

    def rate_limited(self, retry_after: str, ban: bool = False) -> Response:
        raise NotImplementedError

    def server_error(self, status: int) -> Response:
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------

class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    replay: ReplayExchange

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self.replay._down:
            with self.replay._lock:
                self.replay._stats.faults["down"] += 1
            _hard_close(request)
            return False
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: clients go away
        pass


def _hard_close(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), so the peer sees the connection die."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "replay-exchange/1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _any(self) -> None:
        self.server.replay._handle(self)

    do_GET = do_POST = do_DELETE = do_PUT = _any


class ReplayExchange:
    """The replay exchange server. See the module docstring.

    ``rejected_api_keys``: requests carrying one of these API keys are refused as an
    exchange refuses bad credentials (binance: 401 code -2015; okx: 401 code 50113).
    ``balances``: what the (unsigned-checked) account endpoints report, asset -> free amount.
    """

    def __init__(self, markets: list[ReplayMarket] | ReplayMarket, dialect: str = "binance",
                 faults: FaultConfig | None = None, now_ms: int | None = None, seed: int = 0, *,
                 host: str = "127.0.0.1", port: int = 0,
                 rejected_api_keys: Iterable[str] = ("rejected",),
                 balances: dict[str, float] | None = None,
                 api_keys: dict[str, str] | None = None,
                 account: Any = None) -> None:
        if isinstance(markets, ReplayMarket):
            markets = [markets]
        if not markets:
            raise ValueError("ReplayExchange needs at least one market")
        self.markets: dict[str, MarketData] = {}
        for m in markets:
            data = MarketData(m)
            if data.symbol in self.markets:
                raise ValueError(f"market {data.symbol} given twice")
            self.markets[data.symbol] = data
        self.dialect_name = dialect
        self.seed = seed
        self.host, self._port = host, port
        self.rejected_api_keys = set(rejected_api_keys)
        self.balances = dict(balances) if balances is not None else {"USDT": 10_000.0, "BTC": 1.0}
        #: API key -> secret. When set, signed endpoints check the key, the HMAC-SHA256
        #: signature and timestamp/recvWindow as Binance does; None: not checked.
        self.api_keys = dict(api_keys) if api_keys is not None else None
        #: added to the wall clock that signed requests' timestamps are checked against
        self.clock_skew_ms = 0
        self._account_config = account
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._stats = ReplayStats()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._down = False
        self._refusing = False
        self.faults = faults or FaultConfig()
        default_now = max(int(d.series.ts[-1]) + d.series.tf_ms // 2 for d in self.markets.values())
        self._now_ms = int(now_ms) if now_ms is not None else default_now
        self.dialect = _make_dialect(dialect, self)

    # --- configuration at run time ------------------------------------------------------
    @property
    def faults(self) -> FaultConfig:
        return self._faults

    @faults.setter
    def faults(self, cfg: FaultConfig) -> None:
        """Replace the fault configuration (restarts the fault sequence from its seed)."""
        with getattr(self, "_lock", threading.Lock()):
            self._faults = cfg
            self._rng = random.Random(self.seed if cfg.seed is None else cfg.seed)
            self._down = cfg.down

    @property
    def now_ms(self) -> int:
        """The server's clock: what time it is on the exchange (ms)."""
        return self._now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self._now_ms = int(value)
        self._on_time()

    def advance(self, ms: int) -> int:
        """Move the clock forward by ``ms``; returns the new time (resting orders are
        matched against the candles that closed meanwhile)."""
        with self._lock:
            self._now_ms += int(ms)
            now = self._now_ms
        self._on_time()
        return now

    def _on_time(self) -> None:
        hook = getattr(getattr(self, "dialect", None), "on_time", None)
        if hook is not None:
            hook(self._now_ms)

    def wall_ms(self) -> int:
        """The clock signed requests' timestamps are checked against: the wall clock
        plus :attr:`clock_skew_ms` (the replay clock ``now_ms`` is market time)."""
        import time

        return int(time.time() * 1000) + int(self.clock_skew_ms)

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self._lock:
            self._log.clear()

    def set_down(self, down: bool = True, refuse: bool = False) -> None:
        """Simulate the exchange being down: close every connection on arrival, or with
        ``refuse=True`` stop listening (connection refused). ``set_down(False)`` restores."""
        if refuse and down:
            self._down = True
            if self._server is not None and not self._refusing:
                self._refusing = True
                self._shutdown_server()
            return
        self._down = down
        if not down and self._refusing:
            self._refusing = False
            self._start_server(self._port)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a background thread; returns the base URL."""
        if self._server is None:
            self._stopping.clear()
            join_rows("[", fmt_exact(np.zeros(1)), fmt_fixed(np.ones(1)), fmt_int(np.zeros(1)), "]")  # load pyarrow now
            self._start_server(self._port)
        return self.url

    def _start_server(self, port: int) -> None:
        server = _HTTPServer((self.host, port), _RequestHandler)
        server.replay = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"replay-exchange-{self._port}", daemon=True)
        self._thread.start()

    def _shutdown_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def stop(self) -> None:
        """Stop serving (wakes slow answers; open connections are dropped)."""
        self._stopping.set()
        self._refusing = False
        self._shutdown_server()

    def __enter__(self) -> ReplayExchange:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("the replay exchange is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def stats(self) -> ReplayStats:
        """A snapshot of the counters."""
        with self._lock:
            s = self._stats
            return ReplayStats(Counter(s.requests), Counter(s.faults), s.klines_served, s.total_requests)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = ReplayStats()

    # --- helpers for tests ---------------------------------------------------------------
    def market(self, symbol: str) -> MarketData:
        try:
            return self.markets[symbol]
        except KeyError:
            for m in self.markets.values():
                if f"{m.base}/{m.quote}" == symbol.split(":")[0]:
                    return m
            raise KeyError(f"no market {symbol!r}; have {', '.join(self.markets)}") from None

    def first_ms(self, symbol: str) -> int:
        return int(self.market(symbol).series.ts[0])

    def closed_candles(self, symbol: str, timeframe: str | None = None) -> np.ndarray:
        """The candles a correct client ends with: closed at ``now``, as an (n, 6) array."""
        s = self.market(symbol).series
        if timeframe:
            s = s.resample(timeframe_to_ms(timeframe)) or s
        n = s.visible_count(self._now_ms)
        if n and s.is_open(n - 1, self._now_ms):
            n -= 1
        return np.column_stack([s.ts[:n].astype(np.float64), s.o[:n], s.h[:n], s.l[:n], s.c[:n], s.v[:n]])

    # --- request handling -----------------------------------------------------------------
    def _draw_fault(self, endpoint: str) -> str | None:
        cfg = self._faults
        if cfg.rate <= 0.0:
            return None
        if cfg.endpoints is not None and endpoint not in cfg.endpoints:
            return None
        u = self._rng.random()
        kinds = cfg.kinds
        if endpoint not in self.dialect.list_endpoints:
            kinds = tuple(k for k in kinds if k not in _LIST_KINDS)
        pick = self._rng.randrange(len(kinds)) if kinds else 0
        if u >= cfg.rate or not kinds:
            return None
        return kinds[pick]

    def _handle(self, h: _RequestHandler) -> None:
        if self._down:  # also kills keep-alive connections opened before going down
            with self._lock:
                self._stats.faults["down"] += 1
            h.close_connection = True
            _hard_close(h.connection)
            return None
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length > 0 else b""
        if body and "json" not in (h.headers.get("Content-Type") or ""):
            try:
                query.update(parse_qsl(body.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                pass
        headers = {k.lower(): v for k, v in h.headers.items()}
        req = Request(h.command, parts.path, query, headers, body, raw_query=parts.query)
        cfg = self._faults
        routed = self.dialect.route(h.command, parts.path)
        endpoint = routed[0] if routed else "unknown"
        with self._lock:
            self._stats.total_requests += 1
            self._stats.requests[endpoint] += 1
            seq = self._stats.total_requests
            kind = self._draw_fault(endpoint)
            if kind:
                self._stats.faults[kind] += 1
        shown = {k: v for k, v in query.items() if k != "signature"}

        def log(status: int, processed: bool, answered: bool) -> None:
            entry = LoggedRequest(seq, h.command, parts.path, endpoint, shown, status, kind, processed,
                                  answered, "x-mbx-apikey" in headers)
            with self._lock:
                self._log.append(entry)

        if cfg.garbage:
            with self._lock:
                self._stats.faults["garbage"] += 1
            log(200, False, True)
            return self._send(h, Response(200, _garbage(self._stats.total_requests), {}, "text/plain"))
        if kind in ("drop", "reset"):
            log(0, False, False)
            h.close_connection = True
            if kind == "reset":
                _hard_close(h.connection)
            else:
                try:
                    h.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return None
        if kind == "slow":
            self._stopping.wait(cfg.slow_s)
            if self._stopping.is_set():
                h.close_connection = True
                log(0, False, False)
                return None
        retry = _fmt_seconds(cfg.retry_after_s)
        refusal: Response | None = None
        if kind == "rate_limit":
            refusal = self.dialect.rate_limited(retry)
        elif kind == "ban":
            refusal = self.dialect.rate_limited(retry, ban=True)
        elif kind == "server_error":
            refusal = self.dialect.server_error((500, 502, 503, 504)[self._rng_pick(4)])
        elif kind == "html":
            status = (200, 502)[self._rng_pick(2)]
            refusal = Response(status, CLOUDFLARE_HTML.format(status=502).encode(), {}, "text/html; charset=UTF-8")
        elif kind == "empty_body":
            refusal = Response(200, b"")
        if refusal is not None:  # answered without processing the request
            log(refusal.status, False, True)
            return self._send(h, refusal)
        auth = self.dialect.auth_check(req)
        if auth is not None:
            log(auth.status, False, kind != "lost_answer")
            return self._finish(h, auth, kind)
        if routed is None:
            log(404, False, kind != "lost_answer")
            return self._finish(h, self.dialect.not_found(req), kind)
        req.truncate = kind == "truncated"
        try:
            resp = routed[1](req)
        except Exception as e:  # a bug here must still answer (and show in the body)
            resp = self.dialect.server_error(500)
            resp.body += f" [replay-exchange bug: {type(e).__name__}: {e}]".encode()
        if resp.rows:
            with self._lock:
                self._stats.klines_served += resp.rows
        if kind == "malformed_json" and resp.body:
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        log(resp.status, True, kind != "lost_answer")
        return self._finish(h, resp, kind)

    def _finish(self, h: _RequestHandler, resp: Response, kind: str | None) -> None:
        """Send the answer, or lose it (``lost_answer``), or send it too late (``late_answer``)."""
        if kind == "lost_answer":
            h.close_connection = True
            _hard_close(h.connection)
            return None
        if kind == "late_answer":
            self._stopping.wait(self._faults.slow_s)
            if self._stopping.is_set():
                h.close_connection = True
                return None
        return self._send(h, resp)

    def _rng_pick(self, n: int) -> int:
        with self._lock:
            return self._rng.randrange(n)

    def _send(self, h: _RequestHandler, resp: Response) -> None:
        """Write the whole answer in one send (no Nagle/delayed-ACK stalls)."""
        try:
            reason = HTTPStatus(resp.status).phrase
        except ValueError:
            reason = "Error"
        head = [f"HTTP/1.1 {resp.status} {reason}", f"Content-Type: {resp.content_type}",
                f"Content-Length: {len(resp.body)}", f"Server: {h.server_version}"]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        if h.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        try:
            h.wfile.write(data + resp.body if h.command != "HEAD" else data)
        except OSError:
            h.close_connection = True


def _fmt_seconds(s: float) -> str:
    return str(int(s)) if float(s).is_integer() else f"{s:g}"


def _garbage(n: int) -> bytes:
    rng = random.Random(n)
    return b"\x00garbage " + bytes(rng.randrange(32, 127) for _ in range(64)) + b"\xff\xfe"


def _make_dialect(name: str, server: ReplayExchange) -> Dialect:
    if name == "binance":
        from tradebot.testing.replay_binance import BinanceDialect

        return BinanceDialect(server)
    if name == "okx":
        from tradebot.testing.replay_okx import OkxDialect

        return OkxDialect(server)
    raise ValueError(f"unknown replay dialect {name!r}: expected 'binance' or 'okx'")


# --------------------------------------------------------------------------------------
# pointing ccxt at the server
# --------------------------------------------------------------------------------------

def point_ccxt_at(exchange: Any, base_url: str) -> Any:
    """Point a ccxt exchange object (sync or async) at the replay server; returns it.

    The same rewrite the adapter applies for ``exchanges.<id>.base_url``
    (:func:`tradebot.exchanges.ccxt_exchange.rewrite_api_urls`), kept under this name
    for tests that drive ccxt directly.
    """
    from tradebot.exchanges.ccxt_exchange import rewrite_api_urls

    return rewrite_api_urls(exchange, base_url)
