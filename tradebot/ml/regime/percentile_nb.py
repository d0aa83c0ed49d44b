"""The rolling percentile of the regime features, compiled: the values' ranks in a Fenwick
tree, O(log n) per bar to add, drop and count, instead of comparing every window afresh
(the numpy path of :func:`tradebot.ml.regime.features.rolling_percentile`)."""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit


def rolling_percentile_nb(x: np.ndarray, window: int, minimum: int) -> np.ndarray:
    """Share of ``x[max(first, t-window+1) .. t]`` at or below ``x[t]`` (``first``: the first
    finite value), once that span holds at least ``minimum`` values; NaN before, and while
    the span holds a non-finite value. Ranks of equal values are equal (exact counts)."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    finite = np.isfinite(a)
    rank = np.full(a.shape[0], -1, dtype=np.int64)
    if finite.any():
        _, inv = np.unique(a[finite], return_inverse=True)
        rank[finite] = inv.reshape(-1)
    return percentile_ranks_nb(rank, int(rank.max()) + 1 if finite.any() else 0, int(window), int(minimum))


@njit(cache=True)
def percentile_ranks_nb(rank: np.ndarray, levels: int, window: int, minimum: int) -> np.ndarray:
    """:func:`rolling_percentile_nb` on the values' dense ranks (``-1``: not finite)."""
    n = rank.shape[0]
    out = np.full(n, np.nan)
    tree = np.zeros(levels + 1, dtype=np.int64)  # Fenwick tree of counts per rank (1-based)
    bad = 0
    first = -1
    for t in range(n):
        r = rank[t]
        if first < 0:
            if r < 0:
                continue
            first = t
        if r >= 0:
            i = r + 1
            while i <= levels:
                tree[i] += 1
                i += i & -i
        else:
            bad += 1
        old = t - window
        if old >= first:
            o = rank[old]
            if o >= 0:
                i = o + 1
                while i <= levels:
                    tree[i] -= 1
                    i += i & -i
            else:
                bad -= 1
        start = max(first, t - window + 1)
        length = t - start + 1
        if length >= minimum and bad == 0:
            c = 0
            i = r + 1
            while i > 0:
                c += tree[i]
                i -= i & -i
            out[t] = c / length
    return out
