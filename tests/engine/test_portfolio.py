"""The portfolio engine (tradebot.engine.portfolio): one market is today's backtest bit for
bit; independent markets are the single-market runs; shared cash, slots and ranking by a
hand-computed ledger; gaps and different ranges without made-up prices; bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import T0_MS, candles_from, random_candles, signals_at

from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError
from tradebot.core.signals import Signals
from tradebot.engine.backtest import run_signals, run_strategy
from tradebot.engine.config import EngineConfig
from tradebot.engine.portfolio import (
    BLOCK_NO_CASH,
    BLOCK_NO_SLOT,
    PortfolioConfig,
    align,
    run_portfolio,
)
from tradebot.engine.result import EXIT_OPEN, EXIT_SIGNAL
from tradebot.strategies.registry import BUILTINS, Registry

N = 1200

#: every sizing mode, the risk limits, stops, shorts, latency, and the matching model
CONFIGS = {
    "default": EngineConfig(),
    "fraction_half_stops": EngineConfig(size_value=0.5, stop_loss_pct=2.0,
                                        take_profit_pct=3.0, trailing_stop_pct=1.5,
                                        slippage_bps=5.0),
    "shorts_atr_latency": EngineConfig(allow_short=True, slippage_atr_mult=0.1,
                                       stop_loss_pct=3.0, latency_bars=2),
    "fixed_amount": EngineConfig(sizing="fixed_amount", size_value=2500.0, maker_fee=0.0005),
    "fixed_risk_atr": EngineConfig(sizing="fixed_risk", risk_pct=2.0),
    "fixed_risk_stop": EngineConfig(sizing="fixed_risk", risk_pct=2.0, stop_loss_pct=2.0),
    "kelly": EngineConfig(sizing="kelly", min_trades=5, stop_loss_pct=2.0),
    "optimal_f": EngineConfig(sizing="optimal_f", min_trades=5, take_profit_pct=2.0),
    "day_limits": EngineConfig(max_trades_per_day=2, max_daily_loss=150.0),
    "breaker_flatten": EngineConfig(max_drawdown_pct=8.0, flatten_on_breaker=True,
                                    breaker_cooldown_bars=50, allow_short=True),
    "loss_cooldown_cap": EngineConfig(cooldown_after_losses=2, cooldown_bars=30,
                                      max_position_fraction=0.5, stop_loss_pct=1.0),
    "match_limit_partial": EngineConfig(entry_order="limit", limit_offset_bps=20.0,
                                        max_volume_share=0.3, order_ttl_bars=5,
                                        stop_loss_pct=2.0, take_profit_pct=2.0),
    "match_stop_limits": EngineConfig(entry_order="stop_limit", stop_offset_bps=10.0,
                                      stop_limit_offset_bps=20.0, exit_order="limit",
                                      spread_bps=4.0, impact_coef=0.01, allow_short=True,
                                      max_drawdown_pct=10.0, flatten_on_breaker=True,
                                      breaker_cooldown_bars=100, max_trades_per_day=3),
}


def _history(seed: int, n: int = N, shorts: bool = True) -> tuple[Candles, Signals]:
    rng = np.random.default_rng(seed)
    candles = random_candles(rng, n, sigma=0.01)
    # hourly bars: the daily limits see 50 days
    candles = dataclasses.replace(candles, timestamp=T0_MS + 3_600_000 * np.arange(n))
    entries = rng.random(n) < 0.05
    exits = rng.random(n) < 0.05
    if shorts:
        return candles, Signals(entries, exits, rng.random(n) < 0.05, rng.random(n) < 0.05)
    return candles, Signals(entries, exits)


def _one(candles: Candles, sig: Signals, cfg: EngineConfig):
    res = run_portfolio(align([candles], ["X/USDT"]), [sig], cfg, PortfolioConfig(1))
    return res, run_signals(candles, sig, cfg)


def _same(res, single, where: str) -> None:
    assert len(single.trades) > 3, f"{where}: too few trades to compare"
    assert res.trades.tobytes() == single.trades.tobytes(), f"{where}: trades differ"
    assert res.equity.tobytes() == single.equity.tobytes(), f"{where}: equity differs"
    assert res.fills.tobytes() == single.fills.tobytes(), f"{where}: fills differ"
    assert np.array_equal(res.blocked["bar_idx"], single.blocked["bar_idx"]), where
    assert np.array_equal(res.blocked["reason"], single.blocked["reason"]), where
    pm = res.per_market[0]
    assert pm.equity.tobytes() == single.equity.tobytes(), where
    assert pm.trades.tobytes() == single.trades.tobytes(), where
    np.testing.assert_array_equal(pm.position, single.position, err_msg=where)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_market_is_the_single_market_backtest_bit_for_bit(name: str) -> None:
    candles, sig = _history(11)
    res, single = _one(candles, sig, CONFIGS[name])
    _same(res, single, name)


def _strategy_candles() -> Candles:
    rng = np.random.default_rng(3)
    c = random_candles(rng, 2000, sigma=0.012)
    buy = c.volume * rng.uniform(0.2, 0.8, len(c))
    return dataclasses.replace(c, timeframe="1h", meta={"buy_volume": buy})


@pytest.mark.parametrize("name", [n for n in BUILTINS if n != "ml"])
def test_one_market_equals_single_for_every_builtin_strategy(name: str) -> None:
    # (ml trades a registry model's probabilities; to the engine it is signals like these)
    candles = _strategy_candles()
    strategy = Registry().get(name).cls()
    for cfg in (EngineConfig(), CONFIGS["kelly"], CONFIGS["match_limit_partial"]):
        res = run_portfolio(align([candles], ["X/USDT"]), [strategy.signals_for(candles)],
                            cfg, PortfolioConfig(1))
        single = run_strategy(candles, strategy, cfg)
        assert len(single.trades) > 3, f"{name}: too few trades to compare"
        assert res.trades.tobytes() == single.trades.tobytes(), name
        assert res.equity.tobytes() == single.equity.tobytes(), name


@pytest.mark.parametrize("matching", [False, True])
def test_independent_markets_trade_as_their_single_runs(matching: bool) -> None:
    hist = [_history(s, shorts=False) for s in (21, 22, 23, 24)]
    stake = 2_000.0
    # the matching model: working limit entries filled in parts over several bars, stops
    # closing a partly filled entry, orders expiring
    extra = dict(entry_order="limit", limit_offset_bps=20.0, max_volume_share=0.3,
                 order_ttl_bars=5) if matching else {}
    cfg = EngineConfig(initial_capital=1e9, sizing="fixed_amount", size_value=stake,
                       stop_loss_pct=2.0, take_profit_pct=4.0, **extra)
    al = align([c for c, _ in hist], ["A/USDT", "B/USDT", "C/USDT", "D/USDT"])
    res = run_portfolio(al, [s for _, s in hist], cfg,
                        PortfolioConfig(4, stake="fixed", stake_amount=stake))
    total_pnl = 0.0
    for m, (c, s) in enumerate(hist):
        single = run_signals(c, s, cfg)
        mine = res.per_market[m].trades
        assert len(single.trades) > 5
        assert mine.tobytes() == single.trades.tobytes(), al.symbols[m]
        total_pnl += single.final_equity - cfg.initial_capital
    assert len(res.blocked) == 0
    # (partial fills move the 1e9 cash more often: each step rounds at about 1e-7)
    assert res.final_equity - cfg.initial_capital == pytest.approx(
        total_pnl, rel=1e-9, abs=1e-5 if matching else 0.0)
    # the per-market contributions add up to the account
    contrib = sum(pm.equity - cfg.initial_capital for pm in res.per_market)
    np.testing.assert_allclose(contrib + cfg.initial_capital, res.equity, rtol=1e-12)


# -- shared cash: a hand-computed ledger -------------------------------------------------

FEE = 0.001


def _flat_market(prices: list[float]) -> Candles:
    p = np.array(prices, dtype=np.float64)
    return candles_from(p, p, p, p, step_ms=3_600_000)


def _two_markets():
    a = _flat_market([100, 100, 100, 110, 110, 110])
    b = _flat_market([50, 50, 50, 40, 40, 40])
    al = align([a, b], ["A/USDT", "B/USDT"])
    # both signal at bar 1 (fill at bar 2's open), exit signals at bar 3 (fill at bar 4)
    sigs = [signals_at(6, entries=[1], exits=[3]), signals_at(6, entries=[1], exits=[3])]
    cfg = EngineConfig(initial_capital=1000.0, maker_fee=FEE, taker_fee=FEE)
    return al, sigs, cfg


@pytest.mark.parametrize(("rank", "winner"), [("order", 0), ("score", 1), ("signal", 1)])
def test_shared_cash_for_one_entry_goes_to_the_declared_rank(rank: str, winner: int) -> None:
    al, sigs, cfg = _two_markets()
    scores = np.zeros((2, 6))
    scores[1, 1] = 1.0  # B scores higher at the deciding bar
    if rank == "signal":  # strength = close / previous close - 1 at bar 1: make B's larger
        al = dataclasses.replace(al, close=al.close.copy())
        al.close[1, 1] = 51.0
        al.close[0, 1] = 100.0
    res = run_portfolio(al, sigs, cfg,
                        PortfolioConfig(2, stake="fixed", stake_amount=1000.0, rank=rank),
                        scores=scores if rank == "score" else None)
    # ledger: the winner spends all 1000 (fee included) at bar 2's open; the loser finds no
    # cash (blocked at bar 2); the winner exits at bar 4's open
    entry = (100.0, 50.0)[winner]
    exit_ = (110.0, 40.0)[winner]
    units = 1000.0 / (entry * (1 + FEE))
    entry_fee = units * entry * FEE
    cash_after_entry = 1000.0 - units * entry - entry_fee
    exit_fee = units * exit_ * FEE
    cash_end = cash_after_entry + units * exit_ - exit_fee
    assert len(res.trades) == 1
    assert res.trade_market.tolist() == [winner]
    t = res.trades[0]
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"]) == (2, 4, EXIT_SIGNAL)
    assert t["units"] == units and t["entry_price"] == entry and t["exit_price"] == exit_
    assert t["pnl"] == units * (exit_ - entry) - entry_fee - exit_fee
    assert res.blocked.tolist() == [(1 - winner, 2, BLOCK_NO_CASH)]
    assert res.cash.tolist() == [1000.0, 1000.0, cash_after_entry, cash_after_entry,
                                 cash_end, cash_end]
    close_w = al.close[winner]
    assert res.equity[2] == cash_after_entry + units * close_w[2]
    assert res.equity[3] == cash_after_entry + units * close_w[3]
    assert res.final_equity == cash_end


def test_slots_and_equal_stakes() -> None:
    p = [100.0] * 6
    al = align([_flat_market(p), _flat_market(p), _flat_market(p)],
               ["A/USDT", "B/USDT", "C/USDT"])
    sigs = [signals_at(6, entries=[1]) for _ in range(3)]
    cfg = EngineConfig(initial_capital=1000.0, maker_fee=FEE, taker_fee=FEE)
    res = run_portfolio(al, sigs, cfg, PortfolioConfig(2, stake="equal", rank="order"))
    # A: 1000 / 2 free slots; B: the cash left / 1 free slot; C: no slot left
    ua = 500.0 / (100.0 * (1 + FEE))
    cash_a = (1000.0 - 500.0) + (500.0 - ua * 100.0 - ua * 100.0 * FEE)
    ub = cash_a / (100.0 * (1 + FEE))
    assert ub == pytest.approx(ua, rel=1e-12)
    trades = res.trades_by_market()
    assert trades["A/USDT"]["units"].tolist() == [ua]
    assert trades["B/USDT"]["units"].tolist() == [ub]
    assert trades["C/USDT"].size == 0
    assert res.blocked.tolist() == [(2, 2, BLOCK_NO_SLOT)]
    assert set(res.trades["exit_reason"].tolist()) == {EXIT_OPEN}
    assert res.cash[-1] == 0.0 + (cash_a - ub * 100.0 - ub * 100.0 * FEE)
    assert abs(res.cash[-1]) < 1e-9


def test_an_exit_frees_its_slot_for_an_entry_at_the_same_open() -> None:
    p = [100.0] * 6
    al = align([_flat_market(p), _flat_market(p)], ["A/USDT", "B/USDT"])
    sigs = [signals_at(6, entries=[0], exits=[2]), signals_at(6, entries=[2])]
    cfg = EngineConfig(initial_capital=1000.0, maker_fee=0.0, taker_fee=0.0)
    res = run_portfolio(al, sigs, cfg, PortfolioConfig(1, stake="equal"))
    tb = res.trades_by_market()
    assert tb["A/USDT"][["entry_idx", "exit_idx"]].tolist() == [(1, 3)]
    assert tb["B/USDT"][["entry_idx", "exit_idx"]].tolist() == [(3, 5)]
    assert tb["B/USDT"]["units"][0] == 10.0
    assert len(res.blocked) == 0


def test_fraction_stake_is_of_the_previous_close_equity() -> None:
    al = align([_flat_market([100.0] * 5), _flat_market([20.0] * 5)], ["A/USDT", "B/USDT"])
    sigs = [signals_at(5, entries=[0]), signals_at(5, entries=[2])]
    cfg = EngineConfig(initial_capital=1000.0, maker_fee=0.0, taker_fee=0.0)
    res = run_portfolio(al, sigs, cfg, PortfolioConfig(2, stake="fraction", stake_amount=0.25))
    tb = res.trades_by_market()
    assert tb["A/USDT"]["units"].tolist() == [250.0 / 100.0]
    assert tb["B/USDT"]["units"].tolist() == [250.0 / 20.0]
    assert res.cash[-1] == 500.0


# -- alignment: gaps and different ranges ------------------------------------------------

def test_gaps_and_ranges_trade_only_real_candles_and_mark_to_the_last_real_close() -> None:
    h = 3_600_000
    a = candles_from([10.0] * 8, [10.0] * 8, [10.0] * 8, [10.0] * 8, step_ms=h)
    # B: starts at bar 2, no candle at bars 4 and 5
    bt = T0_MS + h * np.array([2, 3, 6, 7])
    b = Candles(bt, np.array([20.0, 21.0, 30.0, 31.0]), np.array([20.0, 21.0, 30.0, 31.0]),
                np.array([20.0, 21.0, 30.0, 31.0]), np.array([20.0, 21.0, 30.0, 31.0]),
                np.ones(4))
    al = align([a, b], ["A/USDT", "B/USDT"])
    assert al.n_bars == 8 and al.present[1].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert np.isnan(al.close[1, 4]) and np.isnan(al.open[1, 0])
    # B's own signals (4 candles): entry at its bar 0 (union bar 2) -> fills at union bar
    # 3's open 21; an exit at its bar 1 (union 3) is due at union bar 4 where B has no
    # candle: it fills at B's next real candle, union bar 6 (open 30)
    sig_b = Signals(np.array([True, False, False, False]), np.array([False, True, False, False]))
    # union-length signals on an absent bar are ignored
    sig_a = signals_at(8)
    cfg = EngineConfig(initial_capital=1000.0, maker_fee=0.0, taker_fee=0.0)
    res = run_portfolio(al, [sig_a, sig_b], cfg, PortfolioConfig(2, stake="fixed",
                                                                 stake_amount=210.0))
    tb = res.trades_by_market()["B/USDT"]
    assert tb[["entry_idx", "exit_idx"]].tolist() == [(3, 6)]
    assert tb["entry_price"][0] == 21.0 and tb["exit_price"][0] == 30.0
    assert np.isfinite(res.equity).all()
    # held 10 units through the gap: marked at B's last real close (21), not a made-up one
    assert res.equity[4] == res.equity[5] == 790.0 + 10 * 21.0
    assert res.final_equity == 790.0 + 300.0
    # an entry signal of A at a bar where A trades but B has none is fine; a signal of B
    # given on the union timeline at an absent bar does nothing
    sig_b2 = signals_at(8, entries=[4])
    res2 = run_portfolio(al, [sig_a, sig_b2], cfg, PortfolioConfig(2))
    assert len(res2.trades) == 0 and len(res2.fills) == 0


def test_bad_input_is_refused_with_a_clear_error() -> None:
    c, _ = _history(1, n=50)
    with pytest.raises(ConfigError, match="BTC/USDT.*ETH/BTC|ETH/BTC.*BTC/USDT"):
        align([c, c], ["BTC/USDT", "ETH/BTC"])
    with pytest.raises(ConfigError, match="empty"):
        align([], [])
    with pytest.raises(ConfigError, match="max_open_positions=0"):
        PortfolioConfig(0)
    with pytest.raises(ConfigError, match="stake='all'"):
        PortfolioConfig(1, stake="all")
    with pytest.raises(ConfigError, match="duplicate pairs: A/USDT"):
        align([c, c], ["A/USDT", "A/USDT"])
    with pytest.raises(ConfigError, match="timeframe"):
        align([dataclasses.replace(c, timeframe="1h"), dataclasses.replace(c, timeframe="4h")],
              ["A/USDT", "B/USDT"])
    al = align([c, c], ["A/USDT", "B/USDT"])
    sig = Signals(np.zeros(50, bool), np.zeros(50, bool))
    with pytest.raises(ConfigError, match="initial_capital.*A/USDT=10000.*B/USDT=5000"):
        run_portfolio(al, [sig, sig], [EngineConfig(), EngineConfig(initial_capital=5000.0)],
                      PortfolioConfig(2))
    with pytest.raises(ConfigError, match="scores"):
        run_portfolio(al, [sig, sig], EngineConfig(), PortfolioConfig(2, rank="score"))


def test_per_market_fees_apply_to_their_market() -> None:
    p = [100.0] * 4
    al = align([_flat_market(p), _flat_market(p)], ["A/USDT", "B/USDT"])
    sigs = [signals_at(4, entries=[0]), signals_at(4, entries=[0])]
    cfgs = [EngineConfig(initial_capital=1000.0, taker_fee=0.0),
            EngineConfig(initial_capital=1000.0, taker_fee=0.01)]
    res = run_portfolio(al, sigs, cfgs, PortfolioConfig(2, stake="fixed", stake_amount=500.0))
    f = res.fills
    assert f["fee"].tolist() == [0.0, 500.0 / (100.0 * 1.01) * 100.0 * 0.01]
    assert res.fill_market.tolist() == [0, 1]


def test_risk_rules_apply_to_the_whole_account() -> None:
    from tradebot.engine.result import EXIT_BREAKER

    a = _flat_market([100.0, 100.0, 100.0, 70.0, 70.0, 70.0])
    b = _flat_market([10.0] * 6)
    al = align([a, b], ["A/USDT", "B/USDT"])
    # A's loss (15 % of the account) trips the account's 10 % breaker at bar 3's close:
    # B's entry decided there is blocked, A is flattened at bar 4's open
    cfg = EngineConfig(initial_capital=1000.0, maker_fee=0.0, taker_fee=0.0,
                       max_drawdown_pct=10.0, flatten_on_breaker=True)
    res = run_portfolio(al, [signals_at(6, entries=[0]), signals_at(6, entries=[3])], cfg,
                        PortfolioConfig(2, stake="equal"))
    assert res.equity[3] == 500.0 + 5.0 * 70.0
    assert res.trades_by_market()["A/USDT"][["exit_idx", "exit_reason"]].tolist() == [
        (4, EXIT_BREAKER)]
    assert res.trades_by_market()["B/USDT"].size == 0
    assert res.blocked.tolist() == [(1, 3, 2)]  # B, bar 3, drawdown_breaker
    # the trades-per-day limit counts the entries of every market
    cfg = EngineConfig(initial_capital=1000.0, maker_fee=0.0, taker_fee=0.0,
                       max_trades_per_day=1)
    res = run_portfolio(al, [signals_at(6, entries=[0]), signals_at(6, entries=[0])], cfg,
                        PortfolioConfig(2, stake="equal"))
    assert res.trade_market.tolist() == [0]
    assert res.blocked.tolist() == [(1, 0, 0)]  # B, bar 0, max_trades_per_day
