"""Preprocessing pipelines and models by name: fitted on the training rows only, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.errors import ConfigError
from tradebot.ml.pipeline import (
    ModelSettings,
    QuantileClipper,
    build_pipeline,
    estimator_class,
    fit_pipeline,
    make_estimator,
    positive_proba,
)

COLUMNS = ("ret_1", "ret_4", "vol_24", "hour_sin", "hour_cos")


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, len(COLUMNS)))
    X[:, 3:] = np.clip(X[:, 3:], -1, 1)
    y = (X[:, 0] + 0.5 * rng.standard_normal(n) > 0).astype(np.int64)
    return X, y


def test_preprocessing_is_learned_from_the_training_rows_only() -> None:
    X, y = _data()
    train, test = np.arange(400), np.arange(400, 600)
    X = X.copy()
    X[test, 0] += 100.0  # the test rows live far away: nothing about them may leak into the fit
    pipe = build_pipeline(ModelSettings(clip_quantile=0.01), COLUMNS, seed=1).fit(X[train], y[train])
    numeric = pipe.named_steps["features"].named_transformers_["numeric"]
    clip, scale = numeric.named_steps["clip"], numeric.named_steps["scale"]
    np.testing.assert_allclose(clip.lower_, np.quantile(X[train][:, :3], 0.01, axis=0))
    np.testing.assert_allclose(clip.upper_, np.quantile(X[train][:, :3], 0.99, axis=0))
    clipped = np.clip(X[train][:, :3], clip.lower_, clip.upper_)
    np.testing.assert_allclose(scale.mean_, clipped.mean(axis=0))
    # the calendar columns pass through unscaled, the outliers of the test rows are clipped
    out = pipe.named_steps["features"].transform(X[test])
    np.testing.assert_array_equal(out[:, 3:], X[test][:, 3:])
    assert out[:, 0].max() <= (clip.upper_[0] - scale.mean_[0]) / scale.scale_[0] + 1e-12


def test_clipper_follows_the_sklearn_contract() -> None:
    from sklearn.base import clone

    c = QuantileClipper(0.1)
    assert clone(c).get_params() == {"q": 0.1}
    assert not hasattr(c, "lower_")  # learned state only after fit
    X = np.arange(20.0).reshape(10, 2)
    assert c.fit(X) is c
    assert c.transform(np.array([[-5.0, 50.0]])).tolist() == [[c.lower_[0], c.upper_[1]]]


def test_clipping_without_a_scaler_predicts() -> None:
    # scaler "none" leaves the clipper as the last step of the numeric pipeline; scikit-learn
    # then asks it for its estimator tags (this once failed at predict_proba)
    X, y = _data()
    pipe = fit_pipeline(ModelSettings(scaler="none"), COLUMNS, 1, X[:400], y[:400])
    p = positive_proba(pipe, X[400:])
    assert p.shape == (200,) and np.all((p > 0) & (p < 1))
    assert ((p > 0.5) == (y[400:] == 1)).mean() > 0.7  # it learned the planted column


@pytest.mark.parametrize("model", ["logreg", "rf", "hgb", "sklearn.tree:DecisionTreeClassifier"])
def test_models_by_name_get_class_weights_and_the_seed(model: str) -> None:
    est = make_estimator(ModelSettings(model=model), seed=123)
    params = est.get_params()
    assert params["class_weight"] == "balanced"
    assert params["random_state"] == 123
    from threadpoolctl import threadpool_limits

    X, y = _data()
    with threadpool_limits(limits=1):  # as in training (hgb's OpenMP threads are slow on a busy machine)
        a = positive_proba(fit_pipeline(ModelSettings(model=model), COLUMNS, 5, X[:400], y[:400]), X[400:])
        b = positive_proba(fit_pipeline(ModelSettings(model=model), COLUMNS, 5, X[:400], y[:400]), X[400:])
    np.testing.assert_array_equal(a, b)  # same seed, same data: the same predictions
    assert ((a >= 0) & (a <= 1)).all()


def test_class_weights_balance_a_rare_class() -> None:
    X, y = _data(2000)
    y = (X[:, 0] + np.random.default_rng(1).standard_normal(2000) > 1.8).astype(np.int64)  # about 10% up
    balanced = positive_proba(fit_pipeline(ModelSettings(), COLUMNS, 0, X, y), X)
    plain = positive_proba(fit_pipeline(ModelSettings(class_weight=None), COLUMNS, 0, X, y), X)
    assert plain.mean() == pytest.approx(y.mean(), abs=0.02)  # unweighted: the base rate
    assert balanced.mean() > plain.mean() + 0.2  # balanced: both classes count alike


@pytest.mark.parametrize(("model", "message"), [
    ("sklearn.nope:Foo", r"cannot import module 'sklearn.nope'"),
    ("sklearn.linear_model:Nope", r"has no class 'Nope'"),
    ("sklearn.preprocessing:StandardScaler", r"not a classifier"),
    ("svm", r"unknown model 'svm'"),
])
def test_a_model_that_does_not_import_is_one_config_error(model: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        estimator_class(model)
    assert "\n" not in str(e.value)


def test_unknown_parameters_and_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="has no parameter 'depth'"):
        make_estimator(ModelSettings(model="rf", params={"depth": 3}), 0)
    with pytest.raises(ConfigError, match="calibration"):
        ModelSettings(calibration="platt")
    with pytest.raises(ConfigError, match="pca"):
        ModelSettings(pca=0)
    with pytest.raises(ConfigError, match="pca: 9 components"):
        build_pipeline(ModelSettings(pca=9), COLUMNS, 0)


def test_pca_reduces_the_columns_after_scaling() -> None:
    X, y = _data()
    pipe = fit_pipeline(ModelSettings(pca=2), COLUMNS, 0, X, y)
    assert pipe.named_steps["pca"].n_components_ == 2
    assert pipe.named_steps["model"].coef_.shape == (1, 2)
    share = fit_pipeline(ModelSettings(pca=0.5), COLUMNS, 0, X, y).named_steps["pca"]
    assert 1 <= share.n_components_ < len(COLUMNS)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_on_a_purged_held_out_tail(method: str) -> None:
    from sklearn.calibration import CalibratedClassifierCV

    X, y = _data(1000)
    t0 = np.arange(1000)
    t1 = t0 + 30  # each label spans 30 bars: the 30 samples before the tail must be purged
    model = fit_pipeline(ModelSettings(calibration=method), COLUMNS, 0, X, y, t0=t0, t1=t1)
    assert isinstance(model, CalibratedClassifierCV)
    inner = model.calibrated_classifiers_[0].estimator.estimator  # the frozen pipeline
    # fitted on samples 0..769 (800 - 30 purged), calibrated on the last 200
    assert inner.named_steps["model"].n_features_in_ == len(COLUMNS)
    scaler = inner.named_steps["features"].named_transformers_["numeric"].named_steps["scale"]
    assert scaler.n_samples_seen_ == 770
    p = positive_proba(model, X)
    assert ((p >= 0) & (p <= 1)).all()
    # calibrated probabilities of a well-separated problem rank like the raw ones
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.8


def test_calibration_needs_both_classes_in_the_tail() -> None:
    X, y = _data(200)
    y[-60:] = 1
    with pytest.raises(ConfigError, match="held-out tail"):
        fit_pipeline(ModelSettings(calibration="sigmoid"), COLUMNS, 0, X, y)
