"""Numba kernels of the volatility indicators (NATR as TA-Lib; Keltner, Donchian).

Like TA-Lib's Python wrapper, the kernels skip leading NaN: they start at the first bar
where every input is a number, and the warm-up counts from there.
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.indicators.fallback import atr_nb, ema_from_nb
from tradebot.indicators.fallback_trend import TA_EPSILON, lead_nb, rolling_max_nb, rolling_min_nb


@njit(cache=True)
def natr_nb(high, low, close, period):
    """Normalized ATR, 100 · ATR / close (0 where the close is 0), as TA-Lib NATR.

    TA-Lib quirk kept: with ``period == 1`` it returns the true range, not normalized.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n == 0:
        return out
    s = lead_nb(high, low, close)
    atr = atr_nb(high[s:], low[s:], close[s:], period)
    if period == 1:
        out[s:] = atr
        return out
    for i in range(period, atr.shape[0]):  # atr is NaN before ``period``
        c = close[s + i]
        out[s + i] = 0.0 if -TA_EPSILON <= c <= TA_EPSILON else (atr[i] / c) * 100.0
    return out


@njit(cache=True)
def keltner_nb(high, low, close, period, multiplier, atr_period):
    """(upper, middle, lower): EMA(close, period) ± multiplier · ATR(atr_period)."""
    n = close.shape[0]
    upper = np.full(n, np.nan)
    middle = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    if period < 1 or atr_period < 1 or n == 0:
        return upper, middle, lower
    s = lead_nb(high, low, close)
    mid = np.full(n - s, np.nan)
    ema_from_nb(close[s:], period, period - 1, mid)
    atr = atr_nb(high[s:], low[s:], close[s:], atr_period)
    for i in range(n - s):
        m = mid[i]
        a = atr[i]
        if np.isnan(m) or np.isnan(a):
            continue
        middle[s + i] = m
        upper[s + i] = m + multiplier * a
        lower[s + i] = m - multiplier * a
    return upper, middle, lower


@njit(cache=True)
def donchian_nb(high, low, period):
    """(upper, middle, lower): highest high, midpoint, lowest low over ``period`` bars."""
    upper = rolling_max_nb(high, period)
    lower = rolling_min_nb(low, period)
    return upper, (upper + lower) / 2.0, lower
