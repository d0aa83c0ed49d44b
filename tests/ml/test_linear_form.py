"""The light form of a linear pipeline: the pipeline's probabilities from plain arrays, no pickles."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.ml.evaluate import LabelSettings, make_dataset, make_labels
from tradebot.ml.features import build_features
from tradebot.ml.linear_form import LinearForm, convert
from tradebot.ml.pipeline import ModelSettings, fit_pipeline, positive_proba
from tradebot.ml.spec import load_spec
from tradebot.testing.markets import regime_market


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    candles = regime_market(1500, 0, True)
    features = build_features(candles, load_spec("default"))  # calendar columns pass through unscaled
    return make_dataset(features, make_labels(candles, LabelSettings()))


@pytest.mark.parametrize("settings", [ModelSettings(), ModelSettings(scaler="robust"),
                                      ModelSettings(clip_quantile=None), ModelSettings(params={"C": 10.0})])
def test_linear_pipelines_predict_the_same_from_arrays(data, settings: ModelSettings) -> None:  # type: ignore[no-untyped-def]
    pipe = fit_pipeline(settings, data.columns, 0, data.X, data.y, data.w)
    form = convert(pipe, len(data.columns))
    assert form is not None
    again = LinearForm.from_bytes(form.to_bytes())
    want = positive_proba(pipe, data.X)
    got = positive_proba(again, data.X)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert again.passthrough.size == 4 and again.numeric.size == len(data.columns) - 4
    with pytest.raises(ValueError, match="expected 41 feature columns"):
        again.predict_proba(data.X[:, :5])


@pytest.mark.parametrize("settings", [ModelSettings(pca=3), ModelSettings(calibration="sigmoid"),
                                      ModelSettings(model="rf", params={"n_estimators": 5})])
def test_other_pipelines_keep_scikit_learn(data, settings: ModelSettings) -> None:  # type: ignore[no-untyped-def]
    pipe = fit_pipeline(settings, data.columns, 0, data.X, data.y, data.w, data.t0, data.t1)
    assert convert(pipe, len(data.columns)) is None


def test_a_form_that_would_predict_differently_is_not_used(data) -> None:  # type: ignore[no-untyped-def]
    pipe = fit_pipeline(ModelSettings(), data.columns, 0, data.X, data.y, data.w)
    assert convert(pipe, len(data.columns)) is not None

    class Shifted:  # the same steps, but its probabilities are not the arrays' (a custom predict)
        named_steps = pipe.named_steps

        def predict_proba(self, X):  # type: ignore[no-untyped-def]
            p = pipe.predict_proba(X)
            return np.clip(p + 1e-6, 0, 1)

    assert convert(Shifted(), len(data.columns)) is None


def test_the_file_holds_no_pickles(data) -> None:  # type: ignore[no-untyped-def]
    import io
    import zipfile

    pipe = fit_pipeline(ModelSettings(), data.columns, 0, data.X, data.y, data.w)
    raw = convert(pipe, len(data.columns)).to_bytes()  # type: ignore[union-attr]
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        for name in z.namelist():
            head = z.read(name)[:128]
            assert b"'descr': '|O'" not in head  # no object arrays: nothing to unpickle
    with pytest.raises(ValueError):
        LinearForm.from_bytes(raw[:100])
