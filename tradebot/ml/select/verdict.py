"""Does the selector beat its candidates? The verdict of a selector evaluation.

"beats the candidates" needs both, on the evaluated (out-of-sample) windows:

1. **Deflated Sharpe ratio** (:func:`tradebot.optimize.overfit.deflated_sharpe_ratio`) of the
   selector's per-window returns ``>= DSR_MIN``, deflated for every alternative that could
   have been reported instead: each candidate alone, the equal-weight blend, and every
   selection method offered (the methods not run count as trials with an undefined Sharpe
   ratio, which raises the count and so the benchmark);
2. **Block bootstrap** of the per-window difference selector − best single candidate (the
   one with the highest compounded return over the same windows, chosen in hindsight: the
   hardest comparison) and selector − equal-weight blend: the lower end of each
   ``LEVEL`` interval of the mean difference must be above 0.

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


def bootstrap_mean_interval(diff: np.ndarray, seed: int, level: float = LEVEL,
                            n_resamples: int = RESAMPLES) -> list[float] | None:
    """Circular block-bootstrap interval of the mean of ``diff`` (block ``n ** (1/3)``)."""
    from tradebot.analysis.confidence import block_bootstrap_indices, block_length

    d = np.asarray(diff, dtype=np.float64)
    if d.size < 2 or not np.isfinite(d).all():
        return None
    rng = np.random.default_rng([int(seed), 0xB007])
    idx = block_bootstrap_indices(d.size, block_length(d.size), n_resamples, rng)
    means = d[idx].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return [float(lo), float(hi)]


def selector_verdict(selector: Line, candidates: Sequence[Line], blend: Line, *, n_methods: int,
                     seed: int) -> dict[str, Any]:
    from tradebot.optimize.overfit import deflated_sharpe_ratio, sharpe_per_period

    r = selector.window_returns
    trial_sharpes = [sharpe_per_period(c.window_returns) if c.window_returns.size >= 2 else math.nan
                     for c in (*candidates, blend)]
    trial_sharpes += [math.nan] * max(n_methods - 1, 0)
    trial_sharpes.append(sharpe_per_period(r) if r.size >= 2 else math.nan)
    reasons: list[str] = []
    dsr = sharpe0 = None
    if r.size >= 2:
        d = deflated_sharpe_ratio(r, trial_sharpes)
        sharpe0 = d.sharpe0 if math.isfinite(d.sharpe0) else None
        if math.isfinite(d.dsr):
            dsr = float(d.dsr)
        else:
            reasons.append(f"DSR undefined ({d.reason})")
    else:
        reasons.append(f"DSR undefined ({r.size} evaluated window(s))")
    if dsr is not None and dsr < DSR_MIN:
        reasons.append(f"DSR {dsr:.2f} < {DSR_MIN}")
    growth = [float(np.prod(1.0 + c.window_returns)) for c in candidates]
    best = candidates[int(np.argmax(growth))]
    intervals: dict[str, list[float] | None] = {}
    for label, other in (("best_candidate", best), ("blend", blend)):
        ci = bootstrap_mean_interval(r - other.window_returns, seed)
        intervals[label] = ci
        if ci is None:
            reasons.append(f"bootstrap vs {other.name} undefined")
        elif not ci[0] > 0:
            reasons.append(f"{int(LEVEL * 100)}% interval of the mean window return over {other.name} "
                           f"[{ci[0] * 100:+.3f}%, {ci[1] * 100:+.3f}%] is not above 0")
    return {"verdict": NOT_SHOWN if reasons else BEATS, "dsr": dsr, "sharpe0_per_window": sharpe0,
            "n_trials": len(trial_sharpes), "best_candidate": best.name,
            "bootstrap": {"level": LEVEL, "resamples": RESAMPLES, "mean_diff_interval": intervals},
            "reasons": reasons,
            "rule": (f"'{BEATS}' iff DSR >= {DSR_MIN} over {len(trial_sharpes)} trials (candidates, blend, "
                     f"methods) and the {int(LEVEL * 100)}% block-bootstrap interval of the mean per-window "
                     "difference vs the best single candidate and vs the blend is above 0")}


def verdict_line(v: dict[str, Any]) -> str:
    dsr = "n/a" if v.get("dsr") is None else f"{v['dsr']:.2f}"
    head = (f"Verdict: {v['verdict']} (DSR {dsr} over {v['n_trials']} trials; best single candidate "
            f"{v['best_candidate']})")
    if v["verdict"] == BEATS:
        return head
    return f"{head}: {'; '.join(v['reasons'])}"
