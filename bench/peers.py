"""Peer implementations of the standard workload (WORKLOAD.md §2): what tradebot is timed against.

- ``tight_*``: RSI and the simulation in one ``@njit`` loop, no arrays but the inputs: the
  practical limit of a compiled loop.
- ``vectorbt_*``: vectorbt's numba engine, the way a vectorbt user writes it: TA-Lib RSI
  through ``vbt.IndicatorFactory.from_talib``, level signals shifted one bar forward and
  filled at ``price=open`` by ``Portfolio.from_signals(size=np.inf, fees=0.001,
  accumulate=False, init_cash=10000)``; the sweep is one indicator run over the periods,
  numpy-broadcast entry/exit matrices over (period, lower, upper) and one ``from_signals``
  call over all 100 columns.
- ``backtesting_*``: backtesting.py's ``FractionalBacktest`` with ``fractional_unit=2**-27``
  (a power of two, so scaling prices is exact), ``commission=0.001``,
  ``trade_on_close=False``, ``exclusive_orders=True``, ``margin=1``. RSI is precomputed and
  read by index instead of registered with ``self.I`` (whose NaN warm-up would make
  backtesting.py start one bar late).

Every function takes the parsed arrays and returns the §3 outputs as a dict
``{"trades", "final_equity", "total_return_pct", "max_dd_pct"}`` (or a list of them).

Run as a script it is the *tight* whole-process peer:
``python bench/peers.py tight ohlcv_1000000.csv`` (read CSV, run, print the outputs).
The vectorbt and backtesting.py whole-process peers are the standalone scripts
``VECTORBT_SCRIPT`` / ``BACKTESTING_SCRIPT`` below (written to a temp file and run).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from numba import njit, prange

INIT_CASH = 10_000.0
FEE = 0.001

Outputs = dict[str, float]


def outputs(trades: float, final_equity: float, max_dd_fraction: float) -> Outputs:
    return {
        "trades": int(trades),
        "final_equity": float(final_equity),
        "total_return_pct": (float(final_equity) / INIT_CASH - 1.0) * 100.0,
        "max_dd_pct": float(max_dd_fraction) * 100.0,
    }


# --------------------------------------------------------------------------------------
# The tight numba loop
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def tight_rsi_nb(open_, close, period, lower, upper, fee, init_cash):
    """RSI (TA-Lib arithmetic) + decisions at the close + fills at the next open, one pass.

    Returns (trades, final_equity, max_dd_fraction).
    """
    n = close.shape[0]
    inv = 1.0 / period
    up = 0.0
    down = 0.0
    cash = init_cash
    units = 0.0
    pending = 0  # 0 none, 1 buy at this bar's open, 2 sell at this bar's open
    trades = 0
    peak = -np.inf
    max_dd = 0.0
    equity = cash
    for t in range(n):
        # 1. fill the order decided at the previous close
        if pending == 1:
            px = open_[t]
            units = cash / (px * (1.0 + fee))
            cash = cash - units * px - units * px * fee
            trades += 1
            pending = 0
        elif pending == 2:
            px = open_[t]
            cash = cash + units * px - units * px * fee
            units = 0.0
            pending = 0
        # 2. mark to market at the close
        equity = cash + units * close[t]
        if equity > peak:
            peak = equity
        dd = 1.0 - equity / peak
        if dd > max_dd:
            max_dd = dd
        # 3. RSI at this close (Wilder, seeded by the first `period` moves)
        if t == 0 or t < period:
            if t > 0:
                d = close[t] - close[t - 1]
                if d > 0:
                    up += d
                else:
                    down -= d
            continue
        d = close[t] - close[t - 1]
        if t == period:
            if d > 0:
                up += d
            else:
                down -= d
            up *= inv
            down *= inv
        else:
            up *= period - 1
            down *= period - 1
            if d > 0:
                up += d
            else:
                down -= d
            up *= inv
            down *= inv
        tot = up + down
        rsi = 0.0 if -1e-8 < tot < 1e-8 else 100.0 * (up / tot)
        # 4. decide (an order decided on the last bar is never filled)
        if t + 1 < n:
            if units == 0.0:
                if rsi < lower:
                    pending = 1
            elif rsi > upper:
                pending = 2
    return trades, equity, max_dd


@njit(cache=True, parallel=True)
def tight_sweep_nb(open_, close, periods, lowers, uppers, fee, init_cash):
    """The tight loop over many combos in parallel: (n, 3) trades, final equity, max dd."""
    m = periods.shape[0]
    out = np.empty((m, 3))
    for j in prange(m):
        tr, eq, dd = tight_rsi_nb(open_, close, periods[j], lowers[j], uppers[j], fee,
                                  init_cash)
        out[j, 0] = tr
        out[j, 1] = eq
        out[j, 2] = dd
    return out


def tight_single(a: dict[str, np.ndarray], period: int = 14, lower: float = 30.0,
                 upper: float = 70.0) -> Outputs:
    tr, eq, dd = tight_rsi_nb(a["open"], a["close"], int(period), float(lower), float(upper),
                              FEE, INIT_CASH)
    return outputs(tr, eq, dd)


def tight_sweep(a: dict[str, np.ndarray], grid: list[tuple[int, float, float]]) -> list[Outputs]:
    g = np.asarray(grid, dtype=np.float64)
    res = tight_sweep_nb(a["open"], a["close"], g[:, 0].astype(np.int64), g[:, 1].copy(),
                         g[:, 2].copy(), FEE, INIT_CASH)
    return [outputs(*row) for row in res]


# --------------------------------------------------------------------------------------
# tradebot (the same interface, for the benchmark)
# --------------------------------------------------------------------------------------


def tradebot_candles(a: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    from tradebot.core.candles import Candles

    return Candles(a["timestamp"], a["open"], a["high"], a["low"], a["close"], a["volume"],
                   exchange="bench", symbol="BTC/USDT", timeframe="1m", source="csv")


def tradebot_single(candles: Any, period: int = 14, lower: float = 30.0,
                    upper: float = 70.0) -> Outputs:
    from tradebot.engine.backtest import max_drawdown, run_strategy
    from tradebot.engine.config import EngineConfig
    from tradebot.strategies.builtin.rsi import RsiStrategy

    res = run_strategy(candles, RsiStrategy(period=period, lower=lower, upper=upper),
                       EngineConfig(initial_capital=INIT_CASH, maker_fee=FEE, taker_fee=FEE))
    return outputs(len(res.trades), res.final_equity, max_drawdown(res.equity))


def tradebot_sweep(candles: Any, grid: list[tuple[int, float, float]]) -> list[Outputs]:
    from tradebot.engine.backtest import sweep
    from tradebot.engine.config import EngineConfig
    from tradebot.strategies.builtin.rsi import RsiStrategy

    sets = [{"period": p, "lower": lo, "upper": up} for p, lo, up in grid]
    res = sweep(candles, RsiStrategy, sets,
                EngineConfig(initial_capital=INIT_CASH, maker_fee=FEE, taker_fee=FEE))
    return [outputs(*row) for row in res]


# --------------------------------------------------------------------------------------
# vectorbt (numba engine)
# --------------------------------------------------------------------------------------


def _vbt():  # type: ignore[no-untyped-def]
    import vectorbt as vbt

    vbt.settings["engine"] = "numba"
    return vbt


_VBT_RSI = None


def vbt_rsi_factory():  # type: ignore[no-untyped-def]
    global _VBT_RSI
    if _VBT_RSI is None:
        _VBT_RSI = _vbt().IndicatorFactory.from_talib("RSI")
    return _VBT_RSI


def vectorbt_frame(a: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    import pandas as pd

    # A tz-naive index: with a tz-aware one vectorbt's shape checks turn the index into an
    # object array of Timestamps, which makes every metric ~20x slower.
    idx = pd.DatetimeIndex(pd.to_datetime(a["timestamp"], unit="ms"), name="date")
    return pd.DataFrame({k: a[k] for k in ("open", "high", "low", "close", "volume")},
                        index=idx)


def _shift1(x: np.ndarray) -> np.ndarray:
    """Signals at close t act at bar t+1 (filled at its open)."""
    out = np.zeros_like(x)
    out[1:] = x[:-1]
    return out


def vectorbt_portfolio(df: Any, entries: Any, exits: Any, **kw: Any):  # type: ignore[no-untyped-def]
    """``from_signals`` under the workload's rules; ``entries``/``exits`` are at-close signals."""
    vbt = _vbt()
    import pandas as pd

    def shift(s: Any) -> Any:
        if isinstance(s, pd.DataFrame | pd.Series):
            return s.vbt.fshift(1, fill_value=False).astype(bool)
        return _shift1(np.asarray(s, dtype=bool))

    return vbt.Portfolio.from_signals(
        df["close"], shift(entries), shift(exits), price=df["open"], size=np.inf,
        fees=FEE, init_cash=INIT_CASH, accumulate=False, direction="longonly", freq="1min",
        **kw,
    )


def vectorbt_single(df: Any, period: int = 14, lower: float = 30.0,
                    upper: float = 70.0) -> Outputs:
    rsi = vbt_rsi_factory().run(df["close"], timeperiod=period).real
    pf = vectorbt_portfolio(df, rsi < lower, rsi > upper)
    return outputs(pf.trades.count(), pf.final_value(), pf.max_drawdown() * -1.0)


def vectorbt_sweep(df: Any, grid: list[tuple[int, float, float]]) -> list[Outputs]:
    """The product grid (period outermost) in one indicator run and one from_signals call."""
    import pandas as pd

    periods = sorted({p for p, _, _ in grid}, key=[p for p, _, _ in grid].index)
    lowers = sorted({lo for _, lo, _ in grid}, key=[lo for _, lo, _ in grid].index)
    uppers = sorted({up for _, _, up in grid}, key=[up for _, _, up in grid].index)
    assert grid == [(p, lo, up) for p in periods for lo in lowers for up in uppers]
    rsi = vbt_rsi_factory().run(df["close"], timeperiod=periods).real.to_numpy()  # (n, P)
    n = rsi.shape[0]
    shape = (n, len(periods), len(lowers), len(uppers))
    lo = np.asarray(lowers)[None, None, :, None]
    hi = np.asarray(uppers)[None, None, None, :]
    r = rsi[:, :, None, None]
    entries = np.broadcast_to(r < lo, shape).reshape(n, -1)
    exits = np.broadcast_to(r > hi, shape).reshape(n, -1)
    cols = pd.MultiIndex.from_product([periods, lowers, uppers],
                                      names=["period", "lower", "upper"])
    entries = pd.DataFrame(entries, index=df.index, columns=cols)
    exits = pd.DataFrame(exits, index=df.index, columns=cols)
    pf = vectorbt_portfolio(df, entries, exits)
    tr = pf.trades.count().to_numpy()
    fv = pf.final_value().to_numpy()
    dd = -pf.max_drawdown().to_numpy()
    return [outputs(*row) for row in zip(tr, fv, dd, strict=True)]


# --------------------------------------------------------------------------------------
# backtesting.py
# --------------------------------------------------------------------------------------

FRACTIONAL_UNIT = 2.0 ** -27  # ~7.5e-9 of a coin; a power of two keeps prices exact


def backtesting_frame(a: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    import pandas as pd

    idx = pd.DatetimeIndex(pd.to_datetime(a["timestamp"], unit="ms"), name="date")
    return pd.DataFrame({"Open": a["open"], "High": a["high"], "Low": a["low"],
                         "Close": a["close"], "Volume": a["volume"]}, index=idx)


_BT_CLASSES: dict[str, type] = {}


def backtesting_strategy(signals: str = "rsi") -> type:
    """A backtesting.py Strategy: at each close, buy when flat and ``entry[i]``, close
    the position when ``exit[i]``. The signal arrays are class attributes set per run."""
    if signals in _BT_CLASSES:
        return _BT_CLASSES[signals]
    from backtesting import Strategy

    class SignalStrategy(Strategy):
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

    _BT_CLASSES[signals] = SignalStrategy
    return SignalStrategy


def backtesting_run(bdf: Any, entry: np.ndarray, exit_: np.ndarray, **kw: Any):  # type: ignore[no-untyped-def]
    """Run and return the stats Series (``_trades``, ``_strategy``, ``_equity_curve`` inside)."""
    import warnings

    from backtesting.lib import FractionalBacktest

    strat = backtesting_strategy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(
            bdf, strat, cash=INIT_CASH, commission=FEE, margin=1.0, trade_on_close=False,
            exclusive_orders=True, hedging=False, finalize_trades=False,
            fractional_unit=FRACTIONAL_UNIT, **kw,
        )
        return bt.run(entry=np.asarray(entry, dtype=bool), exit=np.asarray(exit_, dtype=bool))


def backtesting_open_trades(stats: Any) -> list[Any]:
    return list(stats["_strategy"].trades)


def backtesting_single(bdf: Any, period: int = 14, lower: float = 30.0,
                       upper: float = 70.0) -> Outputs:
    import talib

    rsi = talib.RSI(bdf["Close"].to_numpy(dtype=np.float64), timeperiod=period)
    stats = backtesting_run(bdf, rsi < lower, rsi > upper)
    n_trades = len(stats["_trades"]) + len(backtesting_open_trades(stats))
    eq = stats["_equity_curve"]["Equity"].to_numpy()
    dd = float((1.0 - eq / np.maximum.accumulate(eq)).max())
    return outputs(n_trades, float(stats["Equity Final [$]"]), dd)


# --------------------------------------------------------------------------------------
# Whole-process scripts (cold runs): each reads the CSV, runs RSI 14/30/70, prints stats.
# --------------------------------------------------------------------------------------

VECTORBT_SCRIPT = '''\
import json
import sys
import numpy as np
import pandas as pd
import vectorbt as vbt

vbt.settings["engine"] = "numba"
df = pd.read_csv(sys.argv[1])
df.index = pd.to_datetime(df["timestamp"], unit="ms")
rsi = vbt.IndicatorFactory.from_talib("RSI").run(df["close"], timeperiod=14).real
entries = (rsi < 30).vbt.fshift(1, fill_value=False).astype(bool)
exits = (rsi > 70).vbt.fshift(1, fill_value=False).astype(bool)
pf = vbt.Portfolio.from_signals(df["close"], entries, exits, price=df["open"], size=np.inf,
                                fees=0.001, init_cash=10000.0, accumulate=False,
                                direction="longonly", freq="1min")
print(pf.stats())
print(json.dumps({"trades": int(pf.trades.count()), "final_equity": float(pf.final_value())}))
'''

BACKTESTING_SCRIPT = '''\
import json
import sys
import warnings
import numpy as np
import pandas as pd
import talib
from backtesting import Strategy
from backtesting.lib import FractionalBacktest

df = pd.read_csv(sys.argv[1])
df.index = pd.to_datetime(df["timestamp"], unit="ms")
df = df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
rsi = talib.RSI(df["Close"].to_numpy(), timeperiod=14)

class Rsi(Strategy):
    def init(self):
        pass
    def next(self):
        r = rsi[len(self.data) - 1]
        if not self.position:
            if r < 30:
                self.buy()
        elif r > 70:
            self.position.close()

warnings.simplefilter("ignore")
bt = FractionalBacktest(df, Rsi, cash=10000.0, commission=0.001, margin=1.0,
                        trade_on_close=False, exclusive_orders=True,
                        fractional_unit=2.0 ** -27)
stats = bt.run()
print(stats)
trades = len(stats["_trades"]) + len(stats["_strategy"].trades)  # closed + still open
print(json.dumps({"trades": trades, "final_equity": float(stats["Equity Final [$]"])}))
'''


def main(argv: list[str]) -> int:
    """``peers.py tight CSV``: the tight loop as a whole process."""
    if len(argv) != 2 or argv[0] != "tight":
        print("usage: python bench/peers.py tight CSV", file=sys.stderr)
        return 2
    import pandas as pd

    df = pd.read_csv(argv[1])
    out = tight_single({"open": df["open"].to_numpy(np.float64),
                        "close": df["close"].to_numpy(np.float64)})
    for k, v in out.items():
        print(f"{k:>18} {v}")
    print(json.dumps({"trades": out["trades"], "final_equity": out["final_equity"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
