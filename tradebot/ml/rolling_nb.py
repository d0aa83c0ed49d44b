"""Rolling-window kernels for features: exact per window, so a value never depends on how
much history precedes its window (a tail and the whole history give the same number)."""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit


@njit(cache=True)
def rolling_mean_std_nb(x: np.ndarray, window: int, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``x[t-window+1 .. t]``; NaN before the window is full
    or when it holds a NaN. Two passes per window (no running sums, no drift)."""
    n = x.shape[0]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if window < 1 or window - ddof < 1:
        return mean, std
    for t in range(window - 1, n):
        s = 0.0
        bad = False
        for j in range(t - window + 1, t + 1):
            v = x[j]
            if np.isnan(v):
                bad = True
                break
            s += v
        if bad:
            continue
        m = s / window
        ss = 0.0
        for j in range(t - window + 1, t + 1):
            d = x[j] - m
            ss += d * d
        mean[t] = m
        std[t] = np.sqrt(ss / (window - ddof))
    return mean, std


@njit(cache=True)
def rolling_sum_nb(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``x[t-window+1 .. t]``, summed afresh per window; NaN before it is full."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for t in range(window - 1, n):
        s = 0.0
        for j in range(t - window + 1, t + 1):
            s += x[j]
        out[t] = s
    return out
