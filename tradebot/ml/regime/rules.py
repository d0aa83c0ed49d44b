"""The rule-based classifier: thresholds anyone can read, and a probability from their margins.

At bar ``t`` (features of :mod:`.features`, known at its close), in this order:

1. high volatility (4 names): the volatility's percentile ``vol_pct >= vol_pct_high``;
2. trending: ``adx >= adx_min`` or the efficiency ratio ``er >= er_min`` — up when the
   return over the trend horizon is positive, else down (2 names: always trending);
3. otherwise ranging.

The probability of each regime multiplies logistic margins of the same tests
(``σ((vol_pct − vol_pct_high) / 0.05)``, ``σ(max((adx − adx_min) / 5, (er − er_min) / 0.05))``,
``σ(z / 0.5)`` for the direction); a bar's probability is that of the regime the rules chose.
The rules use up to 4 names. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.ml.regime.features import RegimeFeatures
from tradebot.ml.regime.settings import RegimeSettings

MAX_RULE_REGIMES = 4


@dataclass(frozen=True)
class RegimeLabels:
    """Per bar: ``labels[t]`` an index into ``names`` (-1 during the warm-up), ``prob[t]`` its
    probability, ``probs[t, k]`` every regime's."""

    labels: np.ndarray  # int64
    prob: np.ndarray  # float64
    probs: np.ndarray  # (bars, regimes)
    names: tuple[str, ...]
    method: str
    lag: int

    def name_at(self, t: int) -> str | None:
        k = int(self.labels[t])
        return None if k < 0 else self.names[k]


def check_rules(settings: RegimeSettings) -> None:
    if settings.count > MAX_RULE_REGIMES:
        raise UsageError(f"the rule-based method knows at most {MAX_RULE_REGIMES} regimes (up, down, range, "
                         f"high volatility), got {settings.count}; use --method learned for more")


def _sig(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def classify_rules(features: RegimeFeatures, settings: RegimeSettings) -> RegimeLabels:
    check_rules(settings)
    s = settings
    n = features.values.shape[0]
    valid = features.valid()
    f = np.nan_to_num(features.values)
    col = {c: f[:, i] for i, c in enumerate(features.columns)}
    h = s.trend_horizon
    adx, er, pct, ret, z = col["adx"], col["er"], col["vol_pct"], col[f"ret_{h}"], col[f"z_{h}"]
    hv = pct >= s.vol_pct_high if s.has_high_vol else np.zeros(n, dtype=bool)
    trending = (adx >= s.adx_min) | (er >= s.er_min) if s.count >= 3 else np.ones(n, dtype=bool)
    up = ret > 0
    labels = np.where(up, 0, 1).astype(np.int64)
    if s.count >= 3:
        labels[~trending] = 2
    if s.has_high_vol:
        labels[hv] = s.count - 1
    labels[~valid] = -1
    p_hv = _sig((pct - s.vol_pct_high) / 0.05) if s.has_high_vol else np.zeros(n)
    p_tr = _sig(np.maximum((adx - s.adx_min) / 5.0, (er - s.er_min) / 0.05)) if s.count >= 3 else np.ones(n)
    p_up = _sig(z / 0.5)
    probs = np.zeros((n, s.count))
    probs[:, 0] = (1 - p_hv) * p_tr * p_up
    probs[:, 1] = (1 - p_hv) * p_tr * (1 - p_up)
    if s.count >= 3:
        probs[:, 2] = (1 - p_hv) * (1 - p_tr)
    if s.has_high_vol:
        probs[:, -1] = p_hv
    probs[~valid] = np.nan
    prob = np.full(n, np.nan)
    idx = np.flatnonzero(valid)
    prob[idx] = probs[idx, labels[idx]]
    return RegimeLabels(labels, prob, probs, s.names, "rules", s.lag)
