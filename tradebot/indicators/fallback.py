"""Pure numba implementations of the indicators, equal to TA-Lib's arithmetic.

Each ``*_nb`` kernel takes and returns float64 arrays with NaN during the warm-up,
exactly where TA-Lib puts its lookback.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sma_nb(x, period):
    n = x.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n < period:
        return out
    s = 0.0
    for i in range(period):
        s += x[i]
    out[period - 1] = s / period
    for i in range(period, n):
        s += x[i] - x[i - period]
        out[i] = s / period
    return out


@njit(cache=True)
def ema_from_nb(x, period, first_out, out):
    """EMA with TA-Lib's seed: the SMA of the ``period`` values ending at ``first_out``."""
    n = x.shape[0]
    if first_out >= n or first_out < period - 1:
        return
    k = 2.0 / (period + 1)
    s = 0.0
    for i in range(first_out - period + 1, first_out + 1):
        s += x[i]
    prev = s / period
    out[first_out] = prev
    for i in range(first_out + 1, n):
        prev = (x[i] - prev) * k + prev
        out[i] = prev


@njit(cache=True)
def ema_nb(x, period):
    out = np.full(x.shape[0], np.nan)
    if period >= 1:
        ema_from_nb(x, period, period - 1, out)
    return out


@njit(cache=True)
def rsi_nb(close, period):
    """Wilder RSI exactly as TA-Lib computes it (see WORKLOAD.md).

    TA-Lib 0.6+ returns 0 only when up + down is exactly 0 (older releases used a
    1e-8 tolerance); we follow the library the tests compare against.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 2 or n <= period:
        return out
    inv = 1.0 / period
    up = 0.0
    down = 0.0
    for i in range(1, period + 1):
        d = close[i] - close[i - 1]
        if d > 0:
            up += d
        else:
            down -= d
    up *= inv
    down *= inv
    tot = up + down
    out[period] = 0.0 if tot == 0.0 else 100.0 * (up / tot)
    for i in range(period + 1, n):
        d = close[i] - close[i - 1]
        up *= period - 1
        down *= period - 1
        if d > 0:
            up += d
        else:
            down -= d
        up *= inv
        down *= inv
        tot = up + down
        out[i] = 0.0 if tot == 0.0 else 100.0 * (up / tot)
    return out


@njit(cache=True)
def macd_nb(close, fast, slow, signal):
    """MACD line, signal line and histogram with TA-Lib's alignment and seeding."""
    n = close.shape[0]
    macd = np.full(n, np.nan)
    sig = np.full(n, np.nan)
    hist = np.full(n, np.nan)
    if fast > slow:
        fast, slow = slow, fast
    start = slow - 1
    if n <= start + signal - 1:
        return macd, sig, hist
    ef = np.full(n, np.nan)
    es = np.full(n, np.nan)
    ema_from_nb(close, fast, start, ef)
    ema_from_nb(close, slow, start, es)
    line = np.full(n, np.nan)
    for i in range(start, n):
        line[i] = ef[i] - es[i]
    first = start + signal - 1
    s = 0.0
    for i in range(start, first + 1):
        s += line[i]
    prev = s / signal
    k = 2.0 / (signal + 1)
    sig[first] = prev
    for i in range(first + 1, n):
        prev = (line[i] - prev) * k + prev
        sig[i] = prev
    for i in range(first, n):
        macd[i] = line[i]
        hist[i] = line[i] - sig[i]
    return macd, sig, hist


@njit(cache=True)
def bbands_nb(close, period, nbdev_up, nbdev_dn):
    """Bollinger Bands: SMA ± k × population standard deviation over ``period``."""
    n = close.shape[0]
    upper = np.full(n, np.nan)
    middle = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    if period < 1 or n < period:
        return upper, middle, lower
    for i in range(period - 1, n):
        s = 0.0
        for j in range(i - period + 1, i + 1):
            s += close[j]
        mean = s / period
        v = 0.0
        for j in range(i - period + 1, i + 1):
            d = close[j] - mean
            v += d * d
        sd = np.sqrt(v / period)
        middle[i] = mean
        upper[i] = mean + nbdev_up * sd
        lower[i] = mean - nbdev_dn * sd
    return upper, middle, lower


@njit(cache=True)
def atr_nb(high, low, close, period):
    """Wilder ATR as TA-Lib: first value at ``period`` = mean of TR[1..period]."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n <= period:
        return out
    s = 0.0
    for i in range(1, period + 1):
        tr = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        s += tr
    prev = s / period
    out[period] = prev
    for i in range(period + 1, n):
        tr = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        prev = (prev * (period - 1) + tr) / period
        out[i] = prev
    return out
