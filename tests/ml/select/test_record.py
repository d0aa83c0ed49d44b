"""The out-of-sample record against a slow per-window engine loop, the intent kernel against
plain Python, and the spliced signals' switching costs checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.config import load_settings
from tradebot.core.errors import UsageError
from tradebot.core.signals import Signals
from tradebot.engine.backtest import run_signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.step import advance, new_state
from tradebot.ml.select.candidates import FLAT_CANDIDATE, Candidate, candidate_signals
from tradebot.ml.select.intent_nb import intent_nb, intent_py
from tradebot.ml.select.record import (
    candidate_record,
    parse_window,
    spliced_signals,
    window_bounds,
    window_context,
)
from tradebot.services.context import Context
from tradebot.testing.markets import planted_regime_market

CANDIDATES = (FLAT_CANDIDATE, Candidate("macd", "macd", {}, "test"),
              Candidate("bb", "bollinger", {"period": 10, "std": 1.5}, "test"))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    return Context(load_settings(overrides={"home": str(tmp_path_factory.mktemp("home"))}, env={}))


@pytest.mark.parametrize("allow_short", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intent_kernel_matches_plain_python(seed: int, allow_short: bool) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    e, x, se, sx = (rng.random((4, n)) < 0.1)
    got = intent_nb(e, x, se, sx, allow_short)
    want = intent_py(e, x, se, sx, allow_short)
    assert got.tolist() == want.tolist()
    assert set(np.unique(got)) <= ({-1, 0, 1} if allow_short else {0, 1})
    assert (got == 1).any() and ((got == -1).any() == allow_short)


def test_record_matches_a_per_window_engine_loop(ctx: Context) -> None:
    """Each candidate advanced window by window with the step runner (the paper mode's loop
    from the persisted state): the window's return is equity at its last close over equity at
    the close before it."""
    candles, _ = planted_regime_market(1500, 3)
    config = EngineConfig(slippage_bps=5.0)
    rec = candidate_record(ctx, candles, CANDIDATES, 100, config)
    assert rec.returns.shape == (15, 3) and rec.bounds.shape == (15, 2)
    assert rec.names == ("flat", "macd", "bb")
    assert rec.starts_ms.tolist() == candles.timestamp[rec.bounds[:, 0]].tolist()
    for j, cand in enumerate(CANDIDATES):
        sig = candidate_signals(ctx, cand, candles)
        state = new_state(config)
        before = config.initial_capital
        for w, (start, end) in enumerate(rec.bounds):
            part = candles.slice(0, int(end))
            cut = Signals(sig.entries[:end], sig.exits[:end])
            step = advance(part, cut, config, state, int(start))
            state = step.state
            after = float(step.equity[-1])
            assert rec.returns[w, j] == pytest.approx(after / before - 1.0, rel=1e-12, abs=1e-15), (cand.name, w)
            before = after
    assert (rec.returns[:, 0] == 0).all()
    assert np.abs(rec.returns[:, 1:]).sum() > 0


def test_context_uses_only_bars_before_the_window(ctx: Context) -> None:
    candles, _ = planted_regime_market(1500, 3)
    bounds = window_bounds(len(candles), 100)
    ctx_full, cols = window_context(candles, bounds)
    assert "adx" in cols and "p_range" in cols and ctx_full.shape == (15, len(cols))
    assert np.isnan(ctx_full[0]).all()  # nothing before the first window
    w = 9
    start = int(bounds[w, 0])
    cut, _ = window_context(candles.slice(0, start), bounds[:w])  # the future removed
    np.testing.assert_array_equal(cut[w - 1], ctx_full[w - 1])
    # changing the candles from the window's first bar on leaves its context unchanged
    close = candles.close.copy()
    close[start:] *= 1.5
    changed = Candles(candles.timestamp, candles.open, np.maximum(candles.high, close),
                      candles.low, close, candles.volume, timeframe="1h")
    again, _ = window_context(changed, bounds)
    np.testing.assert_array_equal(again[w], ctx_full[w])


def test_windows_and_their_errors() -> None:
    assert parse_window("7d", "1h") == 168 and parse_window("12h", "5m") == 144 and parse_window("50", "1h") == 50
    assert window_bounds(10, 3).tolist() == [[0, 3], [3, 6], [6, 9]]
    for bad in ("7x", "0d", "1", "90m"):
        with pytest.raises(UsageError, match="--window"):
            parse_window(bad, "1h")
    with pytest.raises(UsageError, match="longer than the data"):
        window_bounds(10, 11)


def _flat_market(n: int) -> Candles:
    price = np.full(n, 100.0)
    ts = 1_704_067_200_000 + 3_600_000 * np.arange(n, dtype=np.int64)
    return Candles(ts, price, price, price, price, np.full(n, 1000.0), timeframe="1h")


def test_spliced_signals_pay_the_switching_costs() -> None:
    """Constant price 100, fee 0.1%, slippage 10 bps, all-in sizing. Candidate A is long from
    bar 0 on, B is flat. Windows of 4 bars."""
    n = 12
    candles = _flat_market(n)
    config = EngineConfig(taker_fee=0.001, maker_fee=0.001, slippage_bps=10.0)
    a = Signals(np.ones(n, bool), np.zeros(n, bool))
    b = Signals(np.zeros(n, bool), np.zeros(n, bool))
    bounds = window_bounds(n, 4)
    # A in every window: exactly A's own run (no switch, one entry)
    same = run_signals(candles, spliced_signals([a, b], np.array([0, 0, 0]), bounds), config)
    alone = run_signals(candles, a, config)
    np.testing.assert_array_equal(same.equity, alone.equity)
    # A, B, A: enter at bar 1's open (decided at bar 0's close), leave at bar 4's open (decided
    # at bar 3, the close before window 1), enter again at bar 8's open
    res = run_signals(candles, spliced_signals([a, b], np.array([0, 1, 0]), bounds), config)
    fills = res.fills
    assert fills["bar_idx"].tolist() == [1, 4, 8] and fills["side"].tolist() == [1, -1, 1]
    buy, sell = 100.0 * 1.001, 100.0 * 0.999  # 10 bps slippage against the trader
    units1 = 10_000.0 / (buy * 1.001)  # all of the equity, the entry fee included
    eq4 = units1 * sell * (1 - 0.001)
    units2 = eq4 / (buy * 1.001)
    assert fills["qty"].tolist() == pytest.approx([units1, units1, units2], rel=1e-12)
    assert res.equity[4] == pytest.approx(eq4, rel=1e-12)
    assert res.equity[-1] == pytest.approx(units2 * 100.0, rel=1e-12)
    # each switch cost a round trip's fees and slippage: about 0.4% of equity per round trip
    assert 1 - eq4 / 10_000.0 == pytest.approx(1 - (0.999 * 0.999) / (1.001 * 1.001), rel=1e-9)
    # B everywhere, or negative choices: never in the market
    none = run_signals(candles, spliced_signals([a, b], np.array([1, -1, 1]), bounds), config)
    assert none.fills.size == 0 and (none.equity == 10_000.0).all()


def test_spliced_follows_each_candidate_inside_its_window(ctx: Context) -> None:
    """Away from the switches, the selector's equity moves as the followed candidate's."""
    candles, _ = planted_regime_market(1200, 5)
    config = EngineConfig()
    sigs = [candidate_signals(ctx, c, candles) for c in CANDIDATES]
    bounds = window_bounds(len(candles), 200)
    choices = np.array([1, 1, 2, 2, 1, 0])
    res = run_signals(candles, spliced_signals(sigs, choices, bounds), config)
    alone = [run_signals(candles, s, config) for s in sigs]
    pos = np.sign(res.position)
    for w, (start, end) in enumerate(bounds):
        held = np.sign(alone[choices[w]].position[start + 1:end])
        assert (pos[start + 1:end] == held).all(), w
    assert (pos != 0).sum() > 100  # it did hold positions


def test_candidate_record_is_deterministic(ctx: Context) -> None:
    candles, _ = planted_regime_market(1000, 7)
    r1 = candidate_record(ctx, candles, CANDIDATES, 100, EngineConfig())
    r2 = candidate_record(ctx, candles, CANDIDATES, 100, EngineConfig())
    np.testing.assert_array_equal(r1.returns, r2.returns)
    np.testing.assert_array_equal(r1.context, r2.context)
