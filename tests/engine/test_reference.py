"""The compiled engine equals the slow pure-Python reference on random cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slow_reference import RefConfig, run_reference

from tradebot.core.signals import Signals
from tradebot.engine.backtest import run_signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import TRADE_DTYPE

REL = 1e-9
EXACT_FIELDS = ("entry_idx", "exit_idx", "direction", "exit_reason")
FLOAT_FIELDS = ("units", "entry_price", "exit_price", "entry_fee", "exit_fee", "pnl",
                "return_pct")


def random_config(rng: np.random.Generator) -> EngineConfig:
    """Fees, slippage, latency, sizing, stops (SL, TP, both, trailing) and shorts at random."""
    def maybe(p: float, lo: float, hi: float) -> float | None:
        return float(rng.uniform(lo, hi)) if rng.random() < p else None

    sizing = "fixed_amount" if rng.random() < 0.35 else "fixed_fraction"
    size_value = (float(rng.uniform(500, 15_000)) if sizing == "fixed_amount"
                  else float(rng.choice([1.0, rng.uniform(0.1, 1.0)])))
    return EngineConfig(
        initial_capital=float(rng.choice([10_000.0, rng.uniform(100, 1e6)])),
        maker_fee=float(rng.choice([0.0, 0.0002, rng.uniform(0, 0.003)])),
        taker_fee=float(rng.choice([0.0, 0.001, rng.uniform(0, 0.005)])),
        slippage_bps=float(rng.choice([0.0, rng.uniform(0, 30)])),
        slippage_atr_mult=float(rng.choice([0.0, 0.0, rng.uniform(0, 0.3)])),
        atr_period=int(rng.integers(2, 20)),
        latency_bars=int(rng.integers(1, 4)),
        sizing=sizing,
        size_value=size_value,
        stop_loss_pct=maybe(0.5, 0.3, 4.0),
        take_profit_pct=maybe(0.5, 0.3, 5.0),
        trailing_stop_pct=maybe(0.35, 0.3, 4.0),
        allow_short=bool(rng.random() < 0.5),
    )


def random_signals(rng: np.random.Generator, n: int, shorts: bool) -> Signals:
    pe, px = rng.uniform(0.02, 0.4), rng.uniform(0.02, 0.4)
    entries = rng.random(n) < pe
    exits = rng.random(n) < px
    if not shorts:
        return Signals(entries, exits)
    return Signals(entries, exits, rng.random(n) < rng.uniform(0.02, 0.4),
                   rng.random(n) < rng.uniform(0.02, 0.4))


def assert_same(candles, signals: Signals, config: EngineConfig) -> None:
    res = run_signals(candles, signals, config)
    ref_trades, ref_equity = run_reference(
        candles.open, candles.high, candles.low, candles.close, signals.entries,
        signals.exits, signals.short_entries, signals.short_exits,
        RefConfig.from_engine(config),
    )
    assert res.trades.dtype == TRADE_DTYPE
    assert len(res.trades) == len(ref_trades), (
        f"{len(res.trades)} trades, reference {len(ref_trades)}; config {config}"
    )
    scale = config.initial_capital
    for i, (got, want) in enumerate(zip(res.trades, ref_trades, strict=True)):
        for f in EXACT_FIELDS:
            assert int(got[f]) == want[f], f"trade {i} field {f}: {got[f]} != {want[f]}; {config}"
        for f in FLOAT_FIELDS:
            # pnl can be ~0: an absolute floor proportional to the account size
            abs_tol = REL * scale if f in ("pnl", "exit_fee", "entry_fee") else 0.0
            if f == "return_pct":
                abs_tol = REL * 100
            assert math.isclose(float(got[f]), want[f], rel_tol=REL, abs_tol=abs_tol), (
                f"trade {i} field {f}: {got[f]!r} != {want[f]!r}; {config}"
            )
    np.testing.assert_allclose(res.equity, ref_equity, rtol=REL, atol=REL * scale)
    # the position held at each close is the one of the reference's open trade
    n = len(candles)
    held = np.zeros(n)
    for t in ref_trades:
        last = t["exit_idx"] + 1 if t["exit_reason"] == 4 else t["exit_idx"]
        held[t["entry_idx"]:last] = t["direction"] * t["units"]
    np.testing.assert_allclose(res.position, held, rtol=REL, atol=0)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(30, 400),
       sigma=st.sampled_from([0.002, 0.01, 0.03]))
def test_engine_equals_reference_random(h, seed, n, sigma):
    rng = np.random.default_rng(seed)
    candles = h.random_candles(rng, n, sigma=sigma, gap_prob=float(rng.uniform(0, 0.3)))
    config = random_config(rng)
    signals = random_signals(rng, n, shorts=rng.random() < 0.7)
    assert_same(candles, signals, config)


@pytest.mark.parametrize("seed", range(12))
def test_engine_equals_reference_fixed_seeds(h, seed):
    rng = np.random.default_rng(1000 + seed)
    n = 300
    candles = h.random_candles(rng, n, sigma=0.01, gap_prob=0.2)
    config = random_config(rng)
    signals = random_signals(rng, n, shorts=True)
    assert_same(candles, signals, config)


@pytest.mark.parametrize(
    "stops",
    [
        {"stop_loss_pct": 1.0},
        {"take_profit_pct": 1.0},
        {"stop_loss_pct": 1.0, "take_profit_pct": 1.5},
        {"trailing_stop_pct": 1.0},
        {"stop_loss_pct": 2.0, "take_profit_pct": 2.0, "trailing_stop_pct": 1.0},
    ],
)
@pytest.mark.parametrize("allow_short", [False, True])
@pytest.mark.parametrize("latency", [1, 2, 3])
def test_engine_equals_reference_stop_grid(h, stops, allow_short, latency):
    """Every stop combination, long and short, every latency, with slippage and ATR slippage."""
    rng = np.random.default_rng(7 + latency)
    n = 400
    candles = h.random_candles(rng, n, sigma=0.01, gap_prob=0.25)
    config = EngineConfig(taker_fee=0.001, maker_fee=0.0002, slippage_bps=5.0,
                          slippage_atr_mult=0.05, latency_bars=latency,
                          allow_short=allow_short, **stops)
    signals = random_signals(rng, n, shorts=True)
    res = run_signals(candles, signals, config)
    assert len(res.trades) > 5  # the case exercises something
    assert_same(candles, signals, config)


def test_stop_exits_actually_covered(h):
    """The random cases do hit every exit reason and both directions (sanity of the generator)."""
    reasons, directions = set(), set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        candles = h.random_candles(rng, 300, sigma=0.01, gap_prob=0.2)
        config = random_config(rng)
        res = run_signals(candles, random_signals(rng, 300, shorts=True), config)
        reasons |= set(res.trades["exit_reason"].tolist())
        directions |= set(res.trades["direction"].tolist())
    assert reasons == {0, 1, 2, 3, 4}
    assert directions == {1, -1}


def test_short_signals_ignored_without_allow_short(h):
    rng = np.random.default_rng(3)
    candles = h.random_candles(rng, 300)
    sig = random_signals(rng, 300, shorts=True)
    res = run_signals(candles, sig, EngineConfig(allow_short=False))
    assert (res.trades["direction"] == 1).all()
    longs_only = run_signals(candles, Signals(sig.entries, sig.exits), EngineConfig())
    np.testing.assert_array_equal(res.equity, longs_only.equity)


def grid_candles(h, rng: np.random.Generator, n: int):
    """Whole-number prices in a narrow band: stops and targets land exactly on highs,
    lows and opens (ties), and bars open exactly at the previous stop."""
    close = np.clip(100 + np.cumsum(rng.integers(-2, 3, n)), 80, 120).astype(float)
    open_ = np.concatenate([[100.0], close[:-1]])
    jump = rng.random(n) < 0.2
    open_[jump] += rng.integers(-3, 4, int(jump.sum()))
    high = np.maximum(open_, close) + rng.integers(0, 3, n)
    low = np.minimum(open_, close) - rng.integers(0, 3, n)
    return h.candles_from(open_, high, low, close)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 200),
       sl=st.sampled_from([None, 1.0, 2.0, 3.0]), tp=st.sampled_from([None, 1.0, 2.0, 4.0]),
       trail=st.sampled_from([None, 1.0, 2.0]), latency=st.integers(1, 3),
       allow_short=st.booleans())
def test_engine_equals_reference_on_price_ties(h, seed, n, sl, tp, trail, latency,
                                               allow_short):
    rng = np.random.default_rng(seed)
    candles = grid_candles(h, rng, n)
    config = EngineConfig(stop_loss_pct=sl, take_profit_pct=tp, trailing_stop_pct=trail,
                          latency_bars=latency, allow_short=allow_short, taker_fee=0.0,
                          maker_fee=0.0)
    assert_same(candles, random_signals(rng, n, shorts=True), config)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_histories(h, n):
    rng = np.random.default_rng(n)
    candles = h.random_candles(rng, n) if n else h.candles_from([], [], [], [])
    sig = Signals(np.ones(n, dtype=bool), np.zeros(n, dtype=bool))
    res = run_signals(candles, sig, EngineConfig())
    assert res.equity.shape == (n,)
    assert res.final_equity == (10_000.0 if n < 2 else res.equity[-1])
    assert len(res.trades) == (1 if n == 2 else 0)  # entry at open[1], still open
    if n:
        assert_same(candles, sig, EngineConfig())
