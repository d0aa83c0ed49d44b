"""Feature importance of a cross-validated model, out of sample.

Three measures, per feature and per group of correlated features:

* **MDA** (mean decrease in accuracy, permutation importance): on each test fold, the
  fold's fitted pipeline scores the fold's test rows (at most ``max_rows`` of them, a
  seeded subsample) with one feature's column permuted across rows; the importance is the
  rise of the log loss over the unpermuted log loss, averaged over ``n_repeats``
  permutations. The number shown is the mean over folds and its standard deviation over
  folds. Out of sample: no row a fold's model was fitted on is scored. ~0 (or below):
  the model does not use the feature out of sample.
* **Grouped MDA** (López de Prado's clustered feature importance): the features are
  clustered by correlation (hierarchical, average linkage, distance ``1 - |Spearman rho|``,
  cut at ``1 - threshold``, so members of a group are correlated at about ``threshold``
  or more) and each group's columns are permuted *together* (one permutation of rows for
  all of them). Plain MDA splits the credit of correlated features (permuting one copy
  leaves the other), the grouped MDA does not. The clustering uses the features of every
  sample, never the labels, so it leaks nothing into the scores.
* **MDI** (mean decrease in impurity) for tree models that expose
  ``feature_importances_`` (``rf``; not ``hgb``): mean over the folds' models, in-sample
  by construction (it measures the fit, not the prediction); a group's MDI is the sum of
  its members'. For a linear model (``logreg``), **|standardised coefficient|**:
  ``|coef| * sd`` of the column as the model sees it (after scaling, on the training
  fold). Neither exists with ``--pca`` (the model sees components, not features).

Deterministic: every permutation comes from ``numpy.random.default_rng([seed, fold,
...])``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tradebot.core.errors import UsageError

SCORING = "log_loss"


@dataclass(frozen=True)
class ImportanceSettings:
    n_repeats: int = 3  # permutations per feature (or group) and fold
    max_rows: int = 2000  # test rows scored per fold at most (a seeded subsample)
    threshold: float = 0.7  # |Spearman rho| at which features are grouped

    def __post_init__(self) -> None:
        if isinstance(self.n_repeats, bool) or not isinstance(self.n_repeats, int) or self.n_repeats < 1:
            raise UsageError(f"importance repeats must be an integer >= 1, got {self.n_repeats!r}")
        if isinstance(self.max_rows, bool) or not isinstance(self.max_rows, int) or self.max_rows < 10:
            raise UsageError(f"importance row cap must be an integer >= 10, got {self.max_rows!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise UsageError(f"importance correlation threshold must be in (0, 1], got {self.threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def feature_groups(X: np.ndarray, threshold: float = 0.7) -> list[list[int]]:
    """Column indices grouped by hierarchical clustering (average linkage) on the distance
    ``1 - |Spearman rho|`` cut at ``1 - threshold``; groups ordered by their first column.
    A constant column is uncorrelated with everything (a group of its own)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from scipy.stats import rankdata

    n = X.shape[1]
    if n == 1:
        return [[0]]
    ranks = rankdata(np.asarray(X, dtype=np.float64), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(ranks, rowvar=False)
    rho = np.nan_to_num(np.atleast_2d(rho), nan=0.0)
    dist = np.clip(1.0 - np.abs(rho), 0.0, 1.0)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    labels = fcluster(linkage(squareform(dist, checks=False), method="average"), t=1.0 - threshold + 1e-12,
                      criterion="distance")
    groups: dict[int, list[int]] = {}
    for i, g in enumerate(labels):
        groups.setdefault(int(g), []).append(i)
    return sorted(groups.values(), key=lambda m: m[0])


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _proba(fitted: Any, X: np.ndarray) -> np.ndarray:
    from tradebot.ml.pipeline import positive_proba

    return positive_proba(fitted, X)


def permutation_importance(fitted: Any, X: np.ndarray, y: np.ndarray, groups: Sequence[Sequence[int]],
                           rng: np.random.Generator, n_repeats: int) -> np.ndarray:
    """Rise of the log loss when each group's columns are permuted together (mean of
    ``n_repeats`` permutations), one value per group. The repeats are scored in one
    ``predict_proba`` call per group."""
    n = X.shape[0]
    base = _log_loss(y, _proba(fitted, X))
    out = np.empty(len(groups))
    for g, cols in enumerate(groups):
        stacked = np.tile(X, (n_repeats, 1))
        for r in range(n_repeats):
            perm = rng.permutation(n)
            stacked[r * n:(r + 1) * n, cols] = X[perm][:, cols]
        p = _proba(fitted, stacked)
        out[g] = np.mean([_log_loss(y, p[r * n:(r + 1) * n]) for r in range(n_repeats)]) - base
    return out


def _inner_pipeline(fitted: Any) -> Any:
    """The fitted preprocessing → model pipeline (under a calibration wrapper if any)."""
    inner = fitted
    for _ in range(3):
        if hasattr(inner, "named_steps"):
            return inner
        inner = getattr(inner, "estimator", None)
        if inner is None:
            return None
    return inner if hasattr(inner, "named_steps") else None


def _model_order(pipe: Any) -> list[int] | None:
    """Original column index of each column the model sees (None with PCA)."""
    if "pca" in pipe.named_steps:
        return None
    order: list[int] = []
    for name, _trans, cols in pipe.named_steps["features"].transformers_:
        if name != "remainder":
            order.extend(int(c) for c in cols)
    return order


def model_importance(fitted: Any, X_train: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """``("mdi", importances)`` for a model with ``feature_importances_``, ``("coef",
    |coef| * sd)`` for a linear model with one row of coefficients, else ``(None, None)``;
    in the original column order."""
    pipe = _inner_pipeline(fitted)
    if pipe is None:
        return None, None
    order = _model_order(pipe)
    if order is None:
        return None, None
    est = pipe.steps[-1][1]
    n = X_train.shape[1]
    values: np.ndarray | None = None
    kind: str | None = None
    fi = getattr(est, "feature_importances_", None)
    if fi is not None and np.shape(fi) == (len(order),):
        kind, values = "mdi", np.asarray(fi, dtype=np.float64)
    else:
        coef = getattr(est, "coef_", None)
        if coef is not None and np.shape(coef) == (1, len(order)):
            Z = pipe[:-1].transform(X_train)
            kind, values = "coef", np.abs(np.asarray(coef[0], dtype=np.float64)) * np.asarray(Z).std(axis=0)
    if values is None:
        return None, None
    out = np.full(n, np.nan)
    out[order] = values
    return kind, out


@dataclass(frozen=True)
class FoldImportance:
    mda: np.ndarray  # per feature
    grouped_mda: np.ndarray  # per group
    kind: str | None  # "mdi", "coef" or None
    model: np.ndarray | None  # per feature


def fold_importance(fitted: Any, X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                    groups: Sequence[Sequence[int]], settings: ImportanceSettings, seed: int,
                    fold: int) -> FoldImportance:
    """One fold's importance, on its test rows only (subsampled to ``max_rows``)."""
    rng = np.random.default_rng([int(seed), int(fold), 0x1A7])
    n = X_test.shape[0]
    if n > settings.max_rows:
        rows = np.sort(rng.choice(n, settings.max_rows, replace=False))
        X_test, y_test = X_test[rows], y_test[rows]
    singles = [[i] for i in range(X_test.shape[1])]
    mda = permutation_importance(fitted, X_test, y_test, singles, rng, settings.n_repeats)
    multi = [g for g in groups if len(g) > 1]
    grouped = mda[[g[0] for g in groups]].copy()  # a group of one: its feature's MDA
    if multi:
        gm = permutation_importance(fitted, X_test, y_test, multi, rng, settings.n_repeats)
        it = iter(gm)
        for j, g in enumerate(groups):
            if len(g) > 1:
                grouped[j] = next(it)
    kind, values = model_importance(fitted, X_train)
    return FoldImportance(mda, grouped, kind, values)


def _mean_sd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = a.mean(axis=0)
    sd = a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.full(a.shape[1:], np.nan)
    return mean, sd


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(float(x)) else None


def summarise(columns: Sequence[str], groups: Sequence[Sequence[int]], folds: Iterable[FoldImportance],
              settings: ImportanceSettings, seed: int) -> dict[str, Any]:
    """The record's ``importance``: per feature and per group, sorted by MDA (highest
    first), with the settings and how each measure was computed."""
    folds = list(folds)
    mda_m, mda_sd = _mean_sd(np.array([f.mda for f in folds]))
    gm_m, gm_sd = _mean_sd(np.array([f.grouped_mda for f in folds]))
    kinds = {f.kind for f in folds}
    kind = folds[0].kind if len(kinds) == 1 and folds and folds[0].kind else None
    model_m = model_sd = None
    if kind is not None:
        model_m, model_sd = _mean_sd(np.array([f.model for f in folds]))
    group_of = {i: j + 1 for j, g in enumerate(groups) for i in g}
    features = []
    for i, c in enumerate(columns):
        row: dict[str, Any] = {"feature": c, "group": group_of[i], "mda": _num(mda_m[i]), "mda_sd": _num(mda_sd[i])}
        if kind is not None and model_m is not None and model_sd is not None:
            row[kind] = _num(model_m[i])
            row[f"{kind}_sd"] = _num(model_sd[i])
        features.append(row)
    group_rows = []
    for j, g in enumerate(groups):
        row = {"group": j + 1, "members": [columns[i] for i in g], "mda": _num(gm_m[j]), "mda_sd": _num(gm_sd[j])}
        if kind is not None and model_m is not None:
            row[kind] = _num(float(np.nansum(model_m[list(g)])))
        group_rows.append(row)

    def key(r: dict[str, Any]) -> tuple[float, str]:
        return (-(r["mda"] if r["mda"] is not None else -math.inf), str(r.get("feature", r["group"])))

    features.sort(key=key)
    group_rows.sort(key=lambda r: (-(r["mda"] if r["mda"] is not None else -math.inf), r["group"]))
    return {
        "scoring": SCORING,
        "mda": ("permutation importance on each test fold's rows (out of sample): rise of the log loss "
                "when the column (or the group's columns together) is permuted; mean and sd over folds"),
        "grouping": (f"hierarchical clustering (average linkage) of 1 - |Spearman rho| over every sample's "
                     f"features (no labels), cut at |rho| {settings.threshold}"),
        "model_measure": {"mdi": "impurity importance of the folds' trees (in-sample; group: sum)",
                          "coef": "|coefficient| x sd of the scaled column (in-sample; group: sum)"}.get(kind or "",
                                                                                                        None),
        "model_measure_kind": kind,
        **settings.to_dict(), "seed": int(seed), "folds": len(folds),
        "features": features, "groups": group_rows,
    }
