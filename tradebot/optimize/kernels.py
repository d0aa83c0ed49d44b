"""The optimizer's batch kernels: many parameter sets through the engine's one loop.

Each trial runs the path of :func:`tradebot.engine.kernels.run_bars_nb` (the loop of
backtest and paper) that its parameters take, over a window ``[start, stop)`` of the
candles from a fresh account, and keeps only what the objectives need: equity at the
close of each UTC day, the number of trades, the final equity and the maximum drawdown.
Trials are independent, so the result does not depend on the number of threads or
processes, nor on how the trials are grouped.

There is one row kernel per path (:data:`ROW_KERNELS`, chosen by :func:`path_of` like
:func:`tradebot.engine.kernels.runner_for`), so a study compiles only the paths its
trials take; the three differ only in the loop they call. They are plain loops that
release the GIL, run on a few threads by :func:`eval_batch` (numba's ``parallel=True``
would cost several times their compile time for the same use of the cores).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot._jit import njit
from tradebot.engine.config import P_HAS_LIMITS, P_INIT, P_MATCHING
from tradebot.engine.kernels import new_state_nb, run_market_nb, run_match_nb, run_risk_nb
from tradebot.engine.layout import N_FILL_COLS, N_TRADE_COLS, S_UNITS
from tradebot.engine.risk_nb import N_BLOCKED_COLS


@njit(cache=True)
def trial_buffers_nb(n):
    """Equity (one per bar), trade, blocked and fill buffers of one trial (grown as needed)."""
    return (np.empty(n, dtype=np.float64), np.empty((32, N_TRADE_COLS), dtype=np.float64),
            np.empty((8, N_BLOCKED_COLS), dtype=np.float64),
            np.empty((64, N_FILL_COLS), dtype=np.float64))


@njit(cache=True)
def trial_summary_nb(start, stop, equity, state, n_trades, params, day_last, daily_out,
                     stats_out):
    """After a trial over ``[start, stop)``: fills ``daily_out`` (equity at each index of
    ``day_last``) and ``stats_out`` = (trades incl. a still-open one, final equity,
    max drawdown fraction)."""
    for d in range(day_last.shape[0]):
        daily_out[d] = equity[day_last[d]]
    peak = -np.inf
    max_dd = 0.0
    for t in range(start, stop):
        e = equity[t]
        if e > peak:
            peak = e
        elif peak > 0.0:
            dd = 1.0 - e / peak
            if dd > max_dd:
                max_dd = dd
    stats_out[0] = n_trades + (1 if state[S_UNITS] != 0.0 else 0)
    stats_out[1] = equity[stop - 1] if stop > start else params[P_INIT]
    stats_out[2] = max_dd


@njit(cache=True, nogil=True)
def eval_rows_market_nb(lo, hi, start, stop, timestamp, open_, high, low, close, volume, atr,
                        entries2d, exits2d, short_entries2d, short_exits2d, params2d, day_last,
                        daily, stats):
    """Rows ``[lo, hi)`` of the signal and parameter matrices over bars ``[start, stop)``
    on the market path without risk limits (:func:`~tradebot.engine.kernels.run_market_nb`).

    Writes ``daily[j]`` (equity at each day's last bar) and ``stats[j]`` (trades / final
    equity / max drawdown) of each row ``j``. Short matrices may have no rows. Releases
    the GIL: :func:`eval_batch` runs row ranges on several threads.
    """
    no_signal = np.zeros(0, dtype=np.bool_)
    for j in range(lo, hi):
        se = short_entries2d[j] if short_entries2d.shape[0] > 0 else no_signal
        sx = short_exits2d[j] if short_exits2d.shape[0] > 0 else no_signal
        equity, trades, blocked, fills = trial_buffers_nb(close.shape[0])
        state = new_state_nb(params2d[j])
        out = run_market_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                            entries2d[j], exits2d[j], se, sx, params2d[j], state, trades, 0,
                            blocked, 0, fills, 0, equity)
        trial_summary_nb(start, stop, equity, state, out[1], params2d[j], day_last, daily[j],
                         stats[j])


@njit(cache=True, nogil=True)
def eval_rows_risk_nb(lo, hi, start, stop, timestamp, open_, high, low, close, volume, atr,
                      entries2d, exits2d, short_entries2d, short_exits2d, params2d, day_last,
                      daily, stats):
    """:func:`eval_rows_market_nb` with the risk limits
    (:func:`~tradebot.engine.kernels.run_risk_nb`)."""
    no_signal = np.zeros(0, dtype=np.bool_)
    for j in range(lo, hi):
        se = short_entries2d[j] if short_entries2d.shape[0] > 0 else no_signal
        sx = short_exits2d[j] if short_exits2d.shape[0] > 0 else no_signal
        equity, trades, blocked, fills = trial_buffers_nb(close.shape[0])
        state = new_state_nb(params2d[j])
        out = run_risk_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                          entries2d[j], exits2d[j], se, sx, params2d[j], state, trades, 0,
                          blocked, 0, fills, 0, equity)
        trial_summary_nb(start, stop, equity, state, out[1], params2d[j], day_last, daily[j],
                         stats[j])


@njit(cache=True, nogil=True)
def eval_rows_match_nb(lo, hi, start, stop, timestamp, open_, high, low, close, volume, atr,
                       entries2d, exits2d, short_entries2d, short_exits2d, params2d, day_last,
                       daily, stats):
    """:func:`eval_rows_market_nb` with the order-matching fill model
    (:func:`~tradebot.engine.kernels.run_match_nb`)."""
    no_signal = np.zeros(0, dtype=np.bool_)
    for j in range(lo, hi):
        se = short_entries2d[j] if short_entries2d.shape[0] > 0 else no_signal
        sx = short_exits2d[j] if short_exits2d.shape[0] > 0 else no_signal
        equity, trades, blocked, fills = trial_buffers_nb(close.shape[0])
        state = new_state_nb(params2d[j])
        out = run_match_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                           entries2d[j], exits2d[j], se, sx, params2d[j], state, trades, 0,
                           blocked, 0, fills, 0, equity)
        trial_summary_nb(start, stop, equity, state, out[1], params2d[j], day_last, daily[j],
                         stats[j])


ROW_KERNELS = {"market": eval_rows_market_nb, "risk": eval_rows_risk_nb,
               "match": eval_rows_match_nb}


def path_of(params: np.ndarray) -> str:
    """Which path of the engine's loop a parameter vector takes."""
    if params[P_MATCHING] != 0.0:
        return "match"
    return "market" if params[P_HAS_LIMITS] == 0.0 else "risk"


def threads() -> int:
    """Threads a batch runs on: ``NUMBA_NUM_THREADS`` (default: the CPU count)."""
    from numba import config

    return max(1, int(config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


def eval_batch(start: int, stop: int, timestamp: np.ndarray, open_: np.ndarray,
               high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
               atr: np.ndarray, entries2d: np.ndarray, exits2d: np.ndarray,
               short_entries2d: np.ndarray, short_exits2d: np.ndarray, params2d: np.ndarray,
               day_last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row of the signal and parameter matrices over bars ``[start, stop)``.

    Returns ``(daily, stats)``: (n_runs, n_days) equity at each day's last bar and
    (n_runs, 3) trades / final equity / max drawdown, in row order. Rows are grouped by
    the path they take (one row kernel per path taken) and split into contiguous ranges
    run on :func:`threads` threads (the kernels release the GIL). Rows are independent:
    the result does not depend on the grouping or the number of threads.
    """
    n_runs = entries2d.shape[0]
    paths = [path_of(params2d[j]) for j in range(n_runs)]
    daily = np.empty((n_runs, day_last.shape[0]), dtype=np.float64)
    stats = np.empty((n_runs, 3), dtype=np.float64)
    for path in dict.fromkeys(paths):
        rows = np.flatnonzero(np.array([p == path for p in paths]))
        groups: tuple[np.ndarray, ...]
        if rows.shape[0] == n_runs:  # the usual case: one path, no copies
            groups = (entries2d, exits2d, short_entries2d, short_exits2d, params2d)
        else:
            groups = tuple(np.ascontiguousarray(a[rows]) if a.shape[0] else a
                           for a in (entries2d, exits2d, short_entries2d, short_exits2d,
                                     params2d))
        d = np.empty((rows.shape[0], day_last.shape[0]), dtype=np.float64)
        s = np.empty((rows.shape[0], 3), dtype=np.float64)
        kernel = ROW_KERNELS[path]
        args: tuple[Any, ...] = (start, stop, timestamp, open_, high, low, close, volume, atr, *groups,
                day_last, d, s)
        n = rows.shape[0]
        k = min(threads(), n)
        bounds = [(i * n // k, (i + 1) * n // k) for i in range(k)]
        if k <= 1:
            kernel(0, n, *args)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=k - 1) as pool:
                futures = [pool.submit(kernel, lo, hi, *args) for lo, hi in bounds[1:]]
                kernel(*bounds[0], *args)  # this thread takes the first range
                for f in futures:
                    f.result()
        daily[rows] = d
        stats[rows] = s
    return daily, stats
