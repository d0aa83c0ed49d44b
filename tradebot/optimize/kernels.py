"""The optimizer's batch kernel: many parameter sets through the engine's one loop.

Each trial runs :func:`tradebot.engine.kernels.run_bars_nb` (the loop of backtest and
paper) over a window ``[start, stop)`` of the candles from a fresh account, and keeps only
what the objectives need: equity at the close of each UTC day, the number of trades, the
final equity and the maximum drawdown. Trials are independent, so the result does not
depend on the number of threads or processes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tradebot.engine.config import P_INIT
from tradebot.engine.kernels import new_state_nb, run_bars_nb
from tradebot.engine.layout import N_FILL_COLS, N_TRADE_COLS, S_UNITS
from tradebot.engine.risk_nb import N_BLOCKED_COLS


@njit(cache=True)
def window_run_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries, exits,
                  short_entries, short_exits, params, day_last, daily_out, stats_out):
    """One trial over ``[start, stop)``: fills ``daily_out`` (equity at each index of
    ``day_last``) and ``stats_out`` = (trades incl. a still-open one, final equity,
    max drawdown fraction)."""
    n = close.shape[0]
    equity = np.empty(n, dtype=np.float64)
    trades = np.empty((32, N_TRADE_COLS), dtype=np.float64)
    blocked = np.empty((8, N_BLOCKED_COLS), dtype=np.float64)
    fills = np.empty((64, N_FILL_COLS), dtype=np.float64)
    state = new_state_nb(params)
    trades, n_trades, blocked, n_blocked, fills, n_fills = run_bars_nb(
        start, stop, timestamp, open_, high, low, close, volume, atr, entries, exits, short_entries,
        short_exits, params, state, trades, 0, blocked, 0, fills, 0, equity)
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
def eval_batch_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries2d,
                  exits2d, short_entries2d, short_exits2d, params2d, day_last):
    """Every row of the signal and parameter matrices over ``[start, stop)``.

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
        window_run_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries2d[j],
                      exits2d[j], se, sx, params2d[j], day_last, daily[j], stats[j])
    return daily, stats
