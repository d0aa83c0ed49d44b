"""Overfitting statistics (Bailey & López de Prado): PSR, deflated Sharpe ratio, PBO by CSCV.

Conventions (docs/decisions/0010-overfitting-statistics.md)
-----------------------------------------------------------
* Sharpe ratios are **per period** (typically daily) and not annualized: ``mean / std`` of
  the per-period returns, ``ddof=1``, no risk-free rate. ``trial_sharpes`` passed to the
  deflated Sharpe ratio must be on the same scale (per period, same periods).
* Skewness and kurtosis are the sample moments ``m3 / m2**1.5`` and ``m4 / m2**2``
  (``scipy.stats.skew(bias=True)``, ``scipy.stats.kurtosis(fisher=False, bias=True)``);
  kurtosis is **non-excess**: 3 for normal returns.
* "Undefined" is NaN here (a zero-variance series has no Sharpe ratio); values a caller can
  get wrong (shapes, sizes, impossible moments) raise :class:`UsageError`.

References
----------
* Bailey, López de Prado (2012), "The Sharpe ratio efficient frontier", J. of Risk 15(2) — PSR.
* Bailey, López de Prado (2014), "The deflated Sharpe ratio: correcting for selection bias,
  backtest overfitting and non-normality", J. of Portfolio Management 40(5) — DSR.
* Bailey, Borwein, López de Prado, Zhu (2017), "The probability of backtest overfitting",
  J. of Computational Finance 20(4) — PBO, CSCV.

Pure numpy/scipy/numba; no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from tradebot._jit import njit
from tradebot.analysis.psr import probabilistic_sharpe_ratio, whole
from tradebot.core.errors import UsageError

__all__ = [
    "EULER_GAMMA",
    "DSRResult",
    "PBOResult",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
    "sharpe_per_period",
]

#: Euler–Mascheroni constant γ.
EULER_GAMMA = float(np.euler_gamma)
#: Standard deviations at or below this are zero (Sharpe undefined), as in analysis.metrics.
_STD_EPS = 1e-12
#: Relative slack of the moment check ``kurtosis >= 1 + skew**2`` (rounding of sample moments).

#: A performance metric for pbo_cscv: (rows × trials) → one value per trial, higher is better.
Metric = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- helpers


def _as_1d(x: object, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise UsageError(f"{what} must be a 1-D array of numbers, got shape {a.shape}")
    return a


def _skew_kurtosis(r: np.ndarray) -> tuple[float, float]:
    """Sample skewness and non-excess kurtosis (biased moments); NaN for a constant series."""
    d = r - r.mean()
    d2 = d * d
    m2 = float(d2.mean())
    if not m2 > 0.0:
        return math.nan, math.nan
    return float((d2 * d).mean()) / m2**1.5, float((d2 * d2).mean()) / (m2 * m2)


# --------------------------------------------------------------------------- Sharpe, PSR, DSR


def sharpe_per_period(returns: object) -> float:
    """Per-period Sharpe ratio ``mean / std(ddof=1)`` of a 1-D series of returns.

    NaN when undefined: fewer than 2 values, a non-finite value, or a standard deviation of
    zero (<= 1e-12). Not annualized (multiply by ``sqrt(periods per year)`` for that).
    """
    r = _as_1d(returns, "returns")
    if r.size < 2 or not np.isfinite(r).all():
        return math.nan
    sd = float(r.std(ddof=1))
    if not sd > _STD_EPS:
        return math.nan
    return float(r.mean()) / sd


def expected_max_sharpe(n_trials: float, var_sr: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe ratios whose true value is 0 (the DSR benchmark).

    ``√V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))``, γ the Euler–Mascheroni constant,
    ``V`` the variance of the trials' (per-period) Sharpe ratios. Exactly 0 for one trial or a
    zero variance. ``n_trials`` may be fractional (an effective number of independent
    trials, >= 1); below about 1.6 the approximation turns negative and is clamped at 0, the
    expectation for a single trial.
    """
    n, v = float(n_trials), float(var_sr)
    if not (math.isfinite(n) and n >= 1.0):
        raise UsageError(f"number of trials must be at least 1, got {n_trials!r}")
    if not (math.isfinite(v) and v >= 0.0):
        raise UsageError(f"variance of the trials' Sharpe ratios must be a finite number >= 0, got {var_sr!r}")
    if n == 1.0 or v == 0.0:
        return 0.0
    # isf(q) = Φ⁻¹(1 − q) without the rounding of 1 − q for large N.
    z = (1.0 - EULER_GAMMA) * norm.isf(1.0 / n) + EULER_GAMMA * norm.isf(1.0 / (n * math.e))
    return max(0.0, math.sqrt(v) * float(z))


@dataclass(frozen=True)
class DSRResult:
    """Deflated Sharpe ratio of the chosen trial. All ratios are per period."""

    #: P(true Sharpe > sharpe0): the PSR against the deflated benchmark; NaN when undefined.
    dsr: float
    #: Sharpe ratio of the chosen trial's returns (NaN for zero variance or < 2 returns).
    sharpe: float
    #: Deflated benchmark: expected maximum Sharpe of ``n_trials`` trials without an edge.
    sharpe0: float
    #: Trials tried, including those whose Sharpe ratio is undefined (NaN).
    n_trials: int
    #: Returns of the chosen trial.
    n_obs: int
    #: Sample skewness of the returns (NaN when ``sharpe`` is).
    skew: float
    #: Sample kurtosis, non-excess (normal = 3; NaN when ``sharpe`` is).
    kurtosis: float
    #: Variance (ddof=1) of the finite trial Sharpe ratios; 0.0 when fewer than 2 are finite.
    var_trial_sharpes: float
    #: Trials with a finite Sharpe ratio (those in the variance).
    n_finite_trials: int
    #: Why ``dsr`` is NaN; None when it is defined.
    reason: str | None = None


def deflated_sharpe_ratio(returns: object, trial_sharpes: object) -> DSRResult:
    """Deflated Sharpe ratio (Bailey & López de Prado, 2014) of the trial chosen among many.

    ``returns``: the chosen trial's per-period (daily) returns, all finite.
    ``trial_sharpes``: the per-period Sharpe ratio of every trial tried, the chosen one
    included; NaN/±inf stand for trials whose Sharpe ratio is undefined (no trades, flat
    equity).

    * Benchmark ``sharpe0 = expected_max_sharpe(N, V)``: ``N`` counts **every** trial, the
      undefined ones too (they were tried: a conservative count that cannot be lowered by
      configurations that fail), ``V`` is the sample variance (ddof=1) of the finite ones,
      taken as 0 when fewer than 2 are finite (then, as for ``N == 1``, ``sharpe0 == 0``).
    * ``dsr = probabilistic_sharpe_ratio(sharpe, sharpe0, n_obs, skew, kurtosis)`` with the
      moments of ``returns``.
    * Too little data is not an error: with fewer than 2 returns, or returns of zero
      variance, ``dsr`` (and ``sharpe``) is NaN and ``reason`` says why, so that a report
      can show it and go on.

    Raises :class:`UsageError` for a non-finite value in ``returns``, an empty
    ``trial_sharpes`` or arrays that are not 1-D.
    """
    r = _as_1d(returns, "returns")
    bad = int(np.count_nonzero(~np.isfinite(r)))
    if bad:
        raise UsageError(f"returns of the chosen trial contain {bad} NaN or infinite value(s)")
    t = _as_1d(trial_sharpes, "trial_sharpes")
    if t.size == 0:
        raise UsageError("trial_sharpes is empty: pass the Sharpe ratio of every trial tried, the chosen one included")
    finite = t[np.isfinite(t)]
    var = float(finite.var(ddof=1)) if finite.size >= 2 else 0.0
    n_trials = int(t.size)
    sr0 = expected_max_sharpe(n_trials, var)
    n_obs = int(r.size)
    sr = sharpe_per_period(r) if n_obs >= 2 else math.nan
    skew, kurt = (math.nan, math.nan) if math.isnan(sr) else _skew_kurtosis(r)
    reason: str | None = None
    if n_obs < 2:
        reason = f"the chosen trial has {n_obs} return(s); at least 2 are needed"
    elif math.isnan(sr):
        reason = "the chosen trial's returns have zero variance (no Sharpe ratio)"
    dsr = math.nan if reason else probabilistic_sharpe_ratio(sr, sr0, n_obs, skew, kurt)
    return DSRResult(
        dsr=dsr,
        sharpe=sr,
        sharpe0=sr0,
        n_trials=n_trials,
        n_obs=n_obs,
        skew=skew,
        kurtosis=kurt,
        var_trial_sharpes=var,
        n_finite_trials=int(finite.size),
        reason=reason,
    )


# --------------------------------------------------------------------------- PBO (CSCV)


@dataclass(frozen=True, eq=False)
class PBOResult:
    """Probability of backtest overfitting by CSCV; arrays have one entry per combination.

    Combinations are in ``itertools.combinations(range(n_partitions), n_partitions // 2)``
    order (the in-sample blocks); arrays are read-only.
    """

    #: Share of combinations whose in-sample best trial is at or below the out-of-sample median (λ <= 0).
    pbo: float
    #: λ = ln(ω / (1 − ω)), ω = out-of-sample rank of the in-sample best / (N + 1).
    logits: np.ndarray
    n_combinations: int
    n_partitions: int
    #: Rows (periods) of the performance matrix.
    n_obs: int
    n_trials: int
    #: Index of the in-sample best trial of each combination.
    chosen: np.ndarray
    #: In-sample metric of the chosen trial.
    is_metric: np.ndarray
    #: Out-of-sample metric of the chosen trial.
    oos_metric: np.ndarray
    #: Least-squares fit ``oos_metric ≈ slope · is_metric + intercept`` (NaN if degenerate).
    degradation_slope: float
    degradation_intercept: float
    #: Share of combinations whose chosen trial has an out-of-sample metric < 0.
    prob_oos_loss: float


def _blocks(t: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of ``s`` contiguous blocks of ``t`` rows (np.array_split sizes)."""
    sizes = np.full(s, t // s, dtype=np.int64)
    sizes[: t % s] += 1
    starts = np.zeros(s, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    return starts, sizes


# The kernels go through the first half of the combinations only: in lexicographic order the
# complement of combination i is combination C − 1 − i (both have S/2 of the S blocks), so one
# pass over i gives the in-sample metric of i and the out-of-sample metric of C − 1 − i, and
# the other way round.


@njit(cache=True)
def _sharpe_from_sums_nb(s, q, n, shift):
    """Per-period Sharpe ratio of ``n`` values ``x`` from ``s = Σ(x − shift)`` and
    ``q = Σ(x − shift)²`` (centred sums: no cancellation); NaN as in sharpe_per_period."""
    if n < 2.0:
        return np.nan
    mean = s / n
    var = (q - s * mean) / (n - 1.0)
    sd = math.sqrt(var) if var > 0.0 else 0.0
    if not sd > _STD_EPS:
        return np.nan
    return (mean + shift) / sd


@njit(cache=True)
def settle_nb(at, is_m, oos_m, chosen, is_best, oos_best, rank):
    """Combination ``at``: the in-sample best trial (first maximum, NaN below everything) and
    its out-of-sample rank among all trials (1 = worst, ties averaged, NaN lowest)."""
    n = is_m.shape[0]
    pick = 0
    best = -np.inf
    for j in range(n):
        if is_m[j] > best:
            best = is_m[j]
            pick = j
    star = oos_m[pick]
    if np.isnan(star):
        star = -np.inf
    below = 0
    ties = 0
    for j in range(n):
        v = oos_m[j]
        if np.isnan(v):
            v = -np.inf
        if v < star:
            below += 1
        elif v == star:
            ties += 1  # the chosen trial included
    chosen[at] = pick
    is_best[at] = is_m[pick]
    oos_best[at] = oos_m[pick]
    rank[at] = below + (ties + 1) / 2.0


@njit(cache=True)
def cscv_sharpe_nb(bs, bq, blen, shift, member, chosen, is_best, oos_best, rank):
    """CSCV with the per-period Sharpe ratio, from per-block centred sums ``bs``, ``bq`` (S × N).

    ``member``: (C/2 × S) in-sample blocks of the first half of the combinations; fills the
    C-long outputs of :func:`settle_nb`.
    """
    half, n_blocks = member.shape
    n = bs.shape[1]
    last = 2 * half - 1
    tot_s = np.zeros(n)
    tot_q = np.zeros(n)
    n_all = 0.0
    for k in range(n_blocks):
        n_all += blen[k]
        for j in range(n):
            tot_s[j] += bs[k, j]
            tot_q[j] += bq[k, j]
    s_in = np.empty(n)
    q_in = np.empty(n)
    m_in = np.empty(n)
    m_out = np.empty(n)
    for i in range(half):
        s_in[:] = 0.0
        q_in[:] = 0.0
        n_in = 0.0
        for k in range(n_blocks):
            if member[i, k]:
                n_in += blen[k]
                for j in range(n):
                    s_in[j] += bs[k, j]
                    q_in[j] += bq[k, j]
        n_out = n_all - n_in
        for j in range(n):
            m_in[j] = _sharpe_from_sums_nb(s_in[j], q_in[j], n_in, shift[j])
            m_out[j] = _sharpe_from_sums_nb(tot_s[j] - s_in[j], tot_q[j] - q_in[j], n_out, shift[j])
        settle_nb(i, m_in, m_out, chosen, is_best, oos_best, rank)
        settle_nb(last - i, m_out, m_in, chosen, is_best, oos_best, rank)


def _cscv_custom(
    x: np.ndarray,
    member: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    metric: Metric,
    out: tuple[np.ndarray, ...],
) -> None:
    """CSCV with any metric, on copies of the rows of the blocks (kept in time order)."""
    n_trials = x.shape[1]
    last = 2 * member.shape[0] - 1
    rows = [np.arange(a, a + k) for a, k in zip(starts.tolist(), sizes.tolist(), strict=True)]

    def call(sel: np.ndarray) -> np.ndarray:
        v = np.asarray(metric(x[np.concatenate([rows[b] for b in np.flatnonzero(sel)])]), dtype=np.float64)
        if v.shape != (n_trials,):
            raise UsageError(f"the PBO metric must return one value per trial, shape ({n_trials},); got {v.shape}")
        return np.ascontiguousarray(v)

    for i, sel in enumerate(member):
        m_in, m_out = call(sel), call(~sel)
        settle_nb(i, m_in, m_out, *out)
        settle_nb(last - i, m_out, m_in, *out)


def pbo_cscv(perf: object, n_partitions: int = 16, metric: Metric | None = None) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    ``perf``: T × N matrix, one row per period (e.g. daily returns), one column per trial.
    Rows are split into ``n_partitions`` (S, even) contiguous blocks; sizes differ by at
    most one row when S does not divide T (the first ``T % S`` blocks get the extra row).
    For each of the C(S, S/2) choices of S/2 blocks as in-sample (the rest out-of-sample):

    * the in-sample best trial n* by ``metric`` (first one on ties),
    * its out-of-sample rank among the N trials, 1 = worst, ties averaged (as
      ``scipy.stats.rankdata``), ω = rank / (N + 1), λ = ln(ω / (1 − ω)).

    ``pbo`` is the share of combinations with λ <= 0. ``metric`` maps a (rows × N) array
    to N values, higher is better; the default is the per-period Sharpe ratio
    (``sharpe_per_period`` of each column), computed from per-block sums in one compiled
    pass, without copying rows. A custom metric is called once per combination (C(S, S/2)
    times: the in-sample rows of one combination are the out-of-sample rows of another) on a
    copy of the rows, blocks kept in time order — much slower. An undefined (NaN) metric
    value ranks below every number: such a trial is never chosen in-sample unless all are.

    Raises :class:`UsageError` for S odd or < 2, T < S, N < 2, a non-finite value in
    ``perf`` or a matrix that is not 2-D.
    """
    x = np.asarray(perf, dtype=np.float64)
    if x.ndim != 2:
        raise UsageError(f"PBO needs a 2-D performance matrix (periods × trials), got shape {x.shape}")
    t, n = x.shape
    s = whole(n_partitions, 2, "number of CSCV partitions")
    if s % 2:
        raise UsageError(f"number of CSCV partitions must be even, got {s}")
    if n < 2:
        raise UsageError(f"PBO needs at least 2 trials, got {n}")
    if t < s:
        raise UsageError(f"PBO with {s} partitions needs at least {s} periods, got {t}")
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise UsageError(f"the performance matrix for PBO contains {bad} NaN or infinite value(s)")

    starts, sizes = _blocks(t, s)
    c = math.comb(s, s // 2)
    half = c // 2  # C(S, S/2) is even for S >= 2
    member = np.zeros((half, s), dtype=np.bool_)
    for i, combo in enumerate(itertools.islice(itertools.combinations(range(s), s // 2), half)):
        member[i, combo] = True
    out = (np.empty(c, dtype=np.int64), np.empty(c), np.empty(c), np.empty(c))
    if metric is None:
        shift = x.mean(axis=0)
        y = x - shift  # centred per trial: sums of squares without cancellation
        bs = np.add.reduceat(y, starts, axis=0)  # (S × N)
        bq = np.add.reduceat(y * y, starts, axis=0)
        cscv_sharpe_nb(bs, bq, sizes.astype(np.float64), shift, member, *out)
    else:
        _cscv_custom(x, member, starts, sizes, metric, out)
    chosen, is_best, oos_best, rank = out

    omega = rank / (n + 1.0)
    logits = np.log(omega / (1.0 - omega))
    slope, intercept = _linear_fit(is_best, oos_best)
    for a in (logits, chosen, is_best, oos_best):
        a.setflags(write=False)
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        n_combinations=c,
        n_partitions=s,
        n_obs=t,
        n_trials=n,
        chosen=chosen,
        is_metric=is_best,
        oos_metric=oos_best,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_best < 0.0)),
    )


def _linear_fit(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept over the finite pairs; NaN if x does not vary."""
    ok = np.isfinite(xs) & np.isfinite(ys)
    if np.count_nonzero(ok) < 2:
        return math.nan, math.nan
    x, y = xs[ok], ys[ok]
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if not sxx > 0.0:
        return math.nan, math.nan
    slope = float(dx @ (y - y.mean())) / sxx
    return slope, float(y.mean()) - slope * float(x.mean())
