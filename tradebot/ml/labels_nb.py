"""Numba kernels for labels: barrier touches and label concurrency."""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit


@njit(cache=True)
def triple_barrier_nb(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                      side: np.ndarray, entry: np.ndarray, profit_dist: np.ndarray, stop_dist: np.ndarray,
                      horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each event bar t (``side[t]`` +1 long, -1 short, 0 none) entered at ``entry[t]``:
    scan bars t+1 .. t+horizon for the first touch of the profit level
    (``entry ± profit_dist``) and of the stop level (``entry ∓ stop_dist``) using the bars'
    high and low; a NaN distance disables that barrier.

    Returns ``(barrier, t1, ret, pt_touch, sl_touch)``: ``barrier`` 1 profit, -1 stop, 0
    vertical (int8; 0 also where undefined), ``t1`` the bar that ends the label (-1
    undefined: no event, NaN inputs, or ``t + horizon`` past the data), ``ret`` the
    side-adjusted return to the exit (barrier level, the bar's open when it gapped
    through, or the close at ``t + horizon``), and the first bar each barrier was touched
    within the window (-1 never). A bar touching both is a stop (as the engine)."""
    n = close.shape[0]
    barrier = np.zeros(n, dtype=np.int8)
    t1 = np.full(n, -1, dtype=np.int64)
    ret = np.full(n, np.nan)
    pt_touch = np.full(n, -1, dtype=np.int64)
    sl_touch = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        s = side[t]
        if s == 0 or t + horizon > n - 1:
            continue
        e = entry[t]
        if np.isnan(e) or e <= 0.0:
            continue
        has_pt = not np.isnan(profit_dist[t])
        has_sl = not np.isnan(stop_dist[t])
        pt = e + s * profit_dist[t] if has_pt else 0.0
        sl = e - s * stop_dist[t] if has_sl else 0.0
        for j in range(t + 1, t + horizon + 1):
            if s > 0:
                hit_sl = has_sl and low[j] <= sl
                hit_pt = has_pt and high[j] >= pt
            else:
                hit_sl = has_sl and high[j] >= sl
                hit_pt = has_pt and low[j] <= pt
            if hit_sl and sl_touch[t] < 0:
                sl_touch[t] = j
            if hit_pt and pt_touch[t] < 0:
                pt_touch[t] = j
        end = t + horizon
        exit_price = close[end]
        kind = 0
        if sl_touch[t] >= 0 and (pt_touch[t] < 0 or sl_touch[t] <= pt_touch[t]):
            end = sl_touch[t]
            kind = -1
            o = open_[end]
            exit_price = o if (s > 0 and o < sl) or (s < 0 and o > sl) else sl
        elif pt_touch[t] >= 0:
            end = pt_touch[t]
            kind = 1
            o = open_[end]
            exit_price = o if (s > 0 and o > pt) or (s < 0 and o < pt) else pt
        barrier[t] = kind
        t1[t] = end
        ret[t] = s * (exit_price / e - 1.0)
    return barrier, t1, ret, pt_touch, sl_touch


@njit(cache=True)
def concurrency_nb(t0: np.ndarray, t1: np.ndarray, n_bars: int) -> np.ndarray:
    """Number of labels whose interval ``[t0, t1]`` (bars, inclusive) covers each bar;
    labels with ``t1 < 0`` are undefined and skipped."""
    diff = np.zeros(n_bars + 1, dtype=np.int64)
    for i in range(t0.shape[0]):
        if t1[i] < 0:
            continue
        diff[t0[i]] += 1
        diff[t1[i] + 1] -= 1
    out = np.empty(n_bars, dtype=np.int64)
    c = 0
    for b in range(n_bars):
        c += diff[b]
        out[b] = c
    return out


@njit(cache=True)
def average_uniqueness_nb(t0: np.ndarray, t1: np.ndarray, n_bars: int) -> np.ndarray:
    """Average uniqueness of each label (López de Prado, AFML 4.4): the mean over the bars
    of its interval of 1 / concurrency; NaN for undefined labels."""
    conc = concurrency_nb(t0, t1, n_bars)
    inv = np.zeros(n_bars + 1)
    for b in range(n_bars):  # prefix sums of 1 / c: each label's mean in O(1)
        inv[b + 1] = inv[b] + (1.0 / conc[b] if conc[b] > 0 else 0.0)
    out = np.full(t0.shape[0], np.nan)
    for i in range(t0.shape[0]):
        if t1[i] < 0:
            continue
        out[i] = (inv[t1[i] + 1] - inv[t0[i]]) / (t1[i] - t0[i] + 1)
    return out
