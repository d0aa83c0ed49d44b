"""tradebot and vectorbt give the same trades on real candles under the same rules.

Rules (WORKLOAD.md §2): decide at a bar's close, fill at the next bar's open, long only, one
position, all-in fee-inclusive fractional sizing, fee 0.1 % per side, 10,000 initial cash, a
position still open at the end valued at the last close without exit fee.

In vectorbt: ``Portfolio.from_signals(close, entries, exits, price=open, size=np.inf,
fees=0.001, init_cash=10000, accumulate=False, direction="longonly")`` with the at-close
signals shifted one bar forward, so a signal at close t is executed at ``open[t+1]``.
vectorbt's ``size=np.inf`` buys ``(cash / (1 + fee)) / price`` units: the same sizing as
tradebot's ``cash / (price * (1 + fee))`` up to the last bit, hence the 1e-9 tolerances.

RSI comes from vectorbt's own TA-Lib wrapper (``IndicatorFactory.from_talib("RSI")``) when
TA-Lib imports (else from tradebot's signals); MACD's crossover signals come from tradebot's
``MacdStrategy`` and are passed to vectorbt, so that part checks the simulators only.
Each dataset is one ``from_signals`` call over all its cases (one column per case), to keep
vectorbt's numba work small.

Stops are NOT compared: vectorbt's ``sl_stop`` semantics cannot be made to agree exactly
with tradebot's, whatever ``stop_entry_price`` says (``FillPrice``/``Price`` do make the
stop level identical: ``entry_fill * (1 - sl)``):

1. tradebot checks the stop inside the entry bar too (the position exists from that bar's
   open, so a low below the stop in the same bar exits at the stop price); vectorbt sets
   the stop after the order is processed and checks it from the next bar on, so the same
   trade exits one bar later, at that bar's open if it gapped below the stop.
2. when an exit signal is pending for a bar's open and the same bar later touches the stop,
   tradebot fills the market exit at the open (it comes first in time) while vectorbt lets
   the stop win and fills at the stop price (the shifted signal is dropped for that bar).
3. vectorbt's ``upon_stop_exit``/``stop_exit_price`` options change what happens after a
   stop, not when it is checked, so neither difference can be configured away.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

vbt = pytest.importorskip("vectorbt")

from tradebot.engine.backtest import run_strategy  # noqa: E402
from tradebot.engine.config import EngineConfig  # noqa: E402
from tradebot.engine.result import EXIT_OPEN  # noqa: E402
from tradebot.strategies.builtin.macd import MacdStrategy  # noqa: E402
from tradebot.strategies.builtin.rsi import RsiStrategy  # noqa: E402

pytestmark = pytest.mark.peer

INIT = 10_000.0
FEE = 0.001
RTOL = 1e-9


def _config() -> EngineConfig:
    return EngineConfig(initial_capital=INIT, maker_fee=FEE, taker_fee=FEE, slippage_bps=0.0,
                        latency_bars=1, sizing="fixed_fraction", size_value=1.0)


def _talib_rsi(close: np.ndarray, periods: list[int]) -> np.ndarray | None:
    """RSI columns from vectorbt's TA-Lib wrapper, or None without TA-Lib."""
    try:
        import talib  # noqa: F401
    except ImportError:
        return None
    import pandas as pd

    factory = vbt.IndicatorFactory.from_talib("RSI")
    out = factory.run(pd.Series(close), timeperiod=periods).real
    return np.asarray(out, dtype=np.float64).reshape(close.shape[0], len(periods))


def _shift(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    out[1:] = x[:-1]
    return out


def _vbt_trades(pf: Any, col: int, last_close: float) -> dict[str, np.ndarray]:
    """One column's trades. Fill prices come from the order records: the trade records'
    ``entry_price`` is a size-weighted average price, which may be off by an ulp."""
    rec = pf.trades.values  # structured records, one row per (exit) trade, all columns
    rec = rec[rec["col"] == col]
    rec = rec[np.argsort(rec["entry_idx"], kind="stable")]
    out = {k: rec[k] for k in ("entry_idx", "exit_idx", "size", "pnl", "status")}
    orders = pf.orders.values
    orders = orders[orders["col"] == col]
    orders = orders[np.argsort(orders["idx"], kind="stable")]
    buys = orders[orders["side"] == 0]  # OrderSide.Buy
    sells = orders[orders["side"] == 1]  # OrderSide.Sell
    assert np.array_equal(buys["idx"], out["entry_idx"])
    out["entry_price"] = buys["price"]
    is_open = out["status"] == 0  # TradeStatus.Open: valued at the last close
    assert np.array_equal(sells["idx"], out["exit_idx"][~is_open])
    exit_price = np.full(rec.shape[0], last_close)
    exit_price[~is_open] = sells["price"]
    out["exit_price"] = exit_price
    return out


def test_same_trades_as_vectorbt(real_candles: Any, rsi_sets: Any, macd_set: Any) -> None:
    c = real_candles.candles
    n = len(c)
    cfg = _config()
    cases: list[tuple[str, Any, np.ndarray, np.ndarray]] = []

    # RSI: vectorbt computes its own indicator (TA-Lib), tradebot its own.
    rsi = _talib_rsi(c.close, [p for p, _, _ in rsi_sets])
    for j, (period, lower, upper) in enumerate(rsi_sets):
        strategy = RsiStrategy(period=period, lower=lower, upper=upper)
        if rsi is None:
            sig = strategy.signals_for(c)
            entries, exits = sig.entries, sig.exits
        else:
            with np.errstate(invalid="ignore"):
                entries, exits = rsi[:, j] < lower, rsi[:, j] > upper
            mine = strategy.signals_for(c)
            assert np.array_equal(entries, mine.entries), "RSI entry signals differ"
            assert np.array_equal(exits, mine.exits), "RSI exit signals differ"
        cases.append((f"rsi {period}/{lower:g}/{upper:g}", run_strategy(c, strategy, cfg),
                      entries, exits))

    # MACD: tradebot's signals, simulated by both.
    fast, slow, signal = macd_set
    macd = MacdStrategy(fast=fast, slow=slow, signal=signal)
    sig = macd.signals_for(c)
    cases.append((f"macd {fast}/{slow}/{signal}", run_strategy(c, macd, cfg), sig.entries,
                  sig.exits))

    entries = np.column_stack([_shift(np.asarray(e, dtype=bool)) for _, _, e, _ in cases])
    exits = np.column_stack([_shift(np.asarray(x, dtype=bool)) for _, _, _, x in cases])
    close = np.broadcast_to(c.close[:, None], entries.shape)
    price = np.broadcast_to(c.open[:, None], entries.shape)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, price=price, size=np.inf, fees=FEE, init_cash=INIT,
        accumulate=False, direction="longonly", freq="1min",
    )
    final_values = np.asarray(pf.final_value(), dtype=np.float64).reshape(-1)
    values = np.asarray(pf.value(), dtype=np.float64).reshape(n, -1)

    for col, (label, res, _, _) in enumerate(cases):
        where = f"{real_candles.name}, {label}"
        mine = res.trades
        theirs = _vbt_trades(pf, col, float(c.close[-1]))
        assert len(mine) > 0, f"{where}: no trades, the comparison would be empty"
        assert len(mine) == len(theirs["entry_idx"]), (
            f"{where}: {len(mine)} trades in tradebot, {len(theirs['entry_idx'])} in vectorbt")
        np.testing.assert_array_equal(mine["entry_idx"], theirs["entry_idx"], err_msg=where)
        np.testing.assert_array_equal(mine["exit_idx"], theirs["exit_idx"], err_msg=where)
        np.testing.assert_array_equal(mine["entry_price"], theirs["entry_price"], err_msg=where)
        np.testing.assert_array_equal(mine["exit_price"], theirs["exit_price"], err_msg=where)
        np.testing.assert_allclose(mine["units"], theirs["size"], rtol=RTOL, err_msg=where)
        # pnl relative to its own size, with a floor of 1e-9 of the traded value for the
        # trades whose pnl is close to zero
        np.testing.assert_allclose(
            mine["pnl"], theirs["pnl"], rtol=RTOL,
            atol=RTOL * float(np.min(mine["units"] * mine["entry_price"])), err_msg=where)
        open_mine = mine["exit_reason"] == EXIT_OPEN
        open_theirs = theirs["status"] == 0  # TradeStatus.Open
        np.testing.assert_array_equal(open_mine, open_theirs, err_msg=where)
        assert res.final_equity == pytest.approx(final_values[col], rel=RTOL), where
        np.testing.assert_allclose(res.equity, values[:, col], rtol=RTOL, err_msg=where)
