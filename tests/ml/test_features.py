"""The feature matrix: values against independent computations, warm-up, the newest-bar path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tradebot.indicators as ind
from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError, UsageError
from tradebot.indicators import _backend
from tradebot.ml.feature_kinds import REGISTRY
from tradebot.ml.features import build_features, features_at_last_bar
from tradebot.ml.spec import load_spec, parse_spec

from .conftest import random_candles

KINDS = sorted(k for k in REGISTRY if k != "column")


def _one(kind: str, **params):
    return parse_spec({"features": [{"kind": kind, **params}]})


def test_default_spec_matrix_shape_and_warmup(sim):
    spec = load_spec("default")
    m = build_features(sim, spec)
    assert m.values.shape == (len(sim), len(spec.columns)) and m.values.dtype == np.float64
    assert m.values.flags.f_contiguous and m.columns == spec.columns and m.spec_hash == spec.sha256  # column-major
    assert np.isnan(m.values[: spec.warmup_bars]).all()
    assert m.valid_rows()[spec.warmup_bars:].all()  # sim data has no gaps: every settled row is finite
    assert len(spec.columns) >= 40
    frame = m.to_frame()
    assert list(frame.columns) == list(spec.columns) and frame.index.tz is not None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("talib", [True, False], ids=["talib", "fallback"])
def test_newest_bar_equals_whole_history_row(kind, talib, monkeypatch):
    """The paper/live path (a tail of warmup + 1 bars) gives the backtest's row, every kind."""
    if not talib:
        monkeypatch.setenv("TRADEBOT_TALIB", "0")
    _backend.talib_module.cache_clear()
    try:
        candles = random_candles(1500, seed=3)
        spec = _one(kind, lags=[1, 3])
        full = build_features(candles, spec)
        for stop in (spec.warmup_bars + 1, 900, 1500):
            part = candles.slice(0, stop)
            last = features_at_last_bar(part, spec)
            np.testing.assert_allclose(last, full.values[stop - 1], rtol=1e-7, atol=1e-10)
            assert np.isfinite(last).all(), (kind, stop)
    finally:
        monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
        _backend.talib_module.cache_clear()


def test_values_match_independent_computations():
    c = random_candles(500, seed=1)
    spec = parse_spec({"features": [
        {"kind": "returns", "periods": [1, 5]}, {"kind": "volatility", "windows": [10]},
        {"kind": "volume_z", "windows": [20]}, {"kind": "sma_dist", "period": 7},
        {"kind": "bbands", "period": 20, "nbdev": 2}, {"kind": "obv_slope", "period": 9},
        {"kind": "rsi", "period": 14}, {"kind": "atr", "period": 14},
    ]})
    m = build_features(c, spec, mask_warmup=False)
    col = {name: m.values[:, j] for j, name in enumerate(m.columns)}
    close = pd.Series(c.close)
    np.testing.assert_allclose(col["ret_5"], np.log(close / close.shift(5)), equal_nan=True, atol=1e-14)
    logret = np.log(close).diff()
    np.testing.assert_allclose(col["rvol_10"], logret.rolling(10).std(ddof=1), equal_nan=True, rtol=1e-9)
    lv = np.log1p(pd.Series(c.volume))
    z = (lv - lv.rolling(20).mean()) / lv.rolling(20).std(ddof=0)
    np.testing.assert_allclose(col["vol_z_20"], z, equal_nan=True, rtol=1e-8)
    np.testing.assert_allclose(col["sma_dist_7"], c.close / ind.sma(c.close, 7) - 1, equal_nan=True, rtol=1e-9)
    up, mid, lo = ind.bbands(c.close, 20, 2.0, 2.0)
    np.testing.assert_allclose(col["bb_pctb_20"][19:], ((c.close - lo) / (up - lo))[19:], rtol=1e-6)
    np.testing.assert_allclose(col["bb_width_20"][19:], ((up - lo) / mid)[19:], rtol=1e-6)
    obv = ind.obv(c.close, c.volume)
    vol9 = pd.Series(c.volume).rolling(9).sum().to_numpy()
    np.testing.assert_allclose(col["obv_slope_9"][9:], ((obv - np.roll(obv, 9)) / vol9)[9:], rtol=1e-9)
    np.testing.assert_allclose(col["rsi_14"], ind.rsi(c.close, 14), equal_nan=True)
    np.testing.assert_allclose(col["atr_14"], ind.atr(c.high, c.low, c.close, 14) / c.close, equal_nan=True)


def test_candle_shape_and_time_features():
    ts = np.array([1_704_067_200_000, 1_704_067_200_000 + 6 * 3_600_000 + 2 * 86_400_000], dtype=np.int64)
    c = Candles(ts, np.array([10.0, 10.0]), np.array([14.0, 10.0]), np.array([8.0, 10.0]),
                np.array([12.0, 10.0]), np.array([1.0, 1.0]))
    m = build_features(c, parse_spec({"features": [{"kind": "candle"}, {"kind": "time"}]}))
    body, upper, lower, rng, hs, hc, ds, dc = m.values[0]
    assert (body, upper, lower) == pytest.approx((2 / 6, 2 / 6, 2 / 6)) and rng == pytest.approx(np.log(14 / 8))
    assert (hs, hc, ds, dc) == pytest.approx((0.0, 1.0, 0.0, 1.0), abs=1e-12)  # Monday 00:00 UTC
    row = m.values[1]  # Wednesday 06:00: a flat bar has zero shape
    assert row[:4] == pytest.approx([0, 0, 0, 0])
    assert (row[4], row[5]) == pytest.approx((1.0, 0.0), abs=1e-12)  # a quarter of the day
    angle = 2 * np.pi * (2 + 0.25) / 7
    assert (row[6], row[7]) == pytest.approx((np.sin(angle), np.cos(angle)))


def test_lags_are_shifted_copies():
    c = random_candles(100)
    m = build_features(c, parse_spec({"features": [{"kind": "returns", "periods": [2], "lags": [3]}]}),
                       mask_warmup=False)
    assert m.columns == ("ret_2", "ret_2_lag3")
    np.testing.assert_array_equal(m.values[3:, 1], m.values[:-3, 0])
    assert np.isnan(m.values[:3, 1]).all()


def test_column_feature_reads_aligned_meta():
    c = random_candles(50)
    funding = np.linspace(-1, 1, 50)
    c = Candles(c.timestamp, c.open, c.high, c.low, c.close, c.volume, meta={"funding": funding})
    m = build_features(c, parse_spec({"features": [{"kind": "column", "name": "funding"}]}))
    np.testing.assert_array_equal(m.values[:, 0], funding)
    with pytest.raises(ConfigError, match="no per-bar column 'basis' \\(they have: funding\\)"):
        build_features(c, parse_spec({"features": [{"kind": "column", "name": "basis"}]}))


def test_too_little_history_is_a_clear_error():
    spec = load_spec("default")
    short = random_candles(spec.warmup_bars)
    with pytest.raises(UsageError) as e:
        build_features(short, spec)
    msg = str(e.value)
    assert f"needs at least {spec.warmup_bars + 1} bars" in msg and f"the data has {spec.warmup_bars}" in msg
    assert "adx_14 needs" in msg and "\n" not in msg
    with pytest.raises(UsageError, match="for the newest bar"):
        features_at_last_bar(short, spec)


def test_spec_can_be_given_by_name_path_or_dict(tmp_path):
    c = random_candles(400)
    by_name = build_features(c, "minimal")
    path = tmp_path / "m.toml"
    path.write_text(load_spec("minimal").to_toml())
    np.testing.assert_array_equal(build_features(c, path).values, by_name.values)
    np.testing.assert_array_equal(
        build_features(c, {"features": [{"kind": "rsi"}]}).values[:, 0],
        by_name.values[:, by_name.columns.index("rsi_14")])
