"""The probabilistic Sharpe ratio (Bailey & López de Prado, 2012), standard library only.

It lives here, not in :mod:`tradebot.optimize.overfit` (which re-exports it for the Deflated
Sharpe Ratio), so that every report can show it without importing scipy: the normal CDF is
``erfc``-based, accurate in both tails.
"""

from __future__ import annotations

import math
import operator
from typing import SupportsIndex

from tradebot.core.errors import UsageError

#: relative tolerance of the moment check (kurtosis >= 1 + skew²) against rounding
MOMENT_RTOL = 1e-9


def whole(value: object, minimum: int, what: str) -> int:
    """``value`` as an int >= ``minimum`` (bools and non-integral numbers are refused)."""
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise UsageError(f"{what} must be a whole number >= {minimum}, got {value!r}")
    n = operator.index(value)
    if n < minimum:
        raise UsageError(f"{what} must be a whole number >= {minimum}, got {n}")
    return int(n)


def normal_cdf(x: float) -> float:
    """Φ(x) of the standard normal distribution."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def probabilistic_sharpe_ratio(sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """Probability that the true Sharpe ratio exceeds ``sr_benchmark`` (PSR).

    ``Φ((sr − sr*)·√(n−1) / √(1 − skew·sr + (kurtosis − 1)/4·sr²))`` with per-period ``sr`` and
    ``sr_benchmark`` measured over ``n_obs`` returns of that skewness and **non-excess**
    kurtosis (normal: 0 and 3).

    NaN if any of the four ratios/moments is NaN or infinite. Raises :class:`UsageError` for
    ``n_obs < 2`` and for ``kurtosis < 1 + skew²``, which no distribution has (the usual cause
    is an excess kurtosis passed where the non-excess one is expected).
    """
    n = whole(n_obs, 2, "number of observations (n_obs)")
    sr, sr_benchmark, skew, kurtosis = float(sr), float(sr_benchmark), float(skew), float(kurtosis)
    if not all(math.isfinite(v) for v in (sr, sr_benchmark, skew, kurtosis)):
        return math.nan
    floor = 1.0 + skew * skew
    if kurtosis < floor * (1.0 - MOMENT_RTOL):
        raise UsageError(
            f"kurtosis {kurtosis:g} is below 1 + skew² = {floor:g}, which no distribution has: "
            "pass the non-excess kurtosis (3 for normal returns)"
        )
    diff = sr - sr_benchmark
    # >= (1 - skew·sr/2)² >= 0 when kurtosis >= 1 + skew²; only rounding can push it to 0.
    denom = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if denom <= 0.0:
        return 1.0 if diff > 0 else 0.0 if diff < 0 else 0.5
    return normal_cdf(diff * math.sqrt(n - 1) / math.sqrt(denom))
