"""The interpreted loop (tradebot.engine.interpreted) gives the compiled loop's results bit for bit.

A cron paper step with a few new bars runs the kernels' sources in the interpreter when
numba is not loaded; these tests replay histories both ways under every market-path and
risk configuration and compare every array byte for byte, and check that such a step does
not import numba.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import random_candles

from tradebot.core.signals import Signals
from tradebot.engine import interpreted, kernels, step
from tradebot.engine.backtest import atr_for, run_signals, volume_for
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import EXIT_OPEN

N = 1500
CONFIGS = {
    "default": EngineConfig(),
    "stops": EngineConfig(stop_loss_pct=2.0, take_profit_pct=3.0, trailing_stop_pct=1.5,
                          slippage_bps=5.0),
    "shorts_atr_slippage": EngineConfig(allow_short=True, slippage_atr_mult=0.1,
                                        stop_loss_pct=3.0, latency_bars=2),
    "fixed_amount": EngineConfig(sizing="fixed_amount", size_value=2500.0, maker_fee=0.0005),
    "fixed_risk_atr": EngineConfig(sizing="fixed_risk", risk_pct=2.0),
    "kelly": EngineConfig(sizing="kelly", min_trades=5, stop_loss_pct=2.0),
    "optimal_f": EngineConfig(sizing="optimal_f", min_trades=5, take_profit_pct=2.0),
    "day_limits": EngineConfig(max_trades_per_day=2, max_daily_loss=150.0),
    "breaker_flatten": EngineConfig(max_drawdown_pct=8.0, flatten_on_breaker=True,
                                    breaker_cooldown_bars=50, allow_short=True),
    "loss_cooldown_cap": EngineConfig(cooldown_after_losses=2, cooldown_bars=30,
                                      max_position_fraction=0.5, stop_loss_pct=1.0),
}


def _history(seed: int, shorts: bool):
    rng = np.random.default_rng(seed)
    candles = random_candles(rng, N, sigma=0.01)
    entries = rng.random(N) < 0.05
    exits = rng.random(N) < 0.05
    if shorts:
        return candles, Signals(entries, exits, rng.random(N) < 0.05, rng.random(N) < 0.05)
    return candles, Signals(entries, exits)


def _args(candles, signals, config):
    shorts = config.allow_short and signals.short_entries.size > 0
    none = np.zeros(0, dtype=np.bool_)
    return (np.ascontiguousarray(candles.timestamp, dtype=np.int64), candles.open, candles.high,
            candles.low, candles.close, volume_for(candles), atr_for(candles, config),
            np.ascontiguousarray(signals.entries, dtype=np.bool_),
            np.ascontiguousarray(signals.exits, dtype=np.bool_),
            np.ascontiguousarray(signals.short_entries, dtype=np.bool_) if shorts else none,
            np.ascontiguousarray(signals.short_exits, dtype=np.bool_) if shorts else none,
            config.to_vector())


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("seed", [1, 2])
def test_interpreted_simulation_equals_compiled_bit_for_bit(name: str, seed: int) -> None:
    config = CONFIGS[name]
    candles, signals = _history(seed, config.allow_short)
    args = _args(candles, signals, config)
    compiled = kernels.simulate(*args)
    python = interpreted.kernels().simulate(*args)
    assert compiled[1].shape[0] > 0  # trades happened
    for c, p in zip(compiled, python, strict=True):
        assert _same(np.asarray(c), np.asarray(p))


@pytest.mark.parametrize("name", ["default", "stops", "optimal_f", "day_limits",
                                  "breaker_flatten"])
def test_interpreted_steps_replay_the_backtest(name: str, monkeypatch) -> None:
    """Bar by bar through step.advance, interpreted, as a cron paper account would."""
    config = CONFIGS[name]
    candles, signals = _history(3, config.allow_short)
    expected = run_signals(candles, signals, config)
    monkeypatch.setattr(interpreted, "available", lambda params, n_bars: True)
    state = step.new_state(config)
    equity, trades = [], []
    for t in range(N):
        sig = Signals(signals.entries[: t + 1], signals.exits[: t + 1],
                      signals.short_entries[: t + 1], signals.short_exits[: t + 1])
        res = step.advance(candles.slice(0, t + 1), sig, config, state, t)
        state = res.state
        equity.append(res.equity)
        trades.append(res.trades)
    assert _same(np.concatenate(equity), expected.equity)
    closed = expected.trades[expected.trades["exit_reason"] != EXIT_OPEN]
    assert _same(np.concatenate(trades), closed)
    assert closed.shape[0] > 0


def test_a_few_bars_step_does_not_load_numba(tmp_path) -> None:
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from tradebot.core.candles import Candles
        from tradebot.core.signals import Signals
        from tradebot.engine import step
        from tradebot.engine.config import EngineConfig
        n = 50
        c = 100 + np.arange(n, dtype=np.float64)
        candles = Candles(1704067200000 + 60000 * np.arange(n, dtype=np.int64), c, c + 1,
                          c - 1, c, np.ones(n))
        sig = Signals(np.arange(n) % 7 == 0, np.arange(n) % 7 == 3)
        cfg = EngineConfig()
        res = step.advance(candles, sig, cfg, step.new_state(cfg), n - 1)
        print("numba" in sys.modules, len(res.equity))
    """)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("NUMBA_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "1"]


def test_matching_model_is_never_interpreted() -> None:
    params = dataclasses.replace(EngineConfig(), entry_order="limit").to_vector()
    assert not interpreted.available(params, 1)
