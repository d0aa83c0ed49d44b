"""How sure a report's headline numbers are: the probabilistic Sharpe ratio and block-bootstrap
confidence intervals of daily returns.

Conventions
-----------
* Input is the run's **daily** returns (fractions; the same series ``analysis.metrics`` uses
  for the Sharpe ratio) and, optionally, whether each day met the daily profit target.
* **PSR** (Bailey & López de Prado, 2012) is ``P[true Sharpe > 0]`` given the sample's length,
  skewness and (non-excess) kurtosis: :func:`tradebot.analysis.psr.probabilistic_sharpe_ratio`
  (the one the Deflated Sharpe Ratio uses too) with the per-day Sharpe ratio
  (``mean / std(ddof=1)``) and the biased sample moments; standard library only, no scipy.
* **Confidence intervals**: circular moving-block bootstrap (Künsch, 1989; Politis & Romano,
  1992) of the daily series, blocks of ``round(n ** (1/3))`` consecutive days (the rate that
  minimises the variance estimate's error for a smooth statistic; Hall, Horowitz & Jing, 1995),
  wrapped around the end so every day is equally likely, ``2000`` resamples, percentile
  intervals at 95 %. The same resampled days serve the three statistics: total return
  (compounded), annualised Sharpe (365 days, as the report's) and the share of days meeting the
  target. Blocks keep the short-range dependence of daily P&L (volatility clustering, positions
  held over several days) that an i.i.d. bootstrap would destroy, giving intervals too narrow.
* Reproducible: the generator is seeded from the run's seed (``numpy.random.default_rng``).
* Fewer than :data:`MIN_DAYS` days: no PSR and no intervals (None) — a number from a handful of
  days would mislead.

Only numpy (and, for the PSR, the optimizer's pure function) is used; no I/O.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_RESAMPLES",
    "LEVEL",
    "METHOD",
    "MIN_DAYS",
    "block_bootstrap_indices",
    "block_length",
    "bootstrap_ci",
    "confidence_summary",
    "psr_daily",
]

#: Fewer daily returns than this: no PSR and no intervals.
MIN_DAYS = 20
#: Bootstrap resamples by default.
DEFAULT_RESAMPLES = 2000
#: Two-sided confidence level of the intervals.
LEVEL = 0.95
#: How the intervals are made (shown in reports).
METHOD = "circular moving-block bootstrap of daily returns, percentile intervals"
DAYS_PER_YEAR = 365
_STD_EPS = 1e-12
#: Mixed into the seed so the bootstrap's stream differs from other uses of the run's seed.
_STREAM = 0xB007


def block_length(n: int) -> int:
    """Block length in days for ``n`` daily returns: ``round(n ** (1/3))``, at least 1."""
    return max(1, round(n ** (1.0 / 3.0))) if n > 0 else 1


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng([int(seed or 0), _STREAM])


def _block_starts(n: int, block: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, ceil(n / block))`` uniform block start positions in ``[0, n)``."""
    if n < 1 or block < 1 or n_resamples < 1:
        raise ValueError(f"n, block and n_resamples must be >= 1, got {n}, {block}, {n_resamples}")
    return rng.integers(0, n, size=(n_resamples, -(-n // block)), dtype=np.int64)


def block_bootstrap_indices(n: int, block: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, n)`` indices of circular moving-block resamples of a length-``n`` series.

    Each row is ``ceil(n / block)`` blocks of ``block`` consecutive indices (mod ``n``) starting
    at uniform positions, the last block cut so the row has ``n``. ``block == 1`` is the
    ordinary i.i.d. bootstrap. :func:`bootstrap_ci` draws the very same resamples from the same
    generator state (without materialising them).
    """
    block = min(block, n)
    starts = _block_starts(n, block, n_resamples, rng)
    idx = starts[:, :, None] + np.arange(block, dtype=np.int64)
    idx = idx.reshape(n_resamples, -1)[:, :n]
    idx %= n
    return idx


def _resample_sums(q: np.ndarray, starts: np.ndarray, block: int) -> np.ndarray:
    """Sum of ``q`` over each resample, from circular block sums (O(resamples x blocks))."""
    n = q.size
    k = starts.shape[1]
    last = n - (k - 1) * block  # length of the cut last block, 1..block
    c = np.concatenate(([0.0], np.cumsum(np.concatenate((q, q[:block])))))
    pos = np.arange(n)
    full = c[pos + block] - c[pos]
    part = c[pos + last] - c[pos]
    return full[starts[:, :-1]].sum(axis=1) + part[starts[:, -1]]


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    """Percentile interval of the finite values; None when fewer than half are finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size * 2 < values.size:
        return None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(finite, [a, 1.0 - a])
    return [float(lo), float(hi)]


def bootstrap_ci(
    returns: Any,
    target_met: Any = None,
    *,
    seed: int | None = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    block: int | None = None,
    level: float = LEVEL,
) -> dict[str, list[float] | None]:
    """Block-bootstrap intervals of ``return_pct`` (compounded total return, %), ``sharpe``
    (annualised, 365 days) and, when ``target_met`` (one bool per day) is given,
    ``target_days_pct`` (share of days meeting the target, %).

    ``block`` defaults to :func:`block_length`; a statistic undefined on most resamples (zero
    variance) gets None.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 2:
        raise ValueError("returns must be a 1-D series of at least 2 daily returns")
    n = r.size
    block = min(block or block_length(n), n)
    starts = _block_starts(n, block, n_resamples, _rng(seed))
    mu = float(r.mean())
    d = r - mu  # centred: the variance from sums of squares keeps its precision
    s1 = _resample_sums(d, starts, block)
    s2 = _resample_sums(d * d, starts, block)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = _resample_sums(np.log(np.maximum(1.0 + r, 0.0)), starts, block)
        growth = np.exp(logs)
        mean = s1 / n
        sd = np.sqrt(np.maximum(s2 - s1 * mean, 0.0) / (n - 1))
        sharpe = np.where(sd > _STD_EPS, (mean + mu) / sd, np.nan) * math.sqrt(DAYS_PER_YEAR)
    out: dict[str, list[float] | None] = {
        "return_pct": _interval((growth - 1.0) * 100.0, level),
        "sharpe": _interval(sharpe, level),
    }
    if target_met is not None:
        met = np.asarray(target_met, dtype=bool)
        if met.shape != r.shape:
            raise ValueError("target_met must have one value per daily return")
        hits = _resample_sums(met.astype(np.float64), starts, block)
        out["target_days_pct"] = _interval(hits / n * 100.0, level)
    return out


def psr_daily(returns: Any) -> float | None:
    """Probabilistic Sharpe ratio ``P[SR > 0]`` of daily returns; None when undefined (fewer than
    2 returns, a non-finite value or zero variance)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 2 or not np.isfinite(r).all():
        return None
    sd = float(r.std(ddof=1))
    if not sd > _STD_EPS:
        return None
    d = r - r.mean()
    m2 = float((d * d).mean())
    skew = float((d**3).mean()) / m2**1.5
    kurt = float((d**4).mean()) / (m2 * m2)
    from tradebot.analysis.psr import probabilistic_sharpe_ratio

    p = probabilistic_sharpe_ratio(float(r.mean()) / sd, 0.0, int(r.size), skew, kurt)
    return p if math.isfinite(p) else None


def confidence_summary(
    returns: Any,
    target_met: Any = None,
    *,
    seed: int | None = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """Report keys: ``psr``, ``ci95`` (``{return_pct, sharpe[, target_days_pct]: [lo, hi]}``) and
    ``confidence`` (how: days, block length, resamples, level, seed, method; ``note`` says why
    ``psr``/``ci95`` are None). ``target_met`` None leaves ``target_days_pct`` out."""
    r = np.asarray(returns, dtype=np.float64)
    n = int(r.size)
    how: dict[str, Any] = {
        "days": n, "min_days": MIN_DAYS, "level": LEVEL, "method": METHOD,
        "block_days": block_length(n), "resamples": n_resamples, "seed": int(seed or 0), "note": None,
    }
    if n < MIN_DAYS:
        how["note"] = f"too few days ({n} < {MIN_DAYS})"
        return {"psr": None, "ci95": None, "confidence": how}
    if not np.isfinite(r).all():
        how["note"] = "non-finite daily returns"
        return {"psr": None, "ci95": None, "confidence": how}
    ci = bootstrap_ci(r, target_met, seed=seed, n_resamples=n_resamples)
    return {"psr": psr_daily(r), "ci95": ci, "confidence": how}
