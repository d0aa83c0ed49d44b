"""The ml strategy: declared parameters, signals from probabilities, causal when bound to a model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradebot.core.errors import ParameterError, UsageError
from tradebot.ml.evaluate import LabelSettings, make_dataset, make_labels
from tradebot.ml.features import build_features
from tradebot.ml.model_use import UsableModel, check_market, spec_of_record
from tradebot.ml.pipeline import ModelSettings, fit_pipeline
from tradebot.ml.spec import load_spec
from tradebot.strategies.builtin.ml import MlStrategy
from tradebot.strategies.lookahead import check_lookahead
from tradebot.strategies.registry import Registry
from tradebot.testing.markets import regime_market

SPEC = load_spec("minimal")


def _record(**over: Any) -> dict[str, Any]:
    rec = {"name": "m", "version": 3, "artifact_sha256": "ab" * 32, "spec_name": SPEC.name,
           "spec_sha256": SPEC.sha256, "spec": SPEC.to_dict(), "columns": list(SPEC.columns),
           "exchange": "synth", "symbol": "TEST/USDT", "timeframe": "1h", "data_start_ms": 0,
           "data_end_ms": 10, "seed": 1, "label": {"method": "forward", "horizon": 12, "dead_zone": 0.0},
           "model": {**ModelSettings().to_dict()}, "verdict": "edge"}
    rec.update(over)
    return rec


@pytest.fixture(scope="module")
def model() -> UsableModel:
    candles = regime_market(1500, 0, True)
    features = build_features(candles, SPEC)
    ds = make_dataset(features, make_labels(candles, LabelSettings()))
    est = fit_pipeline(ModelSettings(), ds.columns, 0, ds.X, ds.y, ds.w)
    return UsableModel.from_record(_record(), est)


def test_registered_with_declared_tunable_thresholds() -> None:
    s = Registry().create("ml", {"model": "m:2", "threshold": "0.6", "exit_threshold": "0.45"})
    assert isinstance(s, MlStrategy)
    assert s.parameters["threshold"] == 0.6 and s.params["threshold"].kind == "float"
    assert s.params["threshold"].low == 0.5 and s.params["threshold"].high == 0.99
    with pytest.raises(ParameterError, match="exit_threshold=0.7 must not be above threshold=0.6"):
        Registry().create("ml", {"threshold": 0.6, "exit_threshold": 0.7})
    with pytest.raises(UsageError, match="strategy 'ml' needs model 'm:2' loaded from the registry"):
        s.signals_for(regime_market(100, 0, True))
    assert s.warmup_bars == 0


def test_signals_follow_the_thresholds() -> None:
    s = MlStrategy(threshold=0.6, exit_threshold=0.4)
    p = np.array([np.nan, 0.6, 0.59, 0.4, 0.39, 0.7])
    sig = s.signals_from(regime_market(6, 0, True), {"proba": p})
    assert sig.entries.tolist() == [False, True, False, False, False, True]
    assert sig.exits.tolist() == [False, False, False, False, True, False]


def test_bound_model_predicts_with_its_spec_and_passes_the_lookahead_check(model: UsableModel) -> None:
    candles = regime_market(1500, 7, True)
    s = MlStrategy(model="m:3", threshold=0.52, exit_threshold=0.48)
    s.bind(model)
    assert s.warmup_bars == SPEC.warmup_bars + 1
    proba = s.compute_indicators(candles)["proba"]
    assert np.isnan(proba[:SPEC.warmup_bars]).all() and np.isfinite(proba[SPEC.warmup_bars:]).all()
    tail = model.predict(candles, first=1200)  # paper predicts only its new bars: the same numbers
    np.testing.assert_allclose(tail[1200:], proba[1200:], rtol=0, atol=1e-12)
    assert np.isnan(tail[:1200]).all()
    assert model.predict(candles.slice(0, 100), strict=False).shape == (100,)
    with pytest.raises(UsageError, match="needs at least"):
        model.predict(candles.slice(0, 100))
    rep = check_lookahead(s, candles, points=8)
    assert rep.cuts and rep.ok, rep.changes[:3]
    sig = s.signals_for(candles)
    assert sig.entries.any() and sig.exits.any()


def test_market_and_record_checks(model: UsableModel) -> None:
    check_market(model, "TEST/USDT", "1h")
    with pytest.raises(UsageError, match="model m:3 was trained on TEST/USDT 1h; it cannot trade TEST/USDT 4h"):
        check_market(model, "TEST/USDT", "4h")
    with pytest.raises(UsageError, match="model m:3 was trained on TEST/USDT 1h; it cannot trade ETH/USDT 1h"):
        check_market(model, "ETH/USDT", "1h")
    assert spec_of_record(_record()).sha256 == SPEC.sha256
    wide = load_spec({"name": "wide", "timeframe": "1h", "features": [
        {"kind": "returns", "periods": [1, 4]}, {"kind": "rsi", "timeframe": "4h", "lags": [1]},
        {"kind": "returns", "periods": [1], "symbol": "ETH/USDT"}]})
    back = spec_of_record(_record(spec_name="wide", spec=wide.to_dict(), spec_sha256=wide.sha256))
    assert back.sha256 == wide.sha256 and back.symbols == ("ETH/USDT",) and back.columns == wide.columns
    with pytest.raises(UsageError, match="features changed since it was trained"):
        spec_of_record(_record(spec_sha256="0" * 64))
    assert model.overlaps(5, 20) and not model.overlaps(11, 20)
    assert model.label_settings() == LabelSettings() and model.model_settings() == ModelSettings()
