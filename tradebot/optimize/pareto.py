"""Pareto fronts of multi-objective optimizer results (every objective maximized).

A row ``a`` dominates ``b`` when ``a >= b`` in every objective and ``a > b`` in at least one.
Equal rows do not dominate each other (both can be on the front). A row with a NaN or a
``-inf`` in any objective (an infeasible or undefined trial) is never on the front; ``+inf``
is an ordinary, best possible value.

Both functions sort the valid rows lexicographically, best first: a row can only be dominated
by rows before it in that order, which lets one pass settle each row (numba kernels, checked
against a brute-force O(n²) comparison in tests/optimize/test_pareto.py).
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.core.errors import UsageError

__all__ = ["non_dominated_ranks", "pareto_front"]


def _prepare(values: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as float64 n × k, mask of valid rows, valid row indices sorted best first).

    The order: first objective descending, ties by the next objectives descending, then by
    row index ascending.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise UsageError(f"objective values must be a 2-D array (trials × objectives), got shape {v.shape}")
    if v.shape[1] == 0 and v.shape[0] > 0:
        raise UsageError("objective values have no objective (0 columns)")
    valid = ~(np.isnan(v) | (v == -np.inf)).any(axis=1)
    idx = np.flatnonzero(valid)
    keys = [idx] + [-v[idx, j] for j in range(v.shape[1] - 1, -1, -1)]
    order = idx[np.lexsort(keys)] if idx.size else idx
    return v, valid, order


@njit(cache=True)
def _dominates_nb(a, b):
    """``a`` >= ``b`` everywhere and > somewhere."""
    strict = False
    for j in range(a.shape[0]):
        if a[j] < b[j]:
            return False
        if a[j] > b[j]:
            strict = True
    return strict


@njit(cache=True)
def front_mask_nb(v):
    """Rows of ``v`` (sorted lexicographically descending, all valid) that no row dominates.

    A dominated row is dominated by a row of the front that comes before it, so each row is
    compared with the front found so far only.
    """
    n = v.shape[0]
    on = np.zeros(n, dtype=np.bool_)
    front = np.empty(n, dtype=np.int64)
    size = 0
    for i in range(n):
        dominated = False
        for f in range(size):
            if _dominates_nb(v[front[f]], v[i]):
                dominated = True
                break
        if not dominated:
            on[i] = True
            front[size] = i
            size += 1
    return on


@njit(cache=True)
def ranks_sorted_nb(v):
    """Non-domination rank (0 = front) of each row of ``v`` (sorted as for front_mask_nb).

    Rows are placed one by one in the first front with no member dominating them; "some
    member of front r dominates row i" holds for every r below i's rank and for none from it
    on, so that front is found by bisection over the fronts (Zhang et al. 2015, ENS-BS).
    Members of a front are kept as linked lists (``head`` → ``nxt`` → ... → -1).
    """
    n = v.shape[0]
    rank = np.zeros(n, dtype=np.int64)
    head = np.full(n, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    n_fronts = 0
    for i in range(n):
        lo, hi = 0, n_fronts  # answer in [lo, hi]; hi = a new front
        while lo < hi:
            mid = (lo + hi) // 2
            dominated = False
            m = head[mid]
            while m >= 0:
                if _dominates_nb(v[m], v[i]):
                    dominated = True
                    break
                m = nxt[m]
            if dominated:
                lo = mid + 1
            else:
                hi = mid
        rank[i] = lo
        nxt[i] = head[lo]
        head[lo] = i
        if lo == n_fronts:
            n_fronts += 1
    return rank


def pareto_front(values: object) -> np.ndarray:
    """Indices of the non-dominated rows of ``values`` (n × k, all objectives maximized).

    Sorted by the first objective descending (ties: next objectives descending, then index).
    Rows with a NaN or ``-inf`` are never on the front; with no valid row the result is empty.
    """
    v, _, order = _prepare(values)
    if order.size == 0:
        return np.empty(0, dtype=np.intp)
    return order[front_mask_nb(np.ascontiguousarray(v[order]))].astype(np.intp)


def non_dominated_ranks(values: object) -> np.ndarray:
    """Non-domination rank of every row of ``values`` (n × k, maximized): 0 = Pareto front.

    Rank r + 1 holds the rows dominated only by rows of ranks <= r (the front once ranks
    <= r are removed). Rows with a NaN or ``-inf`` all get the rank after the last front of
    the valid rows (0 if no row is valid).
    """
    v, valid, order = _prepare(values)
    out = np.zeros(v.shape[0], dtype=np.int64)
    if order.size:
        r = ranks_sorted_nb(np.ascontiguousarray(v[order]))
        out[order] = r
        out[~valid] = int(r.max()) + 1
    return out
