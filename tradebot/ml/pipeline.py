"""Preprocessing and models as scikit-learn pipelines, fitted on training folds only.

:func:`build_pipeline` returns an unfitted :class:`sklearn.pipeline.Pipeline`:

``ColumnTransformer`` (optional outlier clipping, then scaling, for the numeric features;
the calendar sin/cos columns, already in [-1, 1], pass through) → optional ``PCA`` → the
classifier. Every learned quantity (clip bounds, means, scales, components) is learned in
``fit``, so inside cross-validation it comes from the training fold alone. Rows whose
features are not settled (the spec's warm-up, NaN) are dropped before the pipeline sees
them (:func:`tradebot.ml.evaluate.make_dataset`): a scikit-learn step cannot drop rows.

Models by name (:data:`MODELS`): ``logreg``, ``rf``, ``hgb``, or any classifier by dotted
path ``module:Class`` (``sklearn.svm:SVC``); classes are weighted ``balanced`` where the
estimator takes ``class_weight``; ``random_state`` is set from the seed where it takes
one. :func:`fit_pipeline` optionally calibrates the probabilities (``sigmoid`` or
``isotonic``) on a held-out tail of the training fold, purged so no fitting label reaches
into the tail.

scikit-learn is imported inside functions only.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tradebot.core.errors import ConfigError

#: built-in model names → (dotted path, default parameters)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "logreg": ("sklearn.linear_model:LogisticRegression", {"C": 0.1, "solver": "newton-cholesky", "max_iter": 1000}),
    "rf": ("sklearn.ensemble:RandomForestClassifier",
           {"n_estimators": 200, "max_depth": 6, "min_samples_leaf": 50, "n_jobs": 1}),
    "hgb": ("sklearn.ensemble:HistGradientBoostingClassifier",
            {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 50,
             "early_stopping": False}),
}
SCALERS = ("standard", "robust", "none")
CALIBRATIONS = ("none", "sigmoid", "isotonic")
#: columns passed through unscaled (bounded calendar encodings)
PASSTHROUGH_SUFFIXES = ("_sin", "_cos")
#: share of the training fold held out (at its end) to calibrate probabilities
CALIBRATION_TAIL = 0.2


@dataclass(frozen=True)
class ModelSettings:
    """What to fit: a model (name or ``module:Class``), its parameters, the preprocessing."""

    model: str = "logreg"
    params: Mapping[str, Any] = field(default_factory=dict)
    scaler: str = "standard"
    clip_quantile: float | None = 0.005  # clip each column to [q, 1-q] of the training fold
    pca: float | int | None = None  # components (int) or explained variance share (float)
    calibration: str = "none"
    class_weight: str | None = "balanced"

    def __post_init__(self) -> None:
        if self.scaler not in SCALERS:
            raise ConfigError(f"scaler must be one of {', '.join(SCALERS)}, got {self.scaler!r}")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {self.calibration!r}")
        q = self.clip_quantile
        if q is not None and not (isinstance(q, int | float) and 0.0 < q < 0.5):
            raise ConfigError(f"clip quantile must be in (0, 0.5) or None, got {q!r}")
        p = self.pca
        if p is not None and (isinstance(p, bool) or not ((isinstance(p, int) and p >= 1)
                                                          or (isinstance(p, float) and 0.0 < p < 1.0))):
            raise ConfigError(f"pca must be a number of components >= 1 or a variance share in (0, 1), got {p!r}")
        if self.class_weight not in (None, "balanced"):
            raise ConfigError(f"class weight must be 'balanced' or None, got {self.class_weight!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = dict(self.params)
        d["estimator"] = estimator_path(self.model)
        return d


def estimator_path(model: str) -> str:
    """The dotted ``module:Class`` path of a model name (built-in names resolved)."""
    return MODELS[model][0] if model in MODELS else model


def estimator_class(model: str) -> type:
    """The estimator class of ``model``; :class:`ConfigError` (one line) if it does not import."""
    path = estimator_path(model)
    if ":" not in path:
        raise ConfigError(f"unknown model {model!r}: use one of {', '.join(MODELS)} or a dotted path "
                          "module:Class (e.g. sklearn.svm:SVC)")
    module_name, _, cls_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or anything the module raises while importing
        raise ConfigError(f"model {model!r}: cannot import module {module_name!r} "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    cls = getattr(module, cls_name, None) if cls_name else None
    if cls is None or not inspect.isclass(cls):
        raise ConfigError(f"model {model!r}: module {module_name!r} has no class {cls_name!r}")
    if not (hasattr(cls, "fit") and hasattr(cls, "predict_proba")):
        raise ConfigError(f"model {model!r}: {cls_name} is not a classifier with fit and predict_proba")
    return cls


def make_estimator(settings: ModelSettings, seed: int) -> Any:
    """An unfitted classifier: the model's defaults, the given parameters, class weights
    and ``random_state`` where the estimator takes them."""
    cls = estimator_class(settings.model)
    params: dict[str, Any] = dict(MODELS[settings.model][1]) if settings.model in MODELS else {}
    params.update(settings.params)
    try:
        accepted = set(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        accepted = set()
    if "class_weight" in accepted and "class_weight" not in settings.params:
        params["class_weight"] = settings.class_weight
    if "random_state" in accepted and "random_state" not in settings.params:
        params["random_state"] = int(seed)
    unknown = sorted(set(params) - accepted) if accepted else []
    if unknown:
        raise ConfigError(f"model {settings.model!r}: {cls.__name__} has no parameter {unknown[0]!r}")
    try:
        return cls(**params)
    except Exception as e:
        raise ConfigError(f"model {settings.model!r}: {cls.__name__}({params}) failed: {e}") from None


class QuantileClipper:
    """Clip each column to its ``[q, 1 - q]`` quantiles learned in ``fit`` (a scikit-learn
    transformer: ``fit`` stores ``lower_``/``upper_``, nothing else is learned)."""

    def __init__(self, q: float = 0.005) -> None:
        self.q = q

    def fit(self, X: Any, y: Any = None) -> QuantileClipper:
        a = np.asarray(X, dtype=np.float64)
        self.lower_, self.upper_ = np.quantile(a, [self.q, 1.0 - self.q], axis=0)  # one partition for both
        self.n_features_in_ = a.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.clip(np.asarray(X, dtype=np.float64), self.lower_, self.upper_)

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).transform(X)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"q": self.q}

    def set_params(self, **params: Any) -> QuantileClipper:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features, dtype=object)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's estimator tags (a Pipeline whose last step is this clipper asks for
        them, e.g. with ``scaler = "none"``); imported here so the module stays light."""
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags())


def build_pipeline(settings: ModelSettings, columns: Sequence[str], seed: int) -> Any:
    """The unfitted pipeline: preprocessing of ``columns`` (in this order) → PCA → model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import RobustScaler, StandardScaler

    estimator = make_estimator(settings, seed)
    passthrough = [i for i, c in enumerate(columns) if c.endswith(PASSTHROUGH_SUFFIXES)]
    numeric = [i for i in range(len(columns)) if i not in set(passthrough)]
    steps: list[tuple[str, Any]] = []
    if settings.clip_quantile is not None:
        steps.append(("clip", QuantileClipper(settings.clip_quantile)))
    if settings.scaler == "standard":
        steps.append(("scale", StandardScaler()))
    elif settings.scaler == "robust":
        steps.append(("scale", RobustScaler()))
    numeric_pipe: Any = Pipeline(steps) if steps else "passthrough"
    transformers: list[tuple[str, Any, list[int]]] = []
    if numeric:
        transformers.append(("numeric", numeric_pipe, numeric))
    if passthrough:
        transformers.append(("calendar", "passthrough", passthrough))
    outer: list[tuple[str, Any]] = [("features", ColumnTransformer(transformers, remainder="drop"))]
    if settings.pca is not None:
        n = settings.pca
        if isinstance(n, int) and n > len(columns):
            raise ConfigError(f"pca: {n} components requested, the spec has {len(columns)} columns")
        outer.append(("pca", PCA(n_components=n, random_state=int(seed))))
    outer.append(("model", estimator))
    return Pipeline(outer)


def _fit(pipe: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Any:
    if w is None:
        return pipe.fit(X, y)
    model = pipe.steps[-1][1]
    try:
        accepts = "sample_weight" in inspect.signature(model.fit).parameters
    except (TypeError, ValueError):
        accepts = False
    return pipe.fit(X, y, model__sample_weight=w) if accepts else pipe.fit(X, y)


def fit_pipeline(settings: ModelSettings, columns: Sequence[str], seed: int, X: np.ndarray, y: np.ndarray,
                 w: np.ndarray | None = None, t0: np.ndarray | None = None, t1: np.ndarray | None = None) -> Any:
    """Fit the pipeline on ``(X, y)`` (sample weights ``w`` where the model takes them).

    With calibration, the last :data:`CALIBRATION_TAIL` of the samples (in time order) are
    held out: the pipeline is fitted on the earlier samples whose label ends before the
    tail starts (``t1 < t0[tail]``, the purge) and the probabilities are calibrated on the
    tail (``CalibratedClassifierCV`` over the frozen pipeline).
    """
    pipe = build_pipeline(settings, columns, seed)
    if settings.calibration == "none":
        return _fit(pipe, X, y, w)
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    n = X.shape[0]
    start = n - max(1, int(round(n * CALIBRATION_TAIL)))
    t0 = np.arange(n) if t0 is None else np.asarray(t0)
    t1 = t0 if t1 is None else np.asarray(t1)
    head = np.flatnonzero((np.arange(n) < start) & (t1 < t0[start]))
    tail = np.arange(start, n)
    if head.size < 2 or np.unique(y[head]).size < 2 or np.unique(y[tail]).size < 2:
        raise ConfigError(f"calibration needs both classes before and in the held-out tail of "
                          f"{tail.size} training samples; use more data or calibration 'none'")
    _fit(pipe, X[head], y[head], None if w is None else w[head])
    cal = CalibratedClassifierCV(FrozenEstimator(pipe), method=settings.calibration)
    return cal.fit(X[tail], y[tail])


def positive_proba(model: Any, X: np.ndarray) -> np.ndarray:
    """P(label = 1) for each row of ``X`` (the column of class 1)."""
    proba = model.predict_proba(X)
    classes = list(getattr(model, "classes_", [0, 1]))
    if 1 not in classes:
        return np.zeros(X.shape[0])
    return np.asarray(proba[:, classes.index(1)], dtype=np.float64)
