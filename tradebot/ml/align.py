"""A second timeframe and other symbols' candles as features, aligned without look-ahead.

A feature of a spec may name a ``timeframe`` (higher than the spec's base timeframe) and/or
another ``symbol``. Its values are computed on those candles and then placed on the base
bars so that **a base bar sees only what had closed when it closed**:

* :func:`resample` groups base candles into higher-timeframe bars aligned to multiples of
  the timeframe since the epoch (1h bars start on the hour): open of the first, max high,
  min low, close of the last, summed volume. A higher bar ``[H, H + tf)`` is built from the
  base bars that opened inside it.
* :func:`align_closed` gives base bar ``t`` (closing at ``ts[t] + base``) the value of the
  last higher bar that had closed by then (``H + tf <= ts[t] + base``); before the first
  one, NaN. The higher bar still forming is never used, so removing future base candles
  cannot change a value (the look-ahead check proves it, and a test shifts the data).
* :func:`align_asof` gives base bar ``t`` the value of the other symbol's bar that opened
  at or before ``ts[t]`` (same timeframe: it closed no later than bar ``t``); a gap in the
  other symbol repeats its last closed value, never a later one.
"""

from __future__ import annotations

import numpy as np

from tradebot.core.candles import Candles


def resample(candles: Candles, tf_ms: int, timeframe: str = "") -> Candles:
    """``candles`` grouped into bars of ``tf_ms`` aligned to the epoch (see the module docstring)."""
    ts = np.asarray(candles.timestamp, dtype=np.int64)
    if ts.size == 0:
        return candles
    bucket = ts - ts % tf_ms
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [ts.size])) - 1
    return Candles(bucket[starts], candles.open[starts], np.maximum.reduceat(candles.high, starts),
                   np.minimum.reduceat(candles.low, starts), candles.close[ends],
                   np.add.reduceat(candles.volume, starts), candles.exchange, candles.symbol,
                   timeframe or candles.timeframe, candles.source)


def align_closed(base_ts: np.ndarray, base_ms: int, higher_ts: np.ndarray, tf_ms: int,
                 values: np.ndarray) -> np.ndarray:
    """Per base bar, the value of the last higher bar closed by the base bar's close."""
    j = np.searchsorted(np.asarray(higher_ts, dtype=np.int64) + tf_ms,
                        np.asarray(base_ts, dtype=np.int64) + base_ms, side="right") - 1
    return _take(values, j)


def align_asof(base_ts: np.ndarray, other_ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per base bar, the value of the other series' bar that opened at or before it."""
    j = np.searchsorted(np.asarray(other_ts, dtype=np.int64), np.asarray(base_ts, dtype=np.int64),
                        side="right") - 1
    return _take(values, j)


def _take(values: np.ndarray, j: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    out = np.full(j.shape[0], np.nan)
    ok = j >= 0
    out[ok] = v[j[ok]]
    return out
