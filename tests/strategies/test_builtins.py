"""The built-in strategies: trades, no look-ahead, the DataFrame conveniences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradebot import indicators
from tradebot.core.candles import Candles
from tradebot.engine.backtest import run_strategy
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import BacktestResult
from tradebot.strategies.builtin.bollinger import BollingerStrategy
from tradebot.strategies.builtin.macd import MacdStrategy
from tradebot.strategies.builtin.rsi import RsiStrategy
from tradebot.strategies.registry import BUILTINS

N = 5000

STRATEGIES = [
    RsiStrategy(),
    RsiStrategy(period=7, lower=25, upper=80),
    MacdStrategy(),
    MacdStrategy(below_zero=True),
    BollingerStrategy(),
    BollingerStrategy(mode="breakout"),
    BollingerStrategy(exit_band="upper", std=1.5),
]
IDS = [repr(s) for s in STRATEGIES]

COLUMNS = {
    "rsi": {"rsi"},
    "macd": {"macd", "macd_signal", "macd_hist"},
    "bollinger": {"bb_upper", "bb_middle", "bb_lower"},
}


def random_frame(n: int = N, seed: int = 5) -> pd.DataFrame:
    """A random walk of ``n`` hourly candles (valid OHLC) with a UTC DatetimeIndex."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(0.003 * rng.standard_normal(n)))
    low = np.minimum(open_, close) * (1 - np.abs(0.003 * rng.standard_normal(n)))
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close,
         "volume": np.exp(rng.standard_normal(n))},
        index=pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="date"),
    )


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return random_frame()


def expected_last(sig, i: int) -> int:
    """What the signal at bar ``i`` means: 1 buy, -1 sell (exit long / enter short), 0."""
    if sig.entries[i]:
        return 1
    if sig.exits[i]:
        return -1
    if sig.short_entries.size and sig.short_entries[i]:
        return -1
    return 0


def test_the_first_builtins_are_covered_here():
    # the later built-ins have their own tests in test_new_strategies.py
    assert {s.name for s in STRATEGIES} == set(COLUMNS) <= set(BUILTINS)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_produces_trades_on_a_random_walk(df, strategy):
    res = strategy.backtest(df, 10_000)
    assert len(res.trades) >= 5, f"{strategy!r}: {len(res.trades)} trades"
    sig = strategy.signals(df)
    assert sig.entries.dtype == np.bool_ and sig.entries.shape == (N,)
    assert sig.exits.shape == (N,)
    if strategy.can_short:
        assert sig.short_entries.shape == sig.short_exits.shape == (N,)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_generate_signal_is_the_last_signal(df, strategy):
    full = strategy.signals(df)
    seen = set()
    # the last bar of many prefixes: covers buy, sell and hold
    for end in list(range(60, N, 37)) + [N]:
        got = strategy.generate_signal(df.iloc[:end])
        assert got == expected_last(full, end - 1), f"{strategy!r} at bar {end - 1}"
        seen.add(got)
    assert seen == {-1, 0, 1}
    assert strategy.generate_signal(df) == full.last() == expected_last(full, N - 1)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_no_look_ahead(df, strategy):
    full = strategy.signals(df)
    for end in (1, 30, 100, 1234, 2500, N - 1):
        part = strategy.signals(df.iloc[:end])
        for name in ("entries", "exits", "short_entries", "short_exits"):
            a, b = getattr(part, name), getattr(full, name)
            if b.size == 0:
                assert a.size == 0
                continue
            np.testing.assert_array_equal(a, b[:end], err_msg=f"{strategy!r} {name} @ {end}")


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_future_changes_do_not_move_past_signals(df, strategy):
    """Rewriting the second half of the history leaves the first half's signals alone."""
    other = df.copy()
    k = N // 2
    rng = np.random.default_rng(99)
    other.iloc[k:, :4] = other.iloc[k:, :4].to_numpy() * np.exp(
        0.05 * rng.standard_normal((N - k, 1)))
    a, b = strategy.signals(df), strategy.signals(other)
    np.testing.assert_array_equal(a.entries[:k], b.entries[:k])
    np.testing.assert_array_equal(a.exits[:k], b.exits[:k])


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_calculate_indicators_adds_columns(df, strategy):
    out = strategy.calculate_indicators(df)
    added = set(out.columns) - set(df.columns)
    assert added == COLUMNS[strategy.name]
    pd.testing.assert_frame_equal(out[df.columns], df)  # the input columns are untouched
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]  # a new frame
    assert out.index.equals(df.index)
    for col in added:
        assert out[col].notna().sum() > N - 100  # values after the warm-up


def test_indicator_values(df):
    close = df["close"].to_numpy()
    out = RsiStrategy(period=9).calculate_indicators(df)
    np.testing.assert_array_equal(out["rsi"].to_numpy(), indicators.rsi(close, 9))
    out = MacdStrategy(fast=5, slow=20, signal=4).calculate_indicators(df)
    line, sig, hist = indicators.macd(close, 5, 20, 4)
    np.testing.assert_array_equal(out["macd"].to_numpy(), line)
    np.testing.assert_array_equal(out["macd_hist"].to_numpy(), hist)
    out = BollingerStrategy(period=10, std=1.5).calculate_indicators(df)
    upper, middle, lower = indicators.bbands(close, 10, 1.5, 1.5)
    np.testing.assert_array_equal(out["bb_lower"].to_numpy(), lower)
    np.testing.assert_array_equal(out["bb_upper"].to_numpy(), upper)


def test_rsi_signal_rule(df):
    s = RsiStrategy()
    r = indicators.rsi(df["close"].to_numpy(), 14)
    sig = s.signals(df)
    np.testing.assert_array_equal(sig.entries, r < 30)
    np.testing.assert_array_equal(sig.exits, r > 70)
    assert not sig.entries[:14].any() and not sig.exits[:14].any()  # warm-up: no signal


@pytest.mark.parametrize("strategy", STRATEGIES, ids=IDS)
def test_backtest_returns_a_result(df, strategy):
    res = strategy.backtest(df, 10_000)
    assert isinstance(res, BacktestResult)
    assert res.initial_capital == 10_000
    assert res.equity.shape == res.position.shape == (N,)
    assert np.isfinite(res.equity).all()
    assert res.final_equity == res.equity[-1]
    # the same as the engine entry point with the default execution rules
    direct = run_strategy(Candles.from_frame(df), strategy, EngineConfig())
    np.testing.assert_array_equal(res.equity, direct.equity)
    # another capital scales an all-in long-only run exactly
    res2 = strategy.backtest(df, 20_000)
    np.testing.assert_allclose(res2.equity, 2 * res.equity, rtol=1e-12)


def test_backtest_with_config_keeps_the_given_capital(df):
    cfg = EngineConfig(allow_short=True, initial_capital=1.0, stop_loss_pct=2.0)
    res = MacdStrategy().backtest(df, 5_000, config=cfg)
    assert res.initial_capital == 5_000 and res.equity[0] == 5_000
    assert (res.trades["direction"] == -1).any()


def test_frame_with_timestamp_column(df):
    ts = (df.index.as_unit("ms").asi8).astype(np.int64)
    flat = df.reset_index(drop=True).assign(timestamp=ts)
    s = RsiStrategy()
    np.testing.assert_array_equal(s.signals(flat).entries, s.signals(df).entries)
    np.testing.assert_array_equal(s.backtest(flat).timestamp, ts)


def test_warmup_bars_are_positive():
    for s in STRATEGIES:
        assert s.warmup_bars > 0
