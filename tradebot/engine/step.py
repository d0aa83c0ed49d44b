"""The step runner: advance a persisted account over newly closed candles.

It calls the same compiled loop as the backtest (:func:`kernels.run_bars_nb`) on the
bars after the last processed one, starting from the persisted engine state, so a
history replayed candle by candle trades exactly as one backtest over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.engine.backtest import _bool, atr_for, trades_to_records
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import FILL_DTYPE, blocked_to_records, fills_from_trades, no_blocked, no_fills

_NO_SIGNAL = np.zeros(0, dtype=np.bool_)


def new_state(config: EngineConfig) -> np.ndarray:
    """The engine state of a fresh account (all cash)."""
    from tradebot.engine.kernels import new_state_nb

    return new_state_nb(config.to_vector())


def upgrade_state(state: np.ndarray, config: EngineConfig) -> np.ndarray:
    """A copy of a persisted ``state``, padded with a fresh account's values for the slots
    added since it was written (an account saved before the risk rules existed)."""
    st = np.array(state, dtype=np.float64)
    fresh = new_state(config)
    if st.shape[0] < fresh.shape[0]:
        st = np.concatenate([st, fresh[st.shape[0]:]])
    return st


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
    from tradebot.engine.kernels import (
        N_TRADE_COLS,
        S_ENTRY_FEE,
        S_ENTRY_IDX,
        S_ENTRY_PRICE,
        S_UNITS,
        run_bars_nb,
    )
    from tradebot.engine.risk_nb import N_BLOCKED_COLS

    n = len(candles)
    st = upgrade_state(state, config)
    equity = np.full(n, np.nan)
    position = np.empty(max(n - start, 0))
    trades = np.empty((8, N_TRADE_COLS))
    blocked = np.empty((8, N_BLOCKED_COLS))
    n_trades = n_blocked = 0
    shorts = config.allow_short and signals.short_entries.size > 0
    args = (np.ascontiguousarray(candles.timestamp, dtype=np.int64),
            candles.open, candles.high, candles.low, candles.close, atr_for(candles, config),
            _bool(signals.entries, n, "entries"), _bool(signals.exits, n, "exits"),
            _bool(signals.short_entries, n, "short_entries") if shorts else _NO_SIGNAL,
            _bool(signals.short_exits, n, "short_exits") if shorts else _NO_SIGNAL,
            config.to_vector())
    for t in range(start, n):  # one bar at a time: the units held at each close are recorded
        trades, n_trades, blocked, n_blocked = run_bars_nb(
            t, t + 1, *args, st, trades, n_trades, blocked, n_blocked, equity)
        position[t - start] = st[S_UNITS]
    closed = trades_to_records(trades[:n_trades])
    fills = fills_from_trades(closed, start)
    if st[S_UNITS] != 0.0 and st[S_ENTRY_IDX] >= start:  # the open position's entry
        entry = np.zeros(1, dtype=FILL_DTYPE)
        entry["bar_idx"] = st[S_ENTRY_IDX]
        entry["side"] = 1 if st[S_UNITS] > 0 else -1
        entry["qty"] = abs(st[S_UNITS])
        entry["price"] = st[S_ENTRY_PRICE]
        entry["fee"] = st[S_ENTRY_FEE]
        entry["reason"] = -1
        fills = np.concatenate([fills, entry])
    return StepResult(st, closed, equity[start:], position,
                      blocked_to_records(blocked[:n_blocked]), fills)
