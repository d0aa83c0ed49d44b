"""Feature importance: MDA on the test folds, grouped MDA for correlated features, MDI."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.errors import UsageError
from tradebot.ml.cv import PurgedKFold
from tradebot.ml.importance import (
    ImportanceSettings,
    feature_groups,
    fold_importance,
    summarise,
)
from tradebot.ml.pipeline import ModelSettings, fit_pipeline

SIGNAL = 2  # the one informative column


def synthetic(n: int = 1500, seed: int = 0, copies: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Five independent standard normal columns; the label is the sign of column
    ``SIGNAL`` plus noise. ``copies``: a sixth column, an exact copy of the signal."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    y = (X[:, SIGNAL] + 0.5 * rng.standard_normal(n) > 0).astype(np.int64)
    cols = [f"noise_{i}" if i != SIGNAL else "signal" for i in range(5)]
    if copies:
        X = np.column_stack([X, X[:, SIGNAL]])
        cols.append("signal_copy")
    return X, y, cols


#: small models: the test is about importance, not about fitting well
FAST = {"rf": {"n_estimators": 40, "min_samples_leaf": 20}, "hgb": {"max_iter": 40}}


def cv_importance(X: np.ndarray, y: np.ndarray, cols: list[str], model: str = "logreg", seed: int = 1,
                  settings: ImportanceSettings | None = None) -> dict:
    from threadpoolctl import threadpool_limits

    settings = settings or ImportanceSettings()
    t = np.arange(len(y))
    groups = feature_groups(X, settings.threshold)
    folds = []
    with threadpool_limits(limits=1):  # as cross_validate
        for k, (train, test) in enumerate(PurgedKFold(3, t1=t, t0=t, embargo=0).split(X), 1):
            fitted = fit_pipeline(ModelSettings(model=model, params=FAST.get(model, {})), cols, seed, X[train],
                                  y[train])
            folds.append(fold_importance(fitted, X[train], X[test], y[test], groups, settings, seed, k))
    return summarise(cols, groups, folds, settings, seed)


def by_feature(imp: dict) -> dict[str, dict]:
    return {r["feature"]: r for r in imp["features"]}


@pytest.mark.parametrize("model", ["logreg", "hgb"])
def test_mda_ranks_the_signal_first_and_noise_near_zero(model: str) -> None:
    X, y, cols = synthetic()
    imp = cv_importance(X, y, cols, model)
    assert imp["features"][0]["feature"] == "signal"
    f = by_feature(imp)
    assert f["signal"]["mda"] > 0.2  # log loss rises a lot without it
    assert f["signal"]["mda"] > 5 * f["signal"]["mda_sd"]
    for c in cols:
        if c != "signal":
            assert abs(f[c]["mda"]) < 0.02, (c, f[c])
    assert imp["folds"] == 3 and imp["n_repeats"] == 3 and imp["scoring"] == "log_loss"
    # independent columns: every feature is a group of its own
    assert sorted(len(g["members"]) for g in imp["groups"]) == [1] * 5
    if model == "logreg":
        assert imp["model_measure_kind"] == "coef"
        assert max(f, key=lambda c: f[c]["coef"]) == "signal"
    else:  # hgb has no feature_importances_: MDA only
        assert imp["model_measure_kind"] is None and "mdi" not in f["signal"]


def test_correlated_copies_split_plain_mda_but_grouped_mda_puts_them_first() -> None:
    X, y, cols = synthetic(copies=True)
    imp = cv_importance(X, y, cols, "rf")
    f = by_feature(imp)
    grouped_top = imp["groups"][0]
    assert sorted(grouped_top["members"]) == ["signal", "signal_copy"]
    # each copy alone: the model still has the other, so plain MDA gives each a fraction of the group's
    for c in ("signal", "signal_copy"):
        assert f[c]["mda"] < 0.5 * grouped_top["mda"]
    assert grouped_top["mda"] > 0.2
    assert all(abs(g["mda"]) < 0.02 for g in imp["groups"][1:])
    # MDI for the forest: exists for every feature, sums to about 1, the two copies share it
    assert imp["model_measure_kind"] == "mdi"
    assert sum(r["mdi"] for r in imp["features"]) == pytest.approx(1.0, abs=1e-6)
    assert grouped_top["mdi"] == pytest.approx(f["signal"]["mdi"] + f["signal_copy"]["mdi"])
    assert grouped_top["mdi"] > 0.8


def test_feature_groups_threshold() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal(500)
    X = np.column_stack([a, a + 0.1 * rng.standard_normal(500), rng.standard_normal(500), -a ** 3,
                         np.ones(500)])
    assert feature_groups(X, 0.7) == [[0, 1, 3], [2], [4]]  # |rho| counts: -a^3 joins a
    assert feature_groups(X, 1.0) == [[0, 3], [1], [2], [4]]  # exact rank correlation only


def test_same_seed_same_numbers_other_seed_other_permutations() -> None:
    X, y, cols = synthetic(n=800, copies=True)
    a = cv_importance(X, y, cols, "rf", seed=5)
    assert a == cv_importance(X, y, cols, "rf", seed=5)
    assert a != cv_importance(X, y, cols, "rf", seed=6)


def test_row_cap_and_settings_are_checked() -> None:
    X, y, cols = synthetic(n=3000)
    capped = cv_importance(X, y, cols, settings=ImportanceSettings(n_repeats=1, max_rows=200))
    assert capped["max_rows"] == 200 and capped["features"][0]["feature"] == "signal"
    with pytest.raises(UsageError, match="repeats"):
        ImportanceSettings(n_repeats=0)
    with pytest.raises(UsageError, match="threshold"):
        ImportanceSettings(threshold=0.0)
