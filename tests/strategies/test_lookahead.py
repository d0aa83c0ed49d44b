"""The look-ahead checker: every built-in passes; a leaky strategy is caught and named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.exchanges.sim import sim_candles
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.lookahead import check_lookahead, cut_points
from tradebot.strategies.params import Param
from tradebot.strategies.registry import BUILTINS, Registry

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL = ("freqtrade-testdata_BTC_USDT-5m.csv.gz", "nautilus_BTC-PERP-1m.csv.gz",
        "octobot_Binance_BTC_USDT-4h.csv.gz")


class LeakyStrategy(Strategy):
    """Buys when the *next* close is higher: uses ``np.roll(close, -lag)``.

    ``sma2`` leaks too, more subtly: ``np.roll(close, 1)`` wraps the *last* close into
    bar 0."""

    name = "leaky"
    description = "peeks one bar ahead"
    params = {"lag": Param("int", 1, 1, 5)}

    def compute_indicators(self, candles: Candles) -> Indicators:
        c = candles.close
        return {"next_close": np.roll(c, -int(self.lag)), "sma2": (c + np.roll(c, 1)) / 2}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        up = ind["next_close"] > candles.close
        return Signals(entries=up, exits=~up)


class HonestLastBarStrategy(Strategy):
    """Uses only the past, but its signal at the last bar is of the truncated kind."""

    name = "honest"
    description = "close above the previous close"

    def compute_indicators(self, candles: Candles) -> Indicators:
        prev = np.full(len(candles), np.nan)
        prev[1:] = candles.close[:-1]
        return {"prev_close": prev}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        return Signals(entries=candles.close > ind["prev_close"],
                       exits=candles.close < ind["prev_close"])


#: built-ins that run without the store (``ml`` needs a registry model: tests/strategies/test_ml.py
#: checks it bound to a trained one)
SELF_CONTAINED = sorted(set(BUILTINS) - {"ml"})


@pytest.fixture(scope="module")
def sim() -> Candles:
    return sim_candles("BTC/USDT", "1h")


@pytest.fixture(scope="module")
def real() -> Candles:
    from tradebot.data.csv_io import read_candles_csv

    for f in REAL:
        if (DATA / f).is_file():
            return read_candles_csv(DATA / f)
    pytest.skip(f"real candles not found in {DATA} (the shared data folder is absent)")


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_every_builtin_passes_on_real_candles(real, name):
    strategy = Registry().create(name)
    rep = check_lookahead(strategy, real, points=12)
    assert rep.cuts and rep.ok, (rep.leaking_indicators, rep.changes[:5])
    assert rep.strategy == name and rep.bars == len(real)


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_every_builtin_passes_on_the_sim_market(sim, name):
    strategy = Registry().create(name)
    rep = check_lookahead(strategy, sim, points=12)
    assert rep.cuts and rep.ok, (rep.leaking_indicators, rep.changes[:5])


def test_leaky_strategy_is_caught_with_bars_and_indicator(sim):
    candles = sim.slice(0, 3000)
    rep = check_lookahead(LeakyStrategy(), candles, points=10)
    assert not rep.ok
    # the rolled value at the last bar of each cut is the wrapped-around first close;
    # sma2's bar 0 holds the last close of whatever history it is given
    assert rep.leaking_indicators == {"next_close": min(rep.cuts) - 1, "sma2": 0}
    # every changed signal is at the last bar of a cut, and is reported with that cut
    assert rep.changes
    last_bars = {k - 1 for k in rep.cuts}
    for ch in rep.changes:
        assert ch.bar in last_bars and ch.cut == ch.bar + 1
        assert ch.signal in ("entries", "exits")
        assert ch.timestamp_ms == int(candles.timestamp[ch.bar])
        assert ch.full != ch.truncated
    full = LeakyStrategy().signals_for(candles)
    for ch in rep.changes:
        assert getattr(full, ch.signal)[ch.bar] == ch.full


def test_leak_further_ahead_is_found_earlier_in_each_cut(sim):
    candles = sim.slice(0, 2000)
    rep = check_lookahead(LeakyStrategy(lag=3), candles, points=10)
    assert rep.leaking_indicators["next_close"] == max(min(rep.cuts) - 3, 0)
    assert {c.bar - c.cut for c in rep.changes} <= {-1, -2, -3}


def test_honest_strategy_passes_and_cuts_are_deterministic(sim):
    candles = sim.slice(0, 2000)
    rep = check_lookahead(HonestLastBarStrategy(), candles, points=15)
    assert rep.ok and not rep.changes and not rep.leaking_indicators
    assert rep.cuts == check_lookahead(HonestLastBarStrategy(), candles, points=15).cuts
    assert rep.cuts == cut_points(2000, 0, 15)


def test_cut_points_respect_the_warmup():
    cuts = cut_points(1000, 300, 20)
    assert cuts and min(cuts) >= 302 and max(cuts) <= 999
    assert cut_points(10, 50, 20) == []
