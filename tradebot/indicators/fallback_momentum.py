"""Numba kernels of the momentum oscillators, following TA-Lib's arithmetic step by step.

Each ``*_nb`` kernel takes and returns float64 arrays with NaN exactly where TA-Lib has
its lookback. The order of the floating-point operations is TA-Lib's own (running sums,
circular buffers, the min/max rescans), so the results agree to the last bit or so.
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.indicators.fallback import rsi_nb


@njit(cache=True)
def window_extremes_nb(high, low, period):
    """(lowest low, highest high) over the ``period`` bars ending at each bar, found the way
    TA-Lib's STOCH/WILLR find them (rescan only when the extreme leaves the window)."""
    n = high.shape[0]
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    lowest_idx = -1
    highest_idx = -1
    lowest = 0.0
    highest = 0.0
    for today in range(period - 1, n):
        trailing = today - period + 1
        tmp = low[today]
        if lowest_idx < trailing:
            lowest_idx = trailing
            lowest = low[trailing]
            for i in range(trailing + 1, today + 1):
                if low[i] < lowest:
                    lowest_idx = i
                    lowest = low[i]
        elif tmp <= lowest:
            lowest_idx = today
            lowest = tmp
        tmp = high[today]
        if highest_idx < trailing:
            highest_idx = trailing
            highest = high[trailing]
            for i in range(trailing + 1, today + 1):
                if high[i] > highest:
                    highest_idx = i
                    highest = high[i]
        elif tmp >= highest:
            highest_idx = today
            highest = tmp
        lo[today] = lowest
        hi[today] = highest
    return lo, hi


@njit(cache=True)
def sma_into_nb(x, start, period, out):
    """TA-Lib's SMA (running total, add then subtract) of ``x[start:]`` into ``out``."""
    n = x.shape[0]
    if n - start < period:
        return
    total = 0.0
    i = start
    trailing = start
    while i < start + period - 1:
        total += x[i]
        i += 1
    while i < n:
        total += x[i]
        i += 1
        tmp = total
        total -= x[trailing]
        trailing += 1
        out[i - 1] = tmp / period


@njit(cache=True)
def fastk_nb(high, low, close, period):
    """Raw %K with TA-Lib's flat-window rule (0 when the range is within 1e-14 of the
    extremes' magnitude)."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n < period:
        return out
    lo, hi = window_extremes_nb(high, low, period)
    for i in range(period - 1, n):
        diff = (hi[i] - lo[i]) / 100.0
        flat = abs(hi[i] - lo[i]) <= 1e-14 * (abs(hi[i]) + abs(lo[i]))
        out[i] = 0.0 if flat else (close[i] - lo[i]) / diff
    return out


@njit(cache=True)
def stoch_nb(high, low, close, fastk, slowk, slowd):
    """Slow stochastic (SMA smoothing): (slow %K, slow %D) as TA-Lib STOCH."""
    n = close.shape[0]
    k_out = np.full(n, np.nan)
    d_out = np.full(n, np.nan)
    first = fastk - 1 + slowk - 1 + slowd - 1
    if n <= first:
        return k_out, d_out
    raw = fastk_nb(high, low, close, fastk)
    k = np.full(n, np.nan)
    sma_into_nb(raw, fastk - 1, slowk, k)
    sma_into_nb(k, fastk - 1 + slowk - 1, slowd, d_out)
    for i in range(first, n):
        k_out[i] = k[i]
    return k_out, d_out


@njit(cache=True)
def stochf_from_nb(x, start, fastk, fastd, k_out, d_out):
    """TA-Lib STOCHF of one series (high = low = close = ``x``) from ``x[start:]``."""
    n = x.shape[0]
    first = start + fastk - 1 + fastd - 1
    if n <= first:
        return
    lo, hi = window_extremes_nb(x[start:], x[start:], fastk)
    raw = np.full(n, np.nan)
    for i in range(start + fastk - 1, n):
        j = i - start
        diff = (hi[j] - lo[j]) / 100.0
        flat = abs(hi[j] - lo[j]) <= 1e-14 * (abs(hi[j]) + abs(lo[j]))
        raw[i] = 0.0 if flat else (x[i] - lo[j]) / diff
    sma_into_nb(raw, start + fastk - 1, fastd, d_out)
    for i in range(first, n):
        k_out[i] = raw[i]


@njit(cache=True)
def stochrsi_nb(close, period, fastk, fastd):
    """Stochastic RSI as TA-Lib STOCHRSI: STOCHF (SMA %D) of Wilder's RSI."""
    n = close.shape[0]
    k_out = np.full(n, np.nan)
    d_out = np.full(n, np.nan)
    if n <= period + fastk - 1 + fastd - 1:
        return k_out, d_out
    r = rsi_nb(close, period)
    stochf_from_nb(r, period, fastk, fastd, k_out, d_out)
    return k_out, d_out


@njit(cache=True)
def cci_nb(high, low, close, period):
    """Commodity Channel Index with TA-Lib's circular buffer (its summation order) and its
    flat-window rule: 0 when the deviation is within 1e-14 of the average price."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 2 or n < period:
        return out
    buf = np.empty(period)
    for i in range(period - 1):
        buf[i] = (high[i] + low[i] + close[i]) / 3
    idx = period - 1
    for i in range(period - 1, n):
        last = (high[i] + low[i] + close[i]) / 3
        buf[idx] = last
        avg = 0.0
        for j in range(period):
            avg += buf[j]
        avg /= period
        dev = 0.0
        for j in range(period):
            dev += abs(buf[j] - avg)
        dev /= period
        t = last - avg
        scale = abs(avg)  # flat relative to the window's own price level, as TA-Lib
        if abs(t) <= 1e-14 * scale or abs(dev) <= 1e-14 * scale:
            out[i] = 0.0
        else:
            out[i] = t / (0.015 * dev)
        idx += 1
        if idx == period:
            idx = 0
    return out


@njit(cache=True)
def willr_nb(high, low, close, period):
    """Williams %R (-100..0); 0 when the window has no range, as TA-Lib."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 2 or n < period:
        return out
    lo, hi = window_extremes_nb(high, low, period)
    for i in range(period - 1, n):
        diff = (hi[i] - lo[i]) / (-100.0)
        flat = abs(hi[i] - lo[i]) <= 1e-14 * (abs(hi[i]) + abs(lo[i]))
        out[i] = 0.0 if flat else (hi[i] - close[i]) / diff
    return out


@njit(cache=True)
def roc_nb(close, period):
    """Rate of change in percent; 0 when the old price is 0, as TA-Lib."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 1:
        return out
    for i in range(period, n):
        old = close[i - period]
        out[i] = ((close[i] / old) - 1.0) * 100.0 if old != 0.0 else 0.0
    return out


@njit(cache=True)
def is_zero_scaled_nb(v, scale):
    """TA-Lib's TA_IS_ZERO_SCALED: ``|v|`` within 1e-14 of the operands' magnitude."""
    return abs(v) <= 1e-14 * scale


@njit(cache=True)
def mfi_nb(high, low, close, volume, period):
    """Money Flow Index as TA-Lib: a ring of flows, a scaled dead zone on the change of
    typical price, sums reset after a whole period without flow, the ratio clamped."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 2 or n <= period:
        return out
    pos = np.zeros(period)
    neg = np.zeros(period)
    idx = 0
    null_run = 0
    prev = (high[0] + low[0] + close[0]) / 3.0
    pos_sum = 0.0
    neg_sum = 0.0
    for today in range(1, n):
        if today > period:
            pos_sum -= pos[idx]
            neg_sum -= neg[idx]
        tp = (high[today] + low[today] + close[today]) / 3.0
        d = tp - prev
        scale = abs(tp) + abs(prev)
        prev = tp
        flow = 0.0 if is_zero_scaled_nb(d, scale) else tp * volume[today]
        pf = 0.0 if d < 0.0 else flow
        nf = flow if d < 0.0 else 0.0
        pos[idx] = pf
        neg[idx] = nf
        pos_sum += pf
        neg_sum += nf
        null_run = null_run + 1 if flow == 0.0 else 0
        if null_run >= period:
            null_run = period
            pos_sum = 0.0
            neg_sum = 0.0
        if today >= period:
            tot = pos_sum + neg_sum
            pc = 0.0 if pos_sum < 0.0 else (tot if pos_sum > tot else pos_sum)
            out[today] = 0.0 if tot <= 0.0 else 100.0 * (pc / tot)
        idx += 1
        if idx == period:
            idx = 0
    return out
