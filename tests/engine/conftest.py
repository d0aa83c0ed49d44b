"""Shared helpers of the engine tests: candle builders, the standard workload data."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals

# pytest runs with --import-mode=importlib: make the sibling slow_reference importable.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

T0_MS = 1704067200000  # 2024-01-01T00:00:00Z


def candles_from(open_, high, low, close, volume=None, step_ms: int = 60_000) -> Candles:
    o = np.ascontiguousarray(open_, dtype=np.float64)
    n = o.shape[0]
    vol = np.ones(n) if volume is None else np.ascontiguousarray(volume, dtype=np.float64)
    return Candles(
        T0_MS + step_ms * np.arange(n, dtype=np.int64), o,
        np.ascontiguousarray(high, dtype=np.float64), np.ascontiguousarray(low, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64), vol,
    )


def signals_at(n: int, entries=(), exits=(), short_entries=None, short_exits=None) -> Signals:
    """Signals with True at the listed bar indices."""
    def arr(idx):
        a = np.zeros(n, dtype=np.bool_)
        a[list(idx)] = True
        return a

    if short_entries is None and short_exits is None:
        return Signals(arr(entries), arr(exits))
    return Signals(arr(entries), arr(exits), arr(short_entries or ()), arr(short_exits or ()))


def random_candles(rng: np.random.Generator, n: int, sigma: float = 0.01,
                   gap_prob: float = 0.1, start: float = 100.0) -> Candles:
    """A valid OHLC random walk (low <= open, close <= high) with occasional opening gaps."""
    close = start * np.exp(np.cumsum(sigma * rng.standard_normal(n)))
    open_ = np.empty(n)
    open_[0] = start
    open_[1:] = close[:-1]
    gaps = rng.random(n) < gap_prob
    open_[gaps] *= np.exp(3 * sigma * rng.standard_normal(int(gaps.sum())))
    high = np.maximum(open_, close) * (1 + np.abs(sigma * rng.standard_normal(n)))
    low = np.minimum(open_, close) * (1 - np.abs(sigma * rng.standard_normal(n)))
    return candles_from(open_, high, low, close, np.exp(rng.standard_normal(n)))


# -- the standard workload (/work/shared/bench/WORKLOAD.md, section 1) -----------------

def workload_arrays(n: int) -> dict[str, np.ndarray]:
    """The workload candles, every price and volume rounded to 6 decimals."""
    rng = np.random.default_rng(42)
    z = rng.standard_normal((n, 4))
    close = 30000 * np.exp(np.cumsum(0.001 * z[:, 0]))
    open_ = np.empty(n)
    open_[0] = 30000.0
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * (1 + np.abs(0.0005 * z[:, 1]))
    low = np.minimum(open_, close) * (1 - np.abs(0.0005 * z[:, 2]))
    volume = np.exp(3 + 1 * z[:, 3])
    out = {"timestamp": T0_MS + 60000 * np.arange(n, dtype=np.int64)}
    for name, a in (("open", open_), ("high", high), ("low", low), ("close", close),
                    ("volume", volume)):
        out[name] = np.round(a, 6)
    return out


def workload_csv(a: dict[str, np.ndarray]) -> str:
    """The CSV text of the workload file: ``%.6f`` floats, ``\\n`` line ends."""
    cols = [a[k].tolist() for k in ("open", "high", "low", "close", "volume")]
    lines = ["timestamp,open,high,low,close,volume"]
    lines.extend(
        f"{ts},{o:.6f},{h:.6f},{lo:.6f},{c:.6f},{v:.6f}"
        for ts, o, h, lo, c, v in zip(a["timestamp"].tolist(), *cols, strict=True)
    )
    return "\n".join(lines) + "\n"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_WORKLOAD_CACHE: dict[int, Candles] = {}


def workload_candles(n: int) -> Candles:
    if n not in _WORKLOAD_CACHE:
        a = workload_arrays(n)
        _WORKLOAD_CACHE[n] = Candles(a["timestamp"], a["open"], a["high"], a["low"],
                                     a["close"], a["volume"], source="workload")
    return _WORKLOAD_CACHE[n]


def max_drawdown(equity: np.ndarray) -> float:
    """max over t of 1 - equity[t] / max(equity[0..t]) (a fraction)."""
    return float(np.max(1.0 - equity / np.maximum.accumulate(equity)))


class _Helpers:
    candles_from = staticmethod(candles_from)
    signals_at = staticmethod(signals_at)
    random_candles = staticmethod(random_candles)
    workload_arrays = staticmethod(workload_arrays)
    workload_csv = staticmethod(workload_csv)
    workload_candles = staticmethod(workload_candles)
    sha256 = staticmethod(sha256)
    max_drawdown = staticmethod(max_drawdown)


@pytest.fixture(scope="session")
def h() -> type[_Helpers]:
    """The helpers above (conftest modules cannot be imported under importlib mode)."""
    return _Helpers
