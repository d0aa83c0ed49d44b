"""The step runner: advance a persisted account over newly closed candles.

It calls the same compiled loop as the backtest (:func:`kernels.run_bars_nb`) on the
bars after the last processed one, starting from the persisted engine state, so a
history replayed candle by candle trades exactly as one backtest over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.engine.backtest import _bool, atr_for, trades_to_records, volume_for
from tradebot.engine.config import EngineConfig
from tradebot.engine.layout import (
    M_EXIT_FEE,
    M_TRADE_UNITS,
    N_BLOCKED_COLS,
    N_FILL_COLS,
    N_MATCH,
    N_STATE,
    N_TRADE_COLS,
    NO_ORDER,
    OPTF_WINDOW,
    S_PENDING,
    S_PENDING_AT,
    S_UNITS,
)
from tradebot.engine.result import blocked_to_records, fills_to_records, no_blocked, no_fills

_NO_SIGNAL = np.zeros(0, dtype=np.bool_)


def _kernels(params: np.ndarray, n_bars: int, config: EngineConfig | None = None) -> Any:
    """engine/kernels.py for a step of ``n_bars``: compiled, or its interpreted copy for a
    few bars in a process that has not loaded numba (see :mod:`tradebot.engine.interpreted`)."""
    from tradebot.engine import interpreted

    if interpreted.available(params, n_bars):
        return interpreted.kernels()
    from tradebot.engine import jit, kernels

    if n_bars > 0:
        jit.announce_step(config)  # a one-time compile of the loop is about to run?
    return kernels


def new_state(config: EngineConfig) -> np.ndarray:
    """The engine state of a fresh account (all cash)."""
    params = config.to_vector()
    return _kernels(params, 0).new_state_nb(params)


def _match_base(config: EngineConfig) -> int:
    return N_STATE + (OPTF_WINDOW if config.sizing == "optimal_f" else 0)


def upgrade_state(state: np.ndarray, config: EngineConfig) -> np.ndarray:
    """A copy of a persisted ``state`` in the layout ``config`` needs: slots added since it
    was written take a fresh account's values.

    The layouts a state can have are told apart by its length: the account slots (8),
    the risk slots (to N_STATE), the optimal-f ring (OPTF_WINDOW slots, optimal f sizing
    only) and the working order of the matching model (N_MATCH slots, always since it
    exists). The ring is kept only for optimal f sizing.
    """
    st = np.array(state, dtype=np.float64)
    fresh = new_state(config)
    if st.shape[0] == fresh.shape[0]:
        return st
    out = fresh.copy()
    k = min(st.shape[0], N_STATE)
    out[:k] = st[:k]
    rest = st[N_STATE:]
    has_ring = rest.shape[0] >= OPTF_WINDOW
    if has_ring and config.sizing == "optimal_f":
        out[N_STATE:N_STATE + OPTF_WINDOW] = rest[:OPTF_WINDOW]
    match = rest[OPTF_WINDOW:] if has_ring else rest
    if match.shape[0] == N_MATCH:
        mb = _match_base(config)
        out[mb:mb + N_MATCH] = match
    return out


def _adopt_state(st: np.ndarray, config: EngineConfig, start: int) -> None:
    """Make a state written under another fill model fit ``config`` (in place).

    The market path fills a pending order exactly at its bar, so an order still pending
    from before ``start`` was left by the matching model: it is cancelled. The matching
    model books a round trip's units from its entry fills: a position opened on the
    market path gets them from the units held."""
    mb = _match_base(config)
    if not config.matching:
        if st[S_PENDING] != NO_ORDER and st[S_PENDING_AT] < start:
            fresh = new_state(config)
            st[S_PENDING] = NO_ORDER
            st[S_PENDING_AT] = -1.0
            st[mb:mb + M_EXIT_FEE + 1] = fresh[mb:mb + M_EXIT_FEE + 1]
    elif st[S_UNITS] != 0.0 and st[mb + M_TRADE_UNITS] == 0.0:
        st[mb + M_TRADE_UNITS] = abs(st[S_UNITS])


@dataclass(frozen=True)
class StepResult:
    state: np.ndarray  # engine state after the last bar
    trades: np.ndarray  # TRADE_DTYPE: round trips closed in these bars
    equity: np.ndarray  # equity at the close of each processed bar
    position: np.ndarray  # signed units held at each processed close
    blocked: np.ndarray = field(default_factory=no_blocked)  # BLOCKED_DTYPE, these bars
    fills: np.ndarray = field(default_factory=no_fills)  # FILL_DTYPE, executions in these bars


def advance(candles: Candles, signals: Signals, config: EngineConfig, state: np.ndarray,
            start: int) -> StepResult:
    """Run bars ``[start, len(candles))`` from ``state`` (bar indices count from the first
    candle of ``candles``, which must be the account's history start)."""

    n = len(candles)
    st = upgrade_state(state, config)
    _adopt_state(st, config, start)
    equity = np.full(n, np.nan)
    position = np.empty(max(n - start, 0))
    trades = np.empty((8, N_TRADE_COLS))
    blocked = np.empty((8, N_BLOCKED_COLS))
    fills = np.empty((8, N_FILL_COLS))
    n_trades = n_blocked = n_fills = 0
    shorts = config.allow_short and signals.short_entries.size > 0
    args = (np.ascontiguousarray(candles.timestamp, dtype=np.int64),
            candles.open, candles.high, candles.low, candles.close, volume_for(candles),
            atr_for(candles, config),
            _bool(signals.entries, n, "entries"), _bool(signals.exits, n, "exits"),
            _bool(signals.short_entries, n, "short_entries") if shorts else _NO_SIGNAL,
            _bool(signals.short_exits, n, "short_exits") if shorts else _NO_SIGNAL,
            config.to_vector())
    # The path of the one loop this config takes (interpreted for a few bars, see _kernels).
    run_bars_nb = _kernels(args[-1], n - start, config).runner_for(args[-1])
    for t in range(start, n):  # one bar at a time: the units held at each close are recorded
        trades, n_trades, blocked, n_blocked, fills, n_fills = run_bars_nb(
            t, t + 1, *args, st, trades, n_trades, blocked, n_blocked, fills, n_fills, equity)
        position[t - start] = st[S_UNITS]
    return StepResult(st, trades_to_records(trades[:n_trades]), equity[start:], position,
                      blocked_to_records(blocked[:n_blocked]), fills_to_records(fills[:n_fills]))
