"""What the engine returns: equity per bar and a structured array of trades."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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


def bars_held(trades: np.ndarray) -> int:
    """Closes at which a position was held: exit bars excluded, a still-open trade's
    last bar included (the same rule as :attr:`BacktestResult.position`)."""
    if trades.size == 0:
        return 0
    spans = trades["exit_idx"] - trades["entry_idx"] + (trades["exit_reason"] == EXIT_OPEN)
    return int(spans.sum())


@dataclass(frozen=True)
class BacktestResult:
    """Equity marked to market at every close, and the trades."""

    timestamp: np.ndarray  # int64 ms, candle open times
    close: np.ndarray  # float64, the closes used for marking
    equity: np.ndarray  # float64, cash + units * close after that bar's fills
    trades: np.ndarray  # TRADE_DTYPE
    initial_capital: float

    @cached_property
    def position(self) -> np.ndarray:
        """Signed units held at each close, derived from the trades (computed on demand)."""
        from tradebot.engine.kernels import positions_nb

        t = self.trades
        return positions_nb(self.equity.shape[0], t["entry_idx"].astype(np.int64),
                            t["exit_idx"].astype(np.int64), t["direction"].astype(np.float64),
                            t["units"].astype(np.float64), t["exit_reason"].astype(np.int64))

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.initial_capital
