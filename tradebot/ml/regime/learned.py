"""The learned classifier: a Gaussian mixture over standardised regime features, its
components mapped to stable names.

scikit-learn's ``GaussianMixture`` finds ``count`` clusters in an arbitrary order that
depends on the seed. :func:`name_components` orders them by what they mean, so a retrain
(another seed, more data) gives the same names to the same kind of market:

* with 4 or more names, the component with the highest mean log volatility is the last
  name (high volatility);
* the others by mean trend z-score (the return over the trend horizon in units of its
  chance volatility), highest first: the first is ``names[0]`` (up), the lowest
  ``names[1]`` (down), those between ``names[2:]`` (ranges), by decreasing z-score.

The mixture has diagonal covariances by default (``covariance`` setting): on the planted
market, full covariances sometimes spend a component on the shape of one regime and merge
two others (docs/decisions/0022-market-regimes.md).

A bar's probability is the mixture's posterior of the component mapped to its name.
scikit-learn is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.ml.regime.features import RegimeFeatures
from tradebot.ml.regime.rules import RegimeLabels
from tradebot.ml.regime.settings import RegimeSettings


def model_columns(settings: RegimeSettings) -> tuple[str, ...]:
    """The feature columns the mixture sees (``log_vol`` is ``log(vol)``)."""
    h = settings.horizons
    return (*[f"z_{x}" for x in h], "er", "log_vol", "vol_pct")


def model_matrix(features: RegimeFeatures, settings: RegimeSettings) -> np.ndarray:
    cols = []
    for c in model_columns(settings):
        if c == "log_vol":
            with np.errstate(divide="ignore", invalid="ignore"):
                cols.append(np.log(features.column("vol")))
        else:
            cols.append(features.column(c))
    x = np.column_stack(cols)
    x[~np.isfinite(x)] = np.nan
    return x


@dataclass(frozen=True)
class LearnedRegimes:
    """The fitted classifier (the registry artifact): scaler, mixture, component → name."""

    settings: dict[str, Any]
    columns: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    mixture: Any  # sklearn.mixture.GaussianMixture
    mapping: tuple[int, ...]  # mapping[component] = index into names
    component_means: tuple[tuple[float, ...], ...]  # per name: mean of each column (original units)

    @property
    def regime_settings(self) -> RegimeSettings:
        return RegimeSettings.from_dict(self.settings)


def name_components(z: np.ndarray, log_vol: np.ndarray, count: int, high_vol: bool) -> tuple[int, ...]:
    """``mapping[component]`` = the name index, from each component's mean trend z-score and
    mean log volatility (see the module docstring)."""
    order = list(range(count))
    mapping = [0] * count
    rest = order
    if high_vol:
        hv = int(np.argmax(log_vol))
        mapping[hv] = count - 1
        rest = [k for k in order if k != hv]
    by_z = sorted(rest, key=lambda k: -z[k])
    mapping[by_z[0]] = 0
    mapping[by_z[-1]] = 1
    for i, k in enumerate(by_z[1:-1]):
        mapping[k] = 2 + i
    return tuple(mapping)


def fit_learned(features: RegimeFeatures, settings: RegimeSettings, seed: int) -> LearnedRegimes:
    """Fit the mixture on every settled bar of ``features``."""
    from sklearn.mixture import GaussianMixture

    x = model_matrix(features, settings)
    ok = np.isfinite(x).all(axis=1)
    k = settings.count
    if ok.sum() < 20 * k:
        raise UsageError(f"a learned regime model of {k} regimes needs at least {20 * k} settled bars, "
                         f"the data has {int(ok.sum())} after the warm-up of {settings.warmup_bars}")
    xs = x[ok]
    mean, scale = xs.mean(axis=0), xs.std(axis=0)
    scale[scale == 0] = 1.0
    from threadpoolctl import threadpool_limits

    gm = GaussianMixture(n_components=k, covariance_type=settings.covariance, n_init=settings.components_init,
                         random_state=seed, reg_covar=1e-4, max_iter=300)
    with threadpool_limits(limits=1):  # one core: the same result, no oversubscription
        gm.fit((xs - mean) / scale)
    centres = gm.means_ * scale + mean  # (components, columns), original units
    cols = model_columns(settings)
    z = centres[:, cols.index(f"z_{settings.trend_horizon}")]
    mapping = name_components(z, centres[:, cols.index("log_vol")], k, settings.has_high_vol)
    by_name = [tuple(float(v) for v in centres[mapping.index(j)]) for j in range(k)]
    return LearnedRegimes(settings.to_dict(), cols, mean, scale, gm, mapping, tuple(by_name))


def classify_learned(model: LearnedRegimes, features: RegimeFeatures) -> RegimeLabels:
    s = model.regime_settings
    if features.warmup_bars != s.warmup_bars or any(c not in features.columns for c in model.columns
                                                     if c != "log_vol"):
        raise UsageError("regime features were built with other settings than the model's")
    x = model_matrix(features, s)
    ok = np.isfinite(x).all(axis=1)
    n, k = x.shape[0], s.count
    probs = np.full((n, k), np.nan)
    labels = np.full(n, -1, dtype=np.int64)
    prob = np.full(n, np.nan)
    if ok.any():
        post = model.mixture.predict_proba((x[ok] - model.mean) / model.scale)  # (rows, components)
        named = np.empty_like(post)
        named[:, list(model.mapping)] = post
        probs[ok] = named
        labels[ok] = np.argmax(named, axis=1)
        prob[ok] = named[np.arange(named.shape[0]), labels[ok]]
    return RegimeLabels(labels, prob, probs, s.names, "learned", s.lag)
