"""Ichimoku, support/resistance, volume profile, order flow and confluence strategies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradebot import indicators as ta
from tradebot.core.candles import Candles
from tradebot.core.errors import ParameterError
from tradebot.engine.backtest import run_strategy
from tradebot.engine.config import EngineConfig
from tradebot.exchanges.sim import sim_candles
from tradebot.strategies import orderflow_math as of
from tradebot.strategies.builtin.confluence import ConfluenceStrategy
from tradebot.strategies.builtin.ichimoku import IchimokuStrategy
from tradebot.strategies.builtin.order_flow import OrderFlowStrategy
from tradebot.strategies.builtin.support_resistance import SupportResistanceStrategy
from tradebot.strategies.builtin.volume_profile import VolumeProfileStrategy
from tradebot.strategies.lookahead import check_lookahead
from tradebot.strategies.registry import BUILTINS, Registry

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FILES = ("nautilus_BTC-PERP-1m.csv.gz", "freqtrade-testdata_BTC_USDT-5m.csv.gz",
         "octobot_Binance_BTC_USDT-4h.csv.gz")
NEW = ("ichimoku", "support_resistance", "volume_profile", "order_flow", "confluence")
VARIANTS = [
    IchimokuStrategy(), IchimokuStrategy(chikou=False, exit_on_cloud=False),
    SupportResistanceStrategy(), SupportResistanceStrategy(mode="breakout"),
    VolumeProfileStrategy(), VolumeProfileStrategy(mode="breakout", window=200, bins=40),
    OrderFlowStrategy(), OrderFlowStrategy(entry="divergence", cvd_window=0),
    OrderFlowStrategy(entry="delta"),
    ConfluenceStrategy(), ConfluenceStrategy(patterns="none", min_votes=3),
]


@pytest.fixture(scope="module")
def real() -> dict[str, Candles]:
    from tradebot.data.csv_io import read_candles_csv

    found = {f: read_candles_csv(DATA / f) for f in FILES if (DATA / f).is_file()}
    if not found:
        pytest.skip(f"real candles not found in {DATA} (the shared data folder is absent)")
    return found


@pytest.fixture(scope="module")
def sim() -> Candles:
    return sim_candles("BTC/USDT", "1h")


def test_registered_with_versions():
    reg = Registry()
    for name in NEW:
        assert name in BUILTINS
        info = reg.get(name)
        assert info.version == "1" and info.cls.name == name and info.description
        doc = info.cls.__doc__ or ""
        assert "ail" in doc  # says when it fails


@pytest.mark.parametrize("strategy", VARIANTS, ids=repr)
def test_trades_on_real_candles(real, strategy):
    counts = {f: len(run_strategy(c, strategy, EngineConfig()).trades) for f, c in real.items()}
    assert max(counts.values()) > 0, counts


@pytest.mark.parametrize("strategy", VARIANTS, ids=repr)
def test_no_lookahead_real_and_sim(real, sim, strategy):
    c = next(iter(real.values()))
    for candles in (c.slice(0, min(len(c), 6000)), sim.slice(0, 6000)):
        rep = check_lookahead(strategy, candles, points=8)
        assert rep.ok, (rep.leaking_indicators, rep.changes[:5])


@pytest.mark.parametrize("strategy", VARIANTS, ids=repr)
def test_indicators_exposed(sim, strategy):
    ind = strategy.compute_indicators(sim)
    assert ind and all(v.shape == (len(sim),) for v in ind.values())
    assert all(np.isfinite(v).sum() > len(sim) // 2 for v in ind.values())


@pytest.mark.parametrize(("cls", "values", "word"), [
    (IchimokuStrategy, {"tenkan": 30, "kijun": 26}, "tenkan < kijun"),
    (IchimokuStrategy, {"kijun": 60}, "kijun < senkou"),
    (IchimokuStrategy, {"tenkan": 1}, "out of range"),
    (IchimokuStrategy, {"chikou": "maybe"}, "not a boolean"),
    (SupportResistanceStrategy, {"mode": "fade"}, "not one of"),
    (SupportResistanceStrategy, {"left": 10, "right": 10, "lookback": 15}, "lookback"),
    (SupportResistanceStrategy, {"proximity": 0.5}, "out of range"),
    (VolumeProfileStrategy, {"value_area": 1.5}, "out of range"),
    (VolumeProfileStrategy, {"bins": "many"}, "not an integer"),
    (OrderFlowStrategy, {"entry": "x"}, "not one of"),
    (OrderFlowStrategy, {"lookback": 1}, "out of range"),
    (ConfluenceStrategy, {"macd_fast": 30}, "macd_slow"),
    (ConfluenceStrategy, {"rsi_oversold": 70}, "rsi_exit"),
    (ConfluenceStrategy, {"patterns": "none", "min_votes": 4}, "min_votes"),
    (ConfluenceStrategy, {"min_votes": 5}, "out of range"),
])
def test_parameter_validation(cls, values, word):
    with pytest.raises(ParameterError, match=word):
        cls(**values)
    with pytest.raises(ParameterError, match=cls.name):
        cls(**values)


@pytest.mark.parametrize("name", NEW)
def test_cli_show_lists_parameters(name, capsys):
    from tradebot.cli.app import main

    try:
        main(["strategies", "show", name])
    except SystemExit as e:
        assert not e.code
    out = capsys.readouterr().out
    assert name in out
    for pname in Registry().get(name).cls.params:
        assert pname in out


# -- ichimoku ---------------------------------------------------------------------------

def test_ichimoku_lines_match_a_numpy_reference(sim):
    h, lo, c = sim.high, sim.low, sim.close

    def mid(p):
        out = np.full(len(h), np.nan)
        for t in range(p - 1, len(h)):
            out[t] = (h[t - p + 1:t + 1].max() + lo[t - p + 1:t + 1].min()) / 2
        return out

    ind = IchimokuStrategy(tenkan=7, kijun=22, senkou=44, displacement=22).compute_indicators(sim)
    np.testing.assert_allclose(ind["tenkan"], mid(7), equal_nan=True)
    a = np.full(len(c), np.nan)
    a[22:] = ((mid(7) + mid(22)) / 2)[:-22]
    np.testing.assert_allclose(ind["senkou_a"], a, equal_nan=True)
    b = np.full(len(c), np.nan)
    b[22:] = mid(44)[:-22]
    np.testing.assert_allclose(ind["senkou_b"], b, equal_nan=True)
    np.testing.assert_array_equal(ind["chikou_ref"][22:], c[:-22])
    sig = IchimokuStrategy(tenkan=7, kijun=22, senkou=44, displacement=22).signals_from(sim, ind)
    assert (c[sig.entries] > ind["cloud_top"][sig.entries]).all()
    assert (c[sig.entries] > ind["chikou_ref"][sig.entries]).all()


# -- support / resistance ---------------------------------------------------------------

def test_levels_are_known_only_after_right_bars():
    high = np.array([1, 2, 5, 2, 1, 1, 1, 1, 1, 1], dtype=float) + 10
    low = high - 0.5
    close = high - 0.25
    ts = np.arange(10, dtype=np.int64) * 60_000
    candles = Candles(ts, close, high, low, close, np.ones(10))
    s = SupportResistanceStrategy(left=2, right=2, lookback=100, min_touches=1)
    res = s.compute_indicators(candles)["resistance"]
    # the swing high at bar 2 (15.0) is confirmed at bar 4
    assert np.isnan(res[:4]).all()
    assert res[4] == 15.0 and res[9] == 15.0
    res2 = s.compute_indicators(candles.slice(0, 4))["resistance"]
    np.testing.assert_array_equal(res2, res[:4])


def test_support_and_resistance_bracket_the_close(real):
    c = next(iter(real.values())).slice(0, 5000)
    ind = SupportResistanceStrategy().compute_indicators(c)
    s, r = ind["support"], ind["resistance"]
    ok = ~np.isnan(s)
    assert ok.mean() > 0.5 and (s[ok] <= c.close[ok]).all()
    ok = ~np.isnan(r)
    assert ok.mean() > 0.5 and (r[ok] > c.close[ok]).all()


# -- volume profile ---------------------------------------------------------------------

def slow_profile(high, low, close, volume, bins, va):
    """Reference: explicit bin edges, overlap by interval arithmetic, CBOT-style growth."""
    lo, hi = min(low), max(high)
    edges = [lo + (hi - lo) * k / bins for k in range(bins + 1)]
    hist = [0.0] * bins
    for h, lw, c, v in zip(high, low, close, volume, strict=True):
        if h > lw:
            for b in range(bins):
                ov = min(h, edges[b + 1]) - max(lw, edges[b])
                hist[b] += v * max(ov, 0.0) / (h - lw)
        else:
            hist[min(int((c - lo) / ((hi - lo) / bins)), bins - 1)] += v
    poc = max(range(bins), key=lambda b: (hist[b], -b))
    a = z = poc
    acc = hist[poc]
    while acc < va * sum(hist) and (a > 0 or z < bins - 1):
        up = hist[z + 1] if z < bins - 1 else -1
        down = hist[a - 1] if a > 0 else -1
        if up >= down:
            z, acc = z + 1, acc + up
        else:
            a, acc = a - 1, acc + down
    return (edges[poc] + edges[poc + 1]) / 2, edges[a], edges[z + 1]


def test_volume_profile_hand_made_case():
    # bins of width 1 over [0, 4]; volume: bin0 1, bin1 2+1, bin2 6+1, bin3 1
    high = np.array([1.0, 2.0, 3.0, 4.0, 3.0])
    low = np.array([0.0, 1.0, 2.0, 3.0, 1.0])
    close = np.array([0.5, 1.5, 2.5, 3.5, 2.0])
    volume = np.array([1.0, 2.0, 6.0, 1.0, 2.0])
    poc, val, vah = of.volume_profile(high, low, close, volume, window=5, bins=4, value_area=0.7)
    # total 12, POC bin 2 (7); 70% = 8.4: add bin 1 (3) -> 10 -> VA = [1, 3]
    assert (poc[4], val[4], vah[4]) == (2.5, 1.0, 3.0)
    assert np.isnan(poc[:4]).all()
    assert (poc[4], val[4], vah[4]) == pytest.approx(slow_profile(high, low, close, volume, 4, 0.7))


def test_volume_profile_matches_the_slow_reference(sim):
    c = sim.slice(0, 400)
    poc, val, vah = of.volume_profile(c.high, c.low, c.close, c.volume, 50, 12, 0.7)
    for t in range(49, 400, 17):
        w = slice(t - 49, t + 1)
        ref = slow_profile(c.high[w], c.low[w], c.close[w], c.volume[w], 12, 0.7)
        assert (poc[t], val[t], vah[t]) == pytest.approx(ref, rel=1e-12)
        assert val[t] <= poc[t] <= vah[t]


def test_volume_profile_flat_window():
    x = np.full(5, 10.0)
    poc, val, vah = of.volume_profile(x, x, x, np.ones(5), 3, 8)
    assert poc[4] == val[4] == vah[4] == 10.0


# -- order flow -------------------------------------------------------------------------

def slow_delta(high, low, close, volume):
    out = []
    for h, lw, c, v in zip(high, low, close, volume, strict=True):
        share = 0.5 if h == lw else (c - lw) / (h - lw)
        out.append(v * share - v * (1 - share))
    return np.array(out)


def test_estimated_delta_matches_a_slow_loop(sim):
    c = sim.slice(0, 2000)
    high = c.high.copy()
    high[5] = c.low[5]  # a bar without range: zero delta
    got = of.volume_delta(high, c.low, c.close, c.volume)
    np.testing.assert_allclose(got, slow_delta(high, c.low, c.close, c.volume), rtol=1e-12)
    assert got[5] == 0.0
    cvd = of.rolling_sum(got, 30)
    for t in (29, 100, 1999):
        assert cvd[t] == pytest.approx(got[t - 29:t + 1].sum(), rel=1e-9)
    assert np.isnan(cvd[:29]).all()
    np.testing.assert_array_equal(of.rolling_max(c.close, 5)[10], c.close[6:11].max())
    np.testing.assert_array_equal(of.rolling_min(c.close, 5)[10], c.close[6:11].min())


def test_real_buy_volume_path(sim):
    c = sim.slice(0, 3000)
    rng = np.random.default_rng(3)
    buy = c.volume * rng.uniform(0, 1, len(c))
    buy[7] = np.nan  # unknown for one bar: the estimate is used there
    delta = of.volume_delta(c.high, c.low, c.close, c.volume, buy)
    est = of.volume_delta(c.high, c.low, c.close, c.volume)
    np.testing.assert_allclose(np.delete(delta, 7), np.delete(2 * buy - c.volume, 7), rtol=1e-12)
    assert delta[7] == est[7]
    with pytest.raises(ValueError, match="buy_volume"):
        of.volume_delta(c.high, c.low, c.close, c.volume, buy[:10])

    with_buy = Candles(c.timestamp, c.open, c.high, c.low, c.close, c.volume, meta={"buy_volume": buy})
    s = OrderFlowStrategy()
    ind = s.compute_indicators(with_buy)
    np.testing.assert_array_equal(ind["of_delta"], delta)
    assert not np.array_equal(ind["of_delta"], s.compute_indicators(c)["of_delta"])
    ignored = OrderFlowStrategy(use_buy_volume=False).compute_indicators(with_buy)
    np.testing.assert_array_equal(ignored["of_delta"], est)
    assert check_lookahead(s, with_buy, points=6).ok  # meta is not sliced: taken from the start
    short = Candles(c.timestamp, c.open, c.high, c.low, c.close, c.volume, meta={"buy_volume": buy[:5]})
    with pytest.raises(ParameterError, match="buy_volume"):
        s.compute_indicators(short)


def test_order_flow_divergence_rule(sim):
    s = OrderFlowStrategy(entry="divergence", lookback=10)
    ind = s.compute_indicators(sim)
    sig = s.signals_from(sim, ind)
    assert sig.entries.any() and sig.exits.any()
    for t in np.flatnonzero(sig.entries)[:20]:
        lows = sim.low[t - 19:t + 1]
        assert sim.low[t] == lows[10:].min() < lows[:10].min()
        cvd = ind["of_cvd"][t - 19:t + 1]
        assert cvd[10:].min() > cvd[:10].min()
        assert sim.close[t] > sim.open[t]


def test_confluence_votes(sim):
    s = ConfluenceStrategy(min_votes=1, patterns="none")
    ind = s.compute_indicators(sim)
    sig = s.signals_from(sim, ind)
    rsi_low = ind["rsi"] < 35
    assert (sig.entries[rsi_low]).all()  # one vote is enough
    strict = ConfluenceStrategy(min_votes=3, patterns="none").signals_from(sim, ind)
    assert strict.entries.sum() < sig.entries.sum()
    np.testing.assert_array_equal(ind["rsi"], ta.rsi(sim.close, 14))


def test_confluence_candle_vote_is_skipped_without_the_library(sim, monkeypatch):
    import sys

    s = ConfluenceStrategy()
    with_lib = s.compute_indicators(sim)
    assert "candle_bullish" in with_lib and set(np.unique(with_lib["candle_bullish"])) <= {0.0, 1.0}
    assert "candle_bullish" not in ConfluenceStrategy(patterns="none").compute_indicators(sim)
    monkeypatch.setitem(sys.modules, "tradebot.indicators.candlestick", None)  # import fails
    without = s.compute_indicators(sim)
    assert "candle_bullish" not in without
    assert s.signals_from(sim, without).entries.sum() <= s.signals_from(sim, with_lib).entries.sum()
