"""A fitted linear pipeline as plain arrays: predictions without importing scikit-learn.

Importing scikit-learn costs seconds (it imports SciPy's statistics and pandas), more than
the whole budget of a paper step (issue 11: 2 s, whole process). The default model is a
logistic regression behind quantile clipping and scaling: its predictions are a few array
operations. :func:`convert` reads those arrays out of a fitted pipeline of
:func:`tradebot.ml.pipeline.build_pipeline` (clip → standard/robust scaler → passthrough
calendar columns → ``LogisticRegression``) and returns ``None`` for anything else (PCA,
calibration, trees, other estimators), which keep the scikit-learn path. A conversion is
accepted only when its probabilities equal the pipeline's on probe rows (``atol`` 1e-12).

The form is stored as an ``.npz`` without pickles (``allow_pickle=False``): loading it runs
no code, and its sha256 is recorded in the store like the artifact's
(:mod:`tradebot.services.ml_models`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = 1
PROBE_ROWS = 256
ATOL = 1e-12


@dataclass(frozen=True, eq=False)
class LinearForm:
    """P(up) = expit(features → clip → (x - center) / scale → · coef + intercept)."""

    n_features: int
    numeric: np.ndarray  # int64: columns that are clipped and scaled, in the pipeline's order
    passthrough: np.ndarray  # int64: columns passed through (after the numeric ones)
    clip_lower: np.ndarray  # empty: no clipping
    clip_upper: np.ndarray
    center: np.ndarray  # empty: no centering
    scale: np.ndarray  # empty: no scaling
    coef: np.ndarray  # (1, k)
    intercept: np.ndarray  # (1,)

    #: what :func:`tradebot.ml.pipeline.positive_proba` reads
    classes_ = (0, 1)

    def predict_proba(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} feature columns, got shape {X.shape}")
        num = X[:, self.numeric]
        if self.clip_lower.size:
            num = np.clip(num, self.clip_lower, self.clip_upper)
        else:
            num = num.copy()
        if self.center.size:
            num -= self.center
        if self.scale.size:
            num /= self.scale
        z = np.hstack([num, X[:, self.passthrough]]) if self.passthrough.size else num
        d = (z @ self.coef.T + self.intercept).reshape(-1)
        p = _expit(d)
        return np.stack([1.0 - p, p], axis=1)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, format=np.int64(FORMAT), n_features=np.int64(self.n_features), numeric=self.numeric,
                 passthrough=self.passthrough, clip_lower=self.clip_lower, clip_upper=self.clip_upper,
                 center=self.center, scale=self.scale, coef=self.coef, intercept=self.intercept)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearForm:
        import zipfile

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                if int(z["format"]) != FORMAT:
                    raise ValueError(f"linear form format {int(z['format'])}, expected {FORMAT}")
                return cls(int(z["n_features"]), z["numeric"], z["passthrough"], z["clip_lower"],
                           z["clip_upper"], z["center"], z["scale"], z["coef"], z["intercept"])
        except (zipfile.BadZipFile, KeyError, OSError, EOFError) as e:
            raise ValueError(f"not a linear form ({type(e).__name__}: {e})") from None


def _expit(x: np.ndarray) -> np.ndarray:
    """The logistic function without SciPy (importing scipy.special alone costs ~0.5 s);
    equal to SciPy's within a few ulps, and :func:`convert` checks the result."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


def convert(pipe: Any, n_features: int, seed: int = 0) -> LinearForm | None:
    """The linear form of a fitted ``pipe`` over ``n_features`` columns, or None (see the
    module docstring)."""
    try:
        form = _convert(pipe, n_features)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None
    if form is None:
        return None
    rng = np.random.default_rng(seed)
    probe = rng.standard_normal((PROBE_ROWS, n_features)) * 3.0
    if form.clip_lower.size:  # also rows inside and beyond the clip bounds
        probe[:, form.numeric] = form.clip_lower + (form.clip_upper - form.clip_lower) * \
            rng.uniform(-0.5, 1.5, (PROBE_ROWS, form.numeric.size))
    try:
        want = np.asarray(pipe.predict_proba(probe), dtype=np.float64)
    except Exception:
        return None
    got = form.predict_proba(probe)
    if want.shape != got.shape or not np.allclose(got, want, rtol=0.0, atol=ATOL):
        return None
    return form


def _identity(trans: Any) -> bool:
    """A ``"passthrough"`` column group (fitted, scikit-learn holds an identity FunctionTransformer)."""
    if isinstance(trans, str):
        return trans == "passthrough"
    return type(trans).__name__ == "FunctionTransformer" and trans.func is None and trans.inverse_func is None


def _convert(pipe: Any, n_features: int) -> LinearForm | None:
    steps = dict(getattr(pipe, "named_steps", {}))
    if set(steps) != {"features", "model"}:
        return None  # PCA, or not our pipeline
    model = steps["model"]
    if type(model).__name__ != "LogisticRegression" or list(getattr(model, "classes_", [])) != [0, 1]:
        return None
    coef = np.asarray(model.coef_, dtype=np.float64)
    if coef.shape[0] != 1:
        return None
    ct = steps["features"]
    numeric = passthrough = np.zeros(0, dtype=np.int64)
    lower = upper = center = scale = _empty()
    for name, trans, cols in ct.transformers_:
        idx = np.asarray(cols, dtype=np.int64)
        if name == "numeric":
            numeric = idx
            if _identity(trans):
                continue
            parts = dict(trans.named_steps)
            if set(parts) - {"clip", "scale"}:
                return None
            if "clip" in parts:
                lower = np.asarray(parts["clip"].lower_, dtype=np.float64)
                upper = np.asarray(parts["clip"].upper_, dtype=np.float64)
            sc = parts.get("scale")
            if sc is not None:
                kind = type(sc).__name__
                if kind == "StandardScaler":
                    center = np.asarray(sc.mean_, dtype=np.float64) if sc.with_mean else _empty()
                    scale = np.asarray(sc.scale_, dtype=np.float64) if sc.with_std else _empty()
                elif kind == "RobustScaler":
                    center = np.asarray(sc.center_, dtype=np.float64) if sc.with_centering else _empty()
                    scale = np.asarray(sc.scale_, dtype=np.float64) if sc.with_scaling else _empty()
                else:
                    return None
        elif name == "calendar" and _identity(trans):
            passthrough = idx
        elif name == "remainder" and trans == "drop":
            continue
        else:
            return None
    if numeric.size + passthrough.size != coef.shape[1]:
        return None
    return LinearForm(int(n_features), numeric, passthrough, lower, upper, center, scale, coef,
                      np.asarray(model.intercept_, dtype=np.float64).reshape(1))
