"""Pure numba implementations of the indicators, equal to TA-Lib's arithmetic.

Each ``*_nb`` kernel takes and returns float64 arrays with NaN during the warm-up,
exactly where TA-Lib puts its lookback.
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit


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
    """MACD line, signal line and histogram with TA-Lib's alignment and seeding.

    Both EMAs start at bar ``slow - 1`` (the fast one seeded with the SMA of the ``fast``
    values ending there); the signal EMA is seeded with the SMA of the first ``signal``
    MACD values; all three outputs start at ``slow + signal - 2``. One pass, no
    temporaries beyond the outputs.
    """
    n = close.shape[0]
    macd = np.empty(n)
    sig = np.empty(n)
    hist = np.empty(n)
    if fast > slow:
        fast, slow = slow, fast
    start = slow - 1
    first = start + signal - 1
    stop = min(first, n)
    for i in range(stop):
        macd[i] = np.nan
        sig[i] = np.nan
        hist[i] = np.nan
    if n <= first:
        return macd, sig, hist
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    sf = 0.0
    for i in range(start - fast + 1, start + 1):
        sf += close[i]
    ef = sf / fast
    ss = 0.0
    for i in range(0, start + 1):
        ss += close[i]
    es = ss / slow
    seed = ef - es  # the MACD value at ``start``
    for i in range(start + 1, first + 1):
        ef = (close[i] - ef) * kf + ef
        es = (close[i] - es) * ks + es
        seed += ef - es
    line = ef - es
    prev = seed / signal
    macd[first] = line
    sig[first] = prev
    hist[first] = line - prev
    for i in range(first + 1, n):
        ef = (close[i] - ef) * kf + ef
        es = (close[i] - es) * ks + es
        line = ef - es
        prev = (line - prev) * kg + prev
        macd[i] = line
        sig[i] = prev
        hist[i] = line - prev
    return macd, sig, hist


@njit(cache=True)
def bbands_nb(close, period, nbdev_up, nbdev_dn):
    """Bollinger Bands: SMA ± k × population standard deviation over ``period``.

    The middle band is the running-sum SMA (as TA-Lib's SMA); the deviation is taken
    around it in a second pass over the window, which is what the installed TA-Lib
    matches to ~1e-11 (a running sum of squares drifts by ~1e-9).
    """
    n = close.shape[0]
    upper = np.empty(n)
    middle = np.empty(n)
    lower = np.empty(n)
    head = n if (period < 1 or n < period) else period - 1
    for i in range(head):
        upper[i] = np.nan
        middle[i] = np.nan
        lower[i] = np.nan
    if head == n:
        return upper, middle, lower
    s = 0.0
    for i in range(period - 1):
        s += close[i]
    for i in range(period - 1, n):
        s += close[i]
        mean = s / period
        # four partial sums: independent chains the CPU overlaps (rounding differs from a
        # single chain by ~1e-16 relative)
        v0 = 0.0
        v1 = 0.0
        v2 = 0.0
        v3 = 0.0
        j = i - period + 1
        while j + 3 <= i:
            d0 = close[j] - mean
            d1 = close[j + 1] - mean
            d2 = close[j + 2] - mean
            d3 = close[j + 3] - mean
            v0 += d0 * d0
            v1 += d1 * d1
            v2 += d2 * d2
            v3 += d3 * d3
            j += 4
        while j <= i:
            d0 = close[j] - mean
            v0 += d0 * d0
            j += 1
        sd = np.sqrt(((v0 + v1) + (v2 + v3)) / period)
        middle[i] = mean
        upper[i] = mean + nbdev_up * sd
        lower[i] = mean - nbdev_dn * sd
        s -= close[i - period + 1]
    return upper, middle, lower


@njit(cache=True)
def atr_nb(high, low, close, period):
    """Wilder ATR as TA-Lib: first value at ``period`` = mean of TR[1..period]."""
    n = close.shape[0]
    out = np.empty(n)
    head = n if (period < 1 or n <= period) else period
    for i in range(head):
        out[i] = np.nan
    if head == n:
        return out
    s = 0.0
    for i in range(1, period + 1):
        s += true_range_nb(high[i], low[i], close[i - 1])
    prev = s / period
    out[period] = prev
    keep = period - 1.0
    inv = 1.0 / period  # a multiply in the loop, not a divide (differs by ~1e-16 relative)
    for i in range(period + 1, n):
        prev = (prev * keep + true_range_nb(high[i], low[i], close[i - 1])) * inv
        out[i] = prev
    return out


@njit(cache=True, inline="always")
def true_range_nb(h, lo, prev_close):
    tr = h - lo
    a = h - prev_close
    if a < 0.0:
        a = -a
    if a > tr:
        tr = a
    b = lo - prev_close
    if b < 0.0:
        b = -b
    if b > tr:
        tr = b
    return tr
