"""Cross-validated evaluation and the verdict on planted-signal and random-walk markets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.config import load_settings
from tradebot.core.errors import UsageError
from tradebot.ml.evaluate import (
    CVSettings,
    LabelSettings,
    buy_and_hold,
    classification_scores,
    cross_validate,
    make_dataset,
    make_labels,
    shifted_labels,
    trade_fold,
)
from tradebot.ml.features import build_features
from tradebot.ml.pipeline import ModelSettings
from tradebot.ml.verdict import EDGE, NO_EDGE, min_shuffles, permutation_p, verdict
from tradebot.services.backtest import engine_config
from tradebot.testing.markets import regime_market


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    return engine_config(load_settings(None, None, {}))


def _evaluate(candles: Candles, config, cv: CVSettings | None = None,  # type: ignore[no-untyped-def]
              label: LabelSettings | None = None, model: str = "logreg"):
    features = build_features(candles, "default")
    ds = make_dataset(features, make_labels(candles, label or LabelSettings(horizon=12)))
    return cross_validate(candles, features, ds, ModelSettings(model=model), cv or CVSettings(folds=3, shuffles=19),
                          config, seed=42)


def test_a_planted_signal_is_an_edge(config) -> None:  # type: ignore[no-untyped-def]
    cv = _evaluate(regime_market(4000, 1, planted=True), config)
    v = verdict(cv)
    assert v.verdict == EDGE, v.line()
    assert cv.mean_auc > 0.56
    summary = cv.summary()
    assert summary["shuffled"]["auc_max"] < cv.mean_auc
    assert cv.total_return > summary["buy_hold"]["return"]
    assert v.dsr is not None and v.dsr >= 0.95
    assert v.line().startswith("Verdict: edge (out of sample:")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_random_walk_is_no_evidence_of_edge(config, seed: int) -> None:  # type: ignore[no-untyped-def]
    cv = _evaluate(regime_market(4000, seed, planted=False), config)
    v = verdict(cv)
    assert v.verdict == NO_EDGE, v.line()
    assert v.reasons
    assert v.line().startswith("Verdict: no evidence of edge (out of sample:")


FORWARD = LabelSettings(horizon=12)
TRIPLE_BARRIER = LabelSettings(method="triple_barrier", horizon=24, profit=2.0, stop=1.0)


@pytest.mark.parametrize(("model", "label", "seed", "bars"), [
    ("logreg", FORWARD, 7, 3000), ("logreg", FORWARD, 8, 3000),
    ("logreg", TRIPLE_BARRIER, 7, 3000), ("logreg", TRIPLE_BARRIER, 8, 3000),
    ("rf", FORWARD, 7, 2000), ("rf", TRIPLE_BARRIER, 8, 2000),
], ids=["logreg-forward-7", "logreg-forward-8", "logreg-tb-7", "logreg-tb-8", "rf-forward-7", "rf-tb-8"])
def test_no_model_or_label_method_finds_an_edge_in_a_random_walk(  # type: ignore[no-untyped-def]
        config, model: str, label: LabelSettings, seed: int, bars: int) -> None:
    # the full grid with hgb (minutes per case) is tools/random_walk_verdicts.py
    cv = _evaluate(regime_market(bars, seed, planted=False), config, label=label, model=model)
    v = verdict(cv)
    assert len(cv.shuffles) == 19  # enough shuffled-label runs that an edge could have been found
    assert v.verdict == NO_EDGE, v.line()


def test_walk_forward_trains_on_the_past_only(config) -> None:  # type: ignore[no-untyped-def]
    candles = regime_market(3000, 4, planted=True)
    cv = _evaluate(candles, config, CVSettings(scheme="walk-forward", folds=3, shuffles=0))
    folds = cv.folds
    # consecutive test blocks at the end, each trained on everything before it (expanding)
    assert all(b.first_bar == a.last_bar + 1 for a, b in zip(folds, folds[1:], strict=False))
    assert folds[-1].last_bar == len(candles) - 1 - 12  # the last defined label
    assert [f.train_samples for f in folds] == sorted({f.train_samples for f in folds})
    assert folds[0].train_samples < folds[0].first_bar - 650  # warm-up rows and the purge gap left out
    assert len(cv.shuffles) == 0
    v = verdict(cv)
    assert v.verdict == NO_EDGE and any("cannot give p <= 0.05" in r for r in v.reasons)


def test_triple_barrier_labels_run_end_to_end(config) -> None:  # type: ignore[no-untyped-def]
    candles = regime_market(3000, 5, planted=True)
    cv = _evaluate(candles, config, CVSettings(folds=3, shuffles=2),
                   LabelSettings(method="triple_barrier", horizon=24, profit=2.0, stop=1.0))
    assert len(cv.folds) == 3
    assert all(0.0 <= f.scores["brier"] <= 1.0 for f in cv.folds)


def test_fold_trading_runs_through_the_engine_with_costs(config) -> None:  # type: ignore[no-untyped-def]
    candles = regime_market(500, 0, planted=False)
    bh = buy_and_hold(candles, 100, 399, config)
    # one entry filled at the next open, closed at the fold's last close, a taker fee each way
    gross = candles.close[399] / candles.open[101] - 1
    assert bh.trades == 1
    assert gross - 2.5 * config.taker_fee < bh.total_return < gross  # costs, sized by the settings
    # always flat: nothing happens; NaN probabilities are no signal
    flat = trade_fold(candles, 100, 399, np.full(300, np.nan), config, 0.55, 0.5)
    assert (flat.total_return, flat.trades) == (0.0, 0)
    assert np.all(flat.daily_returns == 0)
    # in and out every bar: the fees eat the capital
    churn = np.where(np.arange(300) % 2 == 0, 0.9, 0.1)
    busy = trade_fold(candles, 100, 399, churn, config, 0.55, 0.5)
    assert busy.trades > 100
    assert busy.total_return < -0.1


def test_classification_scores_match_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.2, 0.8, 0.6, 0.4, 0.3])
    s = classification_scores(y, p)
    assert s["auc"] == pytest.approx(roc_auc_score(y, p))
    assert s["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert math.isnan(classification_scores(np.ones(3, dtype=int), np.full(3, 0.6))["auc"])


def test_shifted_labels_keep_the_labels_and_break_the_pairing() -> None:
    y = (np.sin(np.arange(500) / 20) > 0).astype(int)
    rng = np.random.default_rng(0)
    shifts = set()
    for _ in range(20):
        z = shifted_labels(y, rng, 50)
        assert z.sum() == y.sum()
        k = next(k for k in range(500) if np.array_equal(np.roll(y, k), z))
        assert 50 <= k <= 450
        shifts.add(k)
    assert len(shifts) > 10


def test_permutation_p_and_its_floor() -> None:
    assert permutation_p(0.6, [0.5] * 19) == pytest.approx(0.05)
    assert permutation_p(0.6, [0.7] + [0.5] * 18) == pytest.approx(0.10)
    assert permutation_p(0.6, [math.nan] * 19) == 1.0  # undefined counts against the model
    assert permutation_p(math.nan, [0.5]) == 1.0
    assert min_shuffles() == 19


def test_bad_inputs_are_one_line_usage_errors() -> None:
    candles = regime_market(1000, 0, planted=False)
    with pytest.raises(UsageError, match="longer than the data"):
        make_labels(candles, LabelSettings(horizon=1000))
    with pytest.raises(UsageError, match="label method"):
        LabelSettings(method="sign")
    with pytest.raises(UsageError, match="cv must be"):
        CVSettings(scheme="shuffled")
    with pytest.raises(UsageError, match="folds"):
        CVSettings(folds=1)
    with pytest.raises(UsageError, match="thresholds"):
        CVSettings(enter=0.4, exit=0.5)
    features = build_features(candles, "default")  # 650 bars of warm-up
    with pytest.raises(UsageError, match="only .* bars have both settled features and a defined label"):
        make_dataset(features, make_labels(candles, LabelSettings(horizon=330)))
