"""sweep() equals one run_strategy per parameter set, whatever the number of threads."""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest

from tradebot.engine.backtest import run_strategy, sweep
from tradebot.engine.config import EngineConfig
from tradebot.strategies.builtin.bollinger import BollingerStrategy
from tradebot.strategies.builtin.macd import MacdStrategy
from tradebot.strategies.builtin.rsi import RsiStrategy

N_BARS = 20_000

# WORKLOAD.md section 4: period outermost, then lower, then upper
COMBOS = [
    {"period": p, "lower": lo, "upper": up}
    for p, lo, up in itertools.product([7, 10, 14, 21, 28], [20, 25, 30, 35],
                                       [65, 70, 75, 80, 85])
]


def one_by_one(h, candles, cls, sets, config):
    rows = []
    for values in sets:
        res = run_strategy(candles, cls(**values), config)
        rows.append((len(res.trades), res.final_equity, h.max_drawdown(res.equity)))
    return np.array(rows)


@pytest.fixture(scope="module")
def candles(h):
    return h.workload_candles(N_BARS)


@pytest.fixture
def threads():
    """Restore numba's thread count after the test."""
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)


def test_workload_sweep_equals_individual_runs(h, candles):
    assert len(COMBOS) == 100
    out = sweep(candles, RsiStrategy, COMBOS, EngineConfig())
    assert out.shape == (100, 3)
    want = one_by_one(h, candles, RsiStrategy, COMBOS, EngineConfig())
    np.testing.assert_array_equal(out[:, 0], want[:, 0])  # trades
    np.testing.assert_array_equal(out[:, 1], want[:, 1])  # final equity, exactly
    np.testing.assert_allclose(out[:, 2], want[:, 2], rtol=1e-15, atol=0)  # max dd
    assert len(set(out[:, 1].tolist())) > 50  # the combos do differ


@pytest.mark.parametrize(
    ("cls", "sets", "config"),
    [
        (RsiStrategy, COMBOS[::7],
         EngineConfig(allow_short=True, stop_loss_pct=0.5, take_profit_pct=0.8,
                      slippage_bps=2.0, slippage_atr_mult=0.1, latency_bars=2,
                      maker_fee=0.0002)),
        (MacdStrategy, [{"fast": f, "slow": s, "signal": g}
                        for f, s, g in [(12, 26, 9), (5, 35, 5), (8, 21, 9), (12, 26, 4)]],
         EngineConfig(allow_short=True, trailing_stop_pct=0.4, sizing="fixed_amount",
                      size_value=2500.0)),
        (BollingerStrategy, [{"period": p, "std": s, "mode": m}
                             for p in (10, 20) for s in (1.5, 2.0)
                             for m in ("reversion", "breakout")],
         EngineConfig(take_profit_pct=0.3, size_value=0.5)),
    ],
    ids=["rsi-shorts-stops", "macd-trailing-fixed-amount", "bollinger"],
)
def test_sweep_with_other_configs_equals_individual_runs(h, candles, cls, sets, config):
    out = sweep(candles, cls, sets, config)
    want = one_by_one(h, candles, cls, sets, config)
    np.testing.assert_array_equal(out[:, :2], want[:, :2])
    np.testing.assert_allclose(out[:, 2], want[:, 2], rtol=1e-15, atol=0)


def test_sweep_independent_of_thread_count(candles, threads):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba was started with a single thread")
    config = EngineConfig(allow_short=True, stop_loss_pct=1.0)
    numba.set_num_threads(1)
    one = sweep(candles, RsiStrategy, COMBOS, config)
    numba.set_num_threads(2)
    two = sweep(candles, RsiStrategy, COMBOS, config)
    np.testing.assert_array_equal(one, two)
    numba.set_num_threads(1)
    again = sweep(candles, RsiStrategy, COMBOS[::-1], config)
    np.testing.assert_array_equal(again[::-1], one)


def test_empty_and_single_sweeps(candles):
    out = sweep(candles, RsiStrategy, [{}], EngineConfig())
    res = run_strategy(candles, RsiStrategy(), EngineConfig())
    assert out.shape == (1, 3)
    assert out[0, 0] == len(res.trades) and out[0, 1] == res.final_equity


def test_workload_sweep_on_100k_contains_the_reference_answer(h):
    """WORKLOAD.md section 4 on the 100k file; combo (14, 30, 70) is the section 5 answer."""
    out = sweep(h.workload_candles(100_000), RsiStrategy, COMBOS, EngineConfig())
    i = COMBOS.index({"period": 14, "lower": 30, "upper": 70})
    assert out[i, 0] == 352
    assert out[i, 1] == pytest.approx(6_932.961870, abs=5e-7)
    assert out[i, 2] * 100 == pytest.approx(34.4428, abs=5e-5)


def test_max_drawdown_matches_numpy_reference():
    from tradebot.engine.backtest import max_drawdown

    rng = np.random.default_rng(7)
    for n in (1, 2, 50, 5000):
        eq = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        ref = float((1.0 - eq / np.maximum.accumulate(eq)).max())
        assert max_drawdown(eq) == pytest.approx(ref, rel=1e-12, abs=1e-15)
    assert max_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0
    assert max_drawdown(np.array([4.0, 1.0, 8.0, 2.0])) == pytest.approx(0.75)
