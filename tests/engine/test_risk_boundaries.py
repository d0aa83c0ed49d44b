"""Risk limits at their exact boundaries: a limit *reached* blocks, one not yet reached does
not. Cases whose numbers are exact in binary floating point (whole units, whole prices, no
fees), so a threshold that is off (a factor, ``>`` for ``>=``) changes the outcome."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.engine.backtest import run_signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import BLOCK_REASONS

HOUR = 3_600_000
NOFEE = {"maker_fee": 0.0, "taker_fee": 0.0}


def bars(h, rows, step_ms=8 * HOUR):  # type: ignore[no-untyped-def]
    a = np.array(rows, dtype=np.float64)
    return h.candles_from(a[:, 0], a[:, 1], a[:, 2], a[:, 3], step_ms=step_ms)


def flat(price: float) -> tuple[float, float, float, float]:
    return (price, price + 0.5, price - 0.5, price)


def blocked_list(res):  # type: ignore[no-untyped-def]
    return [(int(b["bar_idx"]), BLOCK_REASONS[int(b["reason"])]) for b in res.blocked]


# 8-hour bars: 0-2 on day 1, 3-5 on day 2. Buy 100 units at 100 (bar 1: 10,000 exactly, no
# fee), bar 1 closes at 98: equity 9,800, a loss of exactly 200 since the day's start; the
# exit signal at bar 1 sells at bar 2's open 98. The entry signal at bar 2 meets the limit.
DAY = [flat(100), (100, 100.5, 97.5, 98), flat(98), flat(98), flat(98), flat(98)]


@pytest.mark.parametrize(("limit", "blocked"), [(200.0, True), (199.0, True), (201.0, False), (400.0, False)])
def test_daily_loss_blocks_from_the_limit_on(h, limit: float, blocked: bool) -> None:  # type: ignore[no-untyped-def]
    res = run_signals(bars(h, DAY), h.signals_at(6, entries=[0, 2], exits=[1]),
                      EngineConfig(max_daily_loss=limit, **NOFEE))
    assert res.trades["pnl"][0] == -200.0
    if blocked:
        assert blocked_list(res) == [(2, "max_daily_loss")]
        assert res.trades["entry_idx"].tolist() == [1]
    else:
        assert blocked_list(res) == []
        assert res.trades["entry_idx"].tolist() == [1, 3]


@pytest.mark.parametrize(("limit", "second_entry"), [(1, None), (2, 3)])
def test_max_trades_per_day_counts_the_limit_itself(h, limit: int, second_entry: int | None) -> None:  # type: ignore[no-untyped-def]
    # entries at 0 and 2 on day 1 (the second is the 2nd trade of the day)
    res = run_signals(bars(h, [flat(100)] * 5), h.signals_at(5, entries=[0, 2], exits=[1]),
                      EngineConfig(max_trades_per_day=limit, **NOFEE))
    want = [1] if second_entry is None else [1, second_entry]
    assert res.trades["entry_idx"].tolist() == want
    assert blocked_list(res) == ([(2, "max_trades_per_day")] if second_entry is None else [])
