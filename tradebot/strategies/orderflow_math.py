"""Order-flow and volume-profile arithmetic from candles (no look-ahead).

- :func:`buy_share` / :func:`volume_delta`: estimated buy and sell volume of a candle
  (the close's position in its range), or the real buy volume when it is known.
- :func:`rolling_sum`, :func:`rolling_max`, :func:`rolling_min`: trailing windows that
  end at bar t (inclusive), NaN until the window is full.
- :func:`volume_profile`: a rolling volume profile per bar: point of control (POC) and
  value area (VAL/VAH) from the ``window`` candles ending at bar t.

Every value at bar t uses bars ``<= t`` only, and is computed the same way whatever
comes after t, so a truncated history gives bit-identical values.
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.strategies.series import shift  # noqa: F401  (here for the strategies that import it from here)


def _f64(x: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def buy_share(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Estimated share of a candle's volume bought at the ask: ``(close-low)/(high-low)``.

    A candle without range (high == low) is split evenly (0.5: zero delta).
    """
    h, lo, c = _f64(high), _f64(low), _f64(close)
    rng = h - lo
    out = np.full(h.shape[0], 0.5)
    ok = rng > 0
    out[ok] = np.clip((c[ok] - lo[ok]) / rng[ok], 0.0, 1.0)
    return out


def volume_delta(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                 buy_volume: np.ndarray | None = None) -> np.ndarray:
    """Buy minus sell volume per bar.

    With ``buy_volume`` (real taker-buy volume, e.g. Binance klines or aggregated
    trades) it is ``2*buy_volume - volume``; otherwise the estimate
    ``volume * (2*share - 1)`` from :func:`buy_share`. NaN buy volume falls back to the
    estimate for that bar.
    """
    v = _f64(volume)
    est = v * (2.0 * buy_share(high, low, close) - 1.0)
    if buy_volume is None:
        return est
    b = _f64(buy_volume)
    if b.shape != v.shape:
        raise ValueError(f"buy_volume has {b.shape[0]} bars, the candles have {v.shape[0]}")
    real = 2.0 * np.clip(b, 0.0, v) - v
    return np.where(np.isnan(b), est, real)


@njit(cache=True)
def rolling_sum_nb(x, window):
    """Sum of the ``window`` values ending at each bar (summed afresh: exact and stable)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(window - 1, n):
        s = 0.0
        for j in range(i - window + 1, i + 1):
            s += x[j]
        out[i] = s
    return out


@njit(cache=True)
def rolling_max_nb(x, window):
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(window - 1, n):
        m = x[i]
        for j in range(i - window + 1, i):
            if x[j] > m:
                m = x[j]
        out[i] = m
    return out


@njit(cache=True)
def rolling_min_nb(x, window):
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(window - 1, n):
        m = x[i]
        for j in range(i - window + 1, i):
            if x[j] < m:
                m = x[j]
        out[i] = m
    return out


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    return rolling_sum_nb(_f64(x), int(window))  # type: ignore[no-any-return]


def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    return rolling_max_nb(_f64(x), int(window))  # type: ignore[no-any-return]


def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    return rolling_min_nb(_f64(x), int(window))  # type: ignore[no-any-return]


@njit(cache=True)
def profile_nb(high, low, close, volume, start, stop, bins, value_area, hist):
    """Volume profile of bars ``[start, stop)`` into ``hist`` (len ``bins``).

    Each candle's volume is spread evenly over its high-low range (a candle without
    range puts it all in the bin of its close). Returns (poc, val, vah, lo, width).
    """
    lo = low[start]
    hi = high[start]
    for j in range(start, stop):
        if low[j] < lo:
            lo = low[j]
        if high[j] > hi:
            hi = high[j]
    for b in range(bins):
        hist[b] = 0.0
    if not hi > lo:
        return close[stop - 1], lo, hi, lo, 0.0
    width = (hi - lo) / bins
    for j in range(start, stop):
        v = volume[j]
        if not v > 0:
            continue
        h = high[j]
        lw = low[j]
        if h > lw:
            b0 = min(int((lw - lo) / width), bins - 1)
            b1 = min(int((h - lo) / width), bins - 1)
            for b in range(b0, b1 + 1):
                e0 = lo + b * width
                e1 = e0 + width
                ov = min(h, e1) - max(lw, e0)
                if ov > 0:
                    hist[b] += v * ov / (h - lw)
        else:
            b = min(max(int((close[j] - lo) / width), 0), bins - 1)
            hist[b] += v
    total = 0.0
    poc = 0
    for b in range(bins):
        total += hist[b]
        if hist[b] > hist[poc]:
            poc = b
    # value area: grow from the POC, one bin at a time towards the larger neighbour
    # (the upper one on a tie), until it holds ``value_area`` of the volume
    a = poc
    z = poc
    acc = hist[poc]
    target = value_area * total
    while acc < target and (a > 0 or z < bins - 1):
        down = hist[a - 1] if a > 0 else -1.0
        up = hist[z + 1] if z < bins - 1 else -1.0
        if up >= down:
            z += 1
            acc += up
        else:
            a -= 1
            acc += down
    return lo + (poc + 0.5) * width, lo + a * width, lo + (z + 1) * width, lo, width


@njit(cache=True)
def rolling_profile_nb(high, low, close, volume, window, bins, value_area):
    n = close.shape[0]
    poc = np.full(n, np.nan)
    val = np.full(n, np.nan)
    vah = np.full(n, np.nan)
    hist = np.zeros(bins)
    for t in range(window - 1, n):
        p, a, z, _lo, _w = profile_nb(high, low, close, volume, t - window + 1, t + 1, bins,
                                      value_area, hist)
        poc[t] = p
        val[t] = a
        vah[t] = z
    return poc, val, vah


def volume_profile(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                   window: int, bins: int = 24, value_area: float = 0.7
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rolling (POC, VAL, VAH) per bar from the ``window`` candles ending at that bar.

    The POC is the middle of the bin holding the most volume (the lowest on a tie);
    VAL/VAH are the lower/upper edges of the value area. NaN before ``window`` bars.
    """
    if window < 1 or bins < 1 or not 0 < value_area <= 1:
        raise ValueError(f"volume_profile: bad window={window}, bins={bins}, "
                         f"value_area={value_area}")
    poc, val, vah = rolling_profile_nb(_f64(high), _f64(low), _f64(close), _f64(volume),
                                       int(window), int(bins), float(value_area))
    return poc, val, vah
