"""Order matching (docs/decisions/0009-order-matching.md): limit, stop and stop-limit
orders, spread, impact, partial fills, time in force, the touch probability and the fill
log; by hand, against the slow reference, in chunks and against the market path."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slow_matching import MatchConfig, run_matching_reference, splitmix_u01

from tradebot.core.config import ExecutionConfig, Settings, load_settings, settings_to_dict
from tradebot.core.errors import ConfigError
from tradebot.core.signals import Signals
from tradebot.engine.backtest import atr_for, run_signals, trades_to_records, volume_for
from tradebot.engine.config import P_MATCHING, EngineConfig
from tradebot.engine.result import (
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING_STOP,
    FILL_DTYPE,
    INTENT_ENTRY,
    INTENT_EXIT,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    ORDER_STOP_LIMIT,
    fills_to_records,
)
from tradebot.engine.step import advance, new_state, upgrade_state


def fills_from_trades(trades: np.ndarray, first_bar: int = 0) -> np.ndarray:
    """The executions of whole-quantity round trips: one entry fill per trade whose entry
    bar is ``>= first_bar`` and one exit fill per closed trade (not for a still-open one).

    Market entries and signal/breaker exits pay the taker fee; a stop-loss or trailing
    stop is a stop order (taker); a take-profit is a resting limit (maker). Rows are in
    execution order (an entry before an exit on the same bar). On the market path (no
    partial fills) the kernels' fill log must equal this (the log's specification)."""
    entries = trades[trades["entry_idx"] >= first_bar]
    exits = trades[trades["exit_reason"] != EXIT_OPEN]
    out = np.empty(entries.size + exits.size, dtype=FILL_DTYPE)
    e, x = out[:entries.size], out[entries.size:]
    e["bar_idx"] = entries["entry_idx"]
    e["side"] = entries["direction"]
    e["qty"] = entries["units"]
    e["price"] = entries["entry_price"]
    e["fee"] = entries["entry_fee"]
    e["order_type"] = ORDER_MARKET
    e["intent"] = INTENT_ENTRY
    e["reason"] = -1
    e["maker"] = 0
    reason = exits["exit_reason"]
    x["bar_idx"] = exits["exit_idx"]
    x["side"] = -exits["direction"]
    x["qty"] = exits["units"]
    x["price"] = exits["exit_price"]
    x["fee"] = exits["exit_fee"]
    x["order_type"] = np.where(reason == EXIT_TAKE_PROFIT, ORDER_LIMIT,
                               np.where((reason == EXIT_STOP_LOSS) | (reason == EXIT_TRAILING_STOP),
                                        ORDER_STOP, ORDER_MARKET))
    x["intent"] = INTENT_EXIT
    x["reason"] = reason
    x["maker"] = reason == EXIT_TAKE_PROFIT
    order = np.lexsort((out["intent"], out["bar_idx"]))
    return out[order]


R = 1e-12
NOFEE = {"maker_fee": 0.0, "taker_fee": 0.0}
QUIET = (100.0, 101.0, 99.0, 100.0)


def approx(x, rel=R):
    return pytest.approx(x, rel=rel, abs=1e-9)


def bars(h, rows, volume=None):
    """rows: (open, high, low, close) per bar; volume 1 per bar unless given."""
    a = np.array(rows, dtype=np.float64)
    return h.candles_from(a[:, 0], a[:, 1], a[:, 2], a[:, 3], volume)


def fill_rows(res):
    """(bar, side, order type, intent, maker) of each fill."""
    return [(int(f["bar_idx"]), int(f["side"]), int(f["order_type"]), int(f["intent"]),
             int(f["maker"])) for f in res.fills]


# -- market orders: spread and impact -------------------------------------------------


def test_market_order_pays_half_spread_and_square_root_impact(h):
    # spread 20 bps: half of it, 0.1 %, on each market fill. Entry at open 100: the price
    # before impact is 100.1, the size there q0 = 10,000 / 100.1; bar 1's volume is 4 q0,
    # so the impact is 0.02 * sqrt(1/4) = 1 %: buy at 100 * (1 + 0.001 + 0.01) = 101.1,
    # units = 10,000 / 101.1. Exit at open 110 against a volume of 4 units: the same 1 %,
    # sell at 110 * (1 - 0.011) = 108.79.
    q0 = 10_000 / 100.1
    units = 10_000 / 101.1
    c = bars(h, [QUIET, QUIET, (110, 111, 109, 110), (110, 111, 109, 110)],
             volume=[1.0, 4 * q0, 1.0, 4 * units])
    cfg = EngineConfig(spread_bps=20.0, impact_coef=0.02, **NOFEE)
    res = run_signals(c, h.signals_at(4, entries=[0], exits=[2]), cfg)
    (t,) = res.trades
    assert t["entry_price"] == approx(101.1)
    assert t["units"] == approx(units)
    assert t["exit_price"] == approx(108.79)
    assert res.final_equity == approx(10_000 * 108.79 / 101.1)
    assert fill_rows(res) == [(1, 1, ORDER_MARKET, INTENT_ENTRY, 0),
                              (3, -1, ORDER_MARKET, INTENT_EXIT, 0)]


def test_impact_is_capped_at_the_whole_bar_and_needs_volume(h):
    # an order 100x the bar's volume pays the impact of the whole bar: coef * 1; so does
    # a bar without volume. 0.05 on a buy at 100: 105.
    for vol in (1.0, 0.0):
        c = bars(h, [QUIET, QUIET, QUIET], volume=[1.0, vol, 1.0])
        cfg = EngineConfig(impact_coef=0.05, **NOFEE)
        (t,) = run_signals(c, h.signals_at(3, entries=[0]), cfg).trades
        assert t["entry_price"] == approx(105.0)


# -- limit orders -----------------------------------------------------------------------


def test_limit_buy_crossed_fills_at_the_limit_as_maker(h):
    # close 100, offset 100 bps: limit 99. Bar 1 goes down to 98.5: filled at 99 with the
    # maker fee 0.02 %: units = 10,000 / (99 * 1.0002)
    c = bars(h, [QUIET, (100, 100.5, 98.5, 99.5), QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, maker_fee=0.0002,
                       taker_fee=0.001)
    res = run_signals(c, h.signals_at(3, entries=[0]), cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["entry_price"]) == (1, 99.0)
    assert t["units"] == approx(10_000 / (99 * 1.0002))
    assert t["entry_fee"] == approx(t["units"] * 99 * 0.0002)
    assert fill_rows(res) == [(1, 1, ORDER_LIMIT, INTENT_ENTRY, 1)]
    # the cash is spent: equity at bar 1's close 99.5 = units * 99.5
    assert res.equity[1] == approx(t["units"] * 99.5)


def test_limit_sell_short_crossed(h):
    # a short entry sells at close + 1 % = 101 when a bar trades above it
    c = bars(h, [QUIET, (100, 101.5, 99.5, 100), QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, allow_short=True,
                       **NOFEE)
    (t,) = run_signals(c, h.signals_at(3, short_entries=[0]), cfg).trades
    assert (t["direction"], t["entry_idx"], t["entry_price"]) == (-1, 1, 101.0)


def test_limit_gapped_through_fills_at_the_open(h):
    # limit 99, bar 1 opens at 97: the better price, the open
    c = bars(h, [QUIET, (97, 98, 96, 97.5), QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, **NOFEE)
    res = run_signals(c, h.signals_at(3, entries=[0]), cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["entry_price"]) == (1, 97.0)
    assert fill_rows(res) == [(1, 1, ORDER_LIMIT, INTENT_ENTRY, 1)]


@pytest.mark.parametrize("prob, fill_bar", [(1.0, 1), (0.0, 2)])
def test_limit_touched_fills_with_the_touch_probability(h, prob, fill_bar):
    # limit at the close 100 (no offset); bar 1's low is exactly 100: a touch, filled with
    # probability 1 at bar 1, never with 0 -- then bar 2 crosses (low 99.5): filled there
    c = bars(h, [QUIET, (100.5, 101, 100, 100.5), (100.5, 101, 99.5, 100), QUIET])
    cfg = EngineConfig(entry_order="limit", touch_fill_prob=prob, **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert (t["entry_idx"], t["entry_price"]) == (fill_bar, 100.0)


def test_limit_not_reached_keeps_working_until_crossed(h):
    # good till filled: bars 1-3 stay above 99, bar 4 goes to 98
    c = bars(h, [QUIET] + [(100, 101, 99.5, 100)] * 3 + [(100, 100, 98, 99), QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, **NOFEE)
    res = run_signals(c, h.signals_at(6, entries=[0, 1, 2]), cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["entry_price"]) == (4, 99.0)  # the first order, at 99


def test_limit_exit_sells_above_the_close(h):
    # market entry at 100; exit signal at bar 2's close 105: sell limit 105 * 1.01 = 106.05,
    # reached at bar 4 (high 107): maker fill at 106.05
    c = bars(h, [QUIET, QUIET, (100, 105.5, 99.5, 105), (105, 106, 104, 105),
                 (105, 107, 104, 106), QUIET])
    cfg = EngineConfig(exit_order="limit", limit_offset_bps=100.0, **NOFEE)
    res = run_signals(c, h.signals_at(6, entries=[0], exits=[2]), cfg)
    (t,) = res.trades
    assert (t["exit_idx"], t["exit_reason"]) == (4, EXIT_SIGNAL)
    assert t["exit_price"] == approx(105 * 1.01)
    assert fill_rows(res) == [(1, 1, ORDER_MARKET, INTENT_ENTRY, 0),
                              (4, -1, ORDER_LIMIT, INTENT_EXIT, 1)]


# -- stop and stop-limit orders -------------------------------------------------------


def test_buy_stop_triggered_inside_the_bar(h):
    # stop 1 % above the close 100: 101; bar 1 trades up to 102: filled at 101 plus 10 bps
    # slippage, taker fee
    c = bars(h, [QUIET, (100, 102, 99.5, 101.5), QUIET])
    cfg = EngineConfig(entry_order="stop", stop_offset_bps=100.0, slippage_bps=10.0,
                       maker_fee=0.0, taker_fee=0.001)
    res = run_signals(c, h.signals_at(3, entries=[0]), cfg)
    (t,) = res.trades
    assert t["entry_idx"] == 1 and t["entry_price"] == approx(101 * 1.001)
    assert t["units"] == approx(10_000 / (101 * 1.001 * 1.001))
    assert fill_rows(res) == [(1, 1, ORDER_STOP, INTENT_ENTRY, 0)]


def test_buy_stop_gapped_fills_at_the_open(h):
    c = bars(h, [QUIET, (103, 104, 102.5, 103.5), QUIET])
    cfg = EngineConfig(entry_order="stop", stop_offset_bps=100.0, slippage_bps=10.0, **NOFEE)
    (t,) = run_signals(c, h.signals_at(3, entries=[0]), cfg).trades
    assert t["entry_price"] == approx(103 * 1.001)


def test_buy_stop_not_triggered_waits(h):
    # bar 1 stays below 101; bar 2 reaches it
    c = bars(h, [QUIET, (100, 100.9, 99.5, 100.5), (100.5, 101.5, 100, 101), QUIET])
    cfg = EngineConfig(entry_order="stop", stop_offset_bps=100.0, **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert (t["entry_idx"], t["entry_price"]) == (2, 101.0)


def test_sell_stop_short_entry(h):
    # short entry stop 1 % below the close: 99; bar 1 trades down to 98: sell at 99,
    # 10 bps slippage against the seller: 99 * 0.999
    c = bars(h, [QUIET, (100, 100.5, 98, 98.5), QUIET])
    cfg = EngineConfig(entry_order="stop", stop_offset_bps=100.0, slippage_bps=10.0,
                       allow_short=True, **NOFEE)
    res = run_signals(c, h.signals_at(3, short_entries=[0]), cfg)
    (t,) = res.trades
    assert t["direction"] == -1 and t["entry_price"] == approx(99 * 0.999)
    assert fill_rows(res) == [(1, -1, ORDER_STOP, INTENT_ENTRY, 0)]


def test_stop_limit_triggered_and_filled(h):
    # trigger 101, limit 101 * 1.005 = 101.505; bar 1 reaches 102: filled like a stop at
    # 101 (no costs here), taker
    c = bars(h, [QUIET, (100, 102, 99.5, 101.5), QUIET])
    cfg = EngineConfig(entry_order="stop_limit", stop_offset_bps=100.0,
                       stop_limit_offset_bps=50.0, **NOFEE)
    res = run_signals(c, h.signals_at(3, entries=[0]), cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["entry_price"]) == (1, 101.0)
    assert fill_rows(res) == [(1, 1, ORDER_STOP_LIMIT, INTENT_ENTRY, 0)]


def test_stop_limit_fill_never_beyond_its_limit(h):
    # half of a 200 bps spread would buy at 101 * 1.01 = 102.01 > 101.505: capped at the
    # limit
    c = bars(h, [QUIET, (100, 102, 99.5, 101.5), QUIET])
    cfg = EngineConfig(entry_order="stop_limit", stop_offset_bps=100.0,
                       stop_limit_offset_bps=50.0, spread_bps=200.0, **NOFEE)
    (t,) = run_signals(c, h.signals_at(3, entries=[0]), cfg).trades
    assert t["entry_price"] == approx(101.505)


def test_stop_limit_gapped_beyond_the_limit_rests_as_a_limit(h):
    # bar 1 opens at 103: triggered, but above the limit 101.505 and never back down to
    # it in bars 1-2: not filled; bar 3 trades down to 101: the resting limit fills at
    # 101.505 (maker). Without bar 3 there is no trade at all.
    rows = [QUIET, (103, 104, 102.5, 103.5), (103, 104, 102, 103), (103, 103, 101, 101.5),
            QUIET]
    cfg = EngineConfig(entry_order="stop_limit", stop_offset_bps=100.0,
                       stop_limit_offset_bps=50.0, maker_fee=0.0002, taker_fee=0.001)
    res = run_signals(bars(h, rows[:3]), h.signals_at(3, entries=[0]), cfg)
    assert len(res.trades) == 0 and res.fills.size == 0
    np.testing.assert_array_equal(res.equity, 10_000.0)
    res = run_signals(bars(h, rows), h.signals_at(5, entries=[0]), cfg)
    (t,) = res.trades
    assert (t["entry_idx"], t["entry_price"]) == (3, 101.505)
    assert fill_rows(res) == [(3, 1, ORDER_STOP_LIMIT, INTENT_ENTRY, 1)]


# -- partial fills ----------------------------------------------------------------------


def partial_case(h):
    """Volume 400 a bar, max share 10 %: at most 40 units a bar.

    Entry (all in, 10,000, no fees) at the opens of bars 1-3: 40 @ 100 (4,000 spent),
    40 @ 102 (4,080; 1,920 left), then 1,920 / 96 = 20 @ 96: 100 units, average 100.
    Exit signal at bar 3's close: 40 @ 110, 40 @ 120, 20 @ 90 at bars 4-6: average 110.
    """
    rows = [QUIET, (100, 101, 99, 102), (102, 103, 95, 96), (96, 97, 95, 96),
            (110, 111, 109, 110), (120, 121, 119, 120), (90, 91, 89, 90), (90, 91, 89, 90)]
    return bars(h, rows, volume=np.full(8, 400.0)), h.signals_at(8, entries=[0], exits=[3])


def test_partial_fills_over_several_bars_with_vwap_prices(h):
    c, sig = partial_case(h)
    cfg = EngineConfig(max_volume_share=0.1, **NOFEE)
    res = run_signals(c, sig, cfg)
    (t,) = res.trades  # one round trip
    assert (t["entry_idx"], t["exit_idx"]) == (1, 6) and t["units"] == approx(100.0)
    assert t["entry_price"] == approx(100.0) and t["exit_price"] == approx(110.0)
    assert t["pnl"] == approx(1_000.0) and t["exit_reason"] == EXIT_SIGNAL
    f = res.fills
    assert f["bar_idx"].tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(f["qty"], [40, 40, 20, 40, 40, 20], rtol=R)
    np.testing.assert_allclose(f["price"], [100, 102, 96, 110, 120, 90], rtol=R)
    assert f["side"].tolist() == [1, 1, 1, -1, -1, -1]
    np.testing.assert_allclose(res.position, [0, 40, 80, 100, 60, 20, 0, 0], rtol=R, atol=1e-9)
    # equity at bar 1's close: 6,000 cash + 40 * 102
    assert res.equity[1] == approx(10_080.0)
    assert res.final_equity == approx(11_000.0)


def test_partial_fills_fees_add_up(h):
    c, sig = partial_case(h)
    cfg = EngineConfig(max_volume_share=0.1, taker_fee=0.001)
    res = run_signals(c, sig, cfg)
    (t,) = res.trades
    f = res.fills
    entries, exits = f[f["intent"] == INTENT_ENTRY], f[f["intent"] == INTENT_EXIT]
    assert t["entry_fee"] == approx(entries["fee"].sum())
    assert t["exit_fee"] == approx(exits["fee"].sum())
    assert t["units"] == approx(entries["qty"].sum()) == approx(exits["qty"].sum())
    assert t["entry_price"] == approx((entries["qty"] * entries["price"]).sum() / t["units"])
    assert t["exit_price"] == approx((exits["qty"] * exits["price"]).sum() / t["units"])
    # all in: the whole 10,000 went into units and fees
    assert (entries["qty"] * entries["price"] + entries["fee"]).sum() == approx(10_000.0)
    assert res.final_equity == approx(10_000.0 + t["pnl"])


def test_no_volume_no_fill(h):
    # a bar without volume fills nothing under a volume cap; the order keeps working
    c = bars(h, [QUIET, QUIET, QUIET, QUIET], volume=[1.0, 0.0, 1e9, 1.0])
    cfg = EngineConfig(max_volume_share=0.5, **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert t["entry_idx"] == 2 and t["units"] == approx(100.0)


def test_exit_signal_cancels_a_partial_entry_and_closes_the_part(h):
    # 40 units a bar; the exit signal at bar 1's close cancels the rest of the entry and
    # sends a market close for the 40 units held, filled at bar 2's open
    c, _ = partial_case(h)
    res = run_signals(c, h.signals_at(8, entries=[0], exits=[1]),
                      EngineConfig(max_volume_share=0.1, **NOFEE))
    (t,) = res.trades
    assert (t["entry_idx"], t["exit_idx"]) == (1, 2) and t["units"] == approx(40.0)
    assert (t["entry_price"], t["exit_price"]) == (100.0, 102.0)


def test_stops_close_the_whole_position_despite_the_volume_cap(h):
    # 40 units a bar: bought at bars 1 and 2 (opens 100); stop-loss 5 % at 95: bar 2
    # trades down to 94 after its open: all 80 units leave at 95 (more than the bar's
    # cap), and the rest of the entry order is cancelled
    c = bars(h, [QUIET, (100, 101, 99, 100), (100, 101, 94, 96), QUIET, QUIET],
             volume=np.full(5, 400.0))
    cfg = EngineConfig(max_volume_share=0.1, stop_loss_pct=5.0, **NOFEE)
    res = run_signals(c, h.signals_at(5, entries=[0]), cfg)
    (t,) = res.trades
    assert (t["exit_idx"], t["exit_reason"]) == (2, EXIT_STOP_LOSS)
    assert t["units"] == approx(80.0) and t["exit_price"] == approx(95.0)
    assert fill_rows(res) == [(1, 1, ORDER_MARKET, INTENT_ENTRY, 0),
                              (2, 1, ORDER_MARKET, INTENT_ENTRY, 0),
                              (2, -1, ORDER_STOP, INTENT_EXIT, 0)]
    np.testing.assert_array_equal(res.position, [0, 40, 0, 0, 0])


def test_stop_loss_pays_half_spread_and_impact(h):
    # entry at 100 * (1 + 0.001 + impact) (spread 20 bps, a tiny impact against a huge
    # volume); stop 5 % below the entry; sold there minus half the spread and the impact
    # of 4x the bar's volume (capped: 0.01 * sqrt(1)): stop * (1 - 0.001 - 0.01)
    q0 = 10_000 / 100.1
    c = bars(h, [QUIET, QUIET, (100, 101, 94, 96), QUIET], volume=[1e12, 1e12, 25.0, 1])
    cfg = EngineConfig(spread_bps=20.0, impact_coef=0.01, stop_loss_pct=5.0, **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert t["entry_price"] == approx(100 * (1 + 0.001 + 0.01 * math.sqrt(q0 / 1e12)))
    assert t["exit_price"] == approx(t["entry_price"] * 0.95 * (1 - 0.011))


# -- time in force and cancellation ---------------------------------------------------


@pytest.mark.parametrize("ttl, fills", [(2, False), (3, True), (0, True)])
def test_ttl_cancels_an_unfilled_order(h, ttl, fills):
    # limit 99 works from bar 1; bars 1-2 stay above it, bar 3 crosses. TTL 2: cancelled
    # after bars 1 and 2; TTL 3 or good till filled (0): filled at bar 3
    c = bars(h, [QUIET, (100, 101, 99.5, 100), (100, 101, 99.5, 100), (100, 100, 98, 99),
                 QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, order_ttl_bars=ttl,
                       **NOFEE)
    res = run_signals(c, h.signals_at(5, entries=[0]), cfg)
    assert len(res.trades) == int(fills)
    if fills:
        assert res.trades["entry_idx"][0] == 3


def test_ttl_cancels_the_rest_of_a_partial_fill(h):
    # 40 units a bar, TTL 2: bars 1 and 2 fill 40 each, the rest is cancelled; the 80
    # units stay open to the end
    c, _ = partial_case(h)
    res = run_signals(c, h.signals_at(8, entries=[0]),
                      EngineConfig(max_volume_share=0.1, order_ttl_bars=2, **NOFEE))
    (t,) = res.trades
    assert t["units"] == approx(80.0) and t["exit_reason"] == EXIT_OPEN
    assert t["entry_price"] == approx(101.0)
    assert res.fills.size == 2


def test_opposite_signal_cancels_a_working_limit(h):
    # the limit never fills in bars 1-2; the exit signal at bar 2 cancels it, so bar 3's
    # dip does not buy
    c = bars(h, [QUIET, (100, 101, 99.5, 100), (100, 101, 99.5, 100), (100, 100, 98, 99),
                 QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, **NOFEE)
    assert len(run_signals(c, h.signals_at(5, entries=[0], exits=[2]), cfg).trades) == 0
    # with the entry signal repeated at the same close, the order stays
    assert len(run_signals(c, h.signals_at(5, entries=[0, 2], exits=[2]), cfg).trades) == 1


def test_orders_in_flight_ignore_signals(h):
    # latency 2: the limit decided at 0 works from bar 2; the exit signal at bar 1 comes
    # while it is in flight and is ignored (as on the market path)
    c = bars(h, [QUIET, QUIET, (100, 100, 98, 99), QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, latency_bars=2, **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0], exits=[1]), cfg).trades
    assert t["entry_idx"] == 2


def test_take_profit_waits_after_an_entry_inside_the_bar(h):
    # limit entry at 99 inside bar 1, whose high 100.5 is above the 1 % target 99.99: the
    # order of the two inside the bar is unknown, so the target is not taken in bar 1 but
    # at bar 2's open (100.5, past the target). A market entry at bar 1's open 100 does
    # take its target 101 inside bar 1 (high 101.5).
    c = bars(h, [QUIET, (100, 100.5, 98.5, 99.5), (100.5, 101, 100, 100.5), QUIET])
    cfg = EngineConfig(entry_order="limit", limit_offset_bps=100.0, take_profit_pct=1.0,
                       **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert (t["exit_idx"], t["exit_reason"], t["exit_price"]) == (2, EXIT_TAKE_PROFIT, 100.5)
    c = bars(h, [QUIET, (100, 101.5, 99.5, 100), QUIET])
    (t,) = run_signals(c, h.signals_at(3, entries=[0]),
                       EngineConfig(take_profit_pct=1.0, spread_bps=0.1, **NOFEE)).trades
    assert (t["exit_idx"], t["exit_reason"]) == (1, EXIT_TAKE_PROFIT)


def test_breaker_flatten_replaces_a_limit_exit(h):
    # bar 1 buys 100 at 100; the exit signal at bar 1 sends a sell limit at 101 that does
    # not fill; bar 2 closes at 89 (drawdown 11 % >= 10 %): the breaker replaces the limit
    # with a market close, filled at bar 3's open 89
    c = bars(h, [QUIET, QUIET, (100, 100.5, 88.5, 89), (89, 89.5, 88.5, 89), QUIET])
    cfg = EngineConfig(exit_order="limit", limit_offset_bps=100.0, max_drawdown_pct=10.0,
                       flatten_on_breaker=True, **NOFEE)
    (t,) = run_signals(c, h.signals_at(5, entries=[0], exits=[1]), cfg).trades
    assert (t["exit_idx"], t["exit_price"], t["exit_reason"]) == (3, 89.0, 5)


# -- the touch probability --------------------------------------------------------------


def touch_case(h, n: int):
    """Every bar closes at 100 and the next bar's low is exactly 100: a limit at the close
    is touched, never crossed. Entries and exits on every bar: a buy limit (TTL 1) works
    one bar; filled, it is sold at the next open; either way a new one follows."""
    rows = [(100.5, 101.0, 100.0, 100.0)] * n
    return bars(h, rows), Signals(np.ones(n, dtype=bool), np.ones(n, dtype=bool))


def test_touch_draws_are_a_function_of_seed_and_bar(h):
    n = 4_000
    c, sig = touch_case(h, n)
    p = 0.3
    cfg = EngineConfig(entry_order="limit", order_ttl_bars=1, touch_fill_prob=p,
                       fill_seed=1234, **NOFEE)
    res = run_signals(c, sig, cfg)
    again = run_signals(c, sig, cfg)
    np.testing.assert_array_equal(res.fills, again.fills)
    other = run_signals(c, sig, dataclasses.replace(cfg, fill_seed=1235))
    assert not np.array_equal(res.fills["bar_idx"], other.fills["bar_idx"])
    # orders work on odd bars: bar t fills exactly when splitmix64(seed, t) < p
    bars_tried = np.arange(1, n, 2)
    want = [int(t) for t in bars_tried if splitmix_u01(1234, int(t)) < p]
    got = res.fills[res.fills["intent"] == INTENT_ENTRY]["bar_idx"].tolist()
    assert got == want
    assert len(got) / len(bars_tried) == pytest.approx(p, abs=0.03)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_touch_frequency_is_close_to_p(h, p):
    from tradebot.engine.matching_nb import touch_u01_nb

    u = np.array([touch_u01_nb(7.0, t) for t in range(20_000)])
    assert ((u >= 0) & (u < 1)).all()
    assert (u < p).mean() == pytest.approx(p, abs=0.015)
    assert u[:50].tolist() == [splitmix_u01(7, t) for t in range(50)]
    n = 4_000
    c, sig = touch_case(h, n)
    cfg = EngineConfig(entry_order="limit", order_ttl_bars=1, touch_fill_prob=p, **NOFEE)
    entries = run_signals(c, sig, cfg).fills["intent"] == INTENT_ENTRY
    assert entries.sum() / (n // 2) == pytest.approx(p, abs=0.04)


# -- the fill log -------------------------------------------------------------------------


def market_config(rng: np.random.Generator) -> EngineConfig:
    def maybe(p, value):
        return value if rng.random() < p else None

    return EngineConfig(
        maker_fee=float(rng.choice([0.0, 0.0002])), taker_fee=float(rng.choice([0.0, 0.001])),
        slippage_bps=float(rng.choice([0.0, 5.0])), slippage_atr_mult=float(rng.choice([0, 0.1])),
        latency_bars=int(rng.integers(1, 3)),
        sizing=str(rng.choice(["fixed_fraction", "fixed_amount", "kelly"])),  # type: ignore[arg-type]
        size_value=float(rng.uniform(0.2, 1.0)),
        stop_loss_pct=maybe(0.5, float(rng.uniform(0.3, 3))),
        take_profit_pct=maybe(0.5, float(rng.uniform(0.3, 3))),
        trailing_stop_pct=maybe(0.3, float(rng.uniform(0.3, 3))),
        allow_short=bool(rng.random() < 0.5),
        max_drawdown_pct=maybe(0.3, float(rng.uniform(2, 8))),
        flatten_on_breaker=bool(rng.random() < 0.5),
        max_trades_per_day=maybe(0.3, 2),
    )


def random_signals(rng: np.random.Generator, n: int) -> Signals:
    p = rng.uniform(0.03, 0.4, 4)
    return Signals(rng.random(n) < p[0], rng.random(n) < p[1], rng.random(n) < p[2],
                   rng.random(n) < p[3])


@pytest.mark.parametrize("seed", range(20))
def test_default_fill_log_equals_fills_from_trades(h, seed):
    rng = np.random.default_rng(seed)
    n = 400
    c = h.random_candles(rng, n, sigma=0.01, gap_prob=0.2)
    c = h.candles_from(c.open, c.high, c.low, c.close, c.volume, step_ms=3_600_000)
    sig = random_signals(rng, n)
    cfg = market_config(rng)
    assert not cfg.matching
    res = run_signals(c, sig, cfg)
    assert res.fills.dtype == FILL_DTYPE
    np.testing.assert_array_equal(res.fills, fills_from_trades(res.trades))
    # and the step runner's log of bars [start, n) is the same log's tail
    start = int(rng.integers(1, n))
    first = advance(c.slice(0, start), Signals(sig.entries[:start], sig.exits[:start],
                                               sig.short_entries[:start],
                                               sig.short_exits[:start]),
                    cfg, new_state(cfg), 0)
    rest = advance(c, sig, cfg, first.state, start)
    np.testing.assert_array_equal(np.concatenate([first.fills, rest.fills]), res.fills)


def test_fills_field_on_results(h):
    c = bars(h, [QUIET] * 4)
    res = run_signals(c, h.signals_at(4, entries=[0], exits=[2]), EngineConfig())
    assert [f.name for f in dataclasses.fields(res)][-1] == "fills"
    assert fill_rows(res) == [(1, 1, ORDER_MARKET, INTENT_ENTRY, 0),
                              (3, -1, ORDER_MARKET, INTENT_EXIT, 0)]
    raw = np.array([[3, -1, 2.5, 101.0, 0.25, ORDER_LIMIT, INTENT_EXIT, 2, 1]], dtype=float)
    rec = fills_to_records(raw)
    assert rec.dtype == FILL_DTYPE and rec[0]["reason"] == 2 and rec[0]["qty"] == 2.5


# -- the matching loop with market orders is the market path --------------------------


@pytest.mark.parametrize("seed", range(16))
def test_matching_loop_with_market_orders_equals_the_market_path(h, seed):
    """Forcing the matching loop on a market configuration changes nothing, bit for bit."""
    from tradebot.engine.kernels import simulate_nb

    rng = np.random.default_rng(100 + seed)
    n = 400
    c = h.random_candles(rng, n, sigma=0.01, gap_prob=0.2)
    c = h.candles_from(c.open, c.high, c.low, c.close, c.volume, step_ms=3_600_000)
    sig = random_signals(rng, n)
    cfg = market_config(rng)
    shorts = cfg.allow_short
    args = [c.timestamp, c.open, c.high, c.low, c.close, volume_for(c), atr_for(c, cfg),
            sig.entries, sig.exits, sig.short_entries if shorts else np.zeros(0, bool),
            sig.short_exits if shorts else np.zeros(0, bool)]
    p = cfg.to_vector()
    plain = simulate_nb(*args, p)
    p[P_MATCHING] = 1.0
    forced = simulate_nb(*args, p)
    for x, y in zip(plain, forced, strict=True):
        np.testing.assert_array_equal(x, y)
    assert len(plain[1]) > 2


# -- the slow reference -------------------------------------------------------------------


def random_match_config(rng: np.random.Generator, risk: bool = False) -> EngineConfig:
    def maybe(p, value):
        return value if rng.random() < p else None

    sizing = str(rng.choice(["fixed_fraction", "fixed_amount", "fixed_risk", "kelly",
                             "optimal_f"] if risk else ["fixed_fraction", "fixed_amount"]))
    kw: dict = {}
    if risk:
        kw = {"max_trades_per_day": maybe(0.3, int(rng.integers(1, 4))),
              "max_daily_loss": maybe(0.3, float(rng.uniform(20, 400))),
              "max_drawdown_pct": maybe(0.4, float(rng.uniform(1, 8))),
              "flatten_on_breaker": bool(rng.random() < 0.5),
              "breaker_cooldown_bars": int(rng.integers(0, 30)),
              "cooldown_after_losses": maybe(0.4, int(rng.integers(1, 4))),
              "cooldown_bars": int(rng.integers(0, 20)),
              "max_position_fraction": maybe(0.3, float(rng.uniform(0.2, 1.0))),
              "min_trades": int(rng.integers(0, 6)),
              "risk_pct": float(rng.uniform(0.2, 3.0))}
    return EngineConfig(
        maker_fee=float(rng.choice([0.0, 0.0002, rng.uniform(0, 0.002)])),
        taker_fee=float(rng.choice([0.0, 0.001, rng.uniform(0, 0.004)])),
        slippage_bps=float(rng.choice([0.0, rng.uniform(0, 20)])),
        slippage_atr_mult=float(rng.choice([0.0, 0.0, rng.uniform(0, 0.2)])),
        atr_period=int(rng.integers(2, 15)),
        latency_bars=int(rng.integers(1, 4)),
        sizing=sizing,  # type: ignore[arg-type]
        size_value=(float(rng.uniform(500, 15_000)) if sizing == "fixed_amount"
                    else float(rng.choice([1.0, rng.uniform(0.1, 1.0)]))),
        stop_loss_pct=maybe(0.4, float(rng.uniform(0.3, 4.0))),
        take_profit_pct=maybe(0.4, float(rng.uniform(0.3, 5.0))),
        trailing_stop_pct=maybe(0.3, float(rng.uniform(0.3, 4.0))),
        allow_short=bool(rng.random() < 0.5),
        entry_order=str(rng.choice(["market", "limit", "stop", "stop_limit"])),  # type: ignore[arg-type]
        exit_order=str(rng.choice(["market", "limit"])),  # type: ignore[arg-type]
        limit_offset_bps=float(rng.choice([0.0, rng.uniform(0, 60)])),
        stop_offset_bps=float(rng.choice([0.0, rng.uniform(0, 60)])),
        stop_limit_offset_bps=float(rng.choice([0.0, rng.uniform(0, 40)])),
        order_ttl_bars=int(rng.choice([0, 0, 1, 2, 5])),
        spread_bps=float(rng.choice([0.0, rng.uniform(0, 30)])),
        impact_coef=float(rng.choice([0.0, rng.uniform(0, 0.05)])),
        max_volume_share=maybe(0.5, float(rng.uniform(0.05, 1.0))),
        touch_fill_prob=float(rng.choice([1.0, 0.0, rng.uniform(0, 1)])),
        fill_seed=int(rng.integers(0, 2**32)),
        **kw,
    )


def matching_candles(h, rng: np.random.Generator, n: int, grid: bool):
    """Random-walk candles (or whole-number prices in a band, where limits and stops land
    exactly on highs, lows and opens) with volumes that sometimes cap the orders."""
    if grid:
        close = np.clip(100 + np.cumsum(rng.integers(-2, 3, n)), 80, 120).astype(float)
        open_ = np.concatenate([[100.0], close[:-1]])
        jump = rng.random(n) < 0.2
        open_[jump] += rng.integers(-3, 4, int(jump.sum()))
        high = np.maximum(open_, close) + rng.integers(0, 3, n)
        low = np.minimum(open_, close) - rng.integers(0, 3, n)
    else:
        c = h.random_candles(rng, n, sigma=float(rng.choice([0.003, 0.01, 0.02])),
                             gap_prob=float(rng.uniform(0, 0.3)))
        open_, high, low, close = c.open, c.high, c.low, c.close
    scale = 10 ** rng.uniform(0.5, 3.5)  # orders are ~100 units at 100
    volume = scale * np.exp(rng.standard_normal(n))
    volume[rng.random(n) < 0.05] = 0.0
    step = int(rng.choice([60_000, 3_600_000, 4 * 3_600_000]))
    return h.candles_from(open_, high, low, close, volume, step_ms=step)


FLOAT_TRADE = ("units", "entry_price", "exit_price", "entry_fee", "exit_fee", "pnl", "return_pct")


def assert_same_as_reference(c, sig, cfg: EngineConfig) -> None:
    res = run_signals(c, sig, cfg)
    ref_blocked: list = []
    trades, equity, fills, position = run_matching_reference(
        c, sig, MatchConfig.from_engine(cfg), ref_blocked)
    where = f"config {cfg}"
    assert [(int(b["bar_idx"]), int(b["reason"])) for b in res.blocked] == ref_blocked, where
    assert len(res.fills) == len(fills), where
    for i, (got, want) in enumerate(zip(res.fills, fills, strict=True)):
        for f in ("bar_idx", "side", "order_type", "intent", "reason", "maker"):
            assert int(got[f]) == want[f], (i, f, where)
        for f in ("qty", "price", "fee"):
            assert math.isclose(float(got[f]), want[f], rel_tol=1e-9, abs_tol=1e-9), (i, f, where)
    assert len(res.trades) == len(trades), where
    for i, (got, want) in enumerate(zip(res.trades, trades, strict=True)):
        for f in ("entry_idx", "exit_idx", "direction", "exit_reason"):
            assert int(got[f]) == want[f], (i, f, where)
        for f in FLOAT_TRADE:
            assert math.isclose(float(got[f]), want[f], rel_tol=1e-9, abs_tol=1e-6), (i, f, where)
    np.testing.assert_allclose(res.equity, equity, rtol=1e-9, atol=1e-6, err_msg=where)
    np.testing.assert_allclose(res.position, position, rtol=1e-9, atol=1e-9, err_msg=where)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 300), grid=st.booleans(),
       risk=st.booleans())
def test_matching_equals_reference_random(h, seed, n, grid, risk):
    rng = np.random.default_rng(seed)
    c = matching_candles(h, rng, n, grid)
    assert_same_as_reference(c, random_signals(rng, n), random_match_config(rng, risk))


@pytest.mark.parametrize("entry_order", ["market", "limit", "stop", "stop_limit"])
@pytest.mark.parametrize("exit_order", ["market", "limit"])
@pytest.mark.parametrize("grid", [False, True])
def test_matching_equals_reference_every_order_type(h, entry_order, exit_order, grid):
    for seed in range(6):
        rng = np.random.default_rng(seed * 7 + len(entry_order) + grid)
        c = matching_candles(h, rng, 300, grid)
        cfg = dataclasses.replace(random_match_config(rng, risk=seed % 2 == 1),
                                  entry_order=entry_order, exit_order=exit_order)
        assert_same_as_reference(c, random_signals(rng, 300), cfg)


def test_random_cases_exercise_the_model(h):
    """The generators above do produce partial fills, every order type filled, maker and
    taker fills, touches and expiries (a sanity check of the reference comparison)."""
    types, makers, partial, reasons = set(), set(), 0, set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        c = matching_candles(h, rng, 300, grid=seed % 2 == 0)
        res = run_signals(c, random_signals(rng, 300), random_match_config(rng, seed % 3 == 0))
        types |= set(res.fills["order_type"].tolist())
        makers |= set(res.fills["maker"].tolist())
        reasons |= set(res.trades["exit_reason"].tolist())
        entries = res.fills[res.fills["intent"] == INTENT_ENTRY]
        partial += len(entries) - len(res.trades)
    assert types == {ORDER_MARKET, ORDER_LIMIT, ORDER_STOP, ORDER_STOP_LIMIT}
    assert makers == {0, 1}
    assert partial > 20
    assert {0, 1, 2, 3, 4} <= reasons


# -- chunks and the step runner -----------------------------------------------------------


def step_in_chunks(c, sig: Signals, cfg: EngineConfig, cuts: list[int]):
    """engine.step.advance over [a, b) chunks, the state persisted as JSON in between."""
    state = new_state(cfg)
    out: dict[str, list] = {"equity": [], "trades": [], "fills": [], "blocked": [],
                            "position": []}
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        part = Signals(sig.entries[:b], sig.exits[:b], sig.short_entries[:b],
                       sig.short_exits[:b])
        r = advance(c.slice(0, b), part, cfg, np.array(state.tolist()), a)
        state = r.state
        for k in out:
            out[k].append(getattr(r, k))
    return {k: np.concatenate(v) for k, v in out.items()}, state


@pytest.mark.parametrize("seed", range(12))
def test_chunked_step_runs_equal_one_backtest(h, seed):
    rng = np.random.default_rng(900 + seed)
    n = 300
    c = matching_candles(h, rng, n, grid=seed % 2 == 0)
    sig = random_signals(rng, n)
    cfg = random_match_config(rng, risk=seed % 3 == 0)
    cfg = dataclasses.replace(cfg, max_volume_share=float(rng.uniform(0.05, 0.5)))
    bt = run_signals(c, sig, cfg)
    cuts = sorted({0, n, *rng.integers(1, n, int(rng.integers(1, 30))).tolist()})
    got, state = step_in_chunks(c, sig, cfg, cuts)
    np.testing.assert_array_equal(got["equity"], bt.equity)
    np.testing.assert_array_equal(got["fills"], bt.fills)
    np.testing.assert_array_equal(got["blocked"], bt.blocked)
    np.testing.assert_array_equal(got["position"], bt.position)
    np.testing.assert_array_equal(got["trades"], bt.trades[bt.trades["exit_reason"] != EXIT_OPEN])
    one = advance(c, sig, cfg, new_state(cfg), 0)
    np.testing.assert_array_equal(one.state, state)


def test_chunked_partial_fill_case(h):
    c, sig = partial_case(h)
    cfg = EngineConfig(max_volume_share=0.1, entry_order="limit", limit_offset_bps=0.0,
                       touch_fill_prob=0.5, **NOFEE)
    bt = run_signals(c, sig, cfg)
    for cuts in ([0, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 2, 5, 8]):
        got, _ = step_in_chunks(c, sig, cfg, cuts)
        np.testing.assert_array_equal(got["fills"], bt.fills)
        np.testing.assert_array_equal(got["equity"], bt.equity)


# -- persisted states ---------------------------------------------------------------------


@pytest.mark.parametrize("sizing", ["fixed_fraction", "optimal_f"])
def test_states_of_older_layouts_still_advance(h, sizing):
    """States saved before the working-order slots (8, N_STATE or N_STATE + ring long)
    are padded; the optimal-f ring stays where it was."""
    from tradebot.engine.layout import N_MATCH
    from tradebot.engine.risk_nb import N_STATE, OPTF_WINDOW

    cfg = EngineConfig(sizing=sizing, entry_order="limit")  # type: ignore[arg-type]
    fresh = new_state(cfg)
    ring = OPTF_WINDOW if sizing == "optimal_f" else 0
    assert fresh.shape == (N_STATE + ring + N_MATCH,)
    old = fresh[:N_STATE + ring].copy()
    if ring:
        old[N_STATE:] = np.linspace(-1, 1, ring)
    up = upgrade_state(old, cfg)
    assert up.shape == fresh.shape
    np.testing.assert_array_equal(up[:N_STATE + ring], old)
    np.testing.assert_array_equal(up[N_STATE + ring:], fresh[N_STATE + ring:])
    np.testing.assert_array_equal(upgrade_state(fresh[:8], cfg), fresh)
    c = bars(h, [QUIET, (100, 101, 98, 99), QUIET])
    for state in (fresh[:8], old):
        res = advance(c, h.signals_at(3, entries=[0]), cfg, state, 0)
        assert res.position[-1] > 0 and res.state.shape == fresh.shape


def test_switching_fill_models_on_a_persisted_account(h):
    # a limit order left working by the matching model is dropped by the market path; a
    # position opened on the market path is closed by the matching model as one trade
    from tradebot.engine.layout import S_PENDING

    c = bars(h, [QUIET, (100, 101, 99.5, 100)] + [QUIET] * 6)
    limit = EngineConfig(entry_order="limit", limit_offset_bps=100.0, **NOFEE)
    first = advance(c.slice(0, 2), h.signals_at(2, entries=[0]), limit, new_state(limit), 0)
    assert first.state[S_PENDING] != 0.0  # still working
    market = EngineConfig(**NOFEE)
    later = advance(c.slice(0, 5), h.signals_at(5, entries=[2]), market, first.state, 2)
    (f,) = later.fills
    assert (f["bar_idx"], f["order_type"]) == (3, ORDER_MARKET)
    # a sell limit at bar 5's close 100 works from bar 6 (high 101): filled at 100
    back = advance(c, h.signals_at(8, exits=[5]),
                   EngineConfig(exit_order="limit", **NOFEE), later.state, 5)
    (t,) = back.trades
    assert (t["entry_idx"], t["exit_idx"], t["exit_price"]) == (3, 6, 100.0)
    assert t["units"] == approx(100.0) and t["pnl"] == approx(0.0)


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    {"entry_order": "iceberg"},
    {"exit_order": "stop"},
    {"limit_offset_bps": -1.0},
    {"stop_offset_bps": 10_000.0},
    {"stop_limit_offset_bps": float("nan")},
    {"spread_bps": True},
    {"impact_coef": 1.0},
    {"impact_coef": -0.1},
    {"max_volume_share": 0.0},
    {"max_volume_share": 1.5},
    {"touch_fill_prob": 1.2},
    {"order_ttl_bars": -1},
    {"order_ttl_bars": 1.5},
    {"fill_seed": -1},
    {"fill_seed": 2**32},
])
def test_engine_config_rejects(bad):
    with pytest.raises(ConfigError) as err:
        EngineConfig(**bad)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"engine config: {next(iter(bad))}=")


def test_defaults_keep_the_market_path():
    cfg = EngineConfig()
    assert not cfg.matching and cfg.to_vector()[P_MATCHING] == 0.0
    # settings that only matter to working orders do not switch the model on
    assert not EngineConfig(limit_offset_bps=5, order_ttl_bars=3, touch_fill_prob=0.2).matching
    for kw in ({"entry_order": "limit"}, {"exit_order": "limit"}, {"spread_bps": 1.0},
               {"impact_coef": 0.1}, {"max_volume_share": 1.0}):
        assert EngineConfig(**kw).matching, kw  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [
    {"entry_order": "iceberg"}, {"exit_order": "stop_limit"}, {"limit_offset_bps": -1},
    {"spread_bps": 10_000}, {"impact_coef": 1}, {"max_volume_share": 0},
    {"touch_fill_prob": 2}, {"order_ttl_bars": -1}, {"fill_seed": 2**32},
    {"order_ttl_bars": True},
])
def test_settings_execution_section_rejects(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ExecutionConfig(**bad)


def test_engine_config_maps_the_execution_settings():
    from tradebot.services.backtest import engine_config

    s = Settings(execution=ExecutionConfig(
        latency_bars=2, entry_order="stop_limit", exit_order="limit", limit_offset_bps=3.0,
        stop_offset_bps=4.0, stop_limit_offset_bps=5.0, order_ttl_bars=6, spread_bps=7.0,
        impact_coef=0.08, max_volume_share=0.25, touch_fill_prob=0.4, fill_seed=11))
    cfg = engine_config(s)
    assert (cfg.latency_bars, cfg.entry_order, cfg.exit_order) == (2, "stop_limit", "limit")
    assert (cfg.limit_offset_bps, cfg.stop_offset_bps, cfg.stop_limit_offset_bps) == (3, 4, 5)
    assert (cfg.order_ttl_bars, cfg.spread_bps, cfg.impact_coef) == (6, 7, 0.08)
    assert (cfg.max_volume_share, cfg.touch_fill_prob, cfg.fill_seed) == (0.25, 0.4, 11)
    default = engine_config(Settings())
    assert not default.matching and default.touch_fill_prob == 1.0


def test_execution_settings_from_overrides_env_and_config_show():
    from tradebot.core.config import build_overrides

    s = load_settings(overrides=build_overrides({"execution.entry_order": "limit",
                                                 "execution.limit_offset_bps": "5"}), env={})
    assert s.execution.entry_order == "limit" and s.execution.limit_offset_bps == 5.0
    s = load_settings(env={"TRADEBOT_EXECUTION__MAX_VOLUME_SHARE": "0.2",
                           "TRADEBOT_EXECUTION__EXIT_ORDER": "limit"})
    assert s.execution.max_volume_share == 0.2 and s.execution.exit_order == "limit"
    shown = settings_to_dict(Settings(), include_none=True)["execution"]
    assert set(shown) >= {"latency_bars", "entry_order", "exit_order", "limit_offset_bps",
                          "stop_offset_bps", "stop_limit_offset_bps", "order_ttl_bars",
                          "spread_bps", "impact_coef", "max_volume_share", "touch_fill_prob",
                          "fill_seed"}
    with pytest.raises(ConfigError):
        load_settings(overrides=build_overrides({"execution.entry_order": "iceberg"}), env={})


def test_trades_to_records_roundtrip_is_unchanged(h):
    # sanity: the trade rows the matching loop writes are TRADE_DTYPE rows like the others
    c, sig = partial_case(h)
    res = run_signals(c, sig, EngineConfig(max_volume_share=0.1, **NOFEE))
    again = trades_to_records(np.array([list(t) for t in res.trades.tolist()], dtype=float))
    np.testing.assert_array_equal(again, res.trades)
