"""What the engine returns: equity per bar and a structured array of trades."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Exit reasons (``TRADE_DTYPE['exit_reason']``).
EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_TRAILING_STOP = 3
EXIT_OPEN = 4  # still open after the last bar: valued at the last close, no exit fee
EXIT_REASONS = {
    EXIT_SIGNAL: "exit_signal",
    EXIT_STOP_LOSS: "stop_loss",
    EXIT_TAKE_PROFIT: "take_profit",
    EXIT_TRAILING_STOP: "trailing_stop",
    EXIT_OPEN: "still_open",
}

#: One row per round trip. ``entry_idx``/``exit_idx`` index the candle arrays (the bar
#: whose open or intra-bar price filled the order); a still-open trade has
#: ``exit_idx = n - 1`` and ``exit_price`` = last close. ``pnl`` is net of both fees;
#: ``return_pct`` is ``pnl / (units * entry_price + entry_fee) * 100``.
TRADE_DTYPE = np.dtype(
    [
        ("entry_idx", np.int64),
        ("exit_idx", np.int64),
        ("direction", np.int8),  # 1 long, -1 short
        ("units", np.float64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("entry_fee", np.float64),
        ("exit_fee", np.float64),
        ("pnl", np.float64),
        ("return_pct", np.float64),
        ("exit_reason", np.int8),
    ]
)


@dataclass(frozen=True)
class BacktestResult:
    """Equity marked to market at every close, position held at every close, trades."""

    timestamp: np.ndarray  # int64 ms, candle open times
    close: np.ndarray  # float64, the closes used for marking
    equity: np.ndarray  # float64, cash + units * close after that bar's fills
    position: np.ndarray  # float64, signed units held at the close
    trades: np.ndarray  # TRADE_DTYPE
    initial_capital: float

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.initial_capital
