"""Small cases whose every number is worked out by hand below."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.engine.backtest import run_signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import (
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING_STOP,
)

R = 1e-12  # relative tolerance: the hand arithmetic is exact up to rounding


def approx(x):
    return pytest.approx(x, rel=R, abs=1e-9)


def bars(h, rows):
    """rows: (open, high, low, close) per bar."""
    a = np.array(rows, dtype=np.float64)
    return h.candles_from(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


# A bar that never touches anything interesting around 100.
QUIET = (100.0, 101.0, 99.0, 100.0)

# Entry at open 100 with 0.1 % fee, all in, from 10,000:
#   units = 10000 / (100 * 1.001) = 99.90009990009990...
#   fee   = units * 100 * 0.001  = 9.99000999000999...
#   cash  = 10000 - units * 100 - fee = 0
UNITS = 10_000 / 100.1
ENTRY_FEE = UNITS * 100 * 0.001


def test_long_round_trip(h):
    c = bars(h, [
        (100, 101, 99, 100),   # 0: entry signal at the close
        (100, 106, 99, 105),   # 1: buy at open 100
        (105, 111, 104, 110),  # 2: exit signal at the close
        (110, 112, 108, 108),  # 3: sell at open 110
        (108, 110, 107, 109),  # 4
        (109, 112, 108, 111),  # 5
    ])
    res = run_signals(c, h.signals_at(6, entries=[0], exits=[2]), EngineConfig())
    (t,) = res.trades
    assert (t["entry_idx"], t["exit_idx"], t["direction"]) == (1, 3, 1)
    assert t["units"] == approx(UNITS)
    assert t["entry_price"] == 100.0 and t["exit_price"] == 110.0
    assert t["entry_fee"] == approx(ENTRY_FEE)
    # exit: units * 110 = 10989.010989..., fee = 10.989010989...
    assert t["exit_fee"] == approx(UNITS * 110 * 0.001)
    # pnl = units * (110 - 100) - 9.99001 - 10.98901 = 978.021978021978...
    assert t["pnl"] == approx(UNITS * 10 - ENTRY_FEE - UNITS * 0.11)
    # the whole 10,000 paid for units + fee: return = pnl / 10000 * 100
    assert t["return_pct"] == approx(978.021978021978 / 100)
    assert t["exit_reason"] == EXIT_SIGNAL
    # equity: flat 10000; 1: units * 105; 2: units * 110; 3..5: cash = units*110*0.999
    final = 10_000 * 110 * 0.999 / 100.1  # = 10978.021978021978
    np.testing.assert_allclose(
        res.equity, [10_000, UNITS * 105, UNITS * 110, final, final, final], rtol=R)
    np.testing.assert_allclose(res.position, [0, UNITS, UNITS, 0, 0, 0], rtol=R)
    assert res.final_equity == approx(10978.021978021978)


def test_stop_loss_inside_a_bar(h):
    # stop 5 % below the entry 100 -> 95; bar 2 opens at 101 and trades down to 94
    c = bars(h, [QUIET, (100, 102, 98, 101), (101, 103, 94, 96), (96, 97, 95, 96)])
    cfg = EngineConfig(stop_loss_pct=5.0)
    res = run_signals(c, h.signals_at(4, entries=[0]), cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"]) == (1, 2, EXIT_STOP_LOSS)
    assert t["exit_price"] == approx(95.0)
    assert t["exit_fee"] == approx(UNITS * 95 * 0.001)  # taker fee on a stop
    # cash after the stop = units * 95 * 0.999 = 949050 / 100.1 = 9481.018981018981
    assert res.equity[2] == approx(9481.018981018981)
    assert res.final_equity == approx(9481.018981018981)


def test_bar_touching_stop_and_target_takes_the_stop(h):
    # SL 5 % -> 95, TP 5 % -> 105; bar 2 reaches both (high 106, low 94): stop wins
    c = bars(h, [QUIET, QUIET, (100, 106, 94, 100), QUIET])
    cfg = EngineConfig(stop_loss_pct=5.0, take_profit_pct=5.0)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert (t["exit_idx"], t["exit_reason"]) == (2, EXIT_STOP_LOSS)
    assert t["exit_price"] == approx(95.0)


def test_take_profit_at_target_with_maker_fee(h):
    # TP 5 % -> 105; bar 2 (open 101, high 106) reaches it: fill at 105, maker fee 0.02 %
    c = bars(h, [QUIET, QUIET, (101, 106, 100, 104), QUIET])
    cfg = EngineConfig(take_profit_pct=5.0, maker_fee=0.0002)
    res = run_signals(c, h.signals_at(4, entries=[0]), cfg)
    (t,) = res.trades
    assert (t["exit_idx"], t["exit_reason"]) == (2, EXIT_TAKE_PROFIT)
    assert t["exit_price"] == approx(105.0)
    assert t["exit_fee"] == approx(UNITS * 105 * 0.0002)
    # cash = units * 105 * (1 - 0.0002) = 10000 * 105 * 0.9998 / 100.1
    assert res.final_equity == approx(10_000 * 105 * 0.9998 / 100.1)


def test_gap_through_the_stop_fills_at_the_open(h):
    # stop at 95; bar 2 opens at 90, below the stop: the fill is the open, 90
    c = bars(h, [QUIET, QUIET, (90, 92, 88, 91), (91, 92, 90, 91)])
    res = run_signals(c, h.signals_at(4, entries=[0]), EngineConfig(stop_loss_pct=5.0))
    (t,) = res.trades
    assert (t["exit_idx"], t["exit_reason"]) == (2, EXIT_STOP_LOSS)
    assert t["exit_price"] == 90.0
    # cash = units * 90 * 0.999 = 899100 / 100.1 = 8982.017982017982
    assert res.final_equity == approx(8982.017982017982)


def test_gap_past_the_target_fills_at_the_open(h):
    # TP at 105; bar 2 opens at 108: a limit order fills at the better open price
    c = bars(h, [QUIET, QUIET, (108, 109, 107, 108), QUIET])
    cfg = EngineConfig(take_profit_pct=5.0, maker_fee=0.0)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert (t["exit_idx"], t["exit_price"], t["exit_reason"]) == (2, 108.0, EXIT_TAKE_PROFIT)


def test_trailing_stop_from_previous_highs(h):
    # trailing 10 %: entry 100. Highs before bar 3: 110 (bar 1), 120 (bar 2) -> stop 108.
    # Bar 3 reaches high 130 and low 116: the stop for bar 3 hangs from 120 (not 130),
    # so 116 does not touch 108. Before bar 4 the high is 130 -> stop 117; bar 4's low
    # 115 touches it: exit at 117.
    c = bars(h, [
        QUIET,
        (100, 110, 100, 108),  # 1: entry at 100 (stop 90 inside this bar)
        (108, 120, 107, 119),  # 2: stop 99 (from 110)
        (119, 130, 116, 125),  # 3: stop 108 (from 120)
        (125, 126, 115, 118),  # 4: stop 117 (from 130) -> hit
        (118, 119, 117, 118),
    ])
    cfg = EngineConfig(trailing_stop_pct=10.0, taker_fee=0.0)
    (t,) = run_signals(c, h.signals_at(6, entries=[0]), cfg).trades
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"]) == (1, 4, EXIT_TRAILING_STOP)
    assert t["exit_price"] == approx(117.0)


def test_latency_two(h):
    # latency 2: entry signal at 0 -> fill at open[2] = 102; exit signal at 3 -> open[5] = 106
    c = bars(h, [
        (100, 101, 99, 101), (101, 102, 100, 102), (102, 103, 101, 103),
        (103, 104, 102, 104), (104, 105, 103, 105), (106, 107, 105, 106),
        (106, 107, 105, 106),
    ])
    cfg = EngineConfig(taker_fee=0.0, latency_bars=2)
    res = run_signals(c, h.signals_at(7, entries=[0, 1], exits=[3, 4]), cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["exit_idx"]) == (2, 5)
    assert (t["entry_price"], t["exit_price"]) == (102.0, 106.0)
    # no fee: units = 10000 / 102; final cash = 10000 * 106 / 102 = 10392.156862745098
    assert res.final_equity == approx(10392.156862745098)
    np.testing.assert_array_equal(res.position[:2], 0.0)  # still flat while the order flies


def test_fixed_amount_sizing(h):
    # spend 1000 of 10000 (fee included): units = 1000 / (100 * 1.001) = 9.99000999...,
    # cash left = 9000. Exit at 110: cash = 9000 + units * 110 * 0.999 = 10097.802197802198
    c = bars(h, [QUIET, QUIET, (100, 111, 99, 110), (110, 111, 109, 110)])
    cfg = EngineConfig(sizing="fixed_amount", size_value=1000.0)
    res = run_signals(c, h.signals_at(4, entries=[0], exits=[2]), cfg)
    (t,) = res.trades
    assert t["units"] == approx(1000 / 100.1)
    assert res.equity[1] == approx(10_000.0 - 1000 + 1000 / 100.1 * 100)  # marked at 100
    assert res.final_equity == approx(9000 + 1000 / 100.1 * 110 * 0.999)
    assert res.final_equity == approx(10097.802197802198)


def test_fixed_amount_capped_by_cash(h):
    c = bars(h, [QUIET, QUIET, QUIET])
    cfg = EngineConfig(sizing="fixed_amount", size_value=50_000.0, taker_fee=0.0)
    (t,) = run_signals(c, h.signals_at(3, entries=[0]), cfg).trades
    assert t["units"] == approx(100.0)  # all 10,000 at 100, not 50,000


def test_short_trade(h):
    # short entry signal at 0, sell 99.9000999 units at open 100, fee 0.1 %:
    #   cash = 10000 + units * 100 * 0.999 = 10000 + 9980.01998001998 = 19980.01998001998
    # bar 2 closes at 95: equity = cash - units * 95 = 10489.51048951049 (price fell: gain)
    # cover signal at 2, buy back at open[3] = 90: cash -= units * 90 * 1.001 (= 9000)
    #   cash = 10980.01998001998; pnl = units * 10 - 9.99001 - 8.99101 = 980.01998001998
    c = bars(h, [QUIET, (100, 101, 96, 97), (97, 98, 94, 95), (90, 91, 89, 90), QUIET])
    cfg = EngineConfig(allow_short=True)
    sig = h.signals_at(5, short_entries=[0], short_exits=[2])
    res = run_signals(c, sig, cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["exit_idx"], t["direction"]) == (1, 3, -1)
    assert (t["entry_price"], t["exit_price"]) == (100.0, 90.0)
    assert t["pnl"] == approx(980.01998001998)
    assert res.equity[1] == approx(19980.01998001998 - UNITS * 97)
    assert res.equity[2] == approx(10489.51048951049)
    assert res.final_equity == approx(10980.01998001998)
    assert res.position[2] == approx(-UNITS)


def test_short_signals_need_allow_short(h):
    c = bars(h, [QUIET, QUIET, QUIET])
    sig = h.signals_at(3, short_entries=[0], short_exits=[1])
    res = run_signals(c, sig, EngineConfig(allow_short=False))
    assert len(res.trades) == 0
    np.testing.assert_array_equal(res.equity, 10_000.0)


def test_signal_on_last_bar_is_not_filled(h):
    c = bars(h, [QUIET, QUIET, QUIET, QUIET])
    res = run_signals(c, h.signals_at(4, entries=[3]), EngineConfig())
    assert len(res.trades) == 0
    np.testing.assert_array_equal(res.equity, 10_000.0)
    # latency 2: a signal on the second-to-last bar is not filled either
    res = run_signals(c, h.signals_at(4, entries=[2]), EngineConfig(latency_bars=2))
    assert len(res.trades) == 0


def test_open_position_at_end_valued_at_last_close_without_exit_fee(h):
    # bought at 100 (units 99.9000999), last close 120: equity = units * 120,
    # trade: exit at 120, exit fee 0, pnl = units * 20 - 9.99000999 = 1988.0119880...
    c = bars(h, [QUIET, (100, 111, 99, 110), (110, 121, 109, 120)])
    res = run_signals(c, h.signals_at(3, entries=[0]), EngineConfig())
    (t,) = res.trades
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"]) == (1, 2, EXIT_OPEN)
    assert t["exit_price"] == 120.0
    assert t["exit_fee"] == 0.0
    assert t["pnl"] == approx(UNITS * 20 - ENTRY_FEE)
    assert res.final_equity == approx(UNITS * 120)  # 11988.011988011988
    assert res.final_equity == approx(11988.011988011988)


def test_slippage_on_market_orders(h):
    # 10 bps: buy at 100 * 1.001 = 100.1, sell at 110 * 0.999 = 109.89; no fee
    c = bars(h, [QUIET, QUIET, QUIET, (110, 111, 109, 110)])
    cfg = EngineConfig(taker_fee=0.0, slippage_bps=10.0)
    res = run_signals(c, h.signals_at(4, entries=[0], exits=[2]), cfg)
    (t,) = res.trades
    assert t["entry_price"] == approx(100.1)
    assert t["exit_price"] == approx(109.89)
    assert res.final_equity == approx(10_000 / 100.1 * 109.89)  # 10978.021978021978


# -- invalid configurations ------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    # latency 0: the order is due at a bar already past; it never fills and blocks every
    # later decision -> 0 trades, no error
    {"latency_bars": 0},
    {"latency_bars": 1.5},
    # a misspelt sizing mode is taken as fixed_fraction: size_value 500 -> 500x leverage
    {"sizing": "fixed_amout", "size_value": 500.0},
    # a negative stop sits above the entry: the entry bar "stops out" at 105 on a bar
    # whose high is 101, a profit made out of nothing
    {"stop_loss_pct": -5.0},
    {"size_value": -1.0},
])
def test_invalid_config_is_rejected(h, bad):
    from tradebot.core.errors import ConfigError

    c = bars(h, [QUIET] * 6)
    with pytest.raises((ValueError, TypeError, ConfigError)):
        run_signals(c, h.signals_at(6, entries=range(6)), EngineConfig(**bad))
