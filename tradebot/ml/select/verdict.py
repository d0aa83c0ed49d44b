"""Does the selector beat its candidates? The verdict of a selector evaluation.

"beats the candidates" needs both, on the evaluated (out-of-sample) windows:

1. **Deflated Sharpe ratio** of the selector's per-window returns ``>= DSR_MIN``: the PSR
   (:func:`tradebot.analysis.psr.probabilistic_sharpe_ratio`, with the returns' skewness and
   kurtosis) against the expected maximum Sharpe ratio of ``N`` trials without an edge
   (:func:`tradebot.optimize.overfit.expected_max_sharpe`), ``N`` counting every alternative
   that could have been reported instead: each candidate alone, the equal-weight blend, and
   every selection method offered (the methods not run count too). The variance of a trial's
   Sharpe ratio in that benchmark is its sampling variance under the null hypothesis (true
   Sharpe 0) over the ``T`` evaluated windows, ``1 / (T - 1)`` (Lo 2002, Mertens 2002: at a
   true Sharpe of 0 it does not depend on skewness or kurtosis; ``T - 1`` as in the PSR), not
   the cross-sectional variance of the trials' Sharpe ratios that
   :func:`~tradebot.optimize.overfit.deflated_sharpe_ratio` uses for an optimizer's many
   variants of one idea: here the finite trials are a handful of *different* strategies, the
   selector itself among them, so their spread measures how different they are (a candidate
   that loses everything, or the selector's own high Sharpe, raised the bar), not how much
   a Sharpe estimate varies by chance (decision 0024);
2. **Circular block bootstrap** of the per-window difference selector − best single candidate (the
   one with the highest compounded return over the same windows, chosen in hindsight: the
   hardest comparison) and selector − equal-weight blend: the lower end of each
   ``LEVEL`` interval of the mean difference must be above 0. The block length is the
   larger of ``round(T ** (1/3))`` and the automatic choice of Politis & White (2004, with
   the correction of Patton, Politis & White 2009) from the differences' own
   autocorrelation (:func:`auto_block_length`): a selector's lead over a candidate lasts as
   long as a regime, many windows, and blocks shorter than that dependence make the
   interval too narrow.

Anything undefined (fewer than 2 windows, zero variance) fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tradebot.ml.select.evaluate import Line

DSR_MIN = 0.95
LEVEL = 0.95
RESAMPLES = 2000
BEATS = "beats the candidates"
NOT_SHOWN = "does not beat the candidates"


def auto_block_length(x: np.ndarray) -> float:
    """Politis & White's (2004) estimate of the optimal block length of the circular block
    bootstrap of the mean of ``x`` (with Patton, Politis & White's 2009 correction):
    ``(2 G² / D)^(1/3) · n^(1/3)``, ``G = Σ λ(k/M) |k| R(k)``, ``D = 4/3 · (Σ λ(k/M) R(k))²``
    over ``|k| <= M`` with the flat-top window ``λ`` (1 up to 1/2, then linear to 0 at 1) and
    ``M = 2 m̂``, ``m̂`` the first lag after which ``K = max(5, √log10 n)`` autocorrelations in a
    row are inside ``±2 √(log10 n / n)``. At most ``min(3 √n, n / 3)``; 1.0 for a series without
    variance or without positive long-run variance."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 4:
        return 1.0
    e = x - x.mean()
    var = float(e @ e) / n
    if not var > 0:
        return 1.0
    m_max = int(math.ceil(math.sqrt(n))) + 5
    m_max = min(m_max, n - 2)
    acv = np.array([float(e[k:] @ e[:n - k]) / n for k in range(m_max + 1)])
    rho = acv / acv[0]
    k_n = max(5, int(math.ceil(math.sqrt(math.log10(n)))))
    cv = 2.0 * math.sqrt(math.log10(n) / n)
    m_hat = None
    for m in range(0, m_max - k_n + 1):
        if np.all(np.abs(rho[m + 1:m + 1 + k_n]) < cv):
            m_hat = m
            break
    big_m = min(2 * max(m_hat, 1), m_max) if m_hat is not None else m_max
    k = np.arange(1, big_m + 1)
    lam = np.where(k / big_m <= 0.5, 1.0, 2.0 * (1.0 - k / big_m))
    g = float(2.0 * np.sum(lam * k * acv[1:big_m + 1]))
    lr = float(acv[0] + 2.0 * np.sum(lam * acv[1:big_m + 1]))
    if not lr > 0:
        return 1.0
    b = (2.0 * g * g / (4.0 / 3.0 * lr * lr)) ** (1.0 / 3.0) * n ** (1.0 / 3.0)
    return float(min(max(b, 1.0), math.ceil(min(3.0 * math.sqrt(n), n / 3.0))))


def verdict_block_length(diff: np.ndarray) -> int:
    """Block length of the verdict's bootstrap: the larger of ``round(n ** (1/3))`` and
    :func:`auto_block_length` (rounded)."""
    from tradebot.analysis.confidence import block_length

    d = np.asarray(diff, dtype=np.float64)
    return max(block_length(d.size), int(round(auto_block_length(d))))


def bootstrap_mean_interval(diff: np.ndarray, seed: int, level: float = LEVEL,
                            n_resamples: int = RESAMPLES) -> list[float] | None:
    """Circular block-bootstrap interval of the mean of ``diff`` (block
    :func:`verdict_block_length`)."""
    from tradebot.analysis.confidence import block_bootstrap_indices

    d = np.asarray(diff, dtype=np.float64)
    if d.size < 2 or not np.isfinite(d).all():
        return None
    rng = np.random.default_rng([int(seed), 0xB007])
    idx = block_bootstrap_indices(d.size, verdict_block_length(d), n_resamples, rng)
    means = d[idx].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return [float(lo), float(hi)]


def selector_verdict(selector: Line, candidates: Sequence[Line], blend: Line, *, n_methods: int,
                     seed: int) -> dict[str, Any]:
    from tradebot.analysis.psr import probabilistic_sharpe_ratio
    from tradebot.optimize.overfit import deflated_sharpe_ratio, expected_max_sharpe, sharpe_per_period

    r = selector.window_returns
    trial_sharpes = [sharpe_per_period(c.window_returns) if c.window_returns.size >= 2 else math.nan
                     for c in (*candidates, blend)]
    trial_sharpes += [math.nan] * max(n_methods - 1, 0)
    trial_sharpes.append(sharpe_per_period(r) if r.size >= 2 else math.nan)
    reasons: list[str] = []
    dsr = sharpe0 = None
    if r.size >= 2:
        d = deflated_sharpe_ratio(r, trial_sharpes)  # the Sharpe ratio and moments, or why undefined
        sharpe0 = expected_max_sharpe(len(trial_sharpes), 1.0 / (r.size - 1))
        p = math.nan if d.reason else probabilistic_sharpe_ratio(d.sharpe, sharpe0, d.n_obs, d.skew, d.kurtosis)
        if math.isfinite(p):
            dsr = float(p)
        else:
            reasons.append(f"DSR undefined ({d.reason or 'moments undefined'})")
    else:
        reasons.append(f"DSR undefined ({r.size} evaluated window(s))")
    if dsr is not None and dsr < DSR_MIN:
        reasons.append(f"DSR {dsr:.2f} < {DSR_MIN}")
    growth = [float(np.prod(1.0 + c.window_returns)) for c in candidates]
    best = candidates[int(np.argmax(growth))]
    intervals: dict[str, list[float] | None] = {}
    blocks: dict[str, int] = {}
    for label, other in (("best_candidate", best), ("blend", blend)):
        diff = r - other.window_returns
        ci = bootstrap_mean_interval(diff, seed)
        intervals[label] = ci
        if ci is not None:
            blocks[label] = verdict_block_length(diff)
        if ci is None:
            reasons.append(f"bootstrap vs {other.name} undefined")
        elif not ci[0] > 0:
            reasons.append(f"{int(LEVEL * 100)}% interval of the mean window return over {other.name} "
                           f"[{ci[0] * 100:+.3f}%, {ci[1] * 100:+.3f}%] is not above 0")
    return {"verdict": NOT_SHOWN if reasons else BEATS, "dsr": dsr, "sharpe0_per_window": sharpe0,
            "n_trials": len(trial_sharpes), "best_candidate": best.name,
            "bootstrap": {"level": LEVEL, "resamples": RESAMPLES, "mean_diff_interval": intervals,
                          "block_length": blocks},
            "reasons": reasons,
            "rule": (f"'{BEATS}' iff DSR >= {DSR_MIN} over {len(trial_sharpes)} trials (candidates, blend, "
                     "methods; benchmark: their expected maximum Sharpe ratio without an edge, variance "
                     f"1/(T-1) over T = {r.size} windows) and the {int(LEVEL * 100)}% block-bootstrap interval "
                     "(Politis-White block length, at least T^(1/3)) of the mean per-window difference vs the "
                     "best single candidate and vs the blend is above 0")}


def verdict_line(v: dict[str, Any]) -> str:
    dsr = "n/a" if v.get("dsr") is None else f"{v['dsr']:.2f}"
    head = (f"Verdict: {v['verdict']} (DSR {dsr} over {v['n_trials']} trials; best single candidate "
            f"{v['best_candidate']})")
    if v["verdict"] == BEATS:
        return head
    return f"{head}: {'; '.join(v['reasons'])}"
