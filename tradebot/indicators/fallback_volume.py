"""Numba kernels of the volume indicators.

``obv_nb`` and ``ad_nb`` follow TA-Lib's OBV and AD step by step; ``cmf_nb`` and the VWAP
kernels have no TA-Lib counterpart and are checked against slow obvious implementations.
All are single pass with running sums and no per-bar allocation.
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit


@njit(cache=True)
def obv_nb(close, volume):
    """On-balance volume as TA-Lib: starts at the first bar's volume."""
    n = close.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    obv = volume[0]
    prev = close[0]
    for i in range(n):
        c = close[i]
        if c > prev:
            obv += volume[i]
        elif c < prev:
            obv -= volume[i]
        out[i] = obv
        prev = c
    return out


@njit(cache=True)
def ad_nb(high, low, close, volume):
    """Chaikin accumulation/distribution line as TA-Lib (bars without range add nothing)."""
    n = close.shape[0]
    out = np.empty(n)
    ad = 0.0
    for i in range(n):
        h = high[i]
        lo = low[i]
        rng = h - lo
        c = close[i]
        if rng > 0.0:
            ad += (((c - lo) - (h - c)) / rng) * volume[i]
        out[i] = ad
    return out


@njit(cache=True)
def cmf_nb(high, low, close, volume, period):
    """Chaikin money flow: sum of money-flow volume / sum of volume over ``period`` bars.

    A bar without range has multiplier 0; a window without volume gives 0. The running
    sums restart from exact zero whenever the window holds no volume, so no residue leaks.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n < period:
        return out
    mfv = np.empty(n)
    for i in range(n):
        rng = high[i] - low[i]
        mfv[i] = (((close[i] - low[i]) - (high[i] - close[i])) / rng) * volume[i] \
            if rng > 0.0 else 0.0
    s_mfv = 0.0
    s_vol = 0.0
    live = 0  # bars in the window with volume != 0
    for i in range(n):
        s_mfv += mfv[i]
        s_vol += volume[i]
        if volume[i] != 0.0:
            live += 1
        if i >= period:
            j = i - period
            s_mfv -= mfv[j]
            s_vol -= volume[j]
            if volume[j] != 0.0:
                live -= 1
        if live == 0:
            s_mfv = 0.0
            s_vol = 0.0
        if i >= period - 1:
            out[i] = s_mfv / s_vol if live > 0 and s_vol != 0.0 else 0.0
    return out


@njit(cache=True)
def vwap_anchored_nb(high, low, close, volume, session):
    """VWAP of the typical price from the start of each session (``session`` ids, one per
    bar, non-decreasing); NaN while the session has had no volume."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    s_pv = 0.0
    s_v = 0.0
    for i in range(n):
        if i == 0 or session[i] != session[i - 1]:
            s_pv = 0.0
            s_v = 0.0
        tp = (high[i] + low[i] + close[i]) / 3.0
        s_pv += tp * volume[i]
        s_v += volume[i]
        if s_v != 0.0:
            out[i] = s_pv / s_v
    return out


@njit(cache=True)
def vwap_rolling_nb(high, low, close, volume, period):
    """VWAP of the typical price over the last ``period`` bars; NaN in the first
    ``period - 1`` bars and where the window has no volume."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n < period:
        return out
    pv = np.empty(n)
    for i in range(n):
        pv[i] = (high[i] + low[i] + close[i]) / 3.0 * volume[i]
    s_pv = 0.0
    s_v = 0.0
    live = 0
    for i in range(n):
        s_pv += pv[i]
        s_v += volume[i]
        if volume[i] != 0.0:
            live += 1
        if i >= period:
            j = i - period
            s_pv -= pv[j]
            s_v -= volume[j]
            if volume[j] != 0.0:
                live -= 1
        if live == 0:
            s_pv = 0.0
            s_v = 0.0
        if i >= period - 1 and live > 0 and s_v != 0.0:
            out[i] = s_pv / s_v
    return out
