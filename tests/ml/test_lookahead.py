"""The feature look-ahead check: built-in specs pass; a planted future peek is caught."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.ml.feature_kinds import Param, register_feature, unregister_feature
from tradebot.ml.lookahead import check_feature_lookahead
from tradebot.ml.spec import builtin_specs, parse_spec

from .conftest import random_candles


@pytest.mark.parametrize("name", builtin_specs())
def test_every_builtin_spec_is_causal(name, sim):
    report = check_feature_lookahead(name, sim, points=12)
    assert report.ok, report.summary()
    assert report.cuts and "no look-ahead" in report.summary()


@pytest.fixture
def peeking_feature():
    """``close[t + shift] / close[t] - 1``: the next bars' return, known only in the future."""

    @register_feature("peek", params={"shift": Param("int", 1, 1, 10)},
                      columns=lambda p: [f"peek_{p['shift']}"], warmup=lambda p: 0)
    def _peek(candles, p):
        c = candles.close
        out = np.full(c.shape[0], np.nan)
        out[: -p["shift"]] = c[p["shift"]:] / c[: -p["shift"]] - 1
        return [out]

    yield "peek"
    unregister_feature("peek")


def test_planted_future_feature_is_caught(peeking_feature):
    candles = random_candles(600, seed=7)
    spec = parse_spec({"features": [{"kind": "rsi"}, {"kind": "peek", "shift": 2, "lags": [1]},
                                    {"kind": "returns"}]})
    report = check_feature_lookahead(spec, candles, points=10)
    assert not report.ok
    leaks = report.leaking_columns
    assert set(leaks) == {"peek_2", "peek_2_lag1"}  # the lag of a peek still peeks (one bar less)
    for change in report.changes:
        assert change.bar >= change.cut - 2 and change.bar < change.cut
        assert np.isnan(change.truncated) and np.isfinite(change.full)
    assert "peek_2 (from bar" in report.summary()


def test_wrapping_roll_is_caught_at_bar_zero():
    @register_feature("wrap", columns=lambda p: ["wrap"], warmup=lambda p: 0)
    def _wrap(candles, p):
        return [np.roll(candles.close, 1)]  # bar 0 gets the *last* close

    try:
        report = check_feature_lookahead({"features": [{"kind": "wrap"}]}, random_candles(300), points=6)
        assert report.leaking_columns == {"wrap": 0}
    finally:
        unregister_feature("wrap")


def test_understated_warmup_is_caught_on_the_newest_bar_path():
    import tradebot.indicators as ind

    @register_feature("ema_short_warmup", columns=lambda p: ["ema_sw"], warmup=lambda p: 30)
    def _ema(candles, p):
        return [ind.ema(candles.close, 30) / candles.close]

    try:
        report = check_feature_lookahead({"features": [{"kind": "ema_short_warmup"}]},
                                         random_candles(800, seed=2), points=8)
        assert not report.changes  # causal ...
        assert "ema_sw" in report.tail_mismatches  # ... but its newest-bar value is not settled
        assert not report.ok and "warm-up too short" in report.summary()
    finally:
        unregister_feature("ema_short_warmup")
