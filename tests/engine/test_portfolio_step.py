"""The portfolio step runner (paper): a history replayed in random chunks from the
persisted state equals one batch run, array for array."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import T0_MS, random_candles

from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError
from tradebot.core.signals import Signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.portfolio import (
    AlignedMarkets,
    PortfolioConfig,
    advance_portfolio,
    align,
    new_portfolio_state,
    run_portfolio,
)
from tradebot.engine.result import EXIT_OPEN

N = 700
H = 3_600_000


def _gappy(seed: int, keep: float, first: int) -> Candles:
    rng = np.random.default_rng(seed)
    c = random_candles(rng, N, sigma=0.01)
    c = dataclasses.replace(c, timestamp=T0_MS + H * np.arange(N))
    mask = rng.random(N) < keep
    mask[:first] = False
    idx = np.flatnonzero(mask)
    return Candles(c.timestamp[idx], c.open[idx], c.high[idx], c.low[idx], c.close[idx],
                   c.volume[idx])


def _setup(seed: int):
    markets = [_gappy(seed, 1.0, 0), _gappy(seed + 1, 0.9, 0), _gappy(seed + 2, 0.95, 150)]
    al = align(markets, ["A/USDT", "B/USDT", "C/USDT"])
    rng = np.random.default_rng(seed + 10)
    sigs = []
    for c in markets:
        k = len(c)
        sigs.append(Signals(rng.random(k) < 0.06, rng.random(k) < 0.06,
                            rng.random(k) < 0.04, rng.random(k) < 0.04))
    common = dict(initial_capital=5000.0, max_trades_per_day=4, max_drawdown_pct=15.0,
                  breaker_cooldown_bars=40, flatten_on_breaker=True, cooldown_after_losses=3,
                  cooldown_bars=10, size_value=0.9)
    cfgs = [EngineConfig(stop_loss_pct=2.0, trailing_stop_pct=3.0, allow_short=True, **common),
            EngineConfig(entry_order="limit", limit_offset_bps=15.0, order_ttl_bars=4,
                         max_volume_share=0.5, take_profit_pct=2.5, **common),
            EngineConfig(slippage_bps=3.0, taker_fee=0.002, latency_bars=2, **common)]
    return al, sigs, cfgs


def _replay(al: AlignedMarkets, sigs, cfgs, pf: PortfolioConfig, cuts: list[int],
            scores=None):
    state = new_portfolio_state(cfgs, pf, al.n_markets)
    parts = []
    start = 0
    for stop in [*cuts, al.n_bars]:
        # paper sees only the candles that have closed: cut the history at ``stop``
        sub = dataclasses.replace(
            al, timestamp=al.timestamp[:stop], present=al.present[:, :stop],
            open=al.open[:, :stop], high=al.high[:, :stop], low=al.low[:, :stop],
            close=al.close[:, :stop], volume=al.volume[:, :stop])
        sub_sigs = [Signals(*(np.asarray(a)[:stop] for a in (s.entries, s.exits,
                                                             s.short_entries, s.short_exits)))
                    for s in _union(al, sigs)]
        step = advance_portfolio(sub, sub_sigs, cfgs, pf, state, start,
                                 None if scores is None else scores[:, :stop])
        parts.append(step)
        state = step.state
        start = stop
    return parts


def _union(al: AlignedMarkets, sigs):
    out = []
    for m, s in enumerate(sigs):
        arrs = []
        for a in (s.entries, s.exits, s.short_entries, s.short_exits):
            u = np.zeros(al.n_bars, dtype=bool)
            u[al.present[m]] = a
            arrs.append(u)
        out.append(Signals(*arrs))
    return out


@pytest.mark.parametrize("rank", ["order", "signal", "score"])
def test_replay_in_random_chunks_equals_the_batch_run(rank: str) -> None:
    al, sigs, cfgs = _setup(5)
    pf = PortfolioConfig(2, stake="equal", rank=rank)
    scores = np.random.default_rng(1).random((3, al.n_bars)) if rank == "score" else None
    batch = run_portfolio(al, sigs, cfgs, pf, scores)
    assert len(batch.trades) > 20 and len(batch.blocked) > 3
    assert len(set(batch.trade_market.tolist())) == 3
    rng = np.random.default_rng(7)
    for _ in range(2):
        cuts = sorted(set(rng.integers(1, al.n_bars, size=25).tolist()))
        parts = _replay(al, sigs, cfgs, pf, cuts, scores)
        eq = np.concatenate([p.equity for p in parts])
        assert eq.tobytes() == batch.equity.tobytes()
        assert np.concatenate([p.cash for p in parts]).tobytes() == batch.cash.tobytes()
        fills = np.concatenate([p.fills for p in parts])
        assert fills.tobytes() == batch.fills.tobytes()
        assert np.concatenate([p.fill_market for p in parts]).tolist() == \
            batch.fill_market.tolist()
        closed = batch.trades["exit_reason"] != EXIT_OPEN
        trades = np.concatenate([p.trades for p in parts])
        assert trades.tobytes() == batch.trades[closed].tobytes()
        blocked = np.concatenate([p.blocked for p in parts])
        assert blocked.tobytes() == batch.blocked.tobytes()
        pos = np.concatenate([p.position for p in parts])
        for m in range(3):
            np.testing.assert_array_equal(pos[:, m], batch.per_market[m].position)


def test_a_state_of_another_shape_is_refused() -> None:
    al, sigs, cfgs = _setup(5)
    pf = PortfolioConfig(2)
    state = new_portfolio_state(cfgs, pf, 2)
    with pytest.raises(ConfigError, match="persisted state"):
        advance_portfolio(al, sigs, cfgs, pf, state, 0)


def test_the_persisted_state_stays_finite() -> None:
    # rank="signal" has no key at a market's first candle (no previous close): the state
    # keeps a finite stand-in (it is persisted as JSON), ranking that entry last
    p = np.full(4, 100.0)
    c = Candles(T0_MS + H * np.arange(4), p, p, p, p, np.ones(4))
    al = align([c, c], ["A/USDT", "B/USDT"])
    sig = Signals(np.array([True, False, False, False]), np.zeros(4, bool))
    pf = PortfolioConfig(2, rank="signal")
    cfg = EngineConfig(initial_capital=1000.0)
    step = advance_portfolio(al, [sig, sig], cfg, pf, new_portfolio_state(cfg, pf, 2), 0)
    assert np.isfinite(step.state).all()
    assert step.fill_market.tolist() == [0, 1]
