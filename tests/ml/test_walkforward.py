"""Walk-forward prediction: out of sample end to end, purged, causal; an edge only where one is planted."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.engine.backtest import run_signals
from tradebot.engine.config import EngineConfig
from tradebot.ml.evaluate import LabelSettings, buy_and_hold, make_dataset, make_labels
from tradebot.ml.features import build_features
from tradebot.ml.pipeline import ModelSettings, fit_pipeline, positive_proba
from tradebot.ml.spec import load_spec
from tradebot.ml.walkforward import WalkForwardSettings, walk_forward
from tradebot.strategies.builtin.ml import MlStrategy
from tradebot.testing.markets import regime_market

SPEC = load_spec({"name": "trend", "features": [{"kind": "returns", "periods": [1, 6, 24]},
                                                {"kind": "volatility", "windows": [24]},
                                                {"kind": "sma_dist", "period": 48}]})
LABEL = LabelSettings(horizon=12)
MODEL = ModelSettings()  # logreg
COSTS = EngineConfig(slippage_bps=5.0)  # 0.1 % fee per side and 5 bps slippage


def _trade(candles: Candles, proba: np.ndarray, first: int) -> tuple[float, np.ndarray]:
    """Total return and daily returns of the ml strategy's signals over bars [first, n)."""
    from tradebot.analysis.metrics import daily_returns

    oos = candles.slice(first, len(candles))
    sig = MlStrategy().signals_from(oos, {"proba": proba[first:]})
    res = run_signals(oos, sig, COSTS)
    return float(res.equity[-1] / COSTS.initial_capital - 1.0), daily_returns(oos.timestamp, res.equity,
                                                                              COSTS.initial_capital)


def _auc(candles: Candles, proba: np.ndarray, first: int) -> float:
    from sklearn.metrics import roc_auc_score

    lab = make_labels(candles, LABEL).label[first:]
    p = proba[first:]
    ok = np.isfinite(lab) & np.isfinite(p)
    return float(roc_auc_score(lab[ok] > 0, p[ok]))


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_signal_walk_forward_beats_buy_and_hold_after_costs(seed: int) -> None:
    candles = regime_market(3000, seed, True)
    wf = walk_forward(candles, SPEC, LABEL, MODEL, 0, WalkForwardSettings())
    assert wf.first_test == 900 and wf.retrain_every == 210 and len(wf.blocks) == 10
    assert all(b.fitted for b in wf.blocks)
    assert np.isnan(wf.proba[:900]).all() and np.isfinite(wf.proba[900:]).all()
    ret, _ = _trade(candles, wf.proba, wf.first_test)
    bh = buy_and_hold(candles, wf.first_test, len(candles) - 1, COSTS).total_return
    assert ret > bh + 0.3, (ret, bh)
    assert _auc(candles, wf.proba, wf.first_test) > 0.58


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_driftless_random_walk_shows_no_edge(seed: int) -> None:
    candles = regime_market(3000, seed, False)
    wf = walk_forward(candles, SPEC, LABEL, MODEL, 0, WalkForwardSettings())
    assert 0.44 < _auc(candles, wf.proba, wf.first_test) < 0.56
    _, daily = _trade(candles, wf.proba, wf.first_test)
    t = daily.mean() / daily.std(ddof=1) * np.sqrt(daily.size)
    assert t < 1.645, t  # no significant positive Sharpe (5 %, one-sided)


def test_each_block_is_fitted_only_on_labels_known_before_it() -> None:
    candles = regime_market(1500, 3, True)
    settings = WalkForwardSettings(retrain_every=200, train_window=600, rolling=True)
    wf = walk_forward(candles, SPEC, LABEL, MODEL, 0, settings)
    features = build_features(candles, SPEC)
    ds = make_dataset(features, make_labels(candles, LABEL))
    assert [(b.first, b.stop, b.train_from) for b in wf.blocks] == \
        [(600, 800, 0), (800, 1000, 200), (1000, 1200, 400), (1200, 1400, 600), (1400, 1500, 800)]
    for b in wf.blocks:  # the slow, obvious way: select, fit, predict
        idx = np.flatnonzero((ds.t1 < b.first) & (ds.t0 >= b.train_from))
        assert b.samples == idx.size and ds.t1[idx].max() == b.first - 1  # purged: a label ending at first-1 is known
        w = ds.w[idx] * (idx.size / ds.w[idx].sum())
        fitted = fit_pipeline(MODEL, ds.columns, 0, ds.X[idx], ds.y[idx], w, ds.t0[idx], ds.t1[idx])
        want = positive_proba(fitted, features.values[b.first:b.stop])
        np.testing.assert_allclose(wf.proba[b.first:b.stop], want, rtol=0, atol=1e-12)


def test_changing_the_future_does_not_change_earlier_predictions() -> None:
    candles = regime_market(1500, 4, True)
    cut = 1000
    rng = np.random.default_rng(0)
    scale = np.ones(len(candles))
    scale[cut:] = np.exp(np.cumsum(0.02 * rng.standard_normal(len(candles) - cut)))
    other = Candles(candles.timestamp, candles.open * scale, candles.high * scale, candles.low * scale,
                    candles.close * scale, candles.volume[::-1].copy(), symbol="TEST/USDT", timeframe="1h")
    settings = WalkForwardSettings(retrain_every=100, train_window=500)
    a = walk_forward(candles, SPEC, LABEL, MODEL, 0, settings).proba
    b = walk_forward(other, SPEC, LABEL, MODEL, 0, settings).proba
    np.testing.assert_array_equal(a[:cut - 1], b[:cut - 1])  # volume reversed everywhere: not a feature here
    assert not np.allclose(a[cut + 50:], b[cut + 50:])


def test_bad_windows_are_refused() -> None:
    candles = regime_market(600, 0, True)
    with pytest.raises(UsageError, match="--train-window 600 bars leaves nothing to test on"):
        walk_forward(candles, SPEC, LABEL, MODEL, 0, WalkForwardSettings(train_window=600))
    with pytest.raises(UsageError, match="--retrain-every must be a number of bars"):
        WalkForwardSettings(retrain_every=-1)
    wf = walk_forward(candles, SPEC, LABEL, MODEL, 0, WalkForwardSettings(train_window=60, retrain_every=100))
    assert not wf.blocks[0].fitted and np.isnan(wf.proba[60:160]).all()  # too few samples: no signals
    assert wf.summary()["unfitted_blocks"] >= 1
