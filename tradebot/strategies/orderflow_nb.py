"""The compiled kernels of :mod:`tradebot.strategies.orderflow_math` (kept apart so that
importing orderflow_math does not load numba; its rolling windows run in numpy when numba is
not loaded, the same numbers)."""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.ml.rolling_nb import rolling_sum_nb  # noqa: F401  (the feature kernel: the same sums)


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
