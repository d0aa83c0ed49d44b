"""tradebot and backtesting.py 0.6.6 give the same trades on real candles.

How backtesting.py is aligned with the rules of WORKLOAD.md §2:

- ``trade_on_close=False``: an order placed in ``next()`` at bar t's close fills at bar
  t+1's open, as in tradebot (``latency_bars=1``). ``exclusive_orders=True``, ``margin=1``
  (no leverage), ``hedging=False``; ``finalize_trades=False`` so a position still open at the
  end is not closed (and charged) on the last bar: backtesting.py's final equity then marks
  it at the last close without exit fee, exactly as tradebot does.
- ``commission=0.001``: charged on each side on traded value (``size * price * 0.001``) at
  the fill, not folded into the price: the same as tradebot's taker fee.
- Whole units: backtesting.py sizes a fractional order as
  ``floor((1 - eps) * margin_available / (price * (1 + commission)))`` *whole* units. With
  ``backtesting.lib.FractionalBacktest(fractional_unit=2**-27)`` a unit is 2**-27 coin
  (~7.5e-9), so the floor costs at most 2**-27 coin per entry; a power of two keeps the
  price scaling (``price * 2**-27`` and back) exact. So entry/exit bars and prices are
  compared exactly, while units, pnl and equity differ by that rounding: pnl within 1e-5
  relative (of the trade's value when the pnl itself is near zero), final equity within 1e-5.
- Start: ``Backtest.run`` first calls ``next()`` at bar ``1 + (leading NaNs of the
  indicators registered with self.I)``; with RSI(14) registered that is bar 15, one bar after
  the first RSI value, so a signal on bar 14 would be missed. The strategy below registers no
  indicator and reads precomputed signal arrays by index, so ``next()`` runs from bar 1
  (bar 0 has no indicator value in any strategy compared here).

Signals (RSI 14/30/70, RSI 9/25/75, MACD 12/26/9) come from tradebot's strategies, so this
compares the simulators: fills, sizing, fees, the open trade at the end.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TQDM_DISABLE", "1")
pytest.importorskip("backtesting")

import pandas as pd  # noqa: E402
from backtesting import Strategy  # noqa: E402
from backtesting.lib import FractionalBacktest  # noqa: E402

from tradebot.engine.backtest import run_strategy  # noqa: E402
from tradebot.engine.config import EngineConfig  # noqa: E402
from tradebot.engine.result import EXIT_OPEN  # noqa: E402
from tradebot.strategies.builtin.macd import MacdStrategy  # noqa: E402
from tradebot.strategies.builtin.rsi import RsiStrategy  # noqa: E402

pytestmark = pytest.mark.peer

INIT = 10_000.0
FEE = 0.001
UNIT = 2.0 ** -27
RTOL = 1e-5


class SignalStrategy(Strategy):
    """Buy all-in when flat and ``entry[i]``; close the whole position when ``exit[i]``."""

    entry: np.ndarray = np.zeros(0, dtype=bool)
    exit: np.ndarray = np.zeros(0, dtype=bool)

    def init(self) -> None:
        pass

    def next(self) -> None:
        i = len(self.data) - 1
        if not self.position:
            if self.entry[i]:
                self.buy()
        elif self.exit[i]:
            self.position.close()


def _frame(c: Any) -> pd.DataFrame:
    idx = pd.DatetimeIndex(pd.to_datetime(c.timestamp, unit="ms"), name="date")
    return pd.DataFrame({"Open": c.open, "High": c.high, "Low": c.low, "Close": c.close,
                         "Volume": c.volume}, index=idx)


def _run_backtesting(df: pd.DataFrame, entries: np.ndarray, exits: np.ndarray) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(df, SignalStrategy, cash=INIT, commission=FEE, margin=1.0,
                                trade_on_close=False, exclusive_orders=True, hedging=False,
                                finalize_trades=False, fractional_unit=UNIT)
        return bt.run(entry=np.asarray(entries, dtype=bool), exit=np.asarray(exits, dtype=bool))


def _cases(c: Any, rsi_sets: Any, macd_set: Any) -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = [
        (f"rsi {p}/{lo:g}/{up:g}", RsiStrategy(period=p, lower=lo, upper=up))
        for p, lo, up in rsi_sets
    ]
    fast, slow, signal = macd_set
    cases.append((f"macd {fast}/{slow}/{signal}", MacdStrategy(fast=fast, slow=slow,
                                                               signal=signal)))
    return cases


def test_same_trades_as_backtesting_py(real_candles: Any, rsi_sets: Any, macd_set: Any) -> None:
    c = real_candles.candles
    df = _frame(c)
    cfg = EngineConfig(initial_capital=INIT, maker_fee=FEE, taker_fee=FEE)
    for label, strategy in _cases(c, rsi_sets, macd_set):
        where = f"{real_candles.name}, {label}"
        sig = strategy.signals_for(c)
        res = run_strategy(c, strategy, cfg)
        stats = _run_backtesting(df, sig.entries, sig.exits)

        mine = res.trades
        closed = mine[mine["exit_reason"] != EXIT_OPEN]
        still_open = mine[mine["exit_reason"] == EXIT_OPEN]
        theirs = stats["_trades"].sort_values("EntryBar", kind="stable")
        assert len(closed) > 0, f"{where}: no closed trades, the comparison would be empty"
        assert len(closed) == len(theirs), (
            f"{where}: {len(closed)} closed trades in tradebot, {len(theirs)} in backtesting.py")
        np.testing.assert_array_equal(closed["entry_idx"], theirs["EntryBar"], err_msg=where)
        np.testing.assert_array_equal(closed["exit_idx"], theirs["ExitBar"], err_msg=where)
        np.testing.assert_array_equal(closed["entry_price"], theirs["EntryPrice"], err_msg=where)
        np.testing.assert_array_equal(closed["exit_price"], theirs["ExitPrice"], err_msg=where)
        value = closed["units"] * closed["entry_price"]
        np.testing.assert_allclose(closed["units"], theirs["Size"], rtol=RTOL, err_msg=where)
        np.testing.assert_allclose(closed["pnl"], theirs["PnL"], rtol=RTOL,
                                   atol=RTOL * float(value.min()), err_msg=where)

        # The position still open at the end (backtesting.py keeps it in the strategy, in
        # scaled units: prices times UNIT, sizes in units of UNIT).
        open_bt = list(stats["_strategy"].trades)
        assert len(still_open) == len(open_bt), where
        for mine_t, bt_t in zip(still_open, open_bt, strict=True):
            assert mine_t["entry_idx"] == bt_t.entry_bar, where
            assert mine_t["entry_price"] == bt_t.entry_price / UNIT, where
            assert mine_t["units"] == pytest.approx(bt_t.size * UNIT, rel=RTOL), where

        assert res.final_equity == pytest.approx(float(stats["Equity Final [$]"]), rel=RTOL), where
        eq_bt = stats["_equity_curve"]["Equity"].to_numpy()
        np.testing.assert_allclose(res.equity, eq_bt, rtol=RTOL, err_msg=where)
