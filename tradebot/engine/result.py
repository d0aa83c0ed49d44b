"""What the engine returns: equity per bar, structured arrays of trades and fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

# Exit reasons (``TRADE_DTYPE['exit_reason']``).
EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_TRAILING_STOP = 3
EXIT_OPEN = 4  # still open after the last bar: valued at the last close, no exit fee
EXIT_BREAKER = 5  # flattened by the drawdown circuit breaker (flatten_on_breaker)
EXIT_REASONS = {
    EXIT_SIGNAL: "exit_signal",
    EXIT_STOP_LOSS: "stop_loss",
    EXIT_TAKE_PROFIT: "take_profit",
    EXIT_TRAILING_STOP: "trailing_stop",
    EXIT_OPEN: "still_open",
    EXIT_BREAKER: "drawdown_breaker",
}

# Why an entry was blocked (``BLOCKED_DTYPE['reason']``; codes of engine.risk_nb).
BLOCK_REASONS = {
    0: "max_trades_per_day",
    1: "max_daily_loss",
    2: "drawdown_breaker",
    3: "loss_cooldown",
}

#: One row per entry signal the risk limits refused: the bar whose close decided it.
BLOCKED_DTYPE = np.dtype([("bar_idx", np.int64), ("reason", np.int8)])


def blocked_to_records(raw: np.ndarray) -> np.ndarray:
    """The kernels' float (bar, reason) rows as a BLOCKED_DTYPE structured array."""
    out = np.empty(raw.shape[0], dtype=BLOCKED_DTYPE)
    out["bar_idx"] = raw[:, 0]
    out["reason"] = raw[:, 1]
    return out


def no_blocked() -> np.ndarray:
    return np.empty(0, dtype=BLOCKED_DTYPE)


# Order types and fill intents (``FILL_DTYPE``).
ORDER_MARKET, ORDER_LIMIT, ORDER_STOP, ORDER_STOP_LIMIT = 0, 1, 2, 3
ORDER_TYPES = {ORDER_MARKET: "market", ORDER_LIMIT: "limit", ORDER_STOP: "stop",
               ORDER_STOP_LIMIT: "stop_limit"}
INTENT_ENTRY, INTENT_EXIT = 0, 1

#: One row per execution (a partially filled order gives several rows). ``side`` is 1 for
#: a buy, -1 for a sell; ``reason`` is the exit reason code for exits, -1 for entries;
#: ``maker`` is 1 when the fill paid the maker fee.
FILL_DTYPE = np.dtype(
    [
        ("bar_idx", np.int64),
        ("side", np.int8),
        ("qty", np.float64),
        ("price", np.float64),
        ("fee", np.float64),
        ("order_type", np.int8),
        ("intent", np.int8),
        ("reason", np.int8),
        ("maker", np.int8),
    ]
)


def no_fills() -> np.ndarray:
    return np.empty(0, dtype=FILL_DTYPE)


def fills_to_records(raw: np.ndarray) -> np.ndarray:
    """The kernels' fill log (float rows, ``layout.F_*`` columns, in FILL_DTYPE's field
    order) as a FILL_DTYPE structured array."""
    out = np.empty(raw.shape[0], dtype=FILL_DTYPE)
    for i, name in enumerate(FILL_DTYPE.names or ()):
        out[name] = raw[:, i]
    return out


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
    """Equity marked to market at every close, the trades and the executions."""

    timestamp: np.ndarray  # int64 ms, candle open times
    close: np.ndarray  # float64, the closes used for marking
    equity: np.ndarray  # float64, cash + units * close after that bar's fills
    trades: np.ndarray  # TRADE_DTYPE
    initial_capital: float
    blocked: np.ndarray = field(default_factory=no_blocked)  # BLOCKED_DTYPE
    #: FILL_DTYPE, the kernels' log of every execution (several rows for a partially
    #: filled order); empty for a result built from trades alone
    fills: np.ndarray = field(default_factory=no_fills)

    @cached_property
    def position(self) -> np.ndarray:
        """Signed units held at each close (computed on demand): from the fill log, or
        from the trades for a result built without one."""
        from tradebot.engine.kernels import positions_from_fills_nb, positions_nb

        n = self.equity.shape[0]
        f = self.fills
        if f.size or not self.trades.size:
            return positions_from_fills_nb(n, f["bar_idx"].astype(np.int64),
                                           f["side"].astype(np.float64),
                                           f["qty"].astype(np.float64))
        t = self.trades
        return positions_nb(n, t["entry_idx"].astype(np.int64),
                            t["exit_idx"].astype(np.int64), t["direction"].astype(np.float64),
                            t["units"].astype(np.float64), t["exit_reason"].astype(np.int64))

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.initial_capital
