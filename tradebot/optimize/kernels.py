"""The optimizer's batch kernels: many parameter sets through the engine's one loop.

Each trial runs the path of :func:`tradebot.engine.kernels.run_bars_nb` (the loop of
backtest and paper) that its parameters take, over a window ``[start, stop)`` of the
candles from a fresh account, and keeps only what the objectives need: equity at the
close of each UTC day, the number of trades, the final equity and the maximum drawdown.
Trials are independent, so the result does not depend on the number of threads or
processes, nor on how the trials are grouped.

There is one batch kernel per path (:data:`BATCH_KERNELS`, chosen by
:func:`batch_kernel_for` like :func:`tradebot.engine.kernels.runner_for`), so a study
compiles only the paths its trials take; the three differ only in the loop they call.
"""

from __future__ import annotations

import numpy as np
from numba import prange

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


@njit(cache=True, parallel=True)
def eval_batch_market_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                         entries2d, exits2d, short_entries2d, short_exits2d, params2d, day_last):
    """Every row of the signal and parameter matrices over ``[start, stop)`` on the market
    path without risk limits (:func:`~tradebot.engine.kernels.run_market_nb`).

    Returns ``(daily, stats)``: (n_runs, n_days) equity at each day's last bar and
    (n_runs, 3) trades / final equity / max drawdown. Short matrices may have no rows.
    """
    n_runs = entries2d.shape[0]
    daily = np.empty((n_runs, day_last.shape[0]), dtype=np.float64)
    stats = np.empty((n_runs, 3), dtype=np.float64)
    no_signal = np.zeros(0, dtype=np.bool_)
    for j in prange(n_runs):
        se = short_entries2d[j] if short_entries2d.shape[0] > 0 else no_signal
        sx = short_exits2d[j] if short_exits2d.shape[0] > 0 else no_signal
        equity, trades, blocked, fills = trial_buffers_nb(close.shape[0])
        state = new_state_nb(params2d[j])
        out = run_market_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                            entries2d[j], exits2d[j], se, sx, params2d[j], state, trades, 0,
                            blocked, 0, fills, 0, equity)
        trial_summary_nb(start, stop, equity, state, out[1], params2d[j], day_last, daily[j],
                         stats[j])
    return daily, stats


@njit(cache=True, parallel=True)
def eval_batch_risk_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                       entries2d, exits2d, short_entries2d, short_exits2d, params2d, day_last):
    """:func:`eval_batch_market_nb` with the risk limits
    (:func:`~tradebot.engine.kernels.run_risk_nb`)."""
    n_runs = entries2d.shape[0]
    daily = np.empty((n_runs, day_last.shape[0]), dtype=np.float64)
    stats = np.empty((n_runs, 3), dtype=np.float64)
    no_signal = np.zeros(0, dtype=np.bool_)
    for j in prange(n_runs):
        se = short_entries2d[j] if short_entries2d.shape[0] > 0 else no_signal
        sx = short_exits2d[j] if short_exits2d.shape[0] > 0 else no_signal
        equity, trades, blocked, fills = trial_buffers_nb(close.shape[0])
        state = new_state_nb(params2d[j])
        out = run_risk_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                          entries2d[j], exits2d[j], se, sx, params2d[j], state, trades, 0,
                          blocked, 0, fills, 0, equity)
        trial_summary_nb(start, stop, equity, state, out[1], params2d[j], day_last, daily[j],
                         stats[j])
    return daily, stats


@njit(cache=True, parallel=True)
def eval_batch_match_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                        entries2d, exits2d, short_entries2d, short_exits2d, params2d, day_last):
    """:func:`eval_batch_market_nb` with the order-matching fill model
    (:func:`~tradebot.engine.kernels.run_match_nb`)."""
    n_runs = entries2d.shape[0]
    daily = np.empty((n_runs, day_last.shape[0]), dtype=np.float64)
    stats = np.empty((n_runs, 3), dtype=np.float64)
    no_signal = np.zeros(0, dtype=np.bool_)
    for j in prange(n_runs):
        se = short_entries2d[j] if short_entries2d.shape[0] > 0 else no_signal
        sx = short_exits2d[j] if short_exits2d.shape[0] > 0 else no_signal
        equity, trades, blocked, fills = trial_buffers_nb(close.shape[0])
        state = new_state_nb(params2d[j])
        out = run_match_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                           entries2d[j], exits2d[j], se, sx, params2d[j], state, trades, 0,
                           blocked, 0, fills, 0, equity)
        trial_summary_nb(start, stop, equity, state, out[1], params2d[j], day_last, daily[j],
                         stats[j])
    return daily, stats


BATCH_KERNELS = {"market": eval_batch_market_nb, "risk": eval_batch_risk_nb,
                 "match": eval_batch_match_nb}


def path_of(params: np.ndarray) -> str:
    """Which path of the engine's loop a parameter vector takes."""
    if params[P_MATCHING] != 0.0:
        return "match"
    return "market" if params[P_HAS_LIMITS] == 0.0 else "risk"


def batch_kernel_for(params: np.ndarray):  # noqa: ANN201 - a numba dispatcher
    """The batch kernel of the path ``params`` takes."""
    return BATCH_KERNELS[path_of(params)]


def eval_batch(start: int, stop: int, timestamp: np.ndarray, open_: np.ndarray,
               high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
               atr: np.ndarray, entries2d: np.ndarray, exits2d: np.ndarray,
               short_entries2d: np.ndarray, short_exits2d: np.ndarray, params2d: np.ndarray,
               day_last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row over ``[start, stop)``, rows grouped by path (one batch kernel call per
    path taken). Returns ``(daily, stats)`` in row order, as one kernel would."""
    n_runs = entries2d.shape[0]
    paths = [path_of(params2d[j]) for j in range(n_runs)]
    daily = np.empty((n_runs, day_last.shape[0]), dtype=np.float64)
    stats = np.empty((n_runs, 3), dtype=np.float64)
    for path in dict.fromkeys(paths):
        rows = np.flatnonzero(np.array([p == path for p in paths]))
        if rows.shape[0] == n_runs:  # the usual case: one path, no copies
            groups = (entries2d, exits2d, short_entries2d, short_exits2d, params2d)
        else:
            groups = tuple(np.ascontiguousarray(a[rows]) if a.shape[0] else a
                           for a in (entries2d, exits2d, short_entries2d, short_exits2d,
                                     params2d))
        d, s = BATCH_KERNELS[path](start, stop, timestamp, open_, high, low, close, volume,
                                   atr, *groups, day_last)
        daily[rows] = d
        stats[rows] = s
    return daily, stats
