"""The step runner: advance a persisted account over newly closed candles.

It calls the same compiled loop as the backtest (:func:`kernels.run_bars_nb`) on the
bars after the last processed one, starting from the persisted engine state, so a
history replayed candle by candle trades exactly as one backtest over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.engine.backtest import _bool, atr_for, trades_to_records
from tradebot.engine.config import EngineConfig

_NO_SIGNAL = np.zeros(0, dtype=np.bool_)


def new_state(config: EngineConfig) -> np.ndarray:
    """The engine state of a fresh account (all cash)."""
    from tradebot.engine.kernels import new_state_nb

    return new_state_nb(config.to_vector())


@dataclass(frozen=True)
class StepResult:
    state: np.ndarray  # engine state after the last bar
    trades: np.ndarray  # TRADE_DTYPE: round trips closed in these bars
    equity: np.ndarray  # equity at the close of each processed bar
    position: np.ndarray  # signed units held at each processed close


def advance(candles: Candles, signals: Signals, config: EngineConfig, state: np.ndarray,
            start: int) -> StepResult:
    """Run bars ``[start, len(candles))`` from ``state`` (bar indices count from the first
    candle of ``candles``, which must be the account's history start)."""
    from tradebot.engine.kernels import N_TRADE_COLS, S_UNITS, run_bars_nb

    n = len(candles)
    st = np.array(state, dtype=np.float64)
    equity = np.full(n, np.nan)
    position = np.empty(max(n - start, 0))
    trades = np.empty((8, N_TRADE_COLS))
    n_trades = 0
    shorts = config.allow_short and signals.short_entries.size > 0
    args = (candles.open, candles.high, candles.low, candles.close, atr_for(candles, config),
            _bool(signals.entries, n, "entries"), _bool(signals.exits, n, "exits"),
            _bool(signals.short_entries, n, "short_entries") if shorts else _NO_SIGNAL,
            _bool(signals.short_exits, n, "short_exits") if shorts else _NO_SIGNAL,
            config.to_vector())
    for t in range(start, n):  # one bar at a time: the units held at each close are recorded
        trades, n_trades = run_bars_nb(t, t + 1, *args, st, trades, n_trades, equity)
        position[t - start] = st[S_UNITS]
    return StepResult(st, trades_to_records(trades[:n_trades]), equity[start:], position)
