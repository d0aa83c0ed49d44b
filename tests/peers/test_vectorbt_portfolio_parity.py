"""tradebot's portfolio engine and vectorbt's grouped cash-sharing simulation give the same
trades and equity on real multi-pair data.

Data: the four aligned 4h files (octobot_Binance_{BNB,BTC,ETH,SOL}_USDT-4h) and the four
5m BTC-quoted files (freqtrade-testdata_{ADA,ETH,LTC,XLM}_BTC-5m; ADA misses 40 candles, so
the union timeline has bars where it has none).

Rules on both sides: RSI level signals (tradebot's ``RsiStrategy`` on each market's own
candles) decided at a close and filled at the market's next real open; long only; one
position per market; one cash balance; fee 0.1 % per side; a stake per position; in a bar,
exits first, then entries in pair order; a position still open at the end valued at its
last close without exit fee.

In vectorbt: ``Portfolio.from_signals(close, entries, exits, price=open, size=stake / (1 +
fee), size_type="value", fees=fee, init_cash=cash, cash_sharing=True, group_by=True,
call_seq="auto")`` with each market's signals shifted to its next real candle, NaN prices
where a market has no candle. ``call_seq="auto"`` runs a bar's sells before its buys, and
the buys (all of the same value) in column order: tradebot's rule (exits first, entries in
pair order). vectorbt buys ``size / price`` units of a ``value`` order and charges the fee
on top, so ``stake / (1 + fee)`` buys what tradebot's fee-inclusive stake buys (up to the
last bit: 1e-9 tolerances); when the cash left is short both buy ``cash / (price * (1 +
fee))`` units (vectorbt's partial fill = tradebot's stake capped at the free cash).

Intended differences (not configured away, checked elsewhere): tradebot's
``max_open_positions`` has no vectorbt counterpart, so the runs here leave it at the
number of markets (never binding; the slow reference in
tests/engine/test_portfolio_reference.py checks slots); stops are not compared (see
test_vectorbt_parity.py). A buy that finds exactly no cash is rejected by vectorbt and
blocked (``no_cash``) by tradebot: neither trades.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

vbt = pytest.importorskip("vectorbt")

from tests.peers.conftest import load_real  # noqa: E402
from tradebot.core.signals import Signals  # noqa: E402
from tradebot.engine.config import EngineConfig  # noqa: E402
from tradebot.engine.portfolio import PortfolioConfig, align, run_portfolio  # noqa: E402
from tradebot.engine.result import EXIT_OPEN  # noqa: E402
from tradebot.strategies.builtin.rsi import RsiStrategy  # noqa: E402

pytestmark = pytest.mark.peer

FEE = 0.001
RTOL = 1e-9

SETS = {
    "4h_usdt": (["octobot_Binance_BNB_USDT-4h", "octobot_Binance_BTC_USDT-4h",
                 "octobot_Binance_ETH_USDT-4h", "octobot_Binance_SOL_USDT-4h"],
                ["BNB/USDT", "BTC/USDT", "ETH/USDT", "SOL/USDT"], RsiStrategy(period=9, lower=35.0, upper=65.0)),
    "5m_btc": (["freqtrade-testdata_ADA_BTC-5m", "freqtrade-testdata_ETH_BTC-5m",
                "freqtrade-testdata_LTC_BTC-5m", "freqtrade-testdata_XLM_BTC-5m"],
               ["ADA/BTC", "ETH/BTC", "LTC/BTC", "XLM/BTC"], RsiStrategy(period=14, lower=30.0, upper=70.0)),
}
#: (initial cash, stake): enough for every market, and cash for about two stakes
CASH = {"ample": (1_000_000.0, 10_000.0), "short": (10_000.0, 4_000.0)}


def _next_real(a: np.ndarray, present: np.ndarray) -> np.ndarray:
    """A market's own-candle signals, each moved to its next real candle, on the union."""
    own = np.zeros(a.shape[0], dtype=bool)
    own[1:] = a[:-1]
    out = np.zeros(present.shape[0], dtype=bool)
    out[present] = own
    return out


def _vbt_trades(pf: Any, col: int) -> np.ndarray:
    rec = pf.trades.values
    rec = rec[rec["col"] == col]
    return rec[np.argsort(rec["entry_idx"], kind="stable")]


@pytest.mark.parametrize("cash", list(CASH))
@pytest.mark.parametrize("dataset", list(SETS))
def test_portfolio_same_as_vectorbt_cash_sharing(dataset: str, cash: str) -> None:
    names, symbols, strategy = SETS[dataset]
    markets = [load_real(n) for n in names]
    al = align(markets, symbols)
    init, stake = CASH[cash]
    sigs = [strategy.signals_for(al.candles(m)) for m in range(al.n_markets)]
    cfg = EngineConfig(initial_capital=init, maker_fee=FEE, taker_fee=FEE)
    res = run_portfolio(al, [Signals(s.entries, s.exits) for s in sigs], cfg,
                        PortfolioConfig(al.n_markets, stake="fixed", stake_amount=stake))

    entries = np.column_stack([_next_real(s.entries, al.present[m]) for m, s in enumerate(sigs)])
    exits = np.column_stack([_next_real(s.exits, al.present[m]) for m, s in enumerate(sigs)])
    pf = vbt.Portfolio.from_signals(
        al.close.T, entries, exits, price=al.open.T, size=stake / (1 + FEE),
        size_type="value", fees=FEE, init_cash=init, cash_sharing=True, group_by=True,
        call_seq="auto", accumulate=False, direction="longonly", freq="5min")

    n_partial = 0
    for m, sym in enumerate(symbols):
        where = f"{dataset}/{cash}: {sym}"
        mine = res.trades[res.trade_market == m]
        mine = mine[np.argsort(mine["entry_idx"], kind="stable")]
        theirs = _vbt_trades(pf, m)
        assert len(mine) > 0, f"{where}: no trades"
        assert len(mine) == len(theirs), f"{where}: {len(mine)} trades vs {len(theirs)}"
        np.testing.assert_array_equal(mine["entry_idx"], theirs["entry_idx"], err_msg=where)
        np.testing.assert_array_equal(mine["exit_idx"], theirs["exit_idx"], err_msg=where)
        np.testing.assert_allclose(mine["entry_price"], theirs["entry_price"], rtol=1e-12,
                                   err_msg=where)
        np.testing.assert_allclose(mine["units"], theirs["size"], rtol=RTOL, err_msg=where)
        np.testing.assert_allclose(mine["pnl"], theirs["pnl"], rtol=RTOL,
                                   atol=RTOL * stake, err_msg=where)
        np.testing.assert_array_equal(mine["exit_reason"] == EXIT_OPEN, theirs["status"] == 0,
                                      err_msg=where)
        full = stake / (mine["entry_price"] * (1 + FEE))
        n_partial += int(np.sum(mine["units"] < full * (1 - 1e-9)))
    if cash == "short":  # the shared cash did run short: some entries got less
        assert n_partial > 0 or len(res.blocked) > 0
    else:
        assert n_partial == 0 and len(res.blocked) == 0
    assert len(res.trades) > 10
    value = np.asarray(pf.value(), dtype=np.float64).reshape(-1)
    assert res.final_equity == pytest.approx(float(value[-1]), rel=RTOL)
    np.testing.assert_allclose(res.equity, value, rtol=RTOL)
    np.testing.assert_allclose(res.cash, np.asarray(pf.cash(), dtype=np.float64).reshape(-1),
                               rtol=RTOL, atol=RTOL * init)
