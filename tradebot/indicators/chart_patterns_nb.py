"""The compiled kernels of :mod:`tradebot.indicators.chart_patterns` (kept apart so that
importing chart_patterns does not load numba; :func:`chart_patterns.nearest_levels` runs its
Python twin when numba is not loaded)."""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit


@njit(cache=True)
def _nearest_levels_nb(close, bars, prices, right, window, tolerance, max_width, min_touches):  # pragma: no cover
    n = close.shape[0]
    m = bars.shape[0]
    sup = np.full(n, np.nan)
    res = np.full(n, np.nan)
    levels = np.empty(max(m, 1))
    nlev = 0
    lo = 0
    hi = 0
    for t in range(n):
        changed = False
        while hi < m and bars[hi] + right <= t:
            hi += 1
            changed = True
        while lo < hi and bars[lo] < t + 1 - window:
            lo += 1
            changed = True
        if changed:
            p = np.sort(prices[lo:hi])
            nlev = 0
            k = p.shape[0]
            start = 0
            for i in range(1, k + 1):
                if i == k or (p[i] - p[i - 1] > tolerance * abs(p[i - 1])
                              or p[i] - p[start] > max_width * abs(p[start])):
                    if i - start >= min_touches:
                        s = 0.0
                        for j in range(start, i):
                            s += p[j]
                        levels[nlev] = s / (i - start)
                        nlev += 1
                    start = i
        x = close[t]
        if nlev == 0 or np.isnan(x):
            continue
        j = np.searchsorted(levels[:nlev], x, side="right")  # first level > close
        if j > 0:
            sup[t] = levels[j - 1]
        if j < nlev:
            res[t] = levels[j]
    return sup, res


@njit(cache=True)
def _double_top_nb(ph, pl, peaks, tolerance, min_depth, max_bars):  # pragma: no cover
    """Rows ``(a, m, c)``: for each swing high ``c`` the nearest earlier swing high ``a``
    that makes a double top with the trough ``m`` (the first lowest low between)."""
    k = peaks.shape[0]
    out = np.empty((k, 3), np.int64)
    cnt = 0
    for ci in range(1, k):
        c = peaks[ci]
        hc = ph[c]
        m = -1  # argmin of pl over (a, c), the earliest on ties
        rmax = -np.inf  # max of ph over (m, c)
        lmax = -np.inf  # max of ph over (a, m)
        prev = c
        for ai in range(ci - 1, -1, -1):
            a = peaks[ai]
            if max_bars > 0 and c - a > max_bars:
                break
            for j in range(prev - 1, a, -1):  # the bars newly between a and c
                if m < 0 or pl[j] <= pl[m]:
                    if m >= 0:
                        rmax = max(rmax, ph[m], lmax)
                    m = j
                    lmax = -np.inf
                elif ph[j] > lmax:
                    lmax = ph[j]
            prev = a + 1
            if rmax >= hc:  # a high right of the trough tops c: no earlier a can help
                break
            ha = ph[a]
            if abs(ha - hc) <= tolerance * max(abs(ha), abs(hc)) and lmax < ha:
                top = min(ha, hc)
                if top - pl[m] >= min_depth * abs(top):
                    out[cnt, 0] = a
                    out[cnt, 1] = m
                    out[cnt, 2] = c
                    cnt += 1
                    break
    return out[:cnt]
