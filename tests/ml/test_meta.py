"""Meta-labelling on a built-in strategy: labels by the base strategy's own exit, the CV's gated
trading against the base strategy alone, an edge only where one is planted."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.core.signals import Signals
from tradebot.engine.backtest import run_signals
from tradebot.engine.config import EngineConfig
from tradebot.ml.evaluate import (
    CVSettings,
    LabelSettings,
    base_signals_of,
    cross_validate,
    make_dataset,
    make_labels,
)
from tradebot.ml.features import build_features
from tradebot.ml.labels import base_exit_labels
from tradebot.ml.meta import cost_per_side, gated_signals
from tradebot.ml.pipeline import ModelSettings
from tradebot.ml.spec import load_spec
from tradebot.ml.verdict import EDGE, NO_EDGE, verdict
from tradebot.ml.walkforward import WalkForwardSettings, walk_forward
from tradebot.strategies.builtin.ml import MlStrategy
from tradebot.testing.meta_market import META_SPEC, meta_market

from .conftest import random_candles

SPEC = load_spec(META_SPEC)
COSTS = EngineConfig(slippage_bps=5.0)  # 0.1 % fee per side and 5 bps slippage
LABEL = LabelSettings(method="meta", base="rsi", cost=cost_per_side(COSTS))


def _slow_labels(open_: np.ndarray, entries: np.ndarray, exits: np.ndarray, cost: float) -> np.ndarray:
    n = open_.size
    out = np.full(n, np.nan)
    for t in range(n):
        if not entries[t] or t + 1 >= n:
            continue
        for u in range(t + 1, n):
            if exits[u]:
                if u + 1 < n:
                    out[t] = float(open_[u + 1] * (1 - cost) > open_[t + 1] * (1 + cost))
                break
    return out


def test_base_exit_labels_equal_a_slow_loop() -> None:
    c = random_candles(400, seed=3)
    rng = np.random.default_rng(0)
    for p_entry, p_exit in ((0.1, 0.05), (0.3, 0.3), (0.05, 0.0), (0.0, 0.2)):
        entries, exits = rng.random(400) < p_entry, rng.random(400) < p_exit
        lab = base_exit_labels(c, entries, exits, 0.0015)
        np.testing.assert_array_equal(lab.label, _slow_labels(c.open, entries, exits, 0.0015))
        defined = ~np.isnan(lab.label)
        assert (lab.t1[defined] > np.flatnonzero(defined)).all() and (lab.t1[~defined] == -1).all()


def test_meta_settings_resolve_the_base_and_refuse_bad_input() -> None:
    s = LabelSettings(method="meta", base="rsi", base_params={"period": "10"})
    assert s.base_params == {"lower": 30.0, "period": 10, "upper": 70.0}  # every parameter, coerced
    d = s.to_dict()
    assert d["method"] == "meta" and d["base"] == "rsi" and d["base_params"]["period"] == 10
    with pytest.raises(UsageError, match="--base 'nosuch' is not a built-in strategy"):
        LabelSettings(method="meta", base="nosuch")
    with pytest.raises(UsageError, match="--base 'ml' is not a built-in strategy"):
        LabelSettings(method="meta", base="ml")
    with pytest.raises(UsageError, match="need a base strategy"):
        LabelSettings(method="meta")
    with pytest.raises(UsageError, match="period"):
        LabelSettings(method="meta", base="rsi", base_params={"period": "x"})
    with pytest.raises(UsageError, match="go with --label meta"):
        LabelSettings(method="forward", base="rsi")


def test_the_ml_strategy_trades_a_meta_model_as_its_base_filtered() -> None:
    base = Signals(np.array([1, 1, 0, 1, 0, 1], bool), np.array([0, 0, 1, 0, 1, 0], bool))
    p = np.array([0.7, 0.4, np.nan, np.nan, 0.9, 0.6])
    sig = MlStrategy(threshold=0.6, exit_threshold=0.5).signals_from(
        None, {"proba": p, "base_entries": base.entries, "base_exits": base.exits})  # type: ignore[arg-type]
    assert sig.entries.tolist() == [True, False, False, False, False, True]
    assert sig.exits.tolist() == base.exits.tolist()  # its own exits, not the probability's
    assert (gated_signals(base, p, 0.6).entries == sig.entries).all()


def _cv(candles: Candles, shuffles: int = 19) -> tuple[object, object]:
    features = build_features(candles, SPEC)
    ds = make_dataset(features, make_labels(candles, LABEL))
    base = base_signals_of(candles, LABEL)
    assert base is not None
    assert set(np.flatnonzero(base.entries)) >= set(ds.t0.tolist())  # signal bars only
    cv = cross_validate(candles, features, ds, ModelSettings(), CVSettings(folds=4, shuffles=shuffles), COSTS, 0,
                        base=base)
    return cv, verdict(cv)


def test_planted_winners_are_found_out_of_sample_and_beat_the_base_strategy_after_costs() -> None:
    candles = meta_market(90, seed=0)
    cv, v = _cv(candles)
    summary = cv.summary()  # type: ignore[attr-defined]
    assert summary["model"]["return"] > summary["base"]["return"] + 0.2, summary
    assert all("base_return" in f.to_dict() for f in cv.folds)  # type: ignore[attr-defined]
    assert v.verdict == EDGE, v.reasons  # type: ignore[attr-defined]
    # the walk-forward backtest the ml strategy runs: filtered beats the base alone, after costs
    wf = walk_forward(candles, SPEC, LABEL, ModelSettings(), 0, WalkForwardSettings())
    first = wf.first_test
    oos = candles.slice(first, len(candles))
    base = base_signals_of(candles, LABEL)
    assert base is not None
    part = Signals(base.entries[first:], base.exits[first:])
    filtered = run_signals(oos, gated_signals(part, wf.proba[first:], 0.55), COSTS)
    alone = run_signals(oos, part, COSTS)
    assert filtered.trades.shape[0] > 10
    gain, base_gain = filtered.equity[-1] / alone.equity[0], alone.equity[-1] / alone.equity[0]
    assert gain > 1.5 * base_gain and gain > 1.5, (gain, base_gain)


@pytest.mark.parametrize("seed", [0, 1])
def test_on_a_random_walk_the_meta_model_shows_no_edge(seed: int) -> None:
    _, v = _cv(random_candles(4000, seed=seed))
    assert v.verdict == NO_EDGE  # type: ignore[attr-defined]


def test_too_few_base_signals_is_one_clear_line() -> None:
    candles = random_candles(300, seed=1)
    with pytest.raises(UsageError, match="bars have both settled features and a defined label"):
        make_dataset(build_features(candles, SPEC), make_labels(candles, LABEL))
